"""Usage aggregation over half-open windows on SQLite and PostgreSQL: exact Decimals, split by dims."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert

from invoiceflow.metering.aggregate import Aggregate, Window, aggregate_windows, transaction_amounts
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.money import div
from invoiceflow.store.tables import usage_cursors
from metering_seed import seed

START = 1_791_028_800_000_000  # 2026-10-03T12:00:00Z
END = START + 3_600_000_000  # one hour later


_counter = iter(range(10**9))


def ev(metric: str, ts: int, value=None, *, customer: str = "c1", **properties) -> dict:
    seconds, micros = divmod(ts, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=micros).isoformat()
    raw = {"transaction_id": f"tx-{next(_counter)}", "customer": customer, "metric": metric, "timestamp": stamp}
    if value is not None:
        raw["value"] = value
    if properties:
        raw["properties"] = properties
    return raw


def load(engine, ids, events) -> None:
    with engine.begin() as conn:
        ingest_events(conn, ids["tenant"], events, ingested_at_micros=1)


def aggregate(engine, ids, *windows):
    with engine.begin() as conn:
        return aggregate_windows(conn, ids["tenant"], windows)


def window(ids, window_id, meter, aggregation, start=START, end=END, customer="c1") -> Window:
    return Window(window_id, ids[customer], ids[meter], aggregation, start, end)


def test_sql_aggregations_with_dims_and_empty_windows(engine):
    ids = seed(engine)
    load(engine, ids, [
        ev("calls", START + 1, "1.5"), ev("calls", START + 2, "2.25"), ev("calls", START + 3, "9", customer="c2"),
        ev("storage", START + 1, "3", region="eu"), ev("storage", START + 2, "7.5", region="eu"),
        ev("storage", START + 3, "2", region="us"), ev("storage", START + 4, "1"),
        ev("requests", START + 1), ev("requests", START + 2), ev("requests", START + 3),
        ev("users", START + 1, user="u1"), ev("users", START + 2, user="u2"), ev("users", START + 3, user="u1"),
    ])  # fmt: skip
    result = aggregate(
        engine, ids, window(ids, 1, "calls", "sum"), window(ids, 2, "storage", "max"),
        window(ids, 3, "requests", "count"), window(ids, 4, "users", "unique_count"),
        window(ids, 5, "gauge", "latest"), window(ids, 6, "calls", "sum", START + 10, END),
    )  # fmt: skip
    assert result == {
        1: [Aggregate(None, Decimal("3.75"), 2)],
        2: [
            Aggregate({"region": "eu"}, Decimal("7.5"), 2),
            Aggregate({"region": "us"}, Decimal("2"), 1),
            Aggregate({"region": None}, Decimal("1"), 1),
        ],
        3: [Aggregate(None, Decimal("3"), 3)],
        4: [Aggregate(None, Decimal("2"), 3)],
        5: [],
        6: [],
    }
    assert str(result[1][0].quantity) == "3.75"


def test_windows_are_half_open(engine):
    ids = seed(engine)
    load(engine, ids, [
        ev("calls", START - 1, "1000"), ev("calls", START, "1"), ev("calls", END - 1, "10"), ev("calls", END, "100"),
    ])  # fmt: skip
    result = aggregate(
        engine, ids, window(ids, 1, "calls", "sum"), window(ids, 2, "calls", "sum", END, END + 1),
        window(ids, 3, "calls", "sum", START - 1, START),
    )  # fmt: skip
    assert result == {
        1: [Aggregate(None, Decimal("11"), 2)],
        2: [Aggregate(None, Decimal("100"), 1)],
        3: [Aggregate(None, Decimal("1000"), 1)],
    }


def test_latest_is_the_last_event_by_time_then_id(engine):
    ids = seed(engine)
    load(engine, ids, [
        ev("gauge", START + 10, "5"), ev("gauge", START + 30, "7"), ev("gauge", START + 20, "100"),
        ev("gauge", START + 30, "9.25"), ev("gauge", END, "1"),
    ])  # fmt: skip
    assert aggregate(engine, ids, window(ids, 1, "gauge", "latest")) == {1: [Aggregate(None, Decimal("9.25"), 4)]}


def test_weighted_sum_carries_the_level_in_and_weights_by_time(engine):
    ids = seed(engine)
    load(engine, ids, [
        ev("seats", START - 100, "10", plan="pro"), ev("seats", START - 50, "4", plan="basic"),
        ev("seats", START - 10, "-4", plan="basic"), ev("seats", START - 5, "3", plan="team"),
        ev("seats", START + 1_800_000_000, "5", plan="pro"),  # half way through the hour
        ev("seats", START + 900_000_000, "2", plan="new"), ev("seats", START + 2_700_000_000, "-2", plan="new"),
    ])  # fmt: skip
    result = aggregate(engine, ids, window(ids, 1, "seats", "weighted_sum"))
    assert result == {
        1: [
            Aggregate({"plan": "new"}, Decimal("1"), 2),  # 2 seats for the middle half of the hour
            Aggregate({"plan": "pro"}, Decimal("12.5"), 1),  # 10 for half the hour, then 15
            Aggregate({"plan": "team"}, Decimal("3"), 0),  # carried in, unchanged; basic went back to 0
        ]
    }


def test_weighted_sum_is_precise_decimal(engine):
    ids = seed(engine)
    load(engine, ids, [ev("seats", START, "1", plan="p"), ev("seats", START + 1, "1", plan="p")])
    result = aggregate(engine, ids, window(ids, 1, "seats", "weighted_sum", START, START + 3))
    assert result[1] == [Aggregate({"plan": "p"}, div(Decimal(5), Decimal(3)), 2)]
    assert result[1][0].quantity == Decimal("1.666666666666666666666666666666667")


def test_late_events_are_aggregated(engine):
    ids = seed(engine)
    with engine.begin() as conn:
        conn.execute(insert(usage_cursors).values(
            tenant_id=ids["tenant"], customer_id=ids["c1"], meter_id=ids["calls"], billed_through=END
        ))  # fmt: skip
    load(engine, ids, [ev("calls", START + 5, "4")])
    assert aggregate(engine, ids, window(ids, 1, "calls", "sum")) == {1: [Aggregate(None, Decimal("4"), 1)]}


def test_sums_beyond_the_stored_integer_range_stay_exact(engine):
    ids = seed(engine)
    load(engine, ids, [ev("calls", START + i, "9000000000000.000001") for i in range(3)])
    result = aggregate(engine, ids, window(ids, 1, "calls", "sum"), window(ids, 2, "calls", "max"))
    assert result[1] == [Aggregate(None, Decimal("27000000000000.000003"), 3)]
    assert result[2] == [Aggregate(None, Decimal("9000000000000.000001"), 3)]


def test_overlapping_windows_and_other_tenants_are_independent(engine):
    ids = seed(engine)
    other = seed(engine, "globex")
    load(engine, ids, [ev("calls", START + 1, "1"), ev("calls", START + 5, "2")])
    load(engine, other, [ev("calls", START + 1, "50")])
    result = aggregate(
        engine, ids, window(ids, 1, "calls", "sum"), window(ids, 2, "calls", "sum", START + 2, END),
        window(other, 3, "calls", "sum"),
    )  # fmt: skip
    assert result == {1: [Aggregate(None, Decimal("3"), 2)], 2: [Aggregate(None, Decimal("2"), 1)], 3: []}


def test_transaction_amounts_in_time_order(engine):
    ids = seed(engine)
    load(engine, ids, [ev("calls", START + 3, "3.3"), ev("calls", START + 1, "1"), ev("calls", END, "9")])
    with engine.connect() as conn:
        amounts = transaction_amounts(conn, ids["tenant"], window(ids, 1, "calls", "sum"))
    assert amounts == [Decimal("1"), Decimal("3.3")]
    assert [str(a) for a in amounts] == ["1", "3.3"]


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([Window(1, 1, 1, "sum", 0, 10), Window(1, 1, 1, "sum", 0, 10)], "used twice"),
        ([Window(1, 1, 1, "median", 0, 10)], "unknown aggregation"),
        ([Window(1, 1, 1, "sum", 10, 10)], "start must be before end"),
    ],
)
def test_malformed_windows_are_programming_errors(engine, windows, message):
    with engine.connect() as conn, pytest.raises(ValueError, match=message):
        aggregate_windows(conn, 1, windows)


def test_no_windows(engine):
    with engine.connect() as conn:
        assert aggregate_windows(conn, 1, []) == {}
