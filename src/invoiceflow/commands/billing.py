"""`invoiceflow bill-run` and `invoiceflow invoices list|show`."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from invoiceflow.billing.distributed import bill_run_status, start_distributed_run
from invoiceflow.billing.queries import invoice_detail, list_invoices
from invoiceflow.billing.run import BillRunReport, as_of_for_period, run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.errors import ValidationError

invoices_app = typer.Typer(help="Inspect invoices and credit notes.", no_args_is_help=True)
bill_run_app = typer.Typer()  # `bill-run [OPTIONS]` runs a bill run; `bill-run status ID` shows one


def register(app: typer.Typer) -> None:
    app.add_typer(bill_run_app, name="bill-run")
    app.add_typer(invoices_app, name="invoices")


@bill_run_app.callback(invoke_without_command=True)
def bill_run(
    ctx: typer.Context,
    period: str = typer.Option(None, "--period", help="Service month to close, YYYY-MM (bills up to the 1st of the next month)."),
    as_of: str = typer.Option(None, "--as-of", help="Bill everything due on or before this date (YYYY-MM-DD)."),
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="Subscriptions per transaction."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    distributed: bool = typer.Option(False, "--distributed", help="PostgreSQL: defer one job per batch for "
                                     "`invoiceflow worker` processes to share; follow with `bill-run status ID`."),
    database: str = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Create draft invoices and credit notes for everything due. Idempotent and resumable: rerun to finish."""
    if ctx.invoked_subcommand:
        return
    with reported_errors():
        cutoff = _cutoff(period, as_of)
        engine = open_engine(database)
        if distributed:
            _start_distributed(engine, cutoff, tenant, period or as_of, batch_size, as_json)
            return
        with Progress(TextColumn("bill run"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=as_json, transient=False) as progress:
            task = progress.add_task("subscriptions", total=None)
            report = run_bill_run(
                engine, as_of=cutoff, tenant=tenant, label=period or as_of, batch_size=batch_size,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        if as_json:
            print(json.dumps(report.as_dict(), indent=2))
        else:
            print_report(report)


def _start_distributed(engine, cutoff: date, tenant: str, label: str, batch_size: int, as_json: bool) -> None:
    run = start_distributed_run(engine, as_of=cutoff, tenant=tenant, label=label, batch_size=batch_size)
    if as_json:
        print(json.dumps(run.as_dict(), indent=2))
        return
    console.print(f"bill run {run.bill_run_id}: {run.subscriptions} subscriptions in {run.batches} batches deferred "
                  f"to `invoiceflow worker`; progress: invoiceflow bill-run status {run.bill_run_id}", highlight=False)


@bill_run_app.command("status")
def bill_run_status_command(
    bill_run_id: int = typer.Argument(..., help="Bill run id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    database: str = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """A bill run's progress: batches done of total, invoices, failures, and (distributed) its jobs."""
    with reported_errors():
        status = bill_run_status(open_engine(database), bill_run_id, tenant=tenant)
        if as_json:
            print(json.dumps(status, indent=2))
            return
        console.print(f"[bold]bill run {status['bill_run_id']}[/bold] ({escape(status['label'])}, due on or before "
                      f"{status['as_of']}): {status['status']}", highlight=False)
        if status["distributed"]:
            jobs = status["jobs"]
            console.print(f"batches {status['batches_done']}/{status['batches']}  subscriptions "
                          f"{status['subscriptions']}/{status['subscriptions_total']}  jobs waiting {jobs['waiting']}, "
                          f"running {jobs['running']}, failed {jobs['failed']}", highlight=False)
            for worker, batches in sorted(status["workers"].items()):
                console.print(f"  {escape(worker)}: {batches} batches", highlight=False)
        if "invoices" in status:
            console.print(f"invoices {status['invoices']}  credit notes {status['credit_notes']}  "
                          f"failures {len(status['failures'])}", highlight=False)
            for failure in status["failures"]:
                console.print(f"[red]not billed:[/red] {failure['subscription']}: {escape(failure['reason'])}",
                              highlight=False)


def _cutoff(period: str | None, as_of: str | None) -> date:
    if bool(period) == bool(as_of):
        raise ValidationError("give exactly one of --period YYYY-MM or --as-of YYYY-MM-DD", field="period")
    if period:
        return as_of_for_period(period)
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise ValidationError(f"{as_of!r} is not a date (YYYY-MM-DD)", field="as_of") from None


def print_report(report: BillRunReport) -> None:
    table = Table(title=f"Bill run {report.bill_run_id} (due on or before {report.as_of})")
    table.add_column("document")
    table.add_column("currency")
    table.add_column("count", justify="right")
    table.add_column("total", justify="right")
    for (doc_type, currency), total in sorted(report.totals.items()):
        table.add_row(doc_type, currency, str(report.count_by[(doc_type, currency)]), str(total))
    console.print(table)
    console.print(
        f"subscriptions scanned: {report.subscriptions}  invoices: {report.invoices}  "
        f"credit notes: {report.credit_notes}  late events (stored, not billed): {report.late_events}"
    )
    for code, reason in report.failures:
        console.print(f"[red]not billed:[/red] {code}: {escape(reason)}", highlight=False)


@invoices_app.command("list")
def invoices_list(
    customer: str = typer.Option(None, "--customer", help="Customer code."),
    status: str = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json"),
    database: str = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """List invoices and credit notes, newest first."""
    with reported_errors():
        rows = list_invoices(open_engine(database), tenant=tenant, customer=customer, status=status, limit=limit)
        if as_json:
            print(json.dumps(rows, indent=2, default=str))
            return
        table = Table("id", "type", "customer", "billing date", "period", "currency", "total", "status")
        for r in rows:
            table.add_row(str(r["id"]), r["document_type"], r["customer"], str(r["billing_date"]),
                          f"{r['period_start']} – {r['period_end']}", r["currency"], str(r["total"]), r["status"])
        console.print(table)


@invoices_app.command("show")
def invoices_show(
    invoice_id: int = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
    database: str = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Show one document with every line and its trace (contract version, price, meter, window)."""
    with reported_errors():
        detail = invoice_detail(open_engine(database), invoice_id, tenant=tenant)
        if as_json:
            print(json.dumps(detail, indent=2, default=str))
            return
        console.print(f"[bold]{detail['document_type']} {detail['id']}[/bold]  customer {detail['customer']}  "
                      f"billing date {detail['billing_date']}  status {detail['status']}")
        table = Table("#", "type", "description", "service period", "quantity", "amount", "version")
        for line in detail["lines"]:
            trace = line.get("trace") or {}
            version = f"v{trace['contract_version']} {trace.get('plan')}" if trace.get("contract_version") else ""
            table.add_row(str(line["position"]), line["line_type"], line["description"],
                          f"{line['service_start'] or ''} – {line['service_end'] or ''}",
                          "" if line["quantity"] is None else str(line["quantity"]), str(line["amount"]), version)
        console.print(table)
        console.print(f"subtotal {detail['subtotal']}  discounts {detail['discount_total']}  "
                      f"credits {detail['credits_applied']}  total {detail['total']} {detail['currency']}")
