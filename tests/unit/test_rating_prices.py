"""parse_price: every validation rule reports its record and field, and all problems come at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoiceflow.errors import PricingError
from invoiceflow.rating.prices import (
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    PackagePrice,
    PercentagePrice,
    PercentTier,
    StandardPrice,
    Tier,
    VolumePrice,
    parse_price,
    price_to_dict,
)

D = Decimal
TWO_TIERS = [{"up_to": "100", "unit_price": "1"}, {"up_to": None, "unit_price": "0.5"}]


def problems_of(doc, **kwargs) -> list[tuple[str, str, str]]:
    with pytest.raises(PricingError) as caught:
        parse_price(doc, **kwargs)
    return [(p.record, p.field, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"currency": "USD", "model": "standard", "unit_price": "0.05"}, StandardPrice("USD", D("0.05"))),
        ({"currency": "USD", "model": "standard", "unit_price": 3}, StandardPrice("USD", D(3))),
        ({"currency": "USD", "model": "flat", "amount": "99.00"}, FlatPrice("USD", D("99.00"))),
        (
            {"currency": "JPY", "model": "graduated", "tiers": TWO_TIERS},
            GraduatedPrice("JPY", (Tier(D(100), D(1), D(0)), Tier(None, D("0.5"), D(0)))),
        ),
        (
            {"currency": "USD", "model": "volume", "tiers": [{"up_to": None, "unit_price": "2", "flat_fee": "1"}]},
            VolumePrice("USD", (Tier(None, D(2), D(1)),)),
        ),
        (
            {"currency": "USD", "model": "package", "package_size": "100", "package_price": "5"},
            PackagePrice("USD", D(100), D(5), D(0)),
        ),
        (
            {"currency": "USD", "model": "package", "package_size": "0.5", "package_price": "5", "free_units": None},
            PackagePrice("USD", D("0.5"), D(5), D(0)),
        ),
        (
            {
                "currency": "USD", "model": "percentage", "rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3,
                "free_amount": "500", "min_per_transaction": None, "max_per_transaction": "9",
            },
            PercentagePrice("USD", D("1.2"), D("0.10"), 3, D(500), None, D(9)),
        ),
        (
            {"currency": "USD", "model": "percentage", "rate": 100, "free_transactions": "2"},
            PercentagePrice("USD", D(100), D(0), 2, D(0), None, None),
        ),
        (
            {"currency": "USD", "model": "percentage", "rate": "0", "min_per_transaction": "1", "max_per_transaction": "1"},
            PercentagePrice("USD", D(0), D(0), 0, D(0), D(1), D(1)),
        ),
        (
            {
                "currency": "USD", "model": "graduated_percentage",
                "tiers": [{"up_to": "1000", "rate": "1", "flat_fee": "200"}, {"up_to": None, "rate": "2", "flat_fee": "300"}],
            },
            GraduatedPercentagePrice("USD", (PercentTier(D(1000), D(1), D(200)), PercentTier(None, D(2), D(300)))),
        ),
    ],
)
def test_valid_prices_parse_and_round_trip(doc, expected):
    price = parse_price(doc)
    assert price == expected
    assert parse_price(price_to_dict(price)) == price


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"currency": "USD", "model": "per_seat"}, [("model", "unknown model 'per_seat'")]),
        ({"currency": "USD"}, [("model", "required field is missing")]),
        ({"currency": "USD", "model": "standard"}, [("unit_price", "required field is missing")]),
        ({"currency": "USD", "model": "standard", "unit_price": "1", "unit_prise": "1"}, [("unit_prise", "unknown field")]),
        ({"currency": "USD", "model": "standard", "unit_price": 0.05}, [("unit_price", "not float 0.05")]),
        ({"currency": "USD", "model": "standard", "unit_price": 5.0}, [("unit_price", "not float 5.0")]),
        ({"currency": "USD", "model": "standard", "unit_price": True}, [("unit_price", "not bool")]),
        ({"currency": "USD", "model": "standard", "unit_price": "five"}, [("unit_price", "'five' is not a plain decimal")]),
        ({"currency": "USD", "model": "standard", "unit_price": "1e3"}, [("unit_price", "'1e3' is not a plain decimal")]),
        ({"currency": "USD", "model": "standard", "unit_price": ["1"]}, [("unit_price", "not list")]),
        ({"currency": "USD", "model": "standard", "unit_price": None}, [("unit_price", "must not be null")]),
        ({"currency": "USD", "model": "standard", "unit_price": "-0.05"}, [("unit_price", "must not be negative")]),
        ({"currency": "USD", "model": "flat", "amount": -5}, [("amount", "must not be negative, got -5")]),
        ({"currency": "USD", "model": "graduated", "tiers": []}, [("tiers", "at least one tier")]),
        ({"currency": "USD", "model": "graduated", "tiers": "100"}, [("tiers", "must be a list")]),
        ({"currency": "USD", "model": "volume", "tiers": ["x"]}, [("tiers[0]", "must be an object")]),
        (
            {"currency": "USD", "model": "graduated", "tiers": [
                {"up_to": "100", "unit_price": "1"}, {"up_to": "50", "unit_price": "1"}, {"up_to": None, "unit_price": "1"},
            ]},
            [("tiers[1].up_to", "tiers must be ascending: 50 is not above 100")],
        ),
        (
            {"currency": "USD", "model": "graduated", "tiers": [
                {"up_to": "100", "unit_price": "1"}, {"up_to": "100", "unit_price": "1"}, {"up_to": None, "unit_price": "1"},
            ]},
            [("tiers[1].up_to", "tiers must be ascending: 100 is not above 100")],
        ),
        (
            {"currency": "USD", "model": "volume", "tiers": [{"up_to": "100", "unit_price": "1"}]},
            [("tiers[0].up_to", "the last tier must be unbounded")],
        ),
        (
            {"currency": "USD", "model": "volume", "tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]},
            [("tiers[0].up_to", "only allowed on the last tier")],
        ),
        (
            {"currency": "USD", "model": "graduated", "tiers": [{"up_to": "0", "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]},
            [("tiers[0].up_to", "must be above 0")],
        ),
        (
            {"currency": "USD", "model": "graduated", "tiers": [{"unit_price": "1"}]},
            [("tiers[0].up_to", "required field is missing")],
        ),
        (
            {"currency": "USD", "model": "graduated", "tiers": [{"up_to": None, "unit_price": "1", "rate": "1"}]},
            [("tiers[0].rate", "unknown field")],
        ),
        ({"currency": "USD", "model": "package", "package_size": "0", "package_price": "5"}, [("package_size", "must be above 0")]),
        ({"currency": "USD", "model": "package", "package_size": "-1", "package_price": "5"}, [("package_size", "must not be negative")]),
        ({"currency": "USD", "model": "percentage", "rate": "100.5"}, [("rate", "between 0 and 100")]),
        ({"currency": "USD", "model": "percentage", "rate": "-1"}, [("rate", "must not be negative")]),
        ({"currency": "USD", "model": "percentage", "rate": "1", "free_transactions": 2.5}, [("free_transactions", "whole number")]),
        ({"currency": "USD", "model": "percentage", "rate": "1", "free_transactions": -1}, [("free_transactions", "must not be negative")]),
        (
            {"currency": "USD", "model": "percentage", "rate": "1", "min_per_transaction": "5", "max_per_transaction": "1"},
            [("min_per_transaction", "min_per_transaction 5 is above max_per_transaction 1")],
        ),
        (
            {"currency": "USD", "model": "graduated_percentage", "tiers": [{"up_to": None, "rate": "101"}]},
            [("tiers[0].rate", "between 0 and 100")],
        ),
        ({"currency": "XXY", "model": "flat", "amount": "1"}, [("currency", "unknown currency 'XXY'")]),
        ({"currency": "usd", "model": "flat", "amount": "1"}, [("currency", "unknown currency 'usd'")]),
        ({"model": "flat", "amount": "1"}, [("currency", "no currency")]),
    ],
)
def test_invalid_prices_name_record_and_field(doc, expected):
    found = problems_of(doc)
    assert [field for _, field, _ in found] == [field for field, _ in expected]
    for (record, _, message), (_, fragment) in zip(found, expected):
        assert record == "price"
        assert fragment in message


def test_every_problem_is_reported_at_once():
    doc = {
        "currency": "usd",
        "model": "graduated",
        "extra": 1,
        "tiers": [
            {"up_to": "100", "unit_price": 0.5},
            {"up_to": "50", "unit_price": "-1"},
            {"up_to": None, "unit_price": "x"},
            {"up_to": "7", "unit_price": "1"},
        ],
    }
    fields = [field for _, field, _ in problems_of(doc, record="plan.api")]
    assert fields == [
        "currency", "extra", "tiers[0].unit_price", "tiers[1].up_to", "tiers[1].unit_price",
        "tiers[2].up_to", "tiers[2].unit_price", "tiers[3].up_to", "tiers[3].up_to",
    ]
    with pytest.raises(PricingError) as caught:
        parse_price(doc, record="plan.api")
    assert {p.record for p in caught.value.problems} == {"plan.api"}
    assert "9 problems" in str(caught.value)


@pytest.mark.parametrize(
    ("doc", "currency", "expected"),
    [
        ({"model": "flat", "amount": "1"}, "JPY", "JPY"),
        ({"model": "flat", "amount": "1", "currency": "KWD"}, None, "KWD"),
        ({"model": "flat", "amount": "1", "currency": "EUR"}, "EUR", "EUR"),
    ],
)
def test_currency_from_price_or_argument(doc, currency, expected):
    assert parse_price(doc, currency=currency).currency == expected


@pytest.mark.parametrize(
    ("doc", "currency", "fragment"),
    [
        ({"model": "flat", "amount": "1", "currency": "EUR"}, "USD", "price is in EUR but USD was requested"),
        ({"model": "flat", "amount": "1"}, "EURO", "unknown currency 'EURO'"),
        ({"model": "flat", "amount": "1", "currency": 978}, None, "unknown currency 978"),
    ],
)
def test_currency_conflicts_and_unknown_arguments(doc, currency, fragment):
    ((record, field, message),) = problems_of(doc, currency=currency)
    assert (record, field) == ("price", "currency")
    assert fragment in message


@pytest.mark.parametrize("doc", [None, [], "standard", 5])
def test_a_price_must_be_an_object(doc):
    ((record, field, message),) = problems_of(doc)
    assert (record, field) == ("price", "")
    assert "must be a JSON object" in message
