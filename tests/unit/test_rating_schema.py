"""price.schema.json agrees with parse_price: same valid documents, same failures where a schema can tell."""

from __future__ import annotations

import itertools
import json
import string
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import invoiceflow
from invoiceflow.errors import PricingError
from invoiceflow.money import is_currency
from invoiceflow.rating.prices import MODELS, parse_price, price_to_dict

SCHEMA_PATH = Path(invoiceflow.__file__).parent / "schemas" / "price.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_accepts(doc) -> bool:
    return VALIDATOR.is_valid(doc)


def parser_accepts(doc) -> bool:
    try:
        parse_price(doc)
    except PricingError:
        return False
    return True


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["properties"]["model"]["enum"] == list(MODELS)


def test_currency_enum_is_exactly_the_known_iso_codes():
    enum = set(SCHEMA["$defs"]["currency"]["enum"])
    every_code = ("".join(letters) for letters in itertools.product(string.ascii_uppercase, repeat=3))
    assert {code for code in every_code if is_currency(code)} == enum


T = [{"up_to": "100", "unit_price": "1"}, {"up_to": None, "unit_price": "0.5"}]
VALID = [
    {"currency": "USD", "model": "standard", "unit_price": "0.05"},
    {"currency": "USD", "model": "standard", "unit_price": 5},
    {"currency": "JPY", "model": "graduated", "tiers": T},
    {"model": "volume", "tiers": [{"up_to": "0.5", "unit_price": "1", "flat_fee": None}, {"up_to": None, "unit_price": "0"}], "currency": "EUR"},
    {"currency": "USD", "model": "package", "package_size": "100", "package_price": "5", "free_units": "0"},
    {"currency": "USD", "model": "package", "package_size": "0.25", "package_price": 5},
    {"currency": "USD", "model": "percentage", "rate": "1.2", "fixed_fee": "0.10", "free_transactions": 3,
     "free_amount": "500", "min_per_transaction": None, "max_per_transaction": None},
    {"currency": "USD", "model": "percentage", "rate": "100", "free_transactions": "2"},
    {"currency": "USD", "model": "percentage", "rate": "007.5"},
    {"currency": "USD", "model": "graduated_percentage",
     "tiers": [{"up_to": "1000", "rate": "1", "flat_fee": "200"}, {"up_to": None, "rate": "2", "flat_fee": "300"}]},
    {"currency": "USD", "model": "flat", "amount": "99.00"},
]


@pytest.mark.parametrize("doc", VALID)
def test_valid_documents_pass_both(doc):
    assert schema_accepts(doc) and parser_accepts(doc)


# (document, does the schema reject it too?). Where it cannot, parse_price is the only guard (documented).
INVALID = [
    ({"currency": "USD", "model": "per_seat", "unit_price": "1"}, True),
    ({"currency": "USD", "unit_price": "1"}, True),
    ({"currency": "USD", "model": "standard"}, True),
    ({"currency": "USD", "model": "standard", "unit_price": "1", "unit_prise": "1"}, True),
    ({"currency": "USD", "model": "standard", "unit_price": 0.05}, True),
    ({"currency": "USD", "model": "standard", "unit_price": "five"}, True),
    ({"currency": "USD", "model": "standard", "unit_price": "1e3"}, True),
    ({"currency": "USD", "model": "standard", "unit_price": " 1"}, True),
    ({"currency": "USD", "model": "standard", "unit_price": "-0.05"}, True),
    ({"currency": "USD", "model": "standard", "unit_price": -5}, True),
    ({"currency": "USD", "model": "standard", "unit_price": None}, True),
    ({"currency": "USD", "model": "standard", "unit_price": True}, True),
    ({"currency": "USD", "model": "flat", "amount": ["1"]}, True),
    ({"currency": "USD", "model": "graduated", "tiers": []}, True),
    ({"currency": "USD", "model": "graduated", "tiers": "100"}, True),
    ({"currency": "USD", "model": "graduated", "tiers": [{"up_to": "100", "unit_price": "1"}]}, True),
    ({"currency": "USD", "model": "graduated", "tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]}, True),
    ({"currency": "USD", "model": "graduated", "tiers": [{"up_to": "0", "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]}, True),
    ({"currency": "USD", "model": "graduated", "tiers": [{"unit_price": "1"}]}, True),
    ({"currency": "USD", "model": "graduated", "tiers": [{"up_to": None, "rate": "1"}]}, True),
    ({"currency": "USD", "model": "package", "package_size": "0", "package_price": "5"}, True),
    ({"currency": "USD", "model": "package", "package_size": 0, "package_price": "5"}, True),
    ({"currency": "USD", "model": "package", "package_size": "0.00", "package_price": "5"}, True),
    ({"currency": "USD", "model": "percentage", "rate": "100.5"}, True),
    ({"currency": "USD", "model": "percentage", "rate": 101}, True),
    ({"currency": "USD", "model": "percentage", "rate": "1", "free_transactions": "2.5"}, True),
    ({"currency": "USD", "model": "percentage", "rate": "1", "free_transactions": -1}, True),
    ({"currency": "USD", "model": "graduated_percentage", "tiers": [{"up_to": None, "rate": "101"}]}, True),
    ({"currency": "usd", "model": "flat", "amount": "1"}, True),
    ({"currency": "XXY", "model": "flat", "amount": "1"}, True),
    ({"currency": None, "model": "flat", "amount": "1"}, True),
    ([], True),
    # beyond JSON Schema: order between array items, comparison of two fields, integral floats
    ({"currency": "USD", "model": "graduated", "tiers": [{"up_to": "100", "unit_price": "1"}, {"up_to": "50", "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]}, False),
    ({"currency": "USD", "model": "volume", "tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": "50", "unit_price": "1"}]}, False),
    ({"currency": "USD", "model": "percentage", "rate": "1", "min_per_transaction": "5", "max_per_transaction": "1"}, False),
    ({"currency": "USD", "model": "standard", "unit_price": 5.0}, False),
]


@pytest.mark.parametrize(("doc", "schema_rejects"), INVALID)
def test_invalid_documents_fail_parse_price_and_the_schema_where_it_can_tell(doc, schema_rejects):
    assert not parser_accepts(doc)
    assert schema_accepts(doc) is not schema_rejects


@pytest.mark.parametrize("doc", VALID)
def test_canonical_documents_validate(doc):
    assert schema_accepts(price_to_dict(parse_price(doc)))
