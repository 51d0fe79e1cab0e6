"""Property tests: invariants that must hold for every valid price and usage, not just the examples."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import invoiceflow

from invoiceflow.money import PRECISION, round_amount
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price, price_to_dict

# Per-test settings, so this module leaves the session's hypothesis profile alone.
examples = settings(max_examples=150, deadline=None)
PRICE_SCHEMA = Draft202012Validator(
    json.loads((Path(invoiceflow.__file__).parent / "schemas" / "price.schema.json").read_text("utf-8"))
)

currencies = st.sampled_from(["USD", "JPY", "KWD", "EUR"])
amounts = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False, allow_infinity=False)
quantities = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)
positive = st.decimals(min_value=Decimal("0.001"), max_value=1_000, places=3, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False, allow_infinity=False)
text = st.builds(lambda d: format(d, "f"), amounts)


@st.composite
def tiers(draw, unit_key: str, unit_values):
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=50_000), min_size=0, max_size=4)))
    ups = [str(b) for b in bounds] + [None]
    return [
        {"up_to": up, unit_key: format(draw(unit_values), "f"), "flat_fee": format(draw(amounts), "f")} for up in ups
    ]


def tiered_price(model: str):
    return st.builds(
        lambda currency, t: {"currency": currency, "model": model, "tiers": t},
        currencies,
        tiers("rate" if model == "graduated_percentage" else "unit_price", rates if model == "graduated_percentage" else amounts),
    )


package_price = st.builds(
    lambda c, size, p, free: {"currency": c, "model": "package", "package_size": format(size, "f"),
                              "package_price": format(p, "f"), "free_units": format(free, "f")},
    currencies, positive, amounts, amounts,
)
standard_price = st.builds(lambda c, p: {"currency": c, "model": "standard", "unit_price": format(p, "f")}, currencies, amounts)
flat_price = st.builds(lambda c, p: {"currency": c, "model": "flat", "amount": format(p, "f")}, currencies, amounts)


@st.composite
def percentage_price(draw):
    low = draw(st.none() | amounts)
    high = draw(st.none() | amounts)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return {
        "currency": draw(currencies),
        "model": "percentage",
        "rate": format(draw(rates), "f"),
        "fixed_fee": format(draw(amounts), "f"),
        "free_transactions": draw(st.integers(min_value=0, max_value=5)),
        "free_amount": format(draw(amounts), "f"),
        "min_per_transaction": None if low is None else format(low, "f"),
        "max_per_transaction": None if high is None else format(high, "f"),
    }


quantity_prices = (
    tiered_price("graduated") | tiered_price("volume") | tiered_price("graduated_percentage")
    | package_price | standard_price | flat_price | percentage_price()
)


def assert_consistent(result):
    with localcontext() as ctx:
        ctx.prec = PRECISION
        total = sum((line.amount for line in result.breakdown), Decimal(0))
    assert total == result.precise_amount
    assert result.amount == round_amount(result.precise_amount, result.currency)
    assert -result.amount.as_tuple().exponent == {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}[result.currency]


@examples
@given(quantity_prices, quantities)
def test_breakdown_sums_to_precise_and_amount_is_its_rounding(doc, quantity):
    assert_consistent(rate(parse_price(doc), quantity))


@examples
@given(percentage_price(), st.lists(amounts, max_size=12))
def test_percentage_breakdown_sums_to_precise(doc, transactions):
    result = rate(parse_price(doc), transactions=transactions)
    assert_consistent(result)
    assert len(result.breakdown) == len(transactions)
    assert result.precise_amount >= 0


@examples
@given(tiered_price("graduated") | tiered_price("graduated_percentage") | package_price, quantities, quantities)
def test_graduated_and_package_amounts_never_decrease_as_quantity_grows(doc, a, b):
    price = parse_price(doc)
    low, high = sorted((a, b))
    assert rate(price, low).precise_amount <= rate(price, high).precise_amount


@examples
@given(tiered_price("graduated") | tiered_price("volume") | package_price, quantities)
def test_volume_graduated_and_package_amounts_are_not_negative(doc, quantity):
    result = rate(parse_price(doc), quantity)
    assert result.amount >= 0 and result.precise_amount >= 0


@examples
@given(quantity_prices)
def test_zero_usage_costs_nothing(doc):
    result = rate(parse_price(doc), Decimal(0))
    assert result.amount == 0 and result.breakdown == ()


@examples
@given(quantity_prices)
def test_price_documents_round_trip(doc):
    price = parse_price(doc)
    assert parse_price(price_to_dict(price)) == price


@examples
@given(quantity_prices)
def test_generated_and_canonical_documents_match_the_schema(doc):
    assert PRICE_SCHEMA.is_valid(doc)
    assert PRICE_SCHEMA.is_valid(price_to_dict(parse_price(doc)))


@examples
@given(st.builds(lambda r, f: {"currency": "USD", "model": "percentage", "rate": format(r, "f"), "fixed_fee": format(f, "f")}, rates, amounts),
       st.lists(amounts, max_size=8))
def test_without_allowances_each_transaction_is_rated_alone(doc, transactions):
    price = parse_price(doc)
    together = rate(price, transactions=transactions).precise_amount
    alone = sum((rate(price, transactions=[t]).precise_amount for t in transactions), Decimal(0))
    assert together == alone
