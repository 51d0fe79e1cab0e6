"""`invoiceflow revrec schedule`: revenue recognition for one contract file, with no database.

A thin shell over invoiceflow.revrec: read the contract (JSON Schema, then meaning checks), recognize,
print JSON (or Rich tables). Bad input prints `error: <record>.<field>: <message>` lines on stderr, exits
with code 2 and prints nothing on stdout, so a script never mistakes a partial result for an answer.

`recognize`, `close` and `waterfall` work on the stored billing data (invoiceflow.revenue): recognition
entries through the ledger, period close, and the deferred revenue waterfall as a table, CSV or JSON.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.errors import ValidationError
from invoiceflow.money import format_amount
from invoiceflow.revenue import Waterfall, close_period, recognize_through, waterfall
from invoiceflow.revrec.contract_input import load_contract
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.report import as_document

EXIT_INVALID = 2
_TEXT = ("line", "product", "period", "date", "role", "entry", "method")

revrec_app = typer.Typer(
    name="revrec", help="Revenue recognition (ASC 606 / IFRS 15): allocation, schedules, journal lines.",
    no_args_is_help=True, add_completion=False,
)


class OutputFormat(str, Enum):
    json = "json"
    table = "table"


@revrec_app.callback()
def _revrec() -> None:
    """Revenue recognition (ASC 606 / IFRS 15): allocation, schedules, journal lines."""


@revrec_app.command("schedule")
def schedule_command(
    contract: Annotated[
        Path, typer.Option("--contract", help="Contract file (JSON), see docs/revenue-recognition.md.")
    ],
    output: Annotated[OutputFormat, typer.Option("--format", help="json (default) or table.")] = OutputFormat.json,
) -> None:
    """Allocate a contract's price and print its recognition schedule, balances, journal lines and waterfall."""
    try:
        document = as_document(recognize(load_contract(contract)))
    except ValidationError as error:
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if output is OutputFormat.json:
        typer.echo(json.dumps(document, indent=2))
    else:
        print_tables(document)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in _TEXT else "right", overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def print_tables(doc: dict[str, Any]) -> None:
    currency = doc["currency"]
    keys = ["line", "product", "method", "price", "ssp", "relative_share", "allocated", "discount_share"]
    console.print(_table(f"Allocation ({currency})", keys, [[a[k] for k in keys] for a in doc["allocation"]]))
    keys = ["period", "recognized", "catch_up", "cumulative_recognized", "billed", "credited", "deferred_revenue",
            "unbilled_receivable"]
    console.print(_table("Schedule", keys, [[p[k] for k in keys] for p in doc["schedule"]]))
    journal = [[e["period"], e["date"], e["entry"], line["role"], line.get("product"), line["debit"], line["credit"]]
               for e in doc["journal"] for line in e["lines"]]
    console.print(_table("Journal lines", ["period", "date", "entry", "role", "product", "debit", "credit"], journal))
    fall = doc["waterfall"]
    keys = ["period", "product", "amount"]
    console.print(_table(f"Deferred revenue waterfall at {fall['as_of']}: {fall['deferred_revenue']}", keys,
                         [[r[k] for k in keys] for r in fall["rows"]]))


def register(app: typer.Typer) -> None:
    app.add_typer(revrec_app, name="revrec")


# --- Revenue recognition over the stored billing data (invoiceflow.revenue) ---------------------------------

class WaterfallFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _current_month() -> str:
    today = SystemClock().now().date()
    return f"{today.year:04d}-{today.month:02d}"


@revrec_app.command("recognize")
def recognize_command(
    through: Annotated[str, typer.Option("--through", help="Recognize every open month up to this one (YYYY-MM).")],
    entity: Annotated[Optional[str], typer.Option("--entity", help="Only this legal entity (code).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    database: str = DatabaseOption, tenant: str = TenantOption,
) -> None:
    """Build the revenue schedules of issued documents and post recognition entries through the ledger."""
    with reported_errors():
        report = recognize_through(open_engine(database), tenant, through, clock=SystemClock(), legal_entity=entity)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    console.print(f"revenue recognized through {report.through}: {len(report.entries)} journal entries posted; "
                  f"{report.schedules} schedules ({report.created} new)", highlight=False)
    for (legal_entity, currency), amount in sorted(report.revenue.items()):
        console.print(f"  {escape(legal_entity)} {currency}: net revenue of these entries "
                      f"{format_amount(amount, currency)}", highlight=False)
    if report.waiting:
        console.print(f"  waiting for the ledger (issued, not posted): documents "
                      f"{', '.join(str(i) for i in report.waiting)}", highlight=False)


@revrec_app.command("close")
def close_command(
    entity: Annotated[str, typer.Option("--entity", help="Legal entity (code) whose month is closed.")],
    period: Annotated[str, typer.Option("--period", help="The month to close (YYYY-MM).")],
    actor: Annotated[str, typer.Option("--actor", help="Who closes it (recorded and audited).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    database: str = DatabaseOption, tenant: str = TenantOption,
) -> None:
    """Recognize a month and close it: later changes touching it post in the first open month."""
    with reported_errors():
        report = close_period(open_engine(database), tenant, entity, period, actor, clock=SystemClock())
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.closed:
        posted = len(report.recognition.entries) if report.recognition else 0
        console.print(f"{escape(report.legal_entity)} {report.period} closed by {escape(report.closed_by)} "
                      f"({posted} recognition entries posted first)", highlight=False)
    else:
        when = report.closed_at.isoformat(timespec="seconds")
        console.print(f"{escape(report.legal_entity)} {report.period} is already closed (by "
                      f"{escape(report.closed_by)} at {when}); nothing changed", highlight=False)


@revrec_app.command("waterfall")
def waterfall_command(
    entity: Annotated[Optional[str], typer.Option("--entity", help="Only this legal entity (code).")] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="First month (YYYY-MM); default: this month.")] = None,
    months: Annotated[int, typer.Option("--months", help="How many months.")] = 6,
    output: Annotated[WaterfallFormat, typer.Option("--format", help="table, csv or json.")] = WaterfallFormat.table,
    by_invoice_month: Annotated[bool, typer.Option("--by-invoice-month",
                                                   help="Split each product's rows by invoice month.")] = False,
    database: str = DatabaseOption, tenant: str = TenantOption,
) -> None:
    """Deferred revenue waterfall: revenue per product and month, deferred and unbilled balances at month ends."""
    with reported_errors():
        fall = waterfall(open_engine(database), tenant, start=start or _current_month(), months=months,
                         legal_entity=entity, by_invoice_month=by_invoice_month)
    if output is WaterfallFormat.json:
        typer.echo(json.dumps(fall.as_dict(), indent=2))
    elif output is WaterfallFormat.csv:
        typer.echo(fall.as_csv(), nl=False)
    else:
        print_waterfall_table(fall)


def print_waterfall_table(fall: Waterfall) -> None:
    closed = ", ".join(f"{entity} through {period}" for entity, period in sorted(fall.closed_through.items()))
    table = Table(title=f"Deferred revenue waterfall {fall.months[0]} to {fall.months[-1]}"
                        + (f" (closed: {escape(closed)})" if closed else ""), title_justify="left")
    heads = ["entity", "currency", "product", *(["billed in"] if fall.by_invoice_month else []), "measure"]
    for column in heads:
        table.add_column(column)
    for month in fall.months:
        table.add_column(month, justify="right")
    if not fall.rows:
        console.print("no revenue schedules yet: run `invoiceflow revrec recognize --through YYYY-MM` first")
        return
    books = sorted({(row.legal_entity, row.currency) for row in fall.rows})
    for number, book in enumerate(books):
        if number:
            table.add_section()
        labelled = [(row, escape(row.product or "(no product)")) for row in fall.rows
                    if (row.legal_entity, row.currency) == book]
        labelled += [(row, "[bold]total[/bold]") for row in fall.totals if (row.legal_entity, row.currency) == book]
        for row, product in labelled:
            table.add_row(escape(row.legal_entity), row.currency, product,
                          *([row.billed_in or ""] if fall.by_invoice_month else []), row.measure,
                          *(format_amount(v, row.currency) for v in row.values))
    console.print(table)
