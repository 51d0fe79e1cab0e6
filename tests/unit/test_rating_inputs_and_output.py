"""rate(): usage validation with record/field, and the JSON-ready form of a Rating."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from invoiceflow.errors import PricingError
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price
from invoiceflow.rating.result import Rating, UnitLine, plain

D = Decimal
STANDARD = parse_price({"currency": "USD", "model": "standard", "unit_price": "0.05"})
PERCENTAGE = parse_price({"currency": "USD", "model": "percentage", "rate": "1"})


@pytest.mark.parametrize(
    ("price", "quantity", "transactions", "field", "fragment"),
    [
        (STANDARD, "-1", None, "quantity", "must not be negative, got -1"),
        (STANDARD, D("-0.01"), None, "quantity", "must not be negative"),
        (STANDARD, "ten", None, "quantity", "'ten' is not a number"),
        (STANDARD, 1.5, None, "quantity", "not float 1.5"),
        (STANDARD, "NaN", None, "quantity", "not a finite number"),
        (STANDARD, None, None, "quantity", "a quantity is required to rate a standard price"),
        (PERCENTAGE, None, None, "quantity", "a quantity or transactions is required"),
        (PERCENTAGE, "1", ["1"], "quantity", "either a quantity or transactions"),
        (STANDARD, None, ["1"], "transactions", "only by percentage and graduated_percentage"),
        (PERCENTAGE, None, "100", "transactions", "must be a list"),
        (PERCENTAGE, None, ["1", "-1"], "transactions[1]", "refunds are not rated"),
    ],
)
def test_bad_usage_is_located(price, quantity, transactions, field, fragment):
    with pytest.raises(PricingError) as caught:
        rate(price, quantity, transactions=transactions)
    ((problem),) = caught.value.problems
    assert (problem.record, problem.field) == ("usage", field)
    assert fragment in problem.message


def test_record_can_be_named_by_the_caller():
    with pytest.raises(PricingError) as caught:
        rate(STANDARD, "-1", record="subscription sub_1")
    assert str(caught.value.problems[0]) == "subscription sub_1.quantity: must not be negative, got -1"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0"), "0"),
        (D("0.000"), "0"),
        (D("-0"), "0"),
        (D("1E+3"), "1000"),
        (D("1.2300"), "1.23"),
        (D("100"), "100"),
        (D("1E-10"), "0.0000000001"),
        (D("12345678901234567890.123456789012345"), "12345678901234567890.123456789012345"),
    ],
)
def test_plain_never_uses_exponents_nor_needless_zeros(value, text):
    assert plain(value) == text


@pytest.mark.parametrize(
    ("currency", "precise", "amount"),
    [("USD", "0.175", "0.18"), ("USD", "0.165", "0.17"), ("JPY", "12.45", "12"), ("JPY", "12.5", "13"),
     ("KWD", "1.2345", "1.235"), ("KWD", "2", "2.000"), ("USD", "0", "0.00"), ("USD", "1E+3", "1000.00")],
)
def test_amount_has_exactly_the_currency_digits(currency, precise, amount):
    rating = Rating.of(currency, D(1), (UnitLine(D(1), D(precise), D(precise)),))
    assert rating.as_dict()["amount"] == amount
    assert rating.as_dict()["precise_amount"] == plain(D(precise))


def test_as_dict_is_json_ready_with_the_documented_keys():
    result = rate(STANDARD, "3.5")
    doc = result.as_dict()
    assert list(doc) == ["amount", "precise_amount", "currency", "quantity", "breakdown"]
    assert doc == json.loads(json.dumps(doc))
    assert doc == {
        "amount": "0.18",
        "precise_amount": "0.175",
        "currency": "USD",
        "quantity": "3.5",
        "breakdown": [{"kind": "units", "quantity": "3.5", "unit_price": "0.05", "amount": "0.175"}],
    }


def test_ratings_are_frozen():
    result = rate(STANDARD, "1")
    with pytest.raises(AttributeError):
        result.amount = D(0)  # type: ignore[misc]
