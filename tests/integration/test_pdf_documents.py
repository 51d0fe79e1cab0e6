"""PDF/A-3b invoices in English, German and French, and Factur-X EN 16931, across the e-invoice scenario matrix.

The PDF is read back with pypdf: its text must state every legally required field, formatted for the
locale; its structure must declare PDF/A-3b (XMP identification, sRGB output intent, embedded fonts). No
PDF/A validator (veraPDF) runs here, so these are structural checks, not a conformance verdict. A Factur-X
file must carry factur-x.xml, which must be the `cii` document itself, pass the official CEN rules without
a finding, and state the invoice's totals.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_percent
from lxml import etree
from pypdf import PdfReader

from invoiceflow.documents.facturx import extract_xml, render_facturx, validate_facturx
from invoiceflow.documents.formats import EN16931
from invoiceflow.documents.invoice_input import load_invoice
from invoiceflow.documents.pdf import Branding, render_pdf
from invoiceflow.documents.pdf.labels import CATEGORIES, LABELS, UNITS, VAT_NOTES
from invoiceflow.documents.render import render
from invoiceflow.documents.requirements import RequirementsError
from invoiceflow.documents.totals import compute_totals
from invoiceflow.documents.validation import DocumentError
from invoiceflow.errors import ValidationError
from test_einvoice_matrix import ARTIFACTS, FIXTURES, SCENARIOS, _cii_view

LOCALES = ("en", "de", "fr")
CASES = [(scenario, locale) for scenario in SCENARIOS for locale in LOCALES]
NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"}
TITLES = {"en": ("Invoice", "Credit note"), "de": ("Rechnung", "Rechnungskorrektur"), "fr": ("Facture", "Avoir")}
#: The legal mention each language must print for a category without VAT (VAT Directive Art. 226).
VAT_MENTIONS = {
    "AE": {"en": "Reverse charge", "de": "Steuerschuldnerschaft des Leistungsempfängers", "fr": "Autoliquidation"},
    "K": {"en": "intra-community supply", "de": "innergemeinschaftliche Lieferung", "fr": "livraison intracommunautaire"},
    "G": {"en": "export outside the EU", "de": "Ausfuhrlieferung", "fr": "exportation hors UE"},
    "E": {"en": "Exempt from VAT", "de": "Steuerbefreite Leistung", "fr": "Exonéré de TVA"},
    "O": {"en": "Not subject to VAT", "de": "Nicht steuerbar", "fr": "hors du champ d’application de la TVA"},
}
_pdfs: dict[tuple[str, str], bytes] = {}
_facturx: dict[str, bytes] = {}


def pdf_for(scenario: str, locale: str) -> bytes:
    if (scenario, locale) not in _pdfs:
        _pdfs[scenario, locale] = render_pdf(load_invoice(FIXTURES / f"{scenario}.json"), locale=locale)
    return _pdfs[scenario, locale]


def facturx_for(scenario: str) -> bytes:
    if scenario not in _facturx:
        locale = LOCALES[SCENARIOS.index(scenario) % len(LOCALES)]
        _facturx[scenario] = render_facturx(load_invoice(FIXTURES / f"{scenario}.json"), locale=locale)
    return _facturx[scenario]


def squeeze(text: str) -> str:
    """Text without any whitespace: line wraps and (narrow) no-break spaces do not matter to a reader."""
    return "".join(text.split())


def pdf_text(pdf: bytes) -> str:
    return squeeze(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def xmp(pdf: bytes) -> etree._Element:
    reader = PdfReader(io.BytesIO(pdf))
    return etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())


def xmp_value(root: etree._Element, prefix: str, name: str) -> str | None:
    """An XMP property written either as an attribute or as an element of rdf:Description."""
    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        if description.get(f"{{{NS[prefix]}}}{name}") is not None:
            return description.get(f"{{{NS[prefix]}}}{name}")
        element = description.find(f"{prefix}:{name}", NS)
        if element is not None:
            return element.text
    return None


def assert_pdfa_3b(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    identification = xmp(pdf)
    assert (xmp_value(identification, "pdfaid", "part"), xmp_value(identification, "pdfaid", "conformance")) == ("3", "B")
    intents = [intent.get_object() for intent in root["/OutputIntents"]]
    assert any(i["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in i for i in intents), "PDF/A needs an output intent with an ICC profile"
    assert not reader.is_encrypted and "/ID" in reader.trailer
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = (font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font)["/FontDescriptor"]
            assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor.get_object()), f"font {font['/BaseFont']} is not embedded"


def money(value, currency: str, locale: str) -> str:
    return squeeze(format_currency(value, currency, locale=locale, decimal_quantization=False))


@pytest.mark.parametrize(("scenario", "locale"), CASES, ids=[f"{s}-{loc}" for s, loc in CASES])
def test_pdf_states_every_required_field_for_the_locale(scenario, locale):
    invoice = load_invoice(FIXTURES / f"{scenario}.json")
    totals = compute_totals(invoice)
    text = pdf_text(pdf_for(scenario, locale))
    day = lambda d: squeeze(format_date(d, "medium", locale=locale))  # noqa: E731
    cash = lambda value: money(value, invoice.currency, locale)  # noqa: E731
    countries = Locale.parse(locale).territories

    expected = [TITLES[locale][invoice.is_credit_note], invoice.number, day(invoice.issue_date)]
    for party in (invoice.seller, invoice.buyer):
        address = party.address
        expected += [party.name, *address.lines, address.city, address.postcode, countries[address.country]]
        if party.vat_id and not invoice.outside_scope_only():
            expected.append(party.vat_id)
        if party.legal_registration:
            expected.append(party.legal_registration.identifier)
    if invoice.due_date:
        expected.append(day(invoice.due_date))
    if invoice.period:
        expected += [day(invoice.period.start), day(invoice.period.end)]
    if invoice.delivery and invoice.delivery.date:
        expected.append(day(invoice.delivery.date))
    if invoice.preceding_invoice:
        expected.append(invoice.preceding_invoice.number)
    for item in totals.lines:
        expected += [item.line.name, cash(item.net_amount), cash(item.line.net_price)]
    for entry in totals.breakdown:
        expected += [cash(entry.taxable_amount), cash(entry.tax_amount)]
        if entry.rate is not None:
            expected.append(squeeze(format_percent(entry.rate / 100, locale=locale, decimal_quantization=False)))
        if entry.category in VAT_MENTIONS:
            expected.append(VAT_MENTIONS[entry.category][locale])
    for code, reason in ((e.code, e.reason) for e in invoice.exemptions):
        expected += [value for value in (code, reason) if value]
    expected += [cash(totals.tax_exclusive), cash(totals.tax_total), cash(totals.tax_inclusive), cash(totals.payable)]
    expected += [invoice.payment_terms or "", invoice.payment_means.account_id]
    if invoice.payment_means.bic:
        expected.append(invoice.payment_means.bic)

    missing = [value for value in expected if squeeze(value) not in text]
    assert missing == [], f"not in the {locale} PDF of {scenario}: {missing}"
    assert "Reverse" not in text or scenario == "reverse-charge-at"


@pytest.mark.parametrize(("scenario", "locale", "figures"), [
    ("domestic-de", "de", ["1.472,51 €", "03.06.2024", "01.05.2024 – 31.05.2024", "12,5 Std.", "DE89 3704 0044 0532 0130 00"]),
    ("domestic-de", "en", ["€1,472.51", "Jun 3, 2024", "May 1, 2024 – May 31, 2024", "12.5 h", "Amount due"]),
    ("domestic-de", "fr", ["1 472,51 €", "3 juin 2024", "Net à payer", "Allemagne"]),
    ("multi-rate-de", "de", ["19 %", "7 %", "214,15 €", "40,69 €", "136,35 €", "9,54 €", "Bemessungsgrundlage"]),
    ("jpy-de", "en", ["¥54,176", "¥7,642", "¥12,345"]),
    ("jpy-de", "de", ["54.176 ¥"]),
    ("kwd-de", "en", ["KWD 142.030", "KWD 12.345", "KWD 37.040"]),
    ("kwd-de", "de", ["142,030 KWD", "22,680 KWD"]),
    ("credit-note-de", "de", ["Rechnungskorrektur", "Korrektur zur Rechnung INV-2024-0001 vom 03.06.2024", "Erstattungsbetrag"]),
    ("credit-note-de", "en", ["Credit note", "Corrects invoice INV-2024-0001 of Jun 3, 2024"]),
    ("reverse-charge-at", "fr", ["Autoliquidation : la TVA est due par le preneur", "ATU12345678", "Autriche"]),
])
def test_amounts_and_dates_read_as_the_locale_writes_them(scenario, locale, figures):
    text = pdf_text(pdf_for(scenario, locale))
    assert [f for f in figures if squeeze(f) not in text] == []


@pytest.mark.parametrize("locale", LOCALES)
def test_the_pdf_declares_pdf_a_3b_and_embeds_its_fonts(locale):
    pdf = pdf_for("allowances-charges-de", locale)
    assert pdf.startswith(b"%PDF-1.7")
    assert_pdfa_3b(pdf)
    assert PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Lang"] == locale


def test_every_language_has_every_label():
    for table in (LABELS, CATEGORIES, VAT_NOTES, UNITS):
        assert set(table) == set(LOCALES)
        assert all(table[language].keys() == table["en"].keys() for language in LOCALES)


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_branding_puts_the_entity_logo_colour_and_footer_on_every_page():
    invoice = load_invoice(FIXTURES / "domestic-de.json")
    branding = Branding(accent_color="#0a7d5a", logo=_png(40, 20, (10, 125, 90)), footer_text="Managing director: Anna Schmidt")
    pdf = render_pdf(invoice, locale="en", branding=branding)
    reader = PdfReader(io.BytesIO(pdf))
    images = [name for page in reader.pages for name in page.images]
    assert len(images) == 1
    assert squeeze("Managing director: Anna Schmidt") in pdf_text(pdf)
    assert b"0.039216 0.490196 0.352941" in b"".join(page.get_contents().get_data() for page in reader.pages)
    assert_pdfa_3b(pdf)


def test_bad_branding_and_locales_are_refused_with_the_reason(tmp_path):
    invoice = load_invoice(FIXTURES / "domestic-de.json")
    with pytest.raises(ValidationError, match="accent colour 'red;} body{display:none' is not a hex colour"):
        Branding(accent_color="red;} body{display:none")
    with pytest.raises(ValidationError, match="logo is not a PNG, JPEG or SVG image"):
        render_pdf(invoice, branding=Branding(logo=b"GIF89a..."))
    with pytest.raises(ValidationError, match="cannot read logo"):
        render_pdf(invoice, branding=Branding(logo=tmp_path / "missing.png"))
    (tmp_path / "brand.json").write_text('{"accent": "#fff"}', encoding="utf-8")
    with pytest.raises(ValidationError, match="accent: unknown field"):
        Branding.from_file(tmp_path / "brand.json")
    with pytest.raises(ValidationError, match="unsupported locale 'es'"):
        render_pdf(invoice, locale="es")
    assert "Rechnung" in pdf_text(render_pdf(invoice, locale="de_AT"))


def test_a_pdf_is_refused_like_any_format_when_required_terms_are_missing():
    invoice = load_invoice(FIXTURES / "reverse-charge-at.json")
    without_buyer_vat_id = dataclasses.replace(invoice, buyer=dataclasses.replace(invoice.buyer, vat_id=None))
    with pytest.raises(RequirementsError) as refusal:
        render_pdf(without_buyer_vat_id)
    assert refusal.value.terms == ["BT-48"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_facturx_embeds_the_cii_as_factur_x_xml(scenario):
    pdf = facturx_for(scenario)
    invoice = load_invoice(FIXTURES / f"{scenario}.json")
    name, xml = extract_xml(pdf)
    assert name == "factur-x.xml"
    assert xml == render(invoice, "cii"), "the embedded XML must be the cii document itself"
    root = etree.fromstring(xml)
    assert root.findtext(".//{*}GuidelineSpecifiedDocumentContextParameter/{*}ID") == EN16931

    reader = PdfReader(io.BytesIO(pdf))
    catalog = reader.trailer["/Root"]
    filespec = catalog["/AF"][0].get_object()
    assert (filespec["/F"], filespec["/AFRelationship"]) == ("factur-x.xml", "/Data")
    metadata = xmp(pdf)
    assert (xmp_value(metadata, "fx", "DocumentFileName"), xmp_value(metadata, "fx", "ConformanceLevel"),
            xmp_value(metadata, "fx", "DocumentType")) == ("factur-x.xml", "EN 16931", "INVOICE")
    assert_pdfa_3b(pdf)

    t = compute_totals(invoice)
    view = _cii_view(xml)
    assert (view["number"], view["type"], view["currency"]) == (invoice.number, invoice.type_code, invoice.currency)
    assert (view["line_total"], view["tax_exclusive"], view["tax_total"], view["tax_inclusive"], view["payable"]) == (
        t.line_total, t.tax_exclusive, t.tax_total, t.tax_inclusive, t.payable)
    assert view["breakdown"] == [(b.category, b.rate or 0, b.taxable_amount, b.tax_amount) for b in t.breakdown]


@pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_facturx_passes_the_official_rules(scenario):
    report = validate_facturx(facturx_for(scenario), ARTIFACTS)
    assert (report.syntax, report.customization_id, report.rule_sets) == ("cii", EN16931, ("xsd", "en16931"))
    assert report.fatal == [], "\n".join(map(str, report.fatal))
    assert report.warnings == [], "\n".join(map(str, report.warnings))
    assert report.notes[0] == "validated the embedded factur-x.xml (Factur-X profile EN16931)"


def test_a_pdf_without_factur_x_xml_or_not_a_pdf_is_bad_input():
    with pytest.raises(DocumentError, match="the PDF carries no factur-x.xml .* embedded files: none"):
        extract_xml(pdf_for("domestic-de", "en"))
    with pytest.raises(DocumentError, match="not a readable PDF"):
        extract_xml(b"%PDF-1.7\nthis is not a PDF")
