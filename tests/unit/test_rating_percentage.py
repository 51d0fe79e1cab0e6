"""percentage: allowances (count, amount, both), the crossing transaction, min/max limits, rounding once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.errors import PricingError
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price
from invoiceflow.rating.result import TransactionLine

D = Decimal


def price(**fields):
    return parse_price({"currency": "USD", "model": "percentage", **fields})


def fees(result) -> list[str]:
    return [line.as_dict()["amount"] for line in result.breakdown]


@pytest.mark.parametrize(
    ("fields", "transactions", "line_fees", "amount"),
    [
        # no allowance: nothing is free
        ({"rate": "2.9", "fixed_fee": "0.30"}, ["100"], ["3.2"], "3.20"),
        ({"rate": "2.9", "fixed_fee": "0.30"}, ["10", "20.5"], ["0.59", "0.8945"], "1.48"),
        ({"rate": "2.9", "fixed_fee": "0.30", "free_transactions": 0, "free_amount": "0"}, ["100"], ["3.2"], "3.20"),
        ({"rate": "2.9", "fixed_fee": "0.30", "free_transactions": None, "free_amount": None}, ["0"], ["0.3"], "0.30"),
        ({"rate": "1"}, [], [], "0.00"),
        # count allowance only
        ({"rate": "1", "fixed_fee": "0.1", "free_transactions": 2}, ["10", "10", "10"], ["0", "0", "0.2"], "0.20"),
        ({"rate": "1", "fixed_fee": "0.1", "free_transactions": 3}, ["10", "10", "10"], ["0", "0", "0"], "0.00"),
        ({"rate": "1", "free_transactions": 1}, ["100000", "1"], ["0", "0.01"], "0.01"),
        # amount allowance only
        ({"rate": "1", "fixed_fee": "0.1", "free_amount": "100"}, ["60", "40", "1"], ["0", "0", "0.11"], "0.11"),
        ({"rate": "1", "fixed_fee": "0.1", "free_amount": "100"}, ["60", "50", "10"], ["0", "0.2", "0.2"], "0.40"),
        ({"rate": "1", "fixed_fee": "0.1", "free_amount": "100"}, ["150"], ["0.6"], "0.60"),
        ({"rate": "1", "fixed_fee": "0.1", "free_amount": "100"}, ["100", "0"], ["0", "0"], "0.00"),
        ({"rate": "1", "fixed_fee": "0.1", "free_amount": "100"}, ["100", "0.5"], ["0", "0.105"], "0.11"),
        # both allowances: free while both have room; the first one used up ends the free run
        (
            {"rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3, "free_amount": "500"},
            ["100", "300", "200", "50", "1000"],
            ["0", "0", "1.3", "0.7", "12.1"],
            "14.10",
        ),
        (
            {"rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3, "free_amount": "500"},
            ["100", "100", "100", "100"],
            ["0", "0", "0", "1.3"],
            "1.30",
        ),
        (
            {"rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3, "free_amount": "500"},
            ["500", "10"],
            ["0", "0.22"],
            "0.22",
        ),
        (
            {"rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3, "free_amount": "500"},
            ["600", "10"],
            ["1.3", "0.22"],
            "1.52",
        ),
        # min / max per transaction
        (
            {"rate": "1", "min_per_transaction": "0.50", "max_per_transaction": "5"},
            ["10", "100", "1000", "500"],
            ["0.5", "1", "5", "5"],
            "11.50",
        ),
        ({"rate": "1", "min_per_transaction": "0.50", "free_transactions": 1}, ["10", "10"], ["0", "0.5"], "0.50"),
        ({"rate": "10", "fixed_fee": "1", "max_per_transaction": "2", "free_amount": "5"}, ["20"], ["2"], "2.00"),
        # HALF_UP once, on the sum
        ({"rate": "1"}, ["0.5"], ["0.005"], "0.01"),
        ({"rate": "1"}, ["0.2", "0.2"], ["0.002", "0.002"], "0.00"),
        ({"rate": "1"}, ["0.3", "0.3"], ["0.003", "0.003"], "0.01"),
    ],
)
def test_percentage(fields, transactions, line_fees, amount):
    result = rate(price(**fields), transactions=transactions)
    assert fees(result) == line_fees
    assert result.as_dict()["amount"] == amount
    assert result.quantity == sum((D(t) for t in transactions), D(0))


def test_crossing_transaction_line():
    result = rate(price(rate="1.2", fixed_fee="0.10", free_transactions=3, free_amount="500"), transactions=["400", "200"])
    assert result.breakdown == (
        TransactionLine(0, D(400), D(400), D(0), D("1.2"), D(0), None, D(0)),
        TransactionLine(1, D(200), D(100), D(100), D("1.2"), D("0.10"), None, D("1.30")),
    )


def test_limit_is_named_in_the_breakdown():
    result = rate(price(rate="1", min_per_transaction="0.5", max_per_transaction="5"), transactions=["1", "100", "900"])
    assert [line.limit for line in result.breakdown] == ["min", None, "max"]


@pytest.mark.parametrize(
    ("currency", "transactions", "amount"),
    [("JPY", ["150"], "2"), ("JPY", ["149"], "1"), ("KWD", ["0.05"], "0.001"), ("KWD", ["0.049"], "0.000")],
)
def test_percentage_minor_units(currency, transactions, amount):
    doc = {"currency": currency, "model": "percentage", "rate": "1"}
    assert rate(parse_price(doc), transactions=transactions).as_dict()["amount"] == amount


@pytest.mark.parametrize(("quantity", "amount", "lines"), [("0", "0.00", 0), ("100", "3.20", 1), ("0.01", "0.30", 1)])
def test_quantity_is_one_transaction_and_zero_is_none(quantity, amount, lines):
    result = rate(price(rate="2.9", fixed_fee="0.30"), quantity)
    assert result.as_dict()["amount"] == amount
    assert len(result.breakdown) == lines


def test_refunds_and_bad_amounts_are_refused_by_index():
    with pytest.raises(PricingError) as caught:
        rate(price(rate="1"), transactions=["10", "-5", 1.5, "abc", 7])
    assert [(p.record, p.field) for p in caught.value.problems] == [
        ("usage", "transactions[1]"),
        ("usage", "transactions[2]"),
        ("usage", "transactions[3]"),
    ]
    assert "refunds are not rated" in caught.value.problems[0].message
    assert "float" in caught.value.problems[1].message
