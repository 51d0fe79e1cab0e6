"""From the invoice model to e-invoice bytes, and to a file that exists only if it is right.

The order is the guarantee: totals are computed, every requirement of the format is checked, and only then
is XML produced. `render_to_file` adds the last step: optionally validate with the official rules, then
write through a temporary file and an atomic rename, so a refused or invalid invoice leaves nothing behind.
The PDF formats (`pdf`, `facturx`) take the same path; their modules load only when asked for, because
WeasyPrint takes about a second to import.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from invoiceflow.documents.cii import write_cii
from invoiceflow.documents.formats import Profile, get_document_profile
from invoiceflow.documents.model import Invoice
from invoiceflow.documents.requirements import require
from invoiceflow.documents.totals import compute_totals
from invoiceflow.documents.ubl import write_ubl
from invoiceflow.documents.validation import ValidationReport, validate
from invoiceflow.errors import ValidationError

if TYPE_CHECKING:
    from invoiceflow.documents.pdf import Branding


def render(invoice: Invoice, profile: str | Profile, *, locale: str = "en", branding: Branding | None = None) -> bytes:
    """The e-invoice for `invoice` in `profile` (ubl, peppol, cii, xrechnung-ubl, xrechnung-cii) as UTF-8 XML,
    or for pdf and facturx as PDF bytes (`locale` and `branding` apply to these two only).

    Raises RequirementsError naming the missing or conflicting business terms; nothing is produced then.
    """
    profile = profile if isinstance(profile, Profile) else get_document_profile(profile)
    if profile.is_pdf:
        return _render_pdf(invoice, profile, locale, branding)
    totals = compute_totals(invoice)
    require(invoice, totals, profile)
    if profile.syntax == "ubl":
        return write_ubl(invoice, totals, profile)
    return write_cii(invoice, totals, profile)


def _render_pdf(invoice: Invoice, profile: Profile, locale: str, branding: Branding | None) -> bytes:
    if profile.name == "facturx":
        from invoiceflow.documents.facturx import render_facturx

        return render_facturx(invoice, locale=locale, branding=branding)
    from invoiceflow.documents.pdf import render_pdf

    return render_pdf(invoice, locale=locale, branding=branding)


def _validate(document: bytes, profile: Profile, artifacts: str | os.PathLike[str] | None) -> ValidationReport:
    if profile.name == "facturx":
        from invoiceflow.documents.facturx import validate_facturx

        return validate_facturx(document, artifacts)
    return validate(document, artifacts)


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What `render_to_file` did: the document, its validation report (if asked) and whether it was written."""

    path: Path
    profile: Profile
    document: bytes
    report: ValidationReport | None
    written: bool


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the target folder, so a failure leaves no partial document behind."""
    folder = path.parent
    if not folder.is_dir():
        raise ValidationError(f"output folder {folder} does not exist", field="out")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render_to_file(
    invoice: Invoice,
    profile: str | Profile,
    out: str | os.PathLike[str],
    *,
    check: bool = False,
    artifacts: str | os.PathLike[str] | None = None,
    locale: str = "en",
    branding: Branding | None = None,
) -> RenderResult:
    """Render and write `out`; with `check`, validate first and write nothing when a fatal rule fails."""
    profile = profile if isinstance(profile, Profile) else get_document_profile(profile)
    if check and profile.name == "pdf":
        raise ValidationError("a plain PDF carries no XML the rules could check: use the facturx format to validate", field="validate")
    path = Path(out)
    document = render(invoice, profile, locale=locale, branding=branding)
    report = _validate(document, profile, artifacts) if check else None
    if report is not None and not report.valid:
        return RenderResult(path, profile, document, report, written=False)
    write_atomically(path, document)
    return RenderResult(path, profile, document, report, written=True)
