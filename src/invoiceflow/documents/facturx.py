"""Factur-X 1.0 / ZUGFeRD 2.x invoices, profile EN 16931: the PDF/A-3b invoice carrying its CII as factur-x.xml.

One file serves two readers: a person reads the PDF, software reads the embedded CII. Both come from the
same model and the same `compute_totals`, so they cannot disagree. The XML is the `cii` format unchanged:
its guideline identifier (BT-24) `urn:cen.eu:en16931:2017` is exactly the one Factur-X assigns to the
EN 16931 profile. The `factur-x` package attaches it (AFRelationship /Data) and writes the XMP the
standard requires (pdfaid part 3 / conformance B and the fx: extension schema naming the profile).

Validation reads the attachment back and runs the official CEN rules for CII on it, the same check the
`cii` format gets.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

from invoiceflow.documents.formats import EN16931, get_profile
from invoiceflow.documents.model import Invoice
from invoiceflow.documents.pdf import Branding, render_pdf
from invoiceflow.documents.pdf.labels import LABELS
from invoiceflow.documents.pdf.localization import parse_locale
from invoiceflow.documents.render import render
from invoiceflow.documents.validation import DocumentError, ValidationReport, validate
from invoiceflow.errors import InvoiceflowError

FACTURX_FILENAME = "factur-x.xml"
#: Names under which Factur-X and ZUGFeRD 2.x readers look for the XML, in order of preference.
XML_FILENAMES = (FACTURX_FILENAME, "zugferd-invoice.xml", "xrechnung.xml")
FACTURX_LEVEL = "en16931"


class FacturxError(InvoiceflowError):
    """The CII could not be embedded: a fault of the writer, never of the invoice (which was checked before)."""


def render_facturx(
    invoice: Invoice, *, locale: str = "en", branding: Branding | None = None, check_xsd: bool = True
) -> bytes:
    """The Factur-X EN 16931 invoice: `render_pdf(invoice, ...)` with the `cii` XML embedded as factur-x.xml.

    `check_xsd` has the factur-x package check the XML against the Factur-X EN 16931 schema first (a few
    milliseconds); RequirementsError names missing business terms as for the other formats.
    """
    import facturx

    xml = render(invoice, get_profile("cii"))
    pdf = render_pdf(invoice, locale=locale, branding=branding)
    labels = LABELS[parse_locale(locale).language]
    title = f"{labels['credit_note' if invoice.is_credit_note else 'invoice']} {invoice.number}"
    metadata = {
        "author": invoice.seller.name,
        "keywords": f"{title}, Factur-X",
        "title": title,
        "subject": f"{title}, {invoice.seller.name} → {invoice.buyer.name}",
    }
    try:
        return facturx.generate_from_binary(
            pdf, xml, flavor="factur-x", level=FACTURX_LEVEL, check_xsd=check_xsd, pdf_metadata=metadata)
    except Exception as error:  # the library signals schema failures with bare Exception
        raise FacturxError(f"cannot embed the CII of invoice {invoice.number} as Factur-X {FACTURX_LEVEL}: {error}") from error


def extract_xml(pdf: bytes) -> tuple[str, bytes]:
    """(name, bytes) of the embedded invoice XML; DocumentError when the PDF is unreadable or carries none."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        attachments = PdfReader(io.BytesIO(pdf)).attachments
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        raise DocumentError(f"not a readable PDF: {error}", field="document") from None
    by_name = {name.lower(): (name, contents) for name, contents in attachments.items() if contents}
    for wanted in XML_FILENAMES:
        if wanted in by_name:
            name, contents = by_name[wanted]
            return name, contents[0]
    found = ", ".join(sorted(attachments)) or "none"
    raise DocumentError(
        f"the PDF carries no {FACTURX_FILENAME} (nor ZUGFeRD-invoice.xml or xrechnung.xml); embedded files: {found}",
        field="document")


def validate_facturx(pdf: bytes, artifacts: str | os.PathLike[str] | None = None) -> ValidationReport:
    """Validate the XML embedded in a Factur-X/ZUGFeRD PDF with the official rules of its syntax.

    The PDF/A layer itself is not checked here (that needs a PDF/A validator such as veraPDF).
    """
    name, xml = extract_xml(pdf)
    report = validate(xml, artifacts)
    note = f"validated the embedded {name}"
    if report.syntax == "cii" and report.customization_id == EN16931:
        note += f" (Factur-X profile {FACTURX_LEVEL.upper()})"
    return dataclasses.replace(report, notes=(note,) + report.notes)


def validate_facturx_file(path: str | os.PathLike[str], artifacts: str | os.PathLike[str] | None = None) -> ValidationReport:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DocumentError(f"cannot read {path}: {error.strerror or error}", field="document") from None
    return validate_facturx(data, artifacts)
