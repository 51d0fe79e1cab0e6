"""Tax calculation: breakdown per (category, rate), one rounding per rate, currency exponents, the engine."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import invoiceflow.tax as tax
from invoiceflow.errors import InvoiceflowError, PricingError, ValidationError
from invoiceflow.tax import (
    BuiltinTaxEngine,
    Buyer,
    QuoteLine,
    QuoteRequest,
    Seller,
    Supply,
    TaxEngine,
    TaxLine,
    TaxRequest,
    TaxUnavailable,
    calculate_tax,
    determine,
)

D = Decimal


def line(net: str, category: str = "S", rate: str = "19", **kw) -> TaxLine:
    return TaxLine(D(net), category, D(rate), **kw)


def test_several_rates_on_one_invoice():
    breakdown = calculate_tax([
        line("100.00"), line("50.00", rate="7"), line("19.99"), line("30.00", "AE", "0",
                                                                     exemption_code="VATEX-EU-AE",
                                                                     exemption_reason="Reverse charge"),
    ], "EUR")
    rows = [(s.category, s.rate, s.taxable_amount, s.tax_amount, s.line_count) for s in breakdown.subtotals]
    assert rows == [
        ("S", D("19"), D("119.99"), D("22.80"), 2),  # 22.7981 -> 22.80
        ("S", D("7"), D("50.00"), D("3.50"), 1),
        ("AE", D("0"), D("30.00"), D("0.00"), 1),
    ]
    assert breakdown.subtotals[2].exemption_code == "VATEX-EU-AE"
    assert breakdown.taxable_total == D("199.99")
    assert breakdown.tax_total == D("26.30")
    assert breakdown.gross_total == D("226.29")


def test_tax_is_rounded_once_per_rate_not_per_line():
    breakdown = calculate_tax([line("0.13"), line("0.13"), line("0.13")], "EUR")
    # per line: 0.0247 -> 0.02, three times 0.06; once: 0.39 x 19 % = 0.0741 -> 0.07
    assert breakdown.tax_total == D("0.07")
    assert breakdown.subtotals[0].tax_precise == D("0.0741")


def test_jpy_has_no_decimals():
    breakdown = calculate_tax([line("1234", rate="10"), line("999", rate="8")], "JPY")
    assert [(s.taxable_amount, s.tax_amount) for s in breakdown.subtotals] == [(D("1234"), D("123")),
                                                                                (D("999"), D("80"))]
    assert breakdown.tax_total == D("203")
    assert breakdown.tax_total.as_tuple().exponent == 0


def test_jpy_line_with_decimals_is_refused():
    with pytest.raises(ValidationError, match=r"more digits than JPY allows \(0\)"):
        calculate_tax([line("100.5", rate="10")], "JPY")


def test_kwd_has_three_decimals():
    breakdown = calculate_tax([line("10.125", rate="5"), line("0.333", rate="5")], "KWD")
    assert breakdown.subtotals[0].tax_amount == D("0.523")  # 10.458 x 5 % = 0.5229
    assert breakdown.tax_total.as_tuple().exponent == -3


def test_credit_lines_round_half_away_from_zero():
    assert calculate_tax([line("-0.50", rate="5")], "EUR").tax_total == D("-0.03")  # -0.025


def test_empty_invoice_has_zero_totals_with_the_currency_digits():
    breakdown = calculate_tax([], "KWD")
    assert breakdown.subtotals == () and str(breakdown.tax_total) == "0.000"


@pytest.mark.parametrize(("bad", "message"), [
    (line("10.00", "S", "0"), "needs a rate above 0"),
    (line("10.00", "AE", "19"), "rate must be 0"),
    (line("10.00", "X", "0"), "unknown VAT category 'X'"),
    (line("10.00", "S", "100"), "percentage in [0, 100)"),
    (line("10.001"), "more digits than EUR allows (2)"),
    (line("NaN"), "not a finite amount"),
])
def test_bad_lines_are_refused_with_their_line(bad, message):
    with pytest.raises(ValidationError) as caught:
        calculate_tax([line("1.00"), bad], "EUR")
    assert message in str(caught.value)
    assert caught.value.problems[0].record == "line 2"


def test_floats_are_a_programming_error():
    with pytest.raises(TypeError, match="must be Decimal"):
        calculate_tax([TaxLine(10.0, "S", D("19"))], "EUR")  # type: ignore[arg-type]


def test_one_breakdown_cannot_state_two_exemption_reasons():
    lines = [line("1.00", "E", "0", exemption_reason="Education", line_id="a"),
             line("1.00", "E", "0", exemption_reason="Insurance", line_id="b")]
    with pytest.raises(ValidationError, match="lines a, b"):
        calculate_tax(lines, "EUR")


def test_unknown_currency_is_refused():
    with pytest.raises(PricingError, match="XXX"):
        calculate_tax([line("1.00")], "XXX")


def test_a_blocked_decision_cannot_become_a_tax_line():
    decision = determine(TaxRequest(Seller("DE", "DE136695976"), Buyer("FR", is_business=True), Supply(),
                                    date(2026, 3, 1)))
    with pytest.raises(ValidationError, match="buyer.tax_id"):
        TaxLine.of(D("10.00"), decision, "L1")


# -- the engine -------------------------------------------------------------------------------------------

SELLER = Seller("DE", "DE136695976")


def request(buyer: Buyer, *lines: tuple[str, str, Supply]) -> QuoteRequest:
    return QuoteRequest(SELLER, buyer, date(2026, 3, 1), "EUR",
                        tuple(QuoteLine(i, D(net), s) for i, net, s in lines), reference="INV-1")


def test_builtin_engine_quotes_a_whole_invoice():
    engine = BuiltinTaxEngine()
    assert isinstance(engine, TaxEngine)
    quote = engine.quote(request(Buyer("DE"), ("1", "100.00", Supply()), ("2", "20.00", Supply("reduced"))))
    assert not quote.blocked and quote.engine == "builtin"
    assert [d.rate for d in quote.decisions] == [D("19"), D("7")]
    assert quote.breakdown is not None and quote.breakdown.tax_total == D("20.40")


def test_a_blocked_line_withholds_the_breakdown_and_reports_the_line():
    quote = BuiltinTaxEngine().quote(request(Buyer("FR", is_business=True), ("L7", "100.00", Supply())))
    assert quote.blocked and quote.breakdown is None
    [problem] = quote.problems()
    assert (problem.record, problem.field) == ("line L7", "buyer.tax_id")


def test_tax_unavailable_is_an_invoiceflow_error_naming_the_engine():
    error = TaxUnavailable("timed out after 10 s", engine="example-provider", retry_after_seconds=30)
    assert str(error) == "example-provider: timed out after 10 s" and error.retry_after_seconds == 30
    assert isinstance(error, InvoiceflowError)


def test_public_api_is_curated():
    assert len(tax.__all__) == len(set(tax.__all__))
    for name in tax.__all__:
        assert getattr(tax, name).__doc__ or name.isupper(), name


# -- properties -------------------------------------------------------------------------------------------

PAIRS = [("S", "19"), ("S", "7"), ("S", "20"), ("S", "5.5"), ("S", "25.5"), ("S", "7.25"), ("S", "13.5"),
         ("Z", "0"), ("E", "0"), ("AE", "0"), ("O", "0")]


@st.composite
def invoices(draw):
    currency = draw(st.sampled_from(["EUR", "JPY", "KWD", "USD"]))
    digits = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}[currency]
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        category, rate = draw(st.sampled_from(PAIRS))
        minor = draw(st.integers(min_value=-10**6, max_value=10**8))
        lines.append(TaxLine(D(minor).scaleb(-digits), category, D(rate)))
    return currency, digits, lines


@settings(max_examples=200, deadline=None)
@given(invoices())
def test_totals_are_sums_of_subtotals_and_tax_is_rounded_once_per_rate(invoice):
    currency, digits, lines = invoice
    breakdown = calculate_tax(lines, currency)
    quantum = D(1).scaleb(-digits)
    assert breakdown.tax_total == sum((s.tax_amount for s in breakdown.subtotals), D(0))
    assert breakdown.taxable_total == sum((s.taxable_amount for s in breakdown.subtotals), D(0))
    assert breakdown.taxable_total == sum((ln.net_amount for ln in lines), D(0))
    assert len({(s.category, s.rate) for s in breakdown.subtotals}) == len(breakdown.subtotals)
    for s in breakdown.subtotals:
        members = [ln for ln in lines if (ln.category, ln.rate) == (s.category, s.rate)]
        base = sum((ln.net_amount for ln in members), D(0))
        assert s.taxable_amount == base and s.line_count == len(members)
        assert s.tax_amount == (base * s.rate / 100).quantize(quantum, rounding=ROUND_HALF_UP)
        assert s.tax_amount.as_tuple().exponent == -digits
        per_line = sum(((ln.net_amount * ln.rate / 100).quantize(quantum, rounding=ROUND_HALF_UP) for ln in members),
                       D(0))
        assert abs(per_line - s.tax_amount) <= quantum * len(members) / 2 + quantum / 2
