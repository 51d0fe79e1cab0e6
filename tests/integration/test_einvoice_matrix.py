"""Every scenario in every format passes the official rules, and the XML says what the model says.

Scenarios (tests/fixtures/einvoice): domestic DE 19%, 19% + 7%, reverse charge AE, intra-community K, export G,
exempt E, zero rated Z, outside scope O, line and document allowances/charges, credit note, JPY and KWD.
XRechnung documents are checked against the EN 16931 rules (the KoSIT rules are not among the artifacts).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from invoiceflow.documents.cii import RAM, RSM
from invoiceflow.documents.invoice_input import load_invoice
from invoiceflow.documents.formats import FORMATS, get_profile
from invoiceflow.documents.render import render
from invoiceflow.documents.totals import compute_totals
from invoiceflow.documents.ubl import CAC, CBC
from invoiceflow.documents.validation import validate

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
FIXTURES = REPO / "tests" / "fixtures" / "einvoice"
SCENARIOS = sorted(path.stem for path in FIXTURES.glob("*.json"))
CASES = [(scenario, fmt) for scenario in SCENARIOS for fmt in FORMATS]
UBL_NS = {"cac": CAC, "cbc": CBC}
CII_NS = {"rsm": RSM, "ram": RAM}
_rendered: dict[tuple[str, str], bytes] = {}


def rendered(scenario: str, fmt: str) -> bytes:
    if (scenario, fmt) not in _rendered:
        _rendered[scenario, fmt] = render(load_invoice(FIXTURES / f"{scenario}.json"), fmt)
    return _rendered[scenario, fmt]


def test_the_matrix_covers_the_required_scenarios():
    assert {"domestic-de", "multi-rate-de", "reverse-charge-at", "intra-community-fr", "export-us", "exempt-de",
            "zero-rated-de", "allowances-charges-de", "credit-note-de", "jpy-de", "kwd-de"} <= set(SCENARIOS)
    categories = {line.vat.category for s in SCENARIOS for line in load_invoice(FIXTURES / f"{s}.json").lines}
    assert categories == {"S", "Z", "E", "AE", "K", "G", "O"}


@pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
@pytest.mark.parametrize(("scenario", "fmt"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_passes_the_official_rules(scenario, fmt):
    report = validate(rendered(scenario, fmt), ARTIFACTS)
    profile = get_profile(fmt)
    expected_rules = ("xsd", "en16931", "peppol") if profile.peppol else ("xsd", "en16931")
    assert report.rule_sets == expected_rules
    assert report.fatal == [], "\n".join(map(str, report.fatal))
    assert report.warnings == [], "\n".join(map(str, report.warnings))
    if profile.xrechnung:
        assert report.notes == ("XRechnung-specific (KoSIT) rules are not among the artifacts: checked against EN 16931 only",)


def _d(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _ubl_view(xml: bytes) -> dict:
    root = etree.fromstring(xml)
    x = lambda path, node=root: node.xpath(f"string({path})", namespaces=UBL_NS) or None  # noqa: E731
    total = "cac:LegalMonetaryTotal/cbc:"
    return {
        "number": x("cbc:ID"), "type": x("cbc:InvoiceTypeCode | cbc:CreditNoteTypeCode"), "currency": x("cbc:DocumentCurrencyCode"),
        "line_total": _d(x(total + "LineExtensionAmount")), "tax_exclusive": _d(x(total + "TaxExclusiveAmount")),
        "tax_inclusive": _d(x(total + "TaxInclusiveAmount")), "payable": _d(x(total + "PayableAmount")),
        "allowances": _d(x(total + "AllowanceTotalAmount")), "charges": _d(x(total + "ChargeTotalAmount")),
        "prepaid": _d(x(total + "PrepaidAmount")), "tax_total": _d(x("cac:TaxTotal/cbc:TaxAmount")),
        "breakdown": [
            (x("cac:TaxCategory/cbc:ID", s), _d(x("cac:TaxCategory/cbc:Percent", s)) or Decimal(0),
             _d(x("cbc:TaxableAmount", s)), _d(x("cbc:TaxAmount", s)))
            for s in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=UBL_NS)
        ],
        "lines": [
            (x("cbc:ID", n), _d(x("cbc:InvoicedQuantity | cbc:CreditedQuantity", n)),
             x("*[self::cbc:InvoicedQuantity or self::cbc:CreditedQuantity]/@unitCode", n), _d(x("cbc:LineExtensionAmount", n)),
             _d(x("cac:Price/cbc:PriceAmount", n)), x("cac:Item/cbc:Name", n), x("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", n),
             _d(x("cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", n)))
            for n in root.xpath("cac:InvoiceLine | cac:CreditNoteLine", namespaces=UBL_NS)
        ],
        "amount_texts": root.xpath("//*[@currencyID][not(self::cbc:PriceAmount)]/text()", namespaces=UBL_NS),
    }


def _cii_view(xml: bytes) -> dict:
    root = etree.fromstring(xml)
    x = lambda path, node=root: node.xpath(f"string({path})", namespaces=CII_NS) or None  # noqa: E731
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
    total = settlement + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    return {
        "number": x("rsm:ExchangedDocument/ram:ID"), "type": x("rsm:ExchangedDocument/ram:TypeCode"),
        "currency": x(settlement + "ram:InvoiceCurrencyCode"),
        "line_total": _d(x(total + "LineTotalAmount")), "tax_exclusive": _d(x(total + "TaxBasisTotalAmount")),
        "tax_inclusive": _d(x(total + "GrandTotalAmount")), "payable": _d(x(total + "DuePayableAmount")),
        "allowances": _d(x(total + "AllowanceTotalAmount")), "charges": _d(x(total + "ChargeTotalAmount")),
        "prepaid": _d(x(total + "TotalPrepaidAmount")), "tax_total": _d(x(total + "TaxTotalAmount")),
        "breakdown": [
            (x("ram:CategoryCode", t), _d(x("ram:RateApplicablePercent", t)) or Decimal(0), _d(x("ram:BasisAmount", t)),
             _d(x("ram:CalculatedAmount", t)))
            for t in root.xpath(settlement + "ram:ApplicableTradeTax", namespaces=CII_NS)
        ],
        "lines": [
            (x("ram:AssociatedDocumentLineDocument/ram:LineID", n), _d(x("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", n)),
             x("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode", n),
             _d(x("ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", n)),
             _d(x("ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount", n)),
             x("ram:SpecifiedTradeProduct/ram:Name", n), x("ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode", n),
             _d(x("ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent", n)))
            for n in root.xpath("rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem", namespaces=CII_NS)
        ],
        "amount_texts": root.xpath(f"{settlement}ram:SpecifiedTradeSettlementHeaderMonetarySummation/*/text()", namespaces=CII_NS),
    }


@pytest.mark.parametrize(("scenario", "fmt"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_round_trip_totals_and_lines(scenario, fmt):
    invoice = load_invoice(FIXTURES / f"{scenario}.json")
    t = compute_totals(invoice)
    view = (_ubl_view if get_profile(fmt).syntax == "ubl" else _cii_view)(rendered(scenario, fmt))
    has_allowance = any(not a.spec.charge for a in t.allowances_charges)
    has_charge = any(a.spec.charge for a in t.allowances_charges)
    assert (view["number"], view["type"], view["currency"]) == (invoice.number, invoice.type_code, invoice.currency)
    assert (view["line_total"], view["tax_exclusive"], view["tax_total"], view["tax_inclusive"], view["payable"]) == (
        t.line_total, t.tax_exclusive, t.tax_total, t.tax_inclusive, t.payable)
    assert view["allowances"] == (t.allowance_total if has_allowance else None)
    assert view["charges"] == (t.charge_total if has_charge else None)
    assert view["prepaid"] == (t.prepaid or None)
    assert view["breakdown"] == [(b.category, b.rate or Decimal(0), b.taxable_amount, b.tax_amount) for b in t.breakdown]
    assert view["lines"] == [
        (i.line.id, i.line.quantity, i.line.unit_code, i.net_amount, i.line.net_price, i.line.name, i.line.vat.category, i.line.vat.rate)
        for i in t.lines
    ]
    digits = {"JPY": 0, "KWD": 2}.get(invoice.currency, 2)
    for text in view["amount_texts"]:
        assert len(text.partition(".")[2]) == digits, f"{text} should carry {digits} decimals"


def test_three_decimal_prices_survive_while_amounts_carry_two():
    xml = rendered("kwd-de", "ubl").decode()
    assert '<cbc:PriceAmount currencyID="KWD">12.345</cbc:PriceAmount>' in xml
    assert '<cbc:LineExtensionAmount currencyID="KWD">37.04</cbc:LineExtensionAmount>' in xml
    jpy = rendered("jpy-de", "cii").decode()
    assert '<ram:TaxTotalAmount currencyID="JPY">7642</ram:TaxTotalAmount>' in jpy


def test_outside_scope_documents_leave_out_vat_identifiers():
    for fmt in FORMATS:
        xml = rendered("outside-scope-de", fmt).decode()
        assert "DE123456789</cbc:CompanyID>" not in xml and 'schemeID="VA"' not in xml
