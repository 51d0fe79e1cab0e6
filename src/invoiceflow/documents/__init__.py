"""EN 16931 e-invoices: the invoice model, exact totals, UBL/CII writers and in-process validation.

Typical use: `render(parse_invoice(doc), "xrechnung-cii")` gives the XML bytes (or raises RequirementsError
naming the missing business terms); `validate(xml, artifacts_dir)` returns the official rules' findings.
See docs/einvoicing.md.
"""

from invoiceflow.documents.formats import FORMATS, PROFILES, Profile, get_profile
from invoiceflow.documents.invoice_input import InvoiceInputError, load_invoice, parse_invoice
from invoiceflow.documents.model import Invoice
from invoiceflow.documents.render import RenderResult, render, render_to_file
from invoiceflow.documents.requirements import RequirementsError
from invoiceflow.documents.totals import Totals, compute_totals
from invoiceflow.documents.validation import (
    ArtifactsError,
    DocumentError,
    Finding,
    ValidationReport,
    validate,
    validate_file,
)

__all__ = [
    "FORMATS", "PROFILES", "ArtifactsError", "DocumentError", "Finding", "Invoice", "InvoiceInputError", "Profile",
    "RenderResult", "RequirementsError", "Totals", "ValidationReport", "compute_totals", "get_profile", "load_invoice",
    "parse_invoice", "render", "render_to_file", "validate", "validate_file",
]
