"""graduated, volume and graduated_percentage at every tier boundary: at up_to, just below, just above."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.prices import parse_price
from invoiceflow.rating.result import PercentTierLine, TierLine

D = Decimal

GRADUATED = {
    "currency": "USD",
    "model": "graduated",
    "tiers": [
        {"up_to": "100", "unit_price": "1", "flat_fee": "0"},
        {"up_to": "1000", "unit_price": "0.5", "flat_fee": "10"},
        {"up_to": None, "unit_price": "0.25", "flat_fee": "0"},
    ],
}


@pytest.mark.parametrize(
    ("quantity", "precise", "amount", "tiers_entered"),
    [
        ("0", "0", "0.00", 0),  # no tier entered, no flat fee
        ("0.01", "0.01", "0.01", 1),
        ("1.5", "1.5", "1.50", 1),
        ("99", "99", "99.00", 1),
        ("99.99", "99.99", "99.99", 1),
        ("100", "100", "100.00", 1),  # exactly at up_to: the second tier's flat fee is not charged
        ("100.01", "110.005", "110.01", 2),  # just above, HALF_UP
        ("101", "110.5", "110.50", 2),
        ("999", "559.5", "559.50", 2),
        ("1000", "560", "560.00", 2),
        ("1000.5", "560.125", "560.13", 3),
        ("1001", "560.25", "560.25", 3),
        ("100000", "25310", "25310.00", 3),
    ],
)
def test_graduated(quantity, precise, amount, tiers_entered):
    result = rate(parse_price(GRADUATED), quantity)
    assert (result.as_dict()["precise_amount"], result.as_dict()["amount"]) == (precise, amount)
    assert [line.tier for line in result.breakdown] == list(range(tiers_entered))


def test_graduated_breakdown_lines():
    result = rate(parse_price(GRADUATED), D(1001))
    assert result.breakdown == (
        TierLine(0, D(0), D(100), D(100), D(1), D(0), D(100)),
        TierLine(1, D(100), D(1000), D(900), D("0.5"), D(10), D(460)),
        TierLine(2, D(1000), None, D(1), D("0.25"), D(0), D("0.25")),
    )


def test_graduated_first_tier_flat_fee_charged_only_when_used():
    doc = {"currency": "USD", "model": "graduated", "tiers": [{"up_to": None, "unit_price": "1", "flat_fee": "20"}]}
    assert rate(parse_price(doc), "0").amount == 0
    assert rate(parse_price(doc), "0.001").precise_amount == D("20.001")


@pytest.mark.parametrize(
    ("currency", "quantity", "amount"),
    [("JPY", "3", "2"), ("JPY", "2", "1"), ("KWD", "3", "1.501"), ("KWD", "2.9995", "1.500")],
)
def test_graduated_minor_units(currency, quantity, amount):
    # tier 0: 2 units at 0.5005; tier 1 at 0.4995 -> 3 units: 1.001 + 0.4995 = 1.5005
    doc = {
        "currency": currency,
        "model": "graduated",
        "tiers": [{"up_to": "2", "unit_price": "0.5005"}, {"up_to": None, "unit_price": "0.4995"}],
    }
    assert rate(parse_price(doc), quantity).as_dict()["amount"] == amount


VOLUME = {
    "currency": "USD",
    "model": "volume",
    "tiers": [
        {"up_to": "100", "unit_price": "1"},
        {"up_to": "1000", "unit_price": "0.8", "flat_fee": "5"},
        {"up_to": None, "unit_price": "0.5"},
    ],
}


@pytest.mark.parametrize(
    ("quantity", "precise", "amount", "tier"),
    [
        ("0", "0", "0.00", None),
        ("0.5", "0.5", "0.50", 0),
        ("99", "99", "99.00", 0),
        ("99.5", "99.5", "99.50", 0),
        ("100", "100", "100.00", 0),  # q == up_to stays in the tier
        ("100.001", "85.0008", "85.00", 1),
        ("101", "85.8", "85.80", 1),
        ("999", "804.2", "804.20", 1),
        ("1000", "805", "805.00", 1),
        ("1001", "500.5", "500.50", 2),
        ("1000.01", "500.005", "500.01", 2),  # HALF_UP
    ],
)
def test_volume(quantity, precise, amount, tier):
    result = rate(parse_price(VOLUME), quantity)
    assert (result.as_dict()["precise_amount"], result.as_dict()["amount"]) == (precise, amount)
    if tier is None:
        assert result.breakdown == ()
    else:
        (line,) = result.breakdown
        assert line.tier == tier and line.quantity == D(quantity)


@pytest.mark.parametrize(("currency", "quantity", "amount"), [("JPY", "101", "86"), ("KWD", "100.001", "85.001")])
def test_volume_minor_units(currency, quantity, amount):
    assert rate(parse_price({**VOLUME, "currency": currency}), quantity).as_dict()["amount"] == amount


GRADUATED_PERCENTAGE = {
    "currency": "USD",
    "model": "graduated_percentage",
    "tiers": [{"up_to": "1000", "rate": "1", "flat_fee": "200"}, {"up_to": None, "rate": "2", "flat_fee": "300"}],
}


@pytest.mark.parametrize(
    ("quantity", "precise", "amount"),
    [
        ("0", "0", "0.00"),
        ("0.5", "200.005", "200.01"),
        ("500", "205", "205.00"),
        ("999.99", "209.9999", "210.00"),
        ("1000", "210", "210.00"),
        ("1000.01", "510.0002", "510.00"),
        ("1500", "520", "520.00"),
    ],
)
def test_graduated_percentage(quantity, precise, amount):
    result = rate(parse_price(GRADUATED_PERCENTAGE), quantity)
    assert (result.as_dict()["precise_amount"], result.as_dict()["amount"]) == (precise, amount)


def test_graduated_percentage_rates_the_sum_of_transactions():
    result = rate(parse_price(GRADUATED_PERCENTAGE), transactions=["600", 900])
    assert result.quantity == D(1500)
    assert result.breakdown == (
        PercentTierLine(0, D(0), D(1000), D(1000), D(1), D(200), D(210)),
        PercentTierLine(1, D(1000), None, D(500), D(2), D(300), D(310)),
    )
    assert rate(parse_price(GRADUATED_PERCENTAGE), transactions=[]).breakdown == ()
