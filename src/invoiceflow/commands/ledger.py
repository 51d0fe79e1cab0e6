"""`invoiceflow ledger post|entries|trial-balance`: the built-in ledger from the command line.

`post` posts what an issued invoice or credit note owes the ledger (idempotent: repeating it changes
nothing); `entries` lists journal entries; `trial-balance` prints debits, credits and balance per account
with per-entity totals, and exits with code 1 if any totals differ (which the ledger never lets happen).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, err_console, reported_errors
from invoiceflow.ledger.interface import Posted
from invoiceflow.ledger.load import tenant_of
from invoiceflow.ledger.reports import trial_balance
from invoiceflow.ledger.sql_ledger import SqlLedger, post_invoice
from invoiceflow.money import format_amount
from invoiceflow.store.db import reader

ledger_app = typer.Typer(help="The built-in double-entry ledger: post invoices, list entries, trial balance.",
                         no_args_is_help=True)
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")


def _entry_dict(posted: Posted) -> dict[str, Any]:
    entry, currency = posted.entry, posted.entry.currency
    return {
        "id": posted.id, "entry_key": entry.entry_key, "legal_entity": entry.legal_entity,
        "date": entry.date.isoformat(), "currency": currency, "memo": entry.memo, "source_type": entry.source_type,
        "source_id": entry.source_id, "reverses": entry.reverses, "posted_at": posted.posted_at.isoformat(),
        "new": posted.new,
        "lines": [{"account": l.account, "product": l.product, "debit": format_amount(l.debit, currency),
                   "credit": format_amount(l.credit, currency), "memo": l.memo} for l in entry.lines],
    }


def _print_entries(entries: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("entry", "date", "entity", "account", "product", "debit", "credit", "memo"):
        table.add_column(column, justify="right" if column in ("debit", "credit") else "left", overflow="fold")
    for entry in entries:
        for i, line in enumerate(entry["lines"]):
            first = i == 0
            table.add_row(escape(entry["entry_key"]) if first else "", entry["date"] if first else "",
                          escape(entry["legal_entity"]) if first else "", escape(line["account"]),
                          escape(line["product"] or ""), line["debit"] if Decimal(line["debit"]) else "",
                          line["credit"] if Decimal(line["credit"]) else "", escape(line["memo"]))
    console.print(table)


@ledger_app.command("post")
def post_command(invoice_id: int = typer.Argument(..., help="Invoice (or credit note) id."),
                 as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """Post an issued invoice or credit note (and its reversal, if it was voided) to the built-in ledger."""
    with reported_errors():
        with open_engine(database).begin() as conn:
            posted = post_invoice(conn, tenant, invoice_id, at=SystemClock().now())
        found = [_entry_dict(p) for p in posted]
        if as_json:
            print(json.dumps(found, indent=2))
            return
        if not found:
            console.print(f"invoice {invoice_id} has only zero amounts; nothing to post", highlight=False)
        for entry in found:
            state = "posted" if entry["new"] else "already posted; nothing changed"
            console.print(f"{escape(entry['entry_key'])}: {state}", highlight=False)
        _print_entries(found, "Journal entries")


@ledger_app.command("entries")
def entries_command(invoice: Optional[int] = typer.Option(None, "--invoice", help="Only this invoice's entries."),
                    as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption) -> None:
    """List journal entries in posting order."""
    with reported_errors():
        with reader(open_engine(database)).connect() as conn:
            tid, ledger = tenant_of(conn, tenant), SqlLedger()
            if invoice is None:
                posted = ledger.entries(conn, tid)
            else:  # an invoice or a credit note: ids are shared by both document types
                posted = [p for kind in ("invoice", "credit_note")
                          for p in ledger.entries(conn, tid, source_type=kind, source_id=str(invoice))]
                posted.sort(key=lambda p: int(p.id))
        found = [_entry_dict(p) for p in posted]
        for entry in found:
            del entry["new"]
        if as_json:
            print(json.dumps(found, indent=2))
        else:
            _print_entries(found, "Journal entries" + (f" of invoice {invoice}" if invoice is not None else ""))


@ledger_app.command("trial-balance")
def trial_balance_command(
    entity: Optional[str] = typer.Option(None, "--entity", help="Only this legal entity (code)."),
    as_of: Optional[datetime] = typer.Option(None, "--as-of", formats=["%Y-%m-%d"],
                                             help="Only entries dated on or before this day (YYYY-MM-DD)."),
    as_json: bool = JsonOption, database: str = DatabaseOption, tenant: str = TenantOption,
) -> None:
    """Debits, credits and balance per account, with totals per legal entity and currency."""
    day: date | None = as_of.date() if as_of else None
    with reported_errors():
        report = trial_balance(open_engine(database), tenant, legal_entity=entity, as_of=day)
    money = format_amount
    rows = [{"legal_entity": r.legal_entity, "currency": r.currency, "account": r.account, "name": r.name,
             "type": r.type, "debit": money(r.debit, r.currency), "credit": money(r.credit, r.currency),
             "balance": money(r.balance, r.currency)} for r in report.rows]
    totals = [{**t, "debit": money(t["debit"], t["currency"]), "credit": money(t["credit"], t["currency"])}
              for t in report.totals()]
    if as_json:
        print(json.dumps({"as_of": day.isoformat() if day else None, "legal_entity": entity, "accounts": rows,
                          "totals": totals, "balanced": report.balanced}, indent=2))
    elif not rows:
        console.print("no journal entries" + (f" on or before {day.isoformat()}" if day else ""))
    else:
        title = "Trial balance" + (f" as of {day.isoformat()}" if day else "") + (f" ({entity})" if entity else "")
        table = Table(title=escape(title), title_justify="left")
        for column in ("entity", "currency", "account", "name", "type", "debit", "credit", "balance"):
            table.add_column(column, justify="right" if column in ("debit", "credit", "balance") else "left")
        for r in rows:
            table.add_row(*(escape(str(r[k])) for k in ("legal_entity", "currency", "account", "name", "type",
                                                        "debit", "credit", "balance")))
        for t in totals:
            table.add_row(f"[bold]{escape(t['legal_entity'])}[/bold]", t["currency"], "", "[bold]total[/bold]", "",
                          f"[bold]{t['debit']}[/bold]", f"[bold]{t['credit']}[/bold]",
                          "" if t["balanced"] else "[red]UNBALANCED[/red]", end_section=False)
        console.print(table)
    if not report.balanced:
        err_console.print("[red]error:[/red] the trial balance does not balance", highlight=False)
        raise typer.Exit(1)


@ledger_app.command("export")
def export_command(
    fmt: str = typer.Option(..., "--format", help="beancount or hledger."),
    entity: Optional[str] = typer.Option(None, "--entity", help="Only this legal entity (code)."),
    start: Optional[datetime] = typer.Option(None, "--from", formats=["%Y-%m-%d"],
                                             help="Only entries dated on or after this day (YYYY-MM-DD)."),
    before: Optional[datetime] = typer.Option(None, "--before", formats=["%Y-%m-%d"],
                                              help="Only entries dated before this day (YYYY-MM-DD)."),
    out: Optional[str] = typer.Option(None, "--out", help="Write to this file instead of standard output."),
    database: str = DatabaseOption, tenant: str = TenantOption,
) -> None:
    """Export journal entries as a beancount file or an hledger journal (check with bean-check / hledger check)."""
    import sys
    from pathlib import Path

    from invoiceflow.ledger.exports import export_ledger

    with reported_errors():
        text = export_ledger(open_engine(database), tenant, fmt, legal_entity=entity,
                             start=start.date() if start else None, before=before.date() if before else None)
    if out is None:
        sys.stdout.write(text)
        return
    Path(out).write_text(text, encoding="utf-8")
    err_console.print(f"wrote {escape(out)} ({fmt})", highlight=False)
