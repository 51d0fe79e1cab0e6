"""`invoiceflow einvoice export|payment-details`: e-invoices of the documents stored in the database.

export: every document of the tenant in the chosen statuses, in each chosen format, into a folder, with a
validation summary; exit 1 when a document is refused or fails a fatal rule (those are not written), 2 on
bad input. payment-details: the account, invoice contact and legal registration a legal entity states on
its invoices (idempotent, audited); without a changing option it shows them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.commands.common import DatabaseOption, TenantOption, console, reported_errors
from invoiceflow.commands.einvoice import EXIT_FATAL, ArtifactsOption, einvoice_app
from invoiceflow.documents.export import ExportReport, document_ids, export_documents
from invoiceflow.documents.payment_details import get_payment_details, set_payment_details
from invoiceflow.store.tenancy import tenant_id as resolve_tenant


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@einvoice_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into (created if missing).")],
    status: Annotated[str, typer.Option("--status", help="Statuses to export, comma-separated.")] = "issued",
    formats: Annotated[str, typer.Option("--formats", help="Formats, comma-separated (e.g. pdf,ubl,cii).")] = "pdf,ubl",
    check: Annotated[bool, typer.Option("--validate", help="Validate each XML; write nothing that breaks a fatal rule.")] = False,
    artifacts: ArtifactsOption = None,
    locale: Annotated[str, typer.Option("--locale", help="Language and formats of pdf/facturx.")] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    database: Optional[str] = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Write every stored document of the chosen statuses in the chosen formats, with a validation summary."""
    with reported_errors():
        engine = open_engine(database)
        ids = document_ids(engine, tenant, _split(status))
        with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=as_json) as progress:
            task = progress.add_task("documents", total=len(ids))
            report = export_documents(engine, tenant, ids, _split(formats), out, check=check, artifacts=artifacts,
                                      locale=locale, on_progress=lambda n: progress.update(task, completed=n))
        if as_json:
            typer.echo(json.dumps(report.as_dict(), indent=2))
        else:
            _print_summary(report, out, check)
        if not report.ok:
            raise typer.Exit(EXIT_FATAL)


def _print_summary(report: ExportReport, out: Path, check: bool) -> None:
    line = f"{report.documents} documents: {report.written} files written to {out}"
    if report.skipped:
        line += f", {report.skipped} skipped"
    if check:
        per_document = report.validation_seconds / report.validated * 1000 if report.validated else 0.0
        line += f"; {report.valid} of {report.validated} validated files valid ({per_document:.0f} ms each)"
    console.print(line, highlight=False, soft_wrap=True)
    for name, rules in report.failed.items():
        console.print(f"  [red]invalid[/red] {escape(name)}: {', '.join(rules)} (not written)", highlight=False, soft_wrap=True)
    for name, why in report.refused.items():
        console.print(f"  [yellow]refused[/yellow] {escape(name)}: {escape(why)}", highlight=False, soft_wrap=True)


@einvoice_app.command("payment-details")
def payment_details_command(
    entity: Annotated[str, typer.Option("--entity", help="Legal entity code.")],
    iban: Annotated[Optional[str], typer.Option("--iban", help="IBAN: SEPA credit transfer (58).")] = None,
    account_id: Annotated[Optional[str], typer.Option("--account-id", help="Account number: credit transfer (30).")] = None,
    bic: Annotated[Optional[str], typer.Option("--bic", help="BIC of the account's bank.")] = None,
    account_name: Annotated[Optional[str], typer.Option("--account-name", help="Account holder.")] = None,
    contact_name: Annotated[Optional[str], typer.Option("--contact-name", help="Invoice contact (BT-41).")] = None,
    contact_phone: Annotated[Optional[str], typer.Option("--contact-phone", help="Its telephone (BT-42).")] = None,
    contact_email: Annotated[Optional[str], typer.Option("--contact-email", help="Its e-mail (BT-43).")] = None,
    legal_id: Annotated[Optional[str], typer.Option("--legal-id", help="Legal registration id (BT-30).")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor", envvar="INVOICEFLOW_ACTOR", help="Who changes them (audited).")] = None,
    database: Optional[str] = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Set (or show) the payment details, invoice contact and legal registration of a legal entity.

    Options left out keep their value; an empty value ("") clears one.
    """
    changes = {"iban": iban, "account_id": account_id, "bic": bic, "account_name": account_name,
               "contact_name": contact_name, "contact_phone": contact_phone, "contact_email": contact_email,
               "legal_id": legal_id}
    with reported_errors():
        engine = open_engine(database)
        if all(value is None for value in changes.values()):
            with engine.connect() as conn:
                details = get_payment_details(conn, resolve_tenant(conn, tenant, create=False), entity)
            typer.echo(json.dumps({"entity": entity, **(details.as_dict() if details else {})}, indent=2))
            return
        with engine.begin() as conn:
            details, changed = set_payment_details(conn, resolve_tenant(conn, tenant, create=False), entity,
                                                   actor=(actor or "").strip(), at=SystemClock().now(), **changes)
        shown = ", ".join(f"{name} {value}" for name, value in details.as_dict().items() if value)
        verdict = "updated" if changed else "unchanged"
        console.print(f"legal entity {escape(entity)}: payment details {verdict} ({escape(shown) or 'none'})",
                      highlight=False, soft_wrap=True)
