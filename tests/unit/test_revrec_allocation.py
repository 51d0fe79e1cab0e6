"""Allocation: largest remainder, relative SSP, SSP ranges, discount targets and the residual approach."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from invoiceflow.errors import ValidationError
from invoiceflow.revrec.allocation import Item, allocate, from_units, largest_remainder, to_units
from invoiceflow.revrec.model import SSP

D = Decimal


def point(value: str) -> SSP:
    return SSP(D(value), D(value))


def item(key: str, price: str, ssp: SSP | None, residual: bool = False) -> Item:
    return Item(key, D(price), ssp, residual, f"lines ({key})")


@pytest.mark.parametrize(
    ("total", "weights", "currency", "expected"),
    [
        ("100.00", [50, 25, 75], "USD", ["33.33", "16.67", "50.00"]),
        ("100.00", [1, 1, 1], "USD", ["33.34", "33.33", "33.33"]),  # equal remainders: earlier line first
        ("0.02", [1, 1, 1], "USD", ["0.01", "0.01", "0.00"]),
        ("1000", [1, 1, 1], "JPY", ["334", "333", "333"]),
        ("10.000", [1, 2], "KWD", ["3.333", "6.667"]),
        ("-100.00", [1, 1, 1], "USD", ["-33.34", "-33.33", "-33.33"]),
        ("5.00", [0, 3, 0], "USD", ["0.00", "5.00", "0.00"]),
        ("1.00", [Fraction(1, 3), Fraction(2, 3)], "USD", ["0.33", "0.67"]),
        ("0.00", [2, 5], "USD", ["0.00", "0.00"]),
    ],
)
def test_largest_remainder(total, weights, currency, expected):
    parts = largest_remainder(D(total), weights, currency)
    assert [str(p) for p in parts] == expected
    assert sum(parts) == D(total)


@pytest.mark.parametrize(("weights", "message"), [([0, 0], "add up to zero"), ([1, -1], "negative")])
def test_largest_remainder_refuses_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        largest_remainder(D("1.00"), weights, "USD")


def test_units_round_trip_and_refuse_sub_units():
    assert to_units(D("12.34"), "USD") == 1234 and to_units(D("12"), "JPY") == 12
    assert str(from_units(1234, "USD")) == "12.34" and str(from_units(7, "KWD")) == "0.007"
    with pytest.raises(ValueError):
        to_units(D("0.001"), "USD")


def test_bundle_by_relative_ssp():
    bundle = [item("a", "100.00", point("50")), item("b", "0", point("25")), item("c", "0", point("75"))]
    result = allocate(bundle, "USD")
    assert [(a.key, str(a.allocated), str(a.discount_share), a.relative_share) for a in result] == [
        ("a", "33.33", "16.67", Fraction(1, 3)),
        ("b", "16.67", "8.33", Fraction(1, 6)),
        ("c", "50.00", "25.00", Fraction(1, 2)),
    ]
    assert sum(a.allocated for a in result) == D("100.00")


@pytest.mark.parametrize(
    ("price", "low", "high", "ssp_used"),
    [("80.00", "60.00", "90.00", "80.00"), ("10.00", "60.00", "90.00", "60.00"), ("95.00", "60.00", "90.00", "90.00")],
)
def test_a_range_uses_the_price_clamped_into_it(price, low, high, ssp_used):
    (only,) = allocate([item("a", price, SSP(D(low), D(high)))], "USD")
    assert only.ssp == D(ssp_used) and only.allocated == D(price)


def test_premium_over_the_ssps_is_a_negative_discount():
    result = allocate([item("a", "120.00", point("50")), item("b", "0", point("50"))], "USD")
    assert [(str(a.allocated), str(a.discount_share)) for a in result] == [("60.00", "-10.00"), ("60.00", "-10.00")]


def test_discount_to_a_target():
    lines = [item("a", "100.00", point("50")), item("b", "0", point("25")), item("c", "0", point("75"))]
    result = allocate(lines, "USD", discount_target=["b", "c"])
    assert [(a.key, str(a.allocated), a.method) for a in result] == [
        ("a", "50.00", "ssp"), ("b", "12.50", "discount_target"), ("c", "37.50", "discount_target")]


def test_a_discount_larger_than_the_target_is_refused():
    lines = [item("a", "30.00", point("50")), item("b", "0", point("25"))]
    with pytest.raises(ValidationError) as caught:
        allocate(lines, "USD", discount_target=["b"])
    (problem,) = caught.value.problems
    assert (problem.record, problem.field) == ("policy", "discount_target")
    assert "the discount 45.00 cannot be absorbed by the target lines, whose SSPs total 25.00" in problem.message


def test_residual_within_its_range():
    lines = [item("a", "100.00", point("60")), item("b", "0", SSP(D("30"), D("50")), residual=True)]
    result = allocate(lines, "USD", residual_allowed=True)
    assert [(a.key, str(a.ssp), str(a.allocated), a.method) for a in result] == [
        ("a", "60.00", "60.00", "ssp"), ("b", "40.00", "40.00", "residual")]
    assert sum(a.allocated for a in result) == D("100.00")


def test_residual_without_a_range_is_not_checked():
    lines = [item("a", "100.00", point("60")), item("b", "0", None, residual=True)]
    assert allocate(lines, "USD", residual_allowed=True)[1].allocated == D("40.00")


@pytest.mark.parametrize(
    ("lines", "kwargs", "field", "message"),
    [
        ([item("a", "100.00", point("60")), item("b", "0", SSP(D("50"), D("80")), True)], {"residual_allowed": True},
         "ssp", "the residual 40.00 falls outside the SSP range 50.00 to 80.00"),
        ([item("a", "100.00", point("60")), item("b", "0", None, True)], {}, "residual",
         "the residual approach is not allowed: set policy.residual_allowed to true"),
        ([item("a", "50.00", point("60")), item("b", "0", None, True)], {"residual_allowed": True}, "residual",
         "the residual -10.00 is not positive"),
        ([item("a", "50.00", point("10")), item("b", "0", None, True), item("c", "0", None, True)],
         {"residual_allowed": True}, "residual", "only one line of a contract may take the residual"),
        ([item("a", "0", point("0")), item("b", "0", point("0"))], {}, "ssp", "the SSPs add up to zero"),
    ],
)
def test_allocation_refusals(lines, kwargs, field, message):
    with pytest.raises(ValidationError) as caught:
        allocate(lines, "USD", **kwargs)
    assert any(p.field == field and message in p.message for p in caught.value.problems), caught.value.problems


def test_residual_cannot_be_combined_with_a_discount_target():
    lines = [item("a", "100.00", point("60")), item("b", "0", None, True)]
    with pytest.raises(ValidationError, match="cannot be combined with a residual line"):
        allocate(lines, "USD", residual_allowed=True, discount_target=["a"])


@pytest.mark.parametrize(
    ("currency", "price", "expected"),
    [("JPY", "10000", ["3334", "3333", "3333"]), ("KWD", "1.000", ["0.334", "0.333", "0.333"]),
     ("USD", "0.01", ["0.01", "0.00", "0.00"])],
)
def test_allocation_in_currencies_of_every_exponent(currency, price, expected):
    result = allocate([item("a", price, point("7")), item("b", "0", point("7")), item("c", "0", point("7"))], currency)
    assert [str(a.allocated) for a in result] == expected
