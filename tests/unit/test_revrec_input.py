"""Reading contracts: the schema, and every meaning check naming its record and field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import invoiceflow
from invoiceflow.errors import ValidationError
from invoiceflow.revrec.contract_input import load_contract, parse_contract, schema
from invoiceflow.revrec.model import Granularity, Kind, Pattern, Treatment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "revrec"
SCHEMA_FILE = Path(invoiceflow.__file__).parent / "schemas" / "revrec-contract.schema.json"

GOOD = {
    "contract": "C-1",
    "currency": "USD",
    "closed_through": "2026-01",
    "ssp_library": {"support": {"low": "10.00", "high": "20.00"}},
    "lines": [
        {"id": "pro", "product": "pro", "obligation": "subscription", "price": "120.00", "ssp": "120.00",
         "service_period": {"start": "2026-01-01", "end": "2027-01-01"},
         "billing": {"timing": "advance", "interval": "monthly"}},
        {"id": "support", "product": "support", "obligation": "one_off", "price": "15.00", "recognition": "ratable",
         "service_period": {"start": "2026-01-01", "end": "2027-01-01"}, "granularity": "daily",
         "billing": {"timing": "advance"}},
        {"id": "api", "product": "api", "obligation": "usage",
         "service_period": {"start": "2026-01-01", "end": "2027-01-01"},
         "usage": [{"date": "2026-02-03", "amount": "4.20"}], "billing": {"timing": "arrears"}},
        {"id": "impl", "product": "impl", "obligation": "milestone", "price": "500", "ssp": "500",
         "service_period": {"start": "2026-01-01", "end": "2026-03-01"}, "completed_on": None,
         "billing": {"timing": "advance",
                     "invoices": [{"date": "2026-01-01", "amount": "250"}, {"date": "2026-02-01", "amount": "250"}]}},
    ],
    "events": [
        {"type": "credit_note", "date": "2026-02-10", "invoice": "2026-02-01", "amount": "5.00"},
    ],
}


class Json(str):
    """A value written as JSON text, as a user's file has it: how a number with a fraction enters the tests."""


def with_change(path: str, value) -> dict:
    """GOOD with the value at a dotted path (list indexes as numbers) replaced; `...` deletes it."""
    doc = copy.deepcopy(GOOD)
    value = json.loads(value) if isinstance(value, Json) else value
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = doc
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return doc


def problems_of(doc) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse_contract(doc)
    return [(p.record, p.field, p.message) for p in caught.value.problems]


def test_schema_is_a_valid_draft_2020_12_schema_and_is_the_published_file():
    Draft202012Validator.check_schema(schema())
    assert schema() == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema()["$defs"]["line"]["properties"]["obligation"]["enum"] == [k.value for k in Kind]
    assert schema()["$defs"]["granularity"]["enum"] == [g.value for g in Granularity]
    assert schema()["$defs"]["treatment"]["enum"] == [t.value for t in Treatment]
    assert schema()["$defs"]["line"]["properties"]["recognition"]["enum"] == [p.value for p in Pattern]


def test_a_good_contract_reads_into_typed_lines():
    contract = parse_contract(GOOD)
    assert [(line.id, line.kind, line.pattern) for line in contract.lines] == [
        ("pro", Kind.subscription, Pattern.ratable), ("support", Kind.one_off, Pattern.ratable),
        ("api", Kind.usage, Pattern.as_consumed), ("impl", Kind.milestone, Pattern.at_completion)]
    support = contract.lines[1]
    assert (str(support.ssp.low), str(support.ssp.high), support.granularity) == ("10.00", "20.00", Granularity.daily)
    assert str(contract.lines[2].price) == "4.20"  # usage is worth its records
    assert contract.policy.modification_treatment is Treatment.prospective and contract.policy.catch_up


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixtures_against_the_schema(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    valid = Draft202012Validator(schema()).is_valid(doc)
    assert valid == (path.stem not in ("not_a_contract", "bad_input"))  # bad_input has a float price


BAD = [
    # (change, record, field, message fragment)
    ("lines.0.price", Json("120.5"), "lines[0] (pro)", "price",
     "not float 120.5 (floats lose cents; quote the number)"),
    ("lines.0.price", Json("120.0"), "lines[0] (pro)", "price", "not float 120.0"),
    ("lines.0.ssp", Json("1.5"), "lines[0] (pro)", "ssp", "not float 1.5"),
    ("lines.2.usage.0.amount", Json("4.2"), "lines[2] (api)", "usage[0].amount", "not float 4.2"),
    ("events.0.amount", Json("5.0"), "events[0] (credit_note)", "amount", "not float 5.0"),
    ("lines.0.price", "120.001", "lines[0] (pro)", "price", "has more decimals than USD allows"),
    ("lines.0.price", "-1", "lines[0] (pro)", "price", "is not an amount"),
    ("lines.0.service_period", {"start": "2026-05-01", "end": "2026-05-01"}, "lines[0] (pro)", "service_period",
     "inverted: end 2026-05-01 is not after start 2026-05-01"),
    ("lines.0.service_period", {"start": "2026-02-30", "end": "2026-05-01"}, "lines[0] (pro)", "service_period.start",
     "'2026-02-30' is not a date"),
    ("lines.0.ssp", ..., "lines[0] (pro)", "ssp",
     "no SSP for product 'pro': give the line an ssp or add the product to ssp_library"),
    ("ssp_library.support", {"low": "30.00", "high": "20.00"}, "ssp_library", "support", "the range is inverted"),
    ("currency", "XYZ", "contract", "currency", "'XYZ' is not an ISO 4217 currency code"),
    ("closed_through", "2026-02", "events[0] (credit_note)", "date",
     "2026-02-10 falls in a closed period (closed through 2026-02): date the credit_note in an open period"),
    ("lines.1.recognition", "as_consumed", "lines[1] (support)", "recognition",
     "a one_off line is recognized point_in_time or ratable, not as_consumed"),
    ("lines.0.delivered_on", "2026-01-01", "lines[0] (pro)", "delivered_on", "applies to point-in-time lines only"),
    ("lines.0.completed_on", "2026-01-01", "lines[0] (pro)", "completed_on", "applies to milestone lines only"),
    ("lines.3.completed_on", "2025-12-31", "lines[3] (impl)", "completed_on", "is before the service period starts"),
    ("lines.3.granularity", "daily", "lines[3] (impl)", "granularity", "applies to ratable lines only"),
    ("lines.2.billing", {"timing": "advance"}, "lines[2] (api)", "billing.timing", "usage is billed in arrears"),
    ("lines.2.usage.0.date", "2027-01-01", "lines[2] (api)", "usage[0].date", "is outside the service period"),
    ("lines.3.billing.invoices.1.amount", "200", "lines[3] (impl)", "billing.invoices",
     "the invoices add up to 450, not to the line's price 500"),
    ("lines.1.id", "pro", "lines[1] (pro)", "id", "line id 'pro' appears twice in the contract"),
    ("lines.1.service_period", ..., "lines[1] (support)", "service_period", "is required to recognize a line ratably"),
    ("lines.0.residual", True, "lines[0] (pro)", "ssp", "a residual line takes an SSP range"),
    ("lines.0.ssp", {"low": "1", "high": "2"}, None, None, None),  # a range SSP is fine
    ("policy", {"discount_target": ["api"]}, "policy", "discount_target[0]", "'api' is not a line of the contract"),
    ("events.0.lines", [{"line": "pro", "amount": "1.00"}], "events[0] (credit_note)", "amount",
     "give either an amount (spread over the invoice's lines) or lines, not both or neither"),
    ("events.0.amount", "0", "events[0] (credit_note)", "amount", "must be more than zero"),
    ("lines.0.colour", "red", "lines[0] (pro)", "colour", "is not a known key"),
    ("lines.2.price", "1.00", "lines[2] (api)", "", "should not be valid"),
    ("lines.0.billing.invoices", [{"date": "2026-01-01", "amount": "120.00"}], "lines[0] (pro)", "billing",
     "should not be valid"),
]


@pytest.mark.parametrize(("path", "value", "record", "field", "message"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_bad_input_names_the_record_and_field(path, value, record, field, message):
    doc = with_change(path, value)
    if record is None:
        parse_contract(doc)
        return
    found = problems_of(doc)
    assert any(r == record and f == field and message in m for r, f, m in found), found


def test_overlapping_subscriptions_of_one_product():
    doc = copy.deepcopy(GOOD)
    doc["lines"].append({"id": "pro-2", "product": "pro", "obligation": "subscription", "price": "10.00",
                         "ssp": "10.00", "service_period": {"start": "2026-12-31", "end": "2027-02-01"},
                         "billing": {"timing": "advance"}})
    assert problems_of(doc) == [("lines[4] (pro-2)", "service_period",
                                 "2026-12-31 to 2027-02-01 overlaps line 'pro' (2026-01-01 to 2027-01-01) "
                                 "for the same product 'pro': "
                                 "a product's subscription periods must not overlap")]
    doc["lines"][4]["service_period"]["start"] = "2027-01-01"  # a renewal starting on the end is fine
    parse_contract(doc)


def test_added_lines_are_checked_like_lines_and_start_on_or_after_the_modification():
    added = json.loads('{"id": "extra", "product": "extra", "obligation": "subscription", "price": 9.5,'
                       ' "residual": true, "service_period": {"start": "2026-02-01", "end": "2026-12-01"},'
                       ' "billing": {"timing": "advance"}}')
    doc = with_change("events", [{"type": "modification", "date": "2026-03-01", "add_lines": [added]}])
    where = "events[0].add_lines[0] (extra)"
    assert problems_of(doc) == [
        (where, "price", "must be a decimal string or an integer, not float 9.5 (floats lose cents; quote the number)"),
        (where, "service_period", "an added line starts on or after the modification date 2026-03-01, not 2026-02-01"),
        (where, "residual", "the residual approach applies at inception only, not to added lines"),
    ]


def test_schema_problems_inside_added_lines_are_located():
    added = {"type": "modification", "date": "2026-03-01", "add_lines": [{"id": "x", "product": "x"}]}
    doc = with_change("events", [added])
    assert ("events[0].add_lines[0] (x)", "obligation", "is required") in problems_of(doc)


def test_every_problem_is_reported_at_once():
    doc = with_change("lines.0.price", Json("1.5"))
    doc["lines"][1]["service_period"]["end"] = "2025-01-01"
    doc["currency"] = "ABC"
    assert [(r, f) for r, f, _ in problems_of(doc)] == [
        ("contract", "currency"), ("lines[0] (pro)", "price"), ("lines[1] (support)", "service_period")]


def test_a_shape_problem_stops_before_the_meaning_checks():
    doc = with_change("lines.0.obligation", "rental")
    doc["lines"][1]["service_period"]["end"] = "2025-01-01"
    assert problems_of(doc) == [
        ("lines[0] (pro)", "obligation", "'rental' is not one of ['subscription', 'usage', 'one_off', 'milestone']")]


@pytest.mark.parametrize(("text", "message"), [("{", "not valid JSON"), ("[]", "is not of type 'object'")])
def test_unreadable_files(tmp_path, text, message):
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        load_contract(path)
    with pytest.raises(ValidationError, match="cannot read"):
        load_contract(tmp_path / "missing.json")
