"""standard, flat and package: boundaries, zero and fractional usage, and minor-unit rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price
from invoiceflow.rating.result import PackageLine, UnitLine

D = Decimal


def rated(doc, quantity=None):
    result = rate(parse_price(doc), quantity)
    return result.as_dict()["precise_amount"], result.as_dict()["amount"]


@pytest.mark.parametrize(
    ("currency", "unit_price", "quantity", "precise", "amount"),
    [
        ("USD", "0.05", "0", "0", "0.00"),
        ("USD", "0.05", "1", "0.05", "0.05"),
        ("USD", "0.05", "3.4", "0.17", "0.17"),
        ("USD", "0.05", "3.5", "0.175", "0.18"),  # HALF_UP at .5
        ("USD", "0.05", "3.29", "0.1645", "0.16"),
        ("USD", "2", "1.5", "3", "3.00"),  # fractional quantity priced as given
        ("USD", "0.001", "5", "0.005", "0.01"),
        ("USD", "0.001", "4", "0.004", "0.00"),
        ("JPY", "0.5", "24", "12", "12"),
        ("JPY", "0.5", "25", "12.5", "13"),
        ("JPY", "0.5", "24.9", "12.45", "12"),
        ("JPY", "100", "3", "300", "300"),
        ("KWD", "0.0005", "2470", "1.235", "1.235"),
        ("KWD", "0.0005", "2469", "1.2345", "1.235"),
        ("KWD", "0.0005", "2468.9", "1.23445", "1.234"),
        ("KWD", "1", "2", "2", "2.000"),
        ("USD", "0.05", "1E+3", "50", "50.00"),
        ("USD", "0", "1000", "0", "0.00"),
    ],
)
def test_standard(currency, unit_price, quantity, precise, amount):
    assert rated({"currency": currency, "model": "standard", "unit_price": unit_price}, quantity) == (precise, amount)


def test_standard_breakdown_is_one_units_line():
    result = rate(parse_price({"currency": "USD", "model": "standard", "unit_price": "0.05"}), D("3.5"))
    assert result.breakdown == (UnitLine(D("3.5"), D("0.05"), D("0.175")),)
    assert result.amount == D("0.18") and result.precise_amount == D("0.175") and result.quantity == D("3.5")


@pytest.mark.parametrize(
    ("quantity", "precise", "amount"),
    [(None, "99", "99.00"), ("1", "99", "99.00"), ("3", "297", "297.00"), ("0", "0", "0.00"), ("0.5", "49.5", "49.50")],
)
def test_flat(quantity, precise, amount):
    assert rated({"currency": "USD", "model": "flat", "amount": "99.00"}, quantity) == (precise, amount)


def test_flat_defaults_to_quantity_one():
    result = rate(parse_price({"currency": "JPY", "model": "flat", "amount": "1000"}))
    assert result.quantity == 1
    assert result.breakdown == (UnitLine(D(1), D(1000), D(1000)),)


PACKAGE = {"currency": "USD", "model": "package", "package_size": "100", "package_price": "5", "free_units": "50"}


@pytest.mark.parametrize(
    ("quantity", "packages", "amount"),
    [
        ("0", None, "0.00"),
        ("1", "0", "0.00"),
        ("49.9", "0", "0.00"),
        ("50", "0", "0.00"),  # exactly the free units
        ("50.1", "1", "5.00"),  # just above
        ("51", "1", "5.00"),
        ("149", "1", "5.00"),
        ("150", "1", "5.00"),  # exactly one package billable
        ("150.5", "2", "10.00"),  # a started package is paid in full
        ("151", "2", "10.00"),
        ("250", "2", "10.00"),
        ("1050", "10", "50.00"),
    ],
)
def test_package_with_free_units(quantity, packages, amount):
    result = rate(parse_price(PACKAGE), quantity)
    assert result.as_dict()["amount"] == amount
    if packages is None:
        assert result.breakdown == ()
    else:
        (line,) = result.breakdown
        assert isinstance(line, PackageLine)
        assert line.packages == D(packages)
        assert line.billable_units == max(D(quantity) - 50, D(0))


@pytest.mark.parametrize(
    ("size", "price", "currency", "quantity", "amount"),
    [
        ("100", "5", "USD", "100", "5.00"),
        ("100", "5", "USD", "100.0001", "10.00"),
        ("100", "5", "USD", "99.9999", "5.00"),
        ("0.5", "1", "USD", "1.2", "3.00"),  # fractional package size: 3 started half-units
        ("1000", "0.5", "JPY", "1001", "1"),  # 2 × 0.5 = 1 yen
        ("1000", "0.25", "JPY", "2001", "1"),  # 3 × 0.25 = 0.75 -> 1
        ("10", "0.0125", "KWD", "15", "0.025"),
        ("10", "0.0125", "KWD", "5", "0.013"),  # 0.0125 HALF_UP -> 0.013
    ],
)
def test_package_without_free_units(size, price, currency, quantity, amount):
    doc = {"currency": currency, "model": "package", "package_size": size, "package_price": price}
    assert rate(parse_price(doc), quantity).as_dict()["amount"] == amount
