"""PDF/A-3b invoices from the HTML/CSS templates, with WeasyPrint.

PDF/A-3b because it is the archival format the tax offices accept for ten years of retention and the one
Factur-X/ZUGFeRD builds on (PDF/A-3 is the level that may carry the XML). WeasyPrint writes the sRGB output
intent and the XMP identification and embeds every font it draws with; the template names DejaVu Sans,
which fontconfig resolves on the machine. The HTML is rendered by Jinja2 with autoescaping, so names and
texts from the invoice can never become markup.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from invoiceflow.documents.formats import get_profile
from invoiceflow.documents.model import Invoice
from invoiceflow.documents.pdf.branding import Branding
from invoiceflow.documents.pdf.localization import Formatter
from invoiceflow.documents.pdf.view import InvoiceView, build_view
from invoiceflow.documents.requirements import require
from invoiceflow.documents.totals import compute_totals

PDF_VARIANT = "pdf/a-3b"
_TEMPLATES = "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("invoiceflow.documents.pdf", _TEMPLATES), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@lru_cache(maxsize=1)
def _stylesheet() -> Any:
    """The parsed stylesheet, shared by every rendering (parsing it is a noticeable part of a small PDF)."""
    from weasyprint import CSS

    text = resources.files("invoiceflow.documents.pdf").joinpath(_TEMPLATES, "invoice.css").read_text(encoding="utf-8")
    return CSS(string=text)


def invoice_html(view: InvoiceView) -> str:
    """The invoice as HTML (the stylesheet is applied separately); useful to inspect a layout in a browser."""
    return _environment().get_template("invoice.html").render(v=view, t=view.labels)


def render_pdf(invoice: Invoice, *, locale: str = "en", branding: Branding | None = None) -> bytes:
    """The invoice as a PDF/A-3b document in `locale` (a locale of en, de or fr, e.g. "de" or "fr_CH").

    The invoice must meet the EN 16931 requirements every format shares (RequirementsError names the
    missing business terms otherwise): a PDF that lacks a legally required field is not worth printing.
    """
    from weasyprint import HTML

    totals = compute_totals(invoice)
    require(invoice, totals, get_profile("cii"))
    view = build_view(invoice, totals, Formatter(locale, invoice.currency), branding or Branding())
    document = HTML(string=invoice_html(view), base_url=None)
    return document.write_pdf(stylesheets=[_stylesheet()], pdf_variant=PDF_VARIANT)
