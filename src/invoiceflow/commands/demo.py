"""`invoiceflow demo`: seed a realistic tenant, ingest usage, run a bill run and print what happened."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from invoiceflow import demo
from invoiceflow.billing.run import as_of_for_period, run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, console, reported_errors
from invoiceflow.lifecycle.service import transition
from invoiceflow.lifecycle.states import TransitionRefused
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.store.tables import invoices, tenants, usage_events
from invoiceflow.store.tenancy import tenant_id


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def demo_command(
    customers: int = typer.Option(300, "--customers", min=4, help="How many customers to seed."),
    events: int = typer.Option(60, "--events-per-customer", min=1),
    database: str = DatabaseOption,
) -> None:
    """Seed the 'demo' tenant, ingest two months of usage, bill September, amend, bill October, summarise."""
    with reported_errors():
        engine = open_engine(database)
        clock = SystemClock()
        console.print(f"[bold]invoiceflow demo[/bold] — tenant '{demo.TENANT}' on {engine.url.render_as_string()}")
        with engine.begin() as conn:
            tid = tenant_id(conn, demo.TENANT)
            # A rerun starts from the amended document: amendments are never taken back.
            rerun = conn.execute(select(invoices.c.id).where(invoices.c.tenant_id == tid).limit(1)).first()
            applied = apply_document(conn, tid, demo.catalog(customers, amended=rerun is not None))
        console.print(f"1. catalog applied: {sum(applied.created.values())} records created, "
                      f"{sum(applied.unchanged.values())} unchanged ({customers} customers in USD, EUR, GBP and JPY "
                      "across 7 time zones; 7 meters; 20 plans covering every charge model)")
        with _progress() as progress, engine.begin() as conn:
            task = progress.add_task("usage events", total=customers * events)
            ingested = ingest_events(conn, tid, demo.usage(customers, events),
                                     ingested_at_micros=to_epoch_micros(clock.now()),
                                     on_progress=lambda n: progress.update(task, completed=n))
        console.print(f"2. usage ingested: {ingested.inserted} new, {ingested.duplicates} duplicates ignored")
        _bill(engine, clock, demo.PERIODS[0], "3.")
        with engine.begin() as conn:
            amended = apply_document(conn, tid, demo.catalog(customers, amended=True))
        console.print(f"4. mid-October changes applied: {amended.created['contract_versions']} upgrades effective "
                      f"Oct 15, {amended.updated['subscriptions']} immediate cancellations on Oct 20")
        _bill(engine, clock, demo.PERIODS[1], "5.")
        with engine.begin() as conn:
            late = ingest_events(conn, tid, demo.late_usage(customers), ingested_at_micros=to_epoch_micros(clock.now()))
        console.print(f"6. late usage: {late.received} events dated in invoiced October arrived afterwards: "
                      f"{late.late} fall in windows already invoiced and are stored as late (reported, never "
                      f"billed silently); {late.inserted - late.late} are for a meter their plan does not bill")
        _release(engine, clock)
        _summary(engine, tid)


def _release(engine, clock, count: int = 5) -> None:
    """Move a few October drafts through validation, approval by a second person, and issue."""
    with engine.connect() as conn:
        drafts = conn.execute(
            select(invoices.c.id).join(tenants, tenants.c.id == invoices.c.tenant_id)
            .where(tenants.c.code == demo.TENANT, invoices.c.status == "draft",
                   invoices.c.document_type == "invoice", invoices.c.total > 0)
            .order_by(invoices.c.id).limit(count)
        ).scalars().all()
    numbers = []
    for invoice_id in drafts:
        for action, actor in (("validate", "maya.finance"), ("submit", "maya.finance"),
                              ("approve", "omar.controller"), ("issue", "omar.controller")):
            result = transition(engine, demo.TENANT, invoice_id, action, actor=actor, clock=clock)
        numbers.append(result.number)
    refused = ""
    if drafts:
        extra = drafts[-1]
        try:
            transition(engine, demo.TENANT, extra, "void", actor="maya.finance", clock=clock)
        except TransitionRefused as exc:
            refused = f"; a void without a reason was refused ({exc.problems[0].message})"
    audit = verify_audit_log(engine, tenant=demo.TENANT)
    console.print(f"7. governed release: {len(numbers)} invoices validated, approved by a second person and "
                  f"issued as {', '.join(n for n in numbers if n)}{refused}; audit log "
                  f"{'verified' if audit.ok else 'BROKEN'} ({audit.entries} hash-chained entries)")


def _bill(engine, clock, period: str, step: str) -> None:
    with _progress() as progress:
        task = progress.add_task(f"bill run {period}", total=None)
        report = run_bill_run(engine, as_of=as_of_for_period(period), tenant=demo.TENANT, label=period,
                              clock=clock,
                              on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    console.print(f"{step} bill run {report.bill_run_id} for {period}: {report.invoices} invoices and "
                  f"{report.credit_notes} credit notes created")
    for code, reason in report.failures:
        console.print(f"   [red]not billed:[/red] {code}: {escape(reason)}", highlight=False)


def _summary(engine, tid: int) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(invoices.c.document_type, invoices.c.currency, invoices.c.total)
                            .where(invoices.c.tenant_id == tid)).all()
        late = conn.execute(select(func.count()).select_from(usage_events)
                            .where(usage_events.c.tenant_id == tid, usage_events.c.late == 1)).scalar_one()
    totals: dict = defaultdict(lambda: [0, Decimal(0)])
    for doc_type, currency, total in rows:
        totals[(doc_type, currency)][0] += 1
        totals[(doc_type, currency)][1] += total
    table = Table(title="Demo tenant: documents in the database")
    for col in ("document", "currency", "count", "total"):
        table.add_column(col, justify="right" if col in ("count", "total") else "left")
    for (doc_type, currency), (count, amount) in sorted(totals.items()):
        table.add_row(doc_type, currency, str(count), str(amount))
    console.print(table)
    console.print(f"late events on record: {late}.  Try: invoiceflow invoices list --tenant {demo.TENANT}")
