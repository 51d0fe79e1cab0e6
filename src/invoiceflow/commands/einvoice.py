"""`invoiceflow einvoice render|validate`: EN 16931 e-invoices from invoice JSON, checked by the official rules.

render: invoice JSON, or a stored invoice or credit note (--invoice-id), -> UBL / Peppol / CII / XRechnung
XML, or a PDF/A-3b invoice (pdf) or Factur-X PDF (facturx) in a chosen locale. Missing business terms are
reported by BT number with exit code 2 and no file is written; with --validate a document with fatal
findings is not written either (exit 1). `export` and `payment-details` (commands/einvoice_stored.py)
work on stored documents. validate: any UBL or CII invoice file, or a Factur-X/ZUGFeRD PDF (its embedded
XML) -> every failed rule with id, severity, message and location; exit 1 when a fatal rule fails, 0
otherwise, 2 on bad input (unreadable file, not an invoice, artifacts not found).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from invoiceflow.bootstrap import open_engine
from invoiceflow.commands.common import DatabaseOption, TenantOption, reported_errors
from invoiceflow.documents.formats import DOCUMENT_FORMATS, Profile, get_document_profile
from invoiceflow.documents.from_db import load_document
from invoiceflow.documents.invoice_input import load_invoice
from invoiceflow.documents.model import Invoice
from invoiceflow.documents.parties import for_profile
from invoiceflow.documents.render import render_to_file
from invoiceflow.documents.validation import ENV_VAR, ValidationReport, validate_file
from invoiceflow.errors import ValidationError
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

EXIT_FATAL = 1

einvoice_app = typer.Typer(
    help="EN 16931 e-invoices: render UBL/CII (Peppol, XRechnung), PDF and Factur-X, and validate them with the official rules.",
    no_args_is_help=True,
)

ArtifactsOption = Annotated[
    Optional[Path],
    typer.Option("--artifacts", help=f"Folder with the official validation artifacts (default: ${ENV_VAR})."),
]


def register(app: typer.Typer) -> None:
    from invoiceflow.commands import einvoice_stored  # noqa: F401 - adds export and payment-details

    app.add_typer(einvoice_app, name="einvoice")


def _print_report(report: ValidationReport, name: str) -> None:
    for finding in report.findings:
        typer.echo(f"{finding.severity:<7} {finding.rule}: {finding.message}")
        if finding.location:
            typer.echo(f"        at {finding.location}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    verdict = "valid" if report.valid else "INVALID"
    typer.echo(
        f"{name}: {verdict} ({report.syntax.upper()}; rules: {', '.join(report.rule_sets)}): "
        f"{len(report.fatal)} fatal, {len(report.warnings)} warnings"
    )


def _is_pdf(path: Path) -> bool:
    """A Factur-X file is told by its content, not its name; an unreadable file is left to the reader."""
    try:
        with path.open("rb") as stream:
            return stream.read(1024).lstrip().startswith(b"%PDF-")
    except OSError:
        return False


@einvoice_app.command("render")
def render_command(
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(DOCUMENT_FORMATS)}.")],
    out: Annotated[Path, typer.Option("--out", help="Path of the file to write.")],
    invoice: Annotated[
        Optional[Path], typer.Option("--invoice", help="Invoice JSON (schemas/einvoice-invoice.schema.json).")
    ] = None,
    invoice_id: Annotated[
        Optional[int], typer.Option("--invoice-id", help="A stored invoice or credit note (validated or later).")
    ] = None,
    check: Annotated[bool, typer.Option("--validate", help="Validate before writing; write nothing on a fatal finding.")] = False,
    artifacts: ArtifactsOption = None,
    locale: Annotated[str, typer.Option("--locale", help="Language and formats of pdf/facturx: en, de, fr (or e.g. de_AT).")] = "en",
    branding: Annotated[
        Optional[Path], typer.Option("--branding", help="Branding JSON for pdf/facturx: accent_color, logo, footer_text.")
    ] = None,
    database: Optional[str] = DatabaseOption,
    tenant: str = TenantOption,
) -> None:
    """Render an invoice (JSON file or stored document) as an EN 16931 e-invoice, a PDF/A-3b invoice or a Factur-X PDF."""
    with reported_errors():
        if (invoice is None) == (invoice_id is None):
            raise ValidationError("give either --invoice FILE.json or --invoice-id ID (one of them)", field="invoice")
        profile = get_document_profile(fmt)
        style = None
        if branding is not None:
            from invoiceflow.documents.pdf import Branding

            style = Branding.from_file(branding)
        model = load_invoice(invoice) if invoice is not None else _stored_invoice(database, tenant, invoice_id, profile)
        result = render_to_file(model, profile, out, check=check, artifacts=artifacts, locale=locale, branding=style)
        if result.written:
            typer.echo(f"wrote {out} ({profile.description}, {len(result.document)} bytes)")
        if result.report is not None:
            _print_report(result.report, str(out))
        if not result.written:
            typer.echo(f"not written: {out} breaks {len(result.report.fatal)} fatal rule(s)", err=True)
            raise typer.Exit(EXIT_FATAL)


def _stored_invoice(database: str | None, tenant: str, invoice_id: int, profile: Profile) -> Invoice:
    engine = open_engine(database)
    with engine.connect() as conn:
        return for_profile(load_document(conn, resolve_tenant(conn, tenant, create=False), invoice_id).invoice, profile)


@einvoice_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="UBL Invoice/CreditNote or CII CrossIndustryInvoice XML file, or a Factur-X PDF.")],
    artifacts: ArtifactsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    peppol: Annotated[
        Optional[bool], typer.Option("--peppol/--no-peppol", help="Force the Peppol rules on or off (default: when declared).")
    ] = None,
) -> None:
    """Validate an e-invoice against the XSD and the official EN 16931 (and Peppol) rules."""
    with reported_errors():
        if _is_pdf(file):
            from invoiceflow.documents.facturx import validate_facturx_file

            report = validate_facturx_file(file, artifacts)
        else:
            report = validate_file(file, artifacts, peppol=peppol)
        if as_json:
            typer.echo(json.dumps({"file": str(file), **report.as_dict()}, indent=2))
        else:
            _print_report(report, str(file))
        if not report.valid:
            raise typer.Exit(EXIT_FATAL)
