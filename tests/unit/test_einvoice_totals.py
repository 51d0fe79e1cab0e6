"""Totals: the EN 16931 calculation rules hold exactly, VAT is rounded once per category and rate."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoiceflow.documents.model import Address, AllowanceCharge, Invoice, Line, Party, VatRate
from invoiceflow.documents.totals import amount_digits, compute_totals, round_document_amount
from invoiceflow.errors import ValidationError

SELLER = Party("Seller GmbH", Address("DE", ("Street 1",), "Berlin", "10117"), vat_id="DE123456789")
BUYER = Party("Buyer AG", Address("DE", ("Road 2",), "Bonn", "53111"), vat_id="DE987654321")
S19, S7 = VatRate("S", Decimal("19")), VatRate("S", Decimal("7"))


def D(text: str) -> Decimal:
    return Decimal(text)


def invoice(lines, currency="EUR", acs=(), prepaid=D("0"), rounding=D("0")) -> Invoice:
    return Invoice("T-1", date(2024, 6, 1), currency, SELLER, BUYER, tuple(lines), allowances_charges=tuple(acs),
                   prepaid_amount=prepaid, rounding_amount=rounding)


def line(n, quantity, price, vat=S19, base=D("1"), acs=()) -> Line:
    return Line(str(n), f"item {n}", D(quantity), "C62", D(price), vat, price_base_quantity=base, allowances_charges=tuple(acs))


def test_domestic_totals_by_hand():
    totals = compute_totals(invoice([line(1, "12.5", "95.00"), line(2, "1", "49.90")]))
    assert [t.net_amount for t in totals.lines] == [D("1187.50"), D("49.90")]
    assert totals.line_total == D("1237.40")
    assert [(b.category, b.rate, b.taxable_amount, b.tax_amount) for b in totals.breakdown] == [("S", D("19"), D("1237.40"), D("235.11"))]
    assert (totals.tax_exclusive, totals.tax_total, totals.tax_inclusive, totals.payable) == (
        D("1237.40"), D("235.11"), D("1472.51"), D("1472.51"))


def test_vat_is_rounded_once_per_rate_not_per_line():
    # Per line: 59.97 * 19% = 11.39 and 154.18 * 19% = 29.29 -> 40.68; once on the sum 214.15 -> 40.69.
    totals = compute_totals(invoice([line(1, "3", "19.99"), line(2, "1.75", "88.10"), line(3, "7", "12.35", S7)]))
    by_rate = {b.rate: b for b in totals.breakdown}
    assert by_rate[D("19")].taxable_amount == D("214.15") and by_rate[D("19")].tax_amount == D("40.69")
    assert by_rate[D("7")].taxable_amount == D("86.45") and by_rate[D("7")].tax_amount == D("6.05")
    assert totals.tax_total == D("46.74")


def test_line_and_document_allowances_and_charges():
    lines = [line(1, "37", "14.99", acs=[AllowanceCharge(False, "Volume", percent=D("12.5")), AllowanceCharge(True, "Setup", amount=D("25"))])]
    acs = [AllowanceCharge(False, "Loyalty", amount=D("50.00"), vat=S19), AllowanceCharge(True, "Freight", amount=D("12.90"), vat=S19)]
    totals = compute_totals(invoice(lines, acs=acs, prepaid=D("100")))
    item = totals.lines[0]
    assert item.price_amount == D("554.63")  # 37 x 14.99
    assert [a.amount for a in item.allowances_charges] == [D("69.33"), D("25.00")]  # 12.5% of 554.63 = 69.32875
    assert item.net_amount == D("510.30")
    assert (totals.allowance_total, totals.charge_total) == (D("50.00"), D("12.90"))
    assert totals.tax_exclusive == D("473.20")
    assert totals.breakdown[0].taxable_amount == D("473.20") and totals.breakdown[0].tax_amount == D("89.91")
    assert totals.payable == D("473.20") + D("89.91") - D("100.00")


@pytest.mark.parametrize(("currency", "digits", "precise", "rounded"), [
    ("JPY", 0, "703.5", "704"), ("JPY", 0, "-703.5", "-704"), ("EUR", 2, "1.005", "1.01"),
    ("KWD", 2, "1.005", "1.01"), ("KWD", 2, "-2.345", "-2.35"), ("KWD", 2, "7.0376", "7.04"),
])
def test_amount_digits_are_capped_at_two_for_en16931(currency, digits, precise, rounded):
    assert amount_digits(currency) == digits
    result = round_document_amount(D(precise), currency)
    assert result == D(rounded) and result.as_tuple().exponent == -digits


def test_zero_and_three_decimal_currencies():
    jpy = compute_totals(invoice([line(1, "3", "12345"), line(2, "1", "9999", S7)], currency="JPY"))
    assert [b.tax_amount for b in jpy.breakdown] == [D("7037"), D("700")]  # 7036.65 and 699.93 rounded to whole yen
    kwd = compute_totals(invoice([line(1, "3", "12.345"), line(2, "2.5", "31.125")], currency="KWD"))
    assert [t.net_amount for t in kwd.lines] == [D("37.04"), D("77.81")]
    assert kwd.tax_total == D("21.82")  # 114.85 * 19% = 21.8215


def test_amounts_finer_than_the_currency_are_refused():
    with pytest.raises(ValidationError) as info:
        compute_totals(invoice([line(1, "1", "10")], currency="JPY", acs=[AllowanceCharge(False, "x", amount=D("0.5"), vat=S19)]))
    assert "more decimals than a JPY amount" in str(info.value)
    with pytest.raises(ValidationError):
        compute_totals(invoice([line(1, "1", "10")], prepaid=D("1.001")))


def test_base_amounts_and_base_quantities_are_checked():
    with pytest.raises(ValidationError, match="1.005 has more decimals"):
        compute_totals(invoice([line(1, "1", "10")], acs=[AllowanceCharge(False, "x", percent=D("5"), base_amount=D("1.005"), vat=S19)]))
    with pytest.raises(ValidationError, match="price base quantity of line 1 must be above zero"):
        compute_totals(invoice([line(1, "1", "10", base=D("0"))]))


def test_floats_are_refused_by_the_model():
    with pytest.raises(TypeError, match="must be Decimal"):
        Line("1", "x", 1.5, "C62", D("1"), S19)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be Decimal"):
        VatRate("S", 19.0)  # type: ignore[arg-type]


amounts = st.decimals(min_value=D("-500"), max_value=D("5000"), places=2, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0"), max_value=D("999"), places=4, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=D("-20"), max_value=D("500"), places=3, allow_nan=False, allow_infinity=False)
vats = st.sampled_from([S19, S7, VatRate("S", D("5.5")), VatRate("Z", D("0")), VatRate("E", D("0")), VatRate("AE", D("0"))])


def half_up(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


@settings(max_examples=150, deadline=None)
@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    specs=st.lists(st.tuples(quantities, prices, vats), min_size=1, max_size=6),
    doc=st.lists(st.tuples(st.booleans(), amounts, vats), max_size=3),
)
def test_calculation_rules_hold_exactly(currency, specs, doc):
    digits = amount_digits(currency)
    lines = [line(i, str(q), str(p), v) for i, (q, p, v) in enumerate(specs)]
    acs = [AllowanceCharge(charge, "adj", amount=half_up(abs(a), digits), vat=v) for charge, a, v in doc]
    t = compute_totals(invoice(lines, currency=currency, acs=acs))
    assert t.line_total == sum(item.net_amount for item in t.lines)  # BR-CO-10
    assert t.allowance_total == sum(a.amount for a in t.allowances_charges if not a.spec.charge)  # BR-CO-11
    assert t.charge_total == sum(a.amount for a in t.allowances_charges if a.spec.charge)  # BR-CO-12
    assert t.tax_exclusive == t.line_total - t.allowance_total + t.charge_total  # BR-CO-13
    assert t.tax_total == sum(b.tax_amount for b in t.breakdown)  # BR-CO-14
    assert t.tax_inclusive == t.tax_exclusive + t.tax_total  # BR-CO-15
    assert t.payable == t.tax_inclusive  # BR-CO-16 without prepaid/rounding
    for b in t.breakdown:  # BR-S-08 / BR-Z-08 / BR-E-08 / BR-AE-08 and BR-CO-17
        taxable = sum((i.net_amount for i in t.lines if (i.line.vat.category, i.line.vat.rate) == (b.category, b.rate)), D(0))
        taxable += sum(((a.amount if a.spec.charge else -a.amount) for a in t.allowances_charges
                        if (a.spec.vat.category, a.spec.vat.rate) == (b.category, b.rate)), D(0))
        assert b.taxable_amount == taxable
        assert b.tax_amount == half_up(b.taxable_amount * b.rate / 100, digits)
    for value in [t.line_total, t.tax_total, t.tax_inclusive, t.payable] + [b.tax_amount for b in t.breakdown]:
        assert value.as_tuple().exponent == -digits
