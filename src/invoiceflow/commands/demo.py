"""`invoiceflow demo`: seed a realistic tenant, ingest usage, run a bill run and print what happened."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from invoiceflow import demo
from invoiceflow.billing.run import as_of_for_period, run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, console, reported_errors
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.store.tables import invoices, usage_events
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
    """Seed the 'demo' tenant, ingest two months of usage, bill October 2026 and summarise."""
    with reported_errors():
        engine = open_engine(database)
        clock = SystemClock()
        console.print(f"[bold]invoiceflow demo[/bold] — tenant '{demo.TENANT}' on {engine.url.render_as_string()}")
        with engine.begin() as conn:
            tid = tenant_id(conn, demo.TENANT)
            applied = apply_document(conn, tid, demo.catalog(customers))
        created = sum(applied.created.values())
        console.print(f"1. catalog applied: {created} records created, {sum(applied.unchanged.values())} unchanged "
                      f"({customers} customers, 4 currencies incl. JPY, 7 meters, 20 plans)")
        total_events = customers * events
        with _progress() as progress, engine.begin() as conn:
            task = progress.add_task("usage events", total=total_events)
            ingested = ingest_events(conn, tid, demo.usage(customers, events),
                                     ingested_at_micros=to_epoch_micros(clock.now()),
                                     on_progress=lambda n: progress.update(task, completed=n))
        console.print(f"2. usage ingested: {ingested.inserted} new, {ingested.duplicates} duplicates ignored")
        with _progress() as progress:
            task = progress.add_task("bill run", total=None)
            report = run_bill_run(engine, as_of=as_of_for_period(demo.PERIOD), tenant=demo.TENANT,
                                  label=demo.PERIOD, clock=clock,
                                  on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        console.print(f"3. bill run {report.bill_run_id} for {demo.PERIOD}: {report.invoices} invoices and "
                      f"{report.credit_notes} credit notes created")
        with engine.begin() as conn:
            late = ingest_events(conn, tid, demo.late_usage(customers), ingested_at_micros=to_epoch_micros(clock.now()))
        console.print(f"4. late usage: {late.inserted} events for the invoiced October arrived afterwards; stored "
                      f"as late ({late.late} flagged), not billed silently")
        _summary(engine, tid)


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
