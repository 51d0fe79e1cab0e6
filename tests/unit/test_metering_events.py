"""Event validation: every bad input names its record, field and reason; good input gives exact rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoiceflow.errors import IngestError, Problem
from invoiceflow.metering.events import QUANTITY_SCALE, ROW_COLUMNS, EventParser, MeterSpec, line_label
from invoiceflow.metering.files import json_decimal

METERS = {
    m.code: m
    for m in [
        MeterSpec(10, "api_calls", "sum"),
        MeterSpec(11, "storage", "max", None, ("region",)),
        MeterSpec(12, "tokens", "sum", "tokens", ("model", "region")),
        MeterSpec(13, "users", "unique_count", "user_id"),
        MeterSpec(14, "requests", "count"),
        MeterSpec(15, "seats", "weighted_sum"),
        MeterSpec(16, "gauge", "latest"),
        MeterSpec(17, "broken", "median"),
        MeterSpec(18, "no_field_unique", "unique_count"),
    ]
}
NOON = "2026-10-03T12:00:00Z"
NOON_MICROS = 1_791_028_800 * 1_000_000
BASE = {"transaction_id": "tx-1", "customer": "acme", "metric": "api_calls", "timestamp": NOON, "value": "2"}
DROP = object()


def parser(**kwargs) -> EventParser:
    options = {"meters": METERS, "customers": {"acme": 1, "globex": 2}, "accounts": {"tel-1": 1}}
    return EventParser(7, ingested_at_micros=99, **{**options, **kwargs})


def event(**changes) -> dict:
    merged = {**BASE, **changes}
    return {k: v for k, v in merged.items() if v is not DROP}


def row(raw, **kwargs) -> dict:
    return dict(zip(ROW_COLUMNS, parser(**kwargs).parse(raw, 3)))


def problems(raw) -> list[Problem]:
    with pytest.raises(IngestError) as caught:
        parser().parse(raw, 3)
    return caught.value.problems


BAD = [
    ("no transaction id", event(transaction_id=DROP), "transaction_id", "required"),
    ("empty transaction id", event(transaction_id=""), "transaction_id", "required"),
    ("numeric transaction id", event(transaction_id=5), "transaction_id", "must be a string, not int"),
    ("transaction id too long", event(transaction_id="x" * 129), "transaction_id", "at most 128"),
    ("transaction id with NUL", event(transaction_id="a\x00b"), "transaction_id", "NUL"),
    ("transaction id with lone surrogate", event(transaction_id="a\ud800"), "transaction_id", "surrogates"),
    ("both customer refs", event(external_account_id="tel-1"), "customer", "not both"),
    ("no customer ref", event(customer=DROP), "customer", "required"),
    ("unknown customer", event(customer="nobody"), "customer", "unknown customer 'nobody'"),
    ("unknown account", event(customer=DROP, external_account_id="tel-9"), "external_account_id", "'tel-9'"),
    ("unknown metric", event(metric="nope"), "metric", "unknown metric 'nope'"),
    ("no metric", event(metric=DROP), "metric", "required"),
    ("no timestamp", event(timestamp=DROP), "timestamp", "required"),
    ("naive timestamp", event(timestamp="2026-10-03T12:00:00"), "timestamp", "no UTC offset"),
    ("date only", event(timestamp="2026-10-03"), "timestamp", "no UTC offset"),
    ("malformed timestamp", event(timestamp="yesterday"), "timestamp", "not an ISO 8601 timestamp"),
    ("epoch number timestamp", event(timestamp=1791028800), "timestamp", "must be an ISO 8601 string"),
    ("float value", event(value=1.5), "value", "is a float"),
    ("text value", event(value="abc"), "value", "'abc' is not a number"),
    ("seven decimals", event(value="1.0000001"), "value", "1.0000001 has more than 6 decimal places"),
    ("NaN value", event(value="NaN"), "value", "not a finite number"),
    ("huge value", event(value="1e30"), "value", "too large"),
    ("huge int value", event(value=10**13), "value", "too large"),
    ("boolean value", event(value=True), "value", "not bool"),
    ("negative sum", event(value="-1"), "value", "-1 is negative; only weighted_sum"),
    ("negative max", event(metric="storage", value=-3), "value", "negative"),
    ("sum without value", event(value=DROP), "value", "required by meter 'api_calls'"),
    ("field missing", event(metric="tokens", properties={"model": "m"}), "properties.tokens", "required"),
    ("field float", event(metric="tokens", properties={"tokens": 2.5}), "properties.tokens", "float"),
    ("field negative", event(metric="tokens", properties={"tokens": "-2"}), "properties.tokens", "negative"),
    ("field too precise", event(metric="tokens", properties={"tokens": "0.1234567"}), "properties.tokens", "6 decimal"),
    ("unique without value", event(metric="users", properties={}), "properties.user_id", "required by meter 'users'"),
    ("unique too long", event(metric="users", properties={"user_id": "u" * 257}), "properties.user_id", "256"),
    ("unique meter without field", event(metric="no_field_unique"), "metric", "names no field"),
    ("unknown aggregation", event(metric="broken"), "metric", "unknown aggregation 'median'"),
    ("properties not an object", event(properties=["a"]), "properties", "must be an object"),
    ("nested property", event(properties={"x": {"y": 1}}), "properties.x", "must be a string, number"),
    ("float property", event(properties={"x": 0.1}), "properties.x", "is a float"),
    ("infinite property", event(properties={"x": Decimal("Infinity")}), "properties.x", "not a finite"),
    ("non-string property key", event(properties={1: "a"}), "properties", "cannot be encoded"),
    ("misspelt field", {**event(), "metirc": "x"}, "metirc", "unknown field"),
]


@pytest.mark.parametrize(("raw", "field", "fragment"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_events_name_record_field_and_reason(raw, field, fragment):
    found = problems(raw)
    matching = [p for p in found if p.field == field and fragment in p.message]
    assert matching, f"no problem on {field!r} containing {fragment!r} in {found}"
    tid = raw.get("transaction_id")
    expected = f"event 3 ({tid})" if isinstance(tid, str) else "event 3"
    assert all(p.record == expected for p in found)


def test_every_problem_of_one_event_is_listed():
    found = problems(event(customer="nobody", metric="nope", timestamp="soon", value=1.5))
    assert {p.field for p in found} == {"customer", "metric", "timestamp", "value"}


def test_non_mapping_and_reader_problems():
    assert problems(["not", "a", "dict"]) == [Problem("event 3", "", "must be an object (a mapping of fields)")]
    bad_line = Problem("line 9", "", "is not valid JSON")
    assert problems(bad_line) == [bad_line]


def test_file_label_names_the_line():
    with pytest.raises(IngestError) as caught:
        parser(record_label=line_label).parse(event(metric="nope"), 12)
    assert caught.value.problems[0].record == "line 12"


@pytest.mark.parametrize(
    ("timestamp", "micros"),
    [
        (NOON, NOON_MICROS),
        ("2026-10-03T12:00:00+00:00", NOON_MICROS),
        ("2026-10-03T14:00:00+02:00", NOON_MICROS),
        ("2026-10-03T07:00:00-05:00", NOON_MICROS),
        ("2026-10-03T12:00:00.000001Z", NOON_MICROS + 1),
        ("2026-10-03T11:59:59.999999Z", NOON_MICROS - 1),
        ("1969-12-31T23:59:59Z", -1_000_000),
        (datetime(2026, 10, 3, 13, tzinfo=timezone(timedelta(hours=1))), NOON_MICROS),
    ],
)
def test_timestamps_become_utc_epoch_micros(timestamp, micros):
    assert row(event(timestamp=timestamp))["ts"] == micros


@pytest.mark.parametrize(
    ("value", "scaled"),
    [
        (3, 3 * QUANTITY_SCALE),
        ("3", 3_000_000),
        ("1.5", 1_500_000),
        ("0.000001", 1),
        ("1.500000000", 1_500_000),
        (Decimal("2.25"), 2_250_000),
        ("1E+3", 1_000_000_000),
        (json_decimal(b'{"value": 1.5}')["value"], 1_500_000),
        (json_decimal(b'{"value": 0.3}')["value"], 300_000),
        (json_decimal(b'{"value": 7}')["value"], 7_000_000),
    ],
)
def test_values_are_scaled_exactly(value, scaled):
    assert row(event(value=value))["quantity"] == scaled


def test_ndjson_decimals_are_exact_not_floats():
    parsed = json_decimal(b'{"value": 1.5, "properties": {"tokens": 0.1}}')
    assert parsed["value"] == Decimal("1.5") and type(parsed["value"]) is Decimal
    assert parsed["properties"]["tokens"] == Decimal("0.1")


def test_meter_semantics():
    assert row(event(metric="requests", value=DROP))["quantity"] == QUANTITY_SCALE
    unique = row(event(metric="users", value=DROP, properties={"user_id": 42}))
    assert (unique["quantity"], unique["distinct_value"]) == (QUANTITY_SCALE, "42")
    assert row(event(metric="seats", value="-2"))["quantity"] == -2_000_000
    tokens = row(event(metric="tokens", value=DROP, properties={"tokens": "10", "model": "m1", "region": "eu"}))
    assert tokens["quantity"] == 10_000_000
    assert row(event(metric="gauge", value="4.5"))["quantity"] == 4_500_000


@pytest.mark.parametrize(
    ("metric", "properties", "dims"),
    [
        ("api_calls", {"region": "eu"}, ""),
        ("storage", {"region": "eu"}, '{"region":"eu"}'),
        ("storage", {}, '{"region":null}'),
        ("storage", {"region": True}, '{"region":"true"}'),
        ("storage", {"region": Decimal("1.50")}, '{"region":"1.50"}'),
        ("storage", {"region": 7}, '{"region":"7"}'),
        ("tokens", {"tokens": 1, "region": "us", "model": "m1", "other": "x"}, '{"model":"m1","region":"us"}'),
    ],
)
def test_dims_are_canonical_json_of_group_by_values(metric, properties, dims):
    assert row(event(metric=metric, properties=properties))["dims"] == dims


def test_properties_stored_as_canonical_json():
    stored = row(event(properties={"b": 1, "a": "x", "c": Decimal("1.50"), "d": None, "e": False}))["properties"]
    assert stored == '{"a":"x","b":1,"c":1.50,"d":null,"e":false}'
    assert row(event())["properties"] is None
    assert row(event(properties={}))["properties"] is None


def test_payload_hash_covers_meaning_not_spelling():
    base = row(event(properties={"region": "eu"}))["payload_hash"]
    assert len(base) == 32 and int(base, 16) >= 0
    same = [
        event(value="2.00", properties={"region": "eu"}),
        event(value=2, properties={"region": "eu"}),
        event(timestamp="2026-10-03T13:00:00+01:00", properties={"region": "eu"}),
    ]
    assert all(row(raw)["payload_hash"] == base for raw in same)
    different = [
        event(value="2.01", properties={"region": "eu"}),
        event(properties={"region": "us"}),
        event(customer="globex", properties={"region": "eu"}),
        event(timestamp="2026-10-03T12:00:00.000001Z", properties={"region": "eu"}),
    ]
    assert all(row(raw)["payload_hash"] != base for raw in different)


def test_external_account_resolves_to_its_customer():
    resolved = row(event(customer=DROP, external_account_id="tel-1"))
    assert resolved["customer_id"] == 1
    assert resolved["payload_hash"] != row(event())["payload_hash"]  # the reference is part of the meaning


def test_late_when_before_billed_through():
    cursors = {(1, 10): NOON_MICROS}
    assert row(event(timestamp="2026-10-03T11:59:59.999999Z"), billed_through=cursors)["late"] == 1
    assert row(event(timestamp=NOON), billed_through=cursors)["late"] == 0
    assert row(event(customer="globex", timestamp="2020-01-01T00:00:00Z"), billed_through=cursors)["late"] == 0


def test_row_constants():
    built = row(event())
    assert (built["tenant_id"], built["ingested_at"], built["meter_id"], built["transaction_id"]) == (7, 99, 10, "tx-1")


GOOD = [
    event(),
    event(value=5, properties={"region": "eu", "n": 1, "flag": True, "none": None}),
    event(customer=DROP, external_account_id="tel-1"),
    event(metric="storage", value="12.345678", properties={"region": "ap"}),
    event(metric="tokens", value=DROP, properties={"tokens": "3.5", "model": "m", "region": None}),
    event(metric="users", value=DROP, properties={"user_id": "u-1"}),
    event(metric="requests", value=DROP),
    event(metric="seats", value=-4),
    event(metric="gauge", timestamp="2026-10-03T14:00:00.5+02:00"),
    event(transaction_id="ünïcode-€"),
]


@pytest.mark.parametrize("raw", GOOD)
def test_fast_path_takes_plain_events_and_agrees_with_full_validation(raw):
    subject = parser(billed_through={(1, 10): NOON_MICROS + 1})
    assert (subject._fast(raw) is not None) == raw["transaction_id"].isascii()  # others are re-checked in full
    assert subject.parse(raw, 0) == subject.validate(raw, 0)


@given(
    tid=st.text(min_size=1, max_size=20).filter(lambda t: "\x00" not in t),
    metric=st.sampled_from(sorted(set(METERS) - {"broken", "no_field_unique"})),
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(
            [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    ),
    value=st.one_of(
        st.integers(0, 10**9),
        st.decimals(min_value=0, max_value=10**6, places=6).map(str),
        st.decimals(min_value=-(10**6), max_value=10**6, places=3),
    ),
    props=st.dictionaries(
        st.sampled_from(["region", "model", "tokens", "user_id", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(0, 99), st.text(max_size=5), st.decimals(0, 9, places=2)),
    ),
)
def test_lean_and_full_paths_never_disagree(tid, metric, moment, value, props):
    raw = event(transaction_id=tid, metric=metric, timestamp=moment.isoformat(), value=value, properties=props)
    subject = parser()
    try:
        expected = subject.validate(raw, 0)
    except IngestError:
        assert subject._fast(raw) is None
    else:
        assert subject.parse(raw, 0) == expected
