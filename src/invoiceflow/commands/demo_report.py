"""What the demo prints: release outcomes, the review queues, the trial balance, KPIs and a summary."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.commands.common import console
from invoiceflow.commands.review import print_kpis
from invoiceflow.ledger import trial_balance
from invoiceflow.review import release_kpis
from invoiceflow.store.tables import invoices, usage_events


def release_line(summary: dict) -> str:
    outcomes = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(summary["outcomes"].items()))
    return (f"release pass under policy version {summary['policy_version']}: {outcomes or 'nothing to release'}; "
            f"cases opened {summary['cases_opened']}, joined {summary['cases_joined']}")


def print_documents(summary: dict) -> None:
    written, folder = summary["written"], summary["folder"]
    line = (f"11. documents: {written} files written to {folder}/ for {summary['documents']} issued documents "
            f"(UBL for every one, PDF/A-3 and Factur-X for the first {summary['pdf_sample']})")
    if summary["validated_with"]:
        failed = summary["failed"]
        line += (f"; official EN 16931 rules: {summary['valid']} of {summary['validated']} valid"
                 + (f", failed: {escape(str(failed))}" if failed else ""))
    else:
        line += "; not validated (set INVOICEFLOW_EINVOICE_ARTIFACTS to the official artifacts folder)"
    if summary["refused"]:
        line += f"; refused for missing business terms: {escape(str(summary['refused']))}"
    console.print(line, highlight=False)


def print_cases(cases: list[dict]) -> None:
    """Open cases grouped by queue and type, with one example each (the full list: `review list`)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for c in cases:
        groups[(c["queue"], c["case_type"])].append(c)
    table = Table("queue", "case type", "cases", "invoices held", "example case", "why",
                  title="Open review cases (invoiceflow review list --tenant demo)")
    for (queue, kind), members in sorted(groups.items()):
        first = members[0]
        table.add_row(queue, kind, str(len(members)), str(sum(c["invoices"] for c in members)),
                      f"{first['id']}: {escape(first['root_cause'])}", escape(first["title"][:80]))
    console.print(table)


def print_trial_balance(engine, tenant: str) -> None:
    tb = trial_balance(engine, tenant)
    table = Table("entity", "currency", "account", "name", "debit", "credit", title="Trial balance (built-in ledger)")
    for row in tb.rows:
        table.add_row(row.legal_entity, row.currency, row.account, row.name, str(row.debit), str(row.credit))
    console.print(table)
    ok = all(t["balanced"] for t in tb.totals())
    console.print(f"    debits equal credits in every entity and currency: {'yes' if ok else 'NO'}")


def print_kpis_and_audit(engine, tenant: str, clock) -> None:
    print_kpis(release_kpis(engine, tenant=tenant, now=clock.now()))
    audit = verify_audit_log(engine, tenant=tenant)
    console.print(f"audit log {'verified' if audit.ok else 'BROKEN'}: {audit.entries} hash-chained entries "
                  "(invoiceflow audit verify --tenant demo)")


def print_summary(engine, tid: int) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(invoices.c.document_type, invoices.c.status, invoices.c.currency,
                                   invoices.c.total).where(invoices.c.tenant_id == tid)).all()
        late = conn.execute(select(func.count()).select_from(usage_events)
                            .where(usage_events.c.tenant_id == tid, usage_events.c.late == 1)).scalar_one()
    totals: dict = defaultdict(lambda: [0, Decimal(0)])
    for doc_type, status, currency, total in rows:
        totals[(doc_type, status, currency)][0] += 1
        totals[(doc_type, status, currency)][1] += total
    table = Table(title="Demo tenant: documents by status")
    for col in ("document", "status", "currency", "count", "total"):
        table.add_column(col, justify="right" if col in ("count", "total") else "left")
    for (doc_type, status, currency), (count, amount) in sorted(totals.items()):
        table.add_row(doc_type, status, currency, str(count), str(amount))
    console.print(table)
    console.print(f"late events on record: {late}.  Try: invoiceflow review list --tenant demo, "
                  "invoiceflow review show ID --tenant demo, invoiceflow ledger trial-balance --tenant demo")
