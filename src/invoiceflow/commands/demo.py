"""`invoiceflow demo`: a realistic tenant billed for two months, released under governance, posted to the
ledger, with what happened printed step by step. Running it again changes nothing (idempotent)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from invoiceflow import demo, demo_scenarios as scenario
from invoiceflow.billing.run import as_of_for_period, run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, console, reported_errors
from invoiceflow.commands.demo_report import (
    print_cases,
    print_documents,
    print_kpis_and_audit,
    print_summary,
    print_trial_balance,
    release_line,
)
from invoiceflow.demo_revenue import print_waterfall, revenue_waterfall
from invoiceflow.demo_steps import approve_pending, post_to_ledger, write_documents
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.policy.store import apply_policy
from invoiceflow.rating.periods import to_epoch_micros
from invoiceflow.review import list_cases, release, resolve_case
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

T = demo.TENANT


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def demo_command(
    customers: int = typer.Option(300, "--customers", min=8, help="How many customers to seed."),
    events: int = typer.Option(60, "--events-per-customer", min=14),
    database: str = DatabaseOption,
) -> None:
    """Seed the 'demo' tenant, bill September and October, release under policy, post, summarise."""
    with reported_errors():
        engine = open_engine(database)
        clock = SystemClock()
        console.print(f"[bold]invoiceflow demo[/bold] — tenant '{T}' on {engine.url.render_as_string()}")
        with engine.begin() as conn:
            tid = tenant_id(conn, T)
            rerun = conn.execute(select(invoices.c.id).where(invoices.c.tenant_id == tid).limit(1)).first() is not None
        final = scenario.with_stale_amendments(demo.catalog(customers, amended=True))
        vat_customer = scenario.missing_vat_customer(final)
        # A rerun starts from where the first run ended: amendments and fixes are never taken back.
        first = final if rerun else scenario.without_vat_id(demo.catalog(customers), vat_customer)
        with engine.begin() as conn:
            applied = apply_document(conn, tid, first)
            for name, roles in scenario.TEAM.items():
                set_member(conn, tid, name, roles, actor="ada.admin", at=clock.now())
            policy = apply_policy(conn, tid, scenario.policy_source(), actor="ada.admin", at=clock.now(),
                                  name="demo-policy.yaml")
        console.print(f"1. catalog applied: {sum(applied.created.values())} records created, "
                      f"{sum(applied.unchanged.values())} unchanged ({customers} customers in USD, EUR, GBP and JPY "
                      "across 8 time zones, with addresses, tax ids and a chart of accounts per legal entity); team "
                      f"of {len(scenario.TEAM)}; release policy version {policy.version}"
                      + (" (unchanged)" if not policy.created else ""))
        with _progress() as progress, engine.begin() as conn:
            task = progress.add_task("usage events", total=customers * events)
            ingested = ingest_events(conn, tid, [*demo.usage(customers, events), *scenario.unmapped_usage(demo.catalog(customers))],
                                     ingested_at_micros=to_epoch_micros(clock.now()),
                                     on_progress=lambda n: progress.update(task, completed=n))
        parked = ", ".join(f"{a} ({n})" for a, n in ingested.parked_accounts.items()) or "none"
        console.print(f"2. usage ingested: {ingested.inserted} new, {ingested.duplicates} duplicates ignored, "
                      f"{ingested.parked} parked under unmapped account ids: {parked}")
        _bill(engine, clock, demo.PERIODS[0], "3.")
        console.print("   " + release_line(release(engine, T, clock=clock).as_dict()), highlight=False)
        with engine.begin() as conn:
            amended = apply_document(conn, tid, final if rerun else scenario.without_vat_id(
                demo.catalog(customers, amended=True), vat_customer))
        console.print(f"4. mid-October changes: {amended.created['contract_versions']} upgrades effective Oct 15, "
                      f"{amended.updated['subscriptions']} immediate cancellations on Oct 20")
        _bill(engine, clock, demo.PERIODS[1], "5.")
        with engine.begin() as conn:
            stale = apply_document(conn, tid, final if rerun else scenario.without_vat_id(final, vat_customer))
            late = ingest_events(conn, tid, demo.late_usage(customers), ingested_at_micros=to_epoch_micros(clock.now()))
        console.print(f"6. after the bill run: {stale.created['contract_versions']} CRM amendments effective "
                      f"{scenario.STALE_FROM} (the November drafts carry the old price); {late.late} late usage "
                      "events for October")
        console.print("7. " + release_line(release(engine, T, clock=clock).as_dict()), highlight=False)
        print_cases(list_cases(engine, tenant=T, now=clock.now()))
        approved, refused = approve_pending(engine, T, clock)
        console.print(f"8. approvals: {approved} invoices approved by omar.controller and issued"
                      + (f"; refused: {escape(refused)}" if refused else ""), highlight=False)
        _fix_vat_id(engine, tid, final, vat_customer, clock)
        posted = post_to_ledger(engine, T, clock)
        console.print(f"10. ledger: {posted} issued documents posted to the built-in ledger through the outbox",
                      highlight=False)
        print_documents(write_documents(engine, T, "demo-documents", clock))
        console.print("12. revenue recognition through 2026-10 (ASC 606 / IFRS 15), posted to the ledger:")
        print_waterfall(revenue_waterfall(engine, T, clock), console=console)
        print_trial_balance(engine, T)
        print_kpis_and_audit(engine, T, clock)
        print_summary(engine, tid)


def _fix_vat_id(engine, tid: int, final: dict, customer: str | None, clock) -> None:
    """Step 9: the customer's VAT id arrives; the tax team re-validates its case and the invoices release."""
    case = next((c for c in list_cases(engine, tenant=T, now=clock.now()) if c["root_cause"] == f"tax:customer:{customer}"),
                None)
    if case is None:
        console.print("9. no tax case open (already resolved on an earlier run)")
        return
    with engine.begin() as conn:
        apply_document(conn, tid, final)
    outcome = resolve_case(engine, T, case["id"], "revalidate", actor="tariq.tax",
                           reason=f"VAT id of {customer} received and recorded", clock=clock)
    console.print(f"9. tax queue: {customer}'s VAT id recorded; case {case['id']} re-validated by tariq.tax: "
                  f"{escape(outcome.message)}", highlight=False)


def _bill(engine, clock, period: str, step: str) -> None:
    with _progress() as progress:
        task = progress.add_task(f"bill run {period}", total=None)
        report = run_bill_run(engine, as_of=as_of_for_period(period), tenant=T, label=period, clock=clock,
                              on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    console.print(f"{step} bill run {report.bill_run_id} for {period}: {report.invoices} invoices and "
                  f"{report.credit_notes} credit notes created")
    for code, reason in report.failures:
        console.print(f"   [red]not billed:[/red] {code}: {escape(reason)}", highlight=False)
