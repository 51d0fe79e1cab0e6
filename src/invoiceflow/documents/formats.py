"""The output formats and the conventions both syntaxes share.

A format is a syntax (UBL 2.1 or UN/CEFACT CII D16B) plus the specification it claims (BT-24): that
identifier decides which rules a receiver applies, so it travels with the profile, as do the extra duties a
profile brings (Peppol endpoints, XRechnung contact data; see requirements.py).

Two more formats are PDFs rather than XML: `pdf`, the readable invoice (PDF/A-3b), and `facturx`, the same
PDF carrying the `cii` XML (Factur-X 1.0 / ZUGFeRD 2.x, profile EN 16931). They are kept out of FORMATS,
which lists the XML e-invoices, and are found with `get_document_profile`.

The text helpers give amounts, decimals and dates exactly as the rules read them. Nothing here rounds:
amounts arrive rounded by totals.py, and `amount` only pads them to the document's digits (JPY "1000", EUR
"1000.00"), refusing a value that would need rounding, which would be a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from invoiceflow.documents.totals import fits, zero
from invoiceflow.errors import ValidationError

EN16931 = "urn:cen.eu:en16931:2017"
PEPPOL_BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
XRECHNUNG_3 = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
#: Business process (BT-23) of Peppol BIS Billing 3.0, also used by XRechnung.
PEPPOL_BILLING_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
#: Formats whose document is a PDF (documents/pdf, documents/facturx.py) rather than XML.
PDF_FORMATS = ("pdf", "facturx")


@dataclass(frozen=True, slots=True)
class Profile:
    """One output format: `name` as given on the command line, syntax `ubl` or `cii`, BT-24 and BT-23."""

    name: str
    syntax: str
    customization_id: str
    profile_id: str | None = None

    @property
    def peppol(self) -> bool:
        return self.customization_id == PEPPOL_BIS3

    @property
    def xrechnung(self) -> bool:
        return self.customization_id == XRECHNUNG_3

    @property
    def is_pdf(self) -> bool:
        return self.name in PDF_FORMATS

    @property
    def description(self) -> str:
        return {
            "ubl": "UBL 2.1, EN 16931",
            "peppol": "UBL 2.1, Peppol BIS Billing 3.0",
            "cii": "UN/CEFACT CII D16B, EN 16931",
            "xrechnung-ubl": "UBL 2.1, XRechnung 3.0",
            "xrechnung-cii": "UN/CEFACT CII D16B, XRechnung 3.0",
            "pdf": "PDF/A-3b",
            "facturx": "Factur-X EN 16931, PDF/A-3b with CII D16B",
        }[self.name]


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("ubl", "ubl", EN16931),
        Profile("peppol", "ubl", PEPPOL_BIS3, PEPPOL_BILLING_PROCESS),
        Profile("cii", "cii", EN16931),
        Profile("xrechnung-ubl", "ubl", XRECHNUNG_3, PEPPOL_BILLING_PROCESS),
        Profile("xrechnung-cii", "cii", XRECHNUNG_3, PEPPOL_BILLING_PROCESS),
    )
}
FORMATS = tuple(PROFILES)
#: The PDF formats; `facturx` embeds the XML of profile `cii`, hence its syntax and BT-24.
PDF_PROFILES: dict[str, Profile] = {"pdf": Profile("pdf", "pdf", EN16931), "facturx": Profile("facturx", "cii", EN16931)}
DOCUMENT_FORMATS = FORMATS + PDF_FORMATS


def get_profile(name: str) -> Profile:
    """The profile called `name`; an unknown name is bad input and the error lists the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValidationError(f"unknown e-invoice format {name!r}; choose one of {', '.join(FORMATS)}", field="format") from None


def get_document_profile(name: str) -> Profile:
    """Any output format, XML or PDF, by name; an unknown name is bad input listing all of them."""
    if name in PDF_PROFILES:
        return PDF_PROFILES[name]
    if name in PROFILES:
        return PROFILES[name]
    raise ValidationError(f"unknown e-invoice format {name!r}; choose one of {', '.join(DOCUMENT_FORMATS)}", field="format")


def amount(value: Decimal, currency: str) -> str:
    """Fixed-point text with exactly the document's amount digits; never negative zero."""
    if not fits(value, currency):
        raise ValueError(f"{value} is not a rounded {currency} amount")
    padded = value + zero(currency)
    if padded == 0:
        padded = abs(padded)
    return format(padded, "f")


def decimal(value: Decimal) -> str:
    """Fixed-point text of a price, quantity or rate as stated (29.90 stays 29.90; 1E+2 becomes 100)."""
    text = format(value, "f")
    return text.lstrip("-") if value == 0 else text


def iso_date(value: date) -> str:
    return value.isoformat()


def date_102(value: date) -> str:
    """UNTDID 2379 format 102 (CCYYMMDD), the date format of CII."""
    return value.strftime("%Y%m%d")


def sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    """Append child `tag` (Clark notation) with optional text and attributes, and return it."""
    child = etree.SubElement(parent, tag, {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        child.text = text
    return child
