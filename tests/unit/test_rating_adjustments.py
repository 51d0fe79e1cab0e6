"""Invoice-level helpers: true-up, discounts and credits, each rounding at most once and never below zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.errors import PricingError
from invoiceflow.rating.adjustments import Discount, apply_discount, draw_down_credits, minimum_commitment_true_up

D = Decimal


@pytest.mark.parametrize(
    ("charged", "minimum", "currency", "true_up"),
    [
        ("120.455", "500", "USD", "379.55"),  # 379.545 HALF_UP
        ("499.99", "500", "USD", "0.01"),
        ("500", "500", "USD", "0.00"),
        ("600", "500", "USD", "0.00"),
        ("0", "0", "USD", "0.00"),
        ("0", "1000", "JPY", "1000"),
        ("999.5", "1000", "JPY", "1"),  # 0.5 yen rounds up
        ("1.2345", "2", "KWD", "0.766"),  # 0.7655 -> 0.766
    ],
)
def test_minimum_commitment_true_up(charged, minimum, currency, true_up):
    assert str(minimum_commitment_true_up(D(charged), D(minimum), currency)) == true_up


def test_true_up_refuses_floats_and_negative_minimums():
    with pytest.raises(TypeError):
        minimum_commitment_true_up(1.0, D(5), "USD")  # type: ignore[arg-type]
    with pytest.raises(PricingError):
        minimum_commitment_true_up(D(0), D(-5), "USD")


@pytest.mark.parametrize(
    ("subtotal", "kind", "value", "currency", "discount"),
    [
        ("99.99", "percent", "15", "USD", "15.00"),  # 14.9985 rounded once
        ("100", "percent", "0", "USD", "0.00"),
        ("100", "percent", "100", "USD", "100.00"),
        ("10.01", "percent", "50", "USD", "5.01"),  # 5.005 HALF_UP
        ("999", "percent", "10", "JPY", "100"),  # 99.9
        ("30", "fixed", "50", "USD", "30.00"),  # capped at the subtotal
        ("30", "fixed", "12.5", "USD", "12.50"),
        ("0", "fixed", "5", "USD", "0.00"),
        ("-10", "percent", "10", "USD", "0.00"),
        ("-10", "fixed", "5", "USD", "0.00"),
    ],
)
def test_apply_discount(subtotal, kind, value, currency, discount):
    amount = apply_discount(D(subtotal), Discount(kind, D(value)), currency)
    assert str(amount) == discount
    assert amount >= 0
    assert D(subtotal) - amount >= 0 or D(subtotal) < 0


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [("coupon", D(5), "kind"), ("percent", D(101), "value"), ("fixed", D(-1), "value"), ("percent", D(-1), "value")],
)
def test_bad_discounts(kind, value, field):
    with pytest.raises(PricingError) as caught:
        Discount(kind, value)  # type: ignore[arg-type]
    assert caught.value.problems[0].field == field


def test_discount_value_must_be_decimal():
    with pytest.raises(TypeError):
        Discount("fixed", 5.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "balance", "applied"),
    [("100", "30", "30"), ("30", "100", "30"), ("30", "30", "30"), ("0", "50", "0"), ("50", "0", "0"), ("-5", "10", "0"), ("10", "-5", "0")],
)
def test_draw_down_credits(total, balance, applied):
    assert draw_down_credits(D(total), D(balance)) == D(applied)
