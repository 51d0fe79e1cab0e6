"""Usage aggregation over half-open UTC windows [start, end), the quantities the bill run rates.

The windows of a bill run are loaded into a temporary table and joined against `usage_events` in one
statement, so a run with thousands of subscriptions costs a few queries, not one per window. count, sum,
max and unique_count are plain GROUP BYs; latest and weighted_sum depend on event order and are computed
in Python from rows streamed in (ts, id) order.

Late events are included: a late event whose window has not been invoiced yet is simply billed now. The
late flag only matters for windows already invoiced, and the bill run never aggregates those again.
Quantities come back as exact Decimals (stored integer / QUANTITY_SCALE); sums are split into whole and
fractional parts in SQL so they can exceed the 64-bit range of the stored integers without overflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from itertools import groupby
from operator import itemgetter

from sqlalchemy import Connection, text

from invoiceflow.metering.events import AGGREGATIONS, QUANTITY_SCALE
from invoiceflow.money import PRECISION, div

_EXACT = Context(prec=PRECISION)
_SCALE = Decimal(QUANTITY_SCALE)
_IN_PYTHON = frozenset({"latest", "weighted_sum"})
_JOIN = (
    "FROM _usage_windows w JOIN usage_events e ON e.customer_id = w.customer_id AND e.meter_id = w.meter_id "
)
_IN_WINDOW = "AND e.ts >= w.start_ts AND e.ts < w.end_ts WHERE e.tenant_id = :tenant_id "
_SQL_AGGREGATES = text(
    "SELECT w.window_id, e.dims, COUNT(*), SUM(e.quantity / 1000000), SUM(e.quantity % 1000000), "
    "MAX(e.quantity), COUNT(DISTINCT e.distinct_value) "
    + _JOIN + _IN_WINDOW + "AND w.in_python = 0 GROUP BY w.window_id, e.dims"
)  # fmt: skip
_CARRIED_IN = text(
    "SELECT w.window_id, e.dims, SUM(e.quantity / 1000000), SUM(e.quantity % 1000000) "
    + _JOIN + "AND e.ts < w.start_ts WHERE e.tenant_id = :tenant_id AND w.aggregation = 'weighted_sum' "
    "GROUP BY w.window_id, e.dims"
)  # fmt: skip
_ORDERED = text(
    "SELECT w.window_id, e.dims, e.ts, e.quantity "
    + _JOIN + _IN_WINDOW + "AND w.in_python = 1 ORDER BY w.window_id, e.dims, e.ts, e.id"
)  # fmt: skip
_WINDOW_AMOUNTS = text("SELECT w.window_id, e.quantity " + _JOIN + _IN_WINDOW + "ORDER BY w.window_id, e.ts, e.id")
_AMOUNTS = text(
    "SELECT quantity FROM usage_events WHERE tenant_id = :tenant_id AND customer_id = :customer_id "
    "AND meter_id = :meter_id AND ts >= :start AND ts < :end ORDER BY ts, id"
)


@dataclass(frozen=True, slots=True)
class Window:
    """One customer's usage of one meter over [start_micros, end_micros), UTC epoch microseconds."""

    window_id: int
    customer_id: int
    meter_id: int
    aggregation: str
    start_micros: int
    end_micros: int


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The quantity of one dimension group of a window (`dims` None when the meter has no group_by)."""

    dims: dict[str, str | None] | None
    quantity: Decimal
    events: int


def unscale(stored: int) -> Decimal:
    """A stored (scaled) integer quantity as the exact Decimal it stands for."""
    return _EXACT.divide(Decimal(stored), _SCALE)  # exact for any 64-bit integer at this precision


def aggregate_windows(conn: Connection, tenant_id: int, windows: Sequence[Window]) -> dict[int, list[Aggregate]]:
    """Aggregates per window id (an empty list for a window without usage), each sorted by dims."""
    _check(windows)
    results: dict[int, list[Aggregate]] = {w.window_id: [] for w in windows}
    if not windows:
        return results
    _load_windows(conn, windows)
    kinds = {w.window_id: w.aggregation for w in windows}
    params = {"tenant_id": tenant_id}
    dims_of = _DimsCache()
    if any(w.aggregation not in _IN_PYTHON for w in windows):
        for window_id, dims, count, whole, fraction, largest, distinct in conn.execute(_SQL_AGGREGATES, params).all():
            kind = kinds[window_id]
            if kind == "count":
                quantity = Decimal(count)
            elif kind == "unique_count":
                quantity = Decimal(distinct)
            elif kind == "max":
                quantity = unscale(int(largest))
            else:
                quantity = unscale(int(whole) * QUANTITY_SCALE + int(fraction))
            results[window_id].append(Aggregate(dims_of(dims), quantity, int(count)))
    python_windows = {w.window_id: w for w in windows if w.aggregation in _IN_PYTHON}
    if python_windows:
        carried: dict[tuple[int, str], int] = {}
        if any(w.aggregation == "weighted_sum" for w in python_windows.values()):
            for window_id, dims, whole, fraction in conn.execute(_CARRIED_IN, params):
                carried[(window_id, dims)] = int(whole) * QUANTITY_SCALE + int(fraction)
        rows = conn.execute(_ORDERED, params, execution_options={"yield_per": 10_000})
        for (window_id, dims), aggregate in _ordered_aggregates(python_windows, rows, carried, dims_of):
            results[window_id].append(aggregate)
    conn.execute(text("DELETE FROM _usage_windows"))
    for found in results.values():
        found.sort(key=lambda a: json.dumps(a.dims, sort_keys=True) if a.dims is not None else "")
    return results


def transaction_amounts(conn: Connection, tenant_id: int, window: Window) -> list[Decimal]:
    """The quantity of every event in the window, in (ts, id) order (percentage charges rate each one)."""
    params = {
        "tenant_id": tenant_id, "customer_id": window.customer_id, "meter_id": window.meter_id,
        "start": window.start_micros, "end": window.end_micros,
    }  # fmt: skip
    return [unscale(quantity) for (quantity,) in conn.execute(_AMOUNTS, params)]


def transaction_amounts_many(conn: Connection, tenant_id: int, windows: Sequence[Window]) -> dict[int, list[Decimal]]:
    """`transaction_amounts` for many windows in one query: {window id: amounts in (ts, id) order}."""
    if not windows:
        return {}
    _check(windows)
    _load_windows(conn, windows)
    results: dict[int, list[Decimal]] = {w.window_id: [] for w in windows}
    for window_id, quantity in conn.execute(_WINDOW_AMOUNTS, {"tenant_id": tenant_id}).all():
        results[window_id].append(unscale(quantity))
    conn.execute(text("DELETE FROM _usage_windows"))
    return results


def _check(windows: Sequence[Window]) -> None:
    """Windows come from the bill run, not from users: a malformed one is a programming error."""
    seen: set[int] = set()
    for window in windows:
        if window.window_id in seen:
            raise ValueError(f"window id {window.window_id} is used twice")
        if window.aggregation not in AGGREGATIONS:
            raise ValueError(f"window {window.window_id}: unknown aggregation {window.aggregation!r}")
        if not window.start_micros < window.end_micros:
            raise ValueError(f"window {window.window_id}: start must be before end")
        seen.add(window.window_id)


def _load_windows(conn: Connection, windows: Sequence[Window]) -> None:
    postgres = conn.dialect.name == "postgresql"
    conn.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS _usage_windows (window_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, "
            "meter_id BIGINT NOT NULL, aggregation VARCHAR(16) NOT NULL, in_python SMALLINT NOT NULL, "
            "start_ts BIGINT NOT NULL, end_ts BIGINT NOT NULL)" + (" ON COMMIT DROP" if postgres else "")
        )
    )
    conn.execute(text("DELETE FROM _usage_windows"))
    conn.execute(
        text(
            "INSERT INTO _usage_windows (window_id, customer_id, meter_id, aggregation, in_python, start_ts, end_ts) "
            "VALUES (:window_id, :customer_id, :meter_id, :aggregation, :in_python, :start_ts, :end_ts)"
        ),
        [
            {
                "window_id": w.window_id, "customer_id": w.customer_id, "meter_id": w.meter_id,
                "aggregation": w.aggregation, "in_python": int(w.aggregation in _IN_PYTHON),
                "start_ts": w.start_micros, "end_ts": w.end_micros,
            }  # fmt: skip
            for w in windows
        ],
    )
    if postgres:  # without statistics the planner may hash-join the whole events table
        conn.execute(text("ANALYZE _usage_windows"))


class _DimsCache:
    """Parses each distinct dims text once ("" means the meter has no group_by)."""

    def __init__(self) -> None:
        self.parsed: dict[str, dict | None] = {}

    def __call__(self, dims: str) -> dict | None:
        if dims not in self.parsed:
            self.parsed[dims] = json.loads(dims) if dims else None
        return self.parsed[dims]


def _ordered_aggregates(
    windows: dict[int, Window], rows: Iterable, carried: dict[tuple[int, str], int], dims_of: _DimsCache
) -> Iterator[tuple[tuple[int, str], Aggregate]]:
    """latest and weighted_sum per (window, dims), one group at a time from rows ordered by window, dims,
    ts, id; then the weighted_sum groups whose level was carried in but that have no event in the window."""
    for key, group in groupby(rows, key=itemgetter(0, 1)):
        window = windows[key[0]]
        changes = ((int(ts), int(quantity)) for _, _, ts, quantity in group)
        if window.aggregation == "latest":
            count, last = 0, 0
            for count, (_, last) in enumerate(changes, 1):
                pass
            yield key, Aggregate(dims_of(key[1]), unscale(last), count)
        else:
            quantity, count = time_weighted(window, carried.pop(key, 0), changes)
            yield key, Aggregate(dims_of(key[1]), quantity, count)
    for key, level in carried.items():
        if level:
            yield key, Aggregate(dims_of(key[1]), time_weighted(windows[key[0]], level, ())[0], 0)


def time_weighted(window: Window, level: int, changes: Iterable[tuple[int, int]]) -> tuple[Decimal, int]:
    """(average level over the window, number of changes): Σ level x duration / window duration, in
    integers until the one final division. `level` is the scaled level at the start, `changes` are
    (ts, scaled delta) in time order."""
    area, since, count = 0, window.start_micros, 0
    for ts, delta in changes:
        area += level * (ts - since)
        since, level, count = ts, level + delta, count + 1
    area += level * (window.end_micros - since)
    return div(Decimal(area), Decimal(QUANTITY_SCALE * (window.end_micros - window.start_micros))), count
