"""Validation of one raw usage event into a `usage_events` row: pure, no I/O, exact arithmetic.

Everything a row needs from the database (meters, customer codes, external account ids, billed-through
cursors) is handed in preloaded, so validating millions of events costs dictionary lookups, not queries.
Quantities are integers scaled by QUANTITY_SCALE: sums stay exact in SQL on both backends, and a value with
more precision than the scale is refused rather than silently rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from hashlib import blake2b
from typing import Any

import orjson

from invoiceflow.errors import IngestError, Problem

QUANTITY_SCALE = 10**6
AGGREGATIONS = frozenset({"count", "sum", "max", "unique_count", "latest", "weighted_sum"})
FIELDS = frozenset({"transaction_id", "customer", "external_account_id", "metric", "timestamp", "value", "properties"})
MAX_TRANSACTION_ID, MAX_DISTINCT_VALUE, MAX_DIMS = 128, 256, 512  # the column widths
_MAX_STORED = 2**63 - 1  # BIGINT
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SORT = orjson.OPT_SORT_KEYS
_POWERS = tuple(10 ** (6 - digits) for digits in range(7))
_NO_PROPERTIES: dict[str, Any] = {}

#: Column order of the tuples `EventParser.parse` returns (and the ingest INSERT expects).
ROW_COLUMNS = (
    "tenant_id", "transaction_id", "customer_id", "meter_id", "ts", "quantity", "distinct_value", "dims",
    "properties", "payload_hash", "late", "ingested_at",
)  # fmt: skip

RecordLabel = Callable[[int, Any], str]


def event_label(position: int, transaction_id: Any) -> str:
    """How a problem names an event handed in through the Python API: its index and transaction id."""
    return f"event {position} ({transaction_id})" if isinstance(transaction_id, str) else f"event {position}"


def line_label(position: int, transaction_id: Any) -> str:
    """How a problem names an event read from a file: its line number."""
    return f"line {position}"


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """The parts of a meter that decide an event's quantity, distinct value and dimensions."""

    id: int
    code: str
    aggregation: str
    field: str | None = None
    group_by: tuple[str, ...] = ()


class _Bad(Exception):
    """One field's problem, raised inside a helper and turned into a Problem by the parser."""


def _fragment(value: Any) -> Any:
    """Decimals in properties become exact JSON numbers (orjson has no Decimal support of its own)."""
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot encode {type(value).__name__}")


def _text(value: Any) -> str | None:
    """A property value as dimension/distinct text, the same for `"1"` in CSV and `1` in JSON."""
    if value is None or type(value) is str:
        return value
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _plain(raw: Any) -> int | None:
    """The scaled value of an int or an unsigned plain decimal string, fast; None for anything else."""
    kind = type(raw)
    if kind is int:
        scaled = raw * QUANTITY_SCALE
    elif kind is not str:
        return None
    elif raw.isdigit():
        scaled = int(raw) * QUANTITY_SCALE
    else:
        head, dot, tail = raw.partition(".")
        if not (dot and head.isdigit() and tail.isdigit() and len(tail) <= 6):
            return None
        scaled = int(head + tail) * _POWERS[len(tail)]
    return scaled if -_MAX_STORED <= scaled <= _MAX_STORED else None


def scaled_quantity(value: Any) -> int:
    """`value` (int, decimal string or Decimal; never float) times QUANTITY_SCALE, exactly, or _Bad."""
    kind = type(value)
    if kind is float:
        raise _Bad(f"{value!r} is a float, which loses precision; give a decimal string or an integer")
    if kind is not int and kind is not str and kind is not Decimal:
        raise _Bad(f"must be a decimal string or an integer, not {kind.__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _Bad(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise _Bad(f"{value!r} is not a finite number")
    if number and number.adjusted() > 18:
        raise _Bad(f"{value} is too large")
    numerator, denominator = number.as_integer_ratio()
    scaled, remainder = divmod(numerator * QUANTITY_SCALE, denominator)
    if remainder:
        raise _Bad(f"{value} has more than 6 decimal places")
    if not -_MAX_STORED <= scaled <= _MAX_STORED:
        raise _Bad(f"{value} is too large")
    return scaled


def timestamp_micros(value: Any) -> int:
    """UTC epoch microseconds of an ISO 8601 timestamp that carries an offset or Z (integer arithmetic)."""
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _Bad(f"{value!r} is not an ISO 8601 timestamp (e.g. 2026-10-03T12:00:00Z)") from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise _Bad(f"must be an ISO 8601 string, not {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Bad(f"{value!r} has no UTC offset; add Z or +HH:MM so the instant is unambiguous")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _check_properties(props: Any, bad: list[tuple[str, str]]) -> bytes | None:
    """The canonical JSON of a valid properties object (None when empty); problems appended to `bad`."""
    if not isinstance(props, Mapping):
        bad.append(("properties", f"must be an object of scalar values, not {type(props).__name__}"))
        return None
    before = len(bad)
    for key, value in props.items():
        kind = type(value)
        if kind is float:
            bad.append((f"properties.{key}", f"{value!r} is a float, which loses precision; give a decimal string"))
        elif kind is Decimal and not value.is_finite():
            bad.append((f"properties.{key}", f"{value} is not a finite number"))
        elif kind not in (str, int, bool, Decimal, type(None)):
            bad.append((f"properties.{key}", f"must be a string, number, boolean or null, not {kind.__name__}"))
    if len(bad) > before or not props:
        return None
    try:
        return orjson.dumps(props if type(props) is dict else dict(props), option=_SORT, default=_fragment)
    except (TypeError, orjson.JSONEncodeError) as exc:
        bad.append(("properties", f"cannot be encoded as JSON: {exc}"))
        return None


class EventParser:
    """Turns raw events into `usage_events` rows for one tenant, given its preloaded reference data."""

    __slots__ = ("tenant_id", "meters", "customers", "accounts", "billed_through", "ingested_at", "label", "_fast")

    def __init__(
        self,
        tenant_id: int,
        *,
        meters: Mapping[str, MeterSpec],
        customers: Mapping[str, int],
        accounts: Mapping[str, int],
        ingested_at_micros: int,
        billed_through: Mapping[tuple[int, int], int] | None = None,
        record_label: RecordLabel = event_label,
    ):
        self.tenant_id, self.meters, self.customers, self.accounts = tenant_id, meters, customers, accounts
        self.billed_through, self.ingested_at, self.label = billed_through or {}, ingested_at_micros, record_label
        self._fast = _fast_path(self)

    def parse(self, raw: Any, position: int) -> tuple:
        """The row tuple (columns as ROW_COLUMNS) for one event, or IngestError listing all its problems.

        Common, plainly valid events take a lean path; anything else (and every invalid event) goes through
        `validate`, which gives the same row for a valid event and names every problem of an invalid one.
        """
        try:
            row = self._fast(raw)
        except Exception:  # noqa: BLE001 - any surprise in the lean path is re-examined by validate
            row = None
        return self.validate(raw, position) if row is None else row

    def validate(self, raw: Any, position: int) -> tuple:
        """Full validation of one event: its row, or IngestError listing all its problems."""
        if isinstance(raw, Problem):  # a line the file reader could not parse
            raise IngestError([raw])
        if not isinstance(raw, Mapping):
            raise IngestError([Problem(self.label(position, None), "", "must be an object (a mapping of fields)")])
        bad: list[tuple[str, str]] = []
        get = raw.get
        tid = get("transaction_id")
        if problem := _transaction_id_problem(tid):
            bad.append(("transaction_id", problem))
        expected = ", ".join(sorted(FIELDS))
        bad += [(str(key), f"unknown field (expected: {expected})") for key in raw if key not in FIELDS]
        customer_id, ref_kind, ref = self._customer(get("customer"), get("external_account_id"), bad)
        metric = get("metric")
        meter = self.meters.get(metric) if type(metric) is str else None
        if meter is None:
            bad.append(("metric", f"unknown metric {metric!r}" if metric is not None else "required"))
        ts = value = None
        if get("timestamp") is None:
            bad.append(("timestamp", "required (ISO 8601 with Z or an offset, e.g. 2026-10-03T12:00:00Z)"))
        else:
            try:
                ts = timestamp_micros(get("timestamp"))
            except _Bad as exc:
                bad.append(("timestamp", str(exc)))
        if get("value") is not None:
            try:
                value = scaled_quantity(get("value"))
            except _Bad as exc:
                bad.append(("value", str(exc)))
        props = get("properties")
        props_json = None if props is None else _check_properties(props, bad)
        props = dict(props) if isinstance(props, Mapping) else {}
        quantity, distinct, dims = _measure(meter, value, get("value"), props, bad) if meter else (0, None, "")
        if bad:
            raise IngestError([Problem(self.label(position, tid), field, message) for field, message in bad])
        return self._row(
            tid, ref_kind, ref, customer_id, metric, meter.id, ts, value, quantity, distinct, dims, props_json
        )

    def _customer(self, code: Any, external: Any, bad: list[tuple[str, str]]) -> tuple[int | None, str | None, Any]:
        """(customer id, reference kind, reference) from exactly one of customer / external_account_id."""
        if code is not None and external is not None:
            bad.append(("customer", "give either customer or external_account_id, not both"))
        elif code is not None:
            found = self.customers.get(code) if type(code) is str else None
            if found is None:
                bad.append(("customer", f"unknown customer {code!r}"))
            return found, "customer", code
        elif external is not None:
            found = self.accounts.get(external) if type(external) is str else None
            if found is None:
                bad.append(("external_account_id", f"unknown external account id {external!r}"))
            return found, "external_account_id", external
        else:
            bad.append(("customer", "required: a customer code or an external_account_id"))
        return None, None, None

    def _row(  # type: ignore[no-untyped-def]
        self, tid, ref_kind, ref, customer_id, metric, meter_id, ts, value, quantity, distinct, dims, props_json
    ) -> tuple:
        """The row of a valid event; the payload hash covers what the event means, not how it was spelled."""
        meaning = (ref_kind, ref, metric, ts, value, None if props_json is None else orjson.Fragment(props_json))
        late = 0
        if self.billed_through:
            through = self.billed_through.get((customer_id, meter_id))
            late = 1 if through is not None and ts < through else 0
        return (
            self.tenant_id, tid, customer_id, meter_id, ts, quantity, distinct, dims,
            None if props_json is None else props_json.decode(),
            blake2b(orjson.dumps(meaning), digest_size=16).hexdigest(), late, self.ingested_at,
        )  # fmt: skip


def _transaction_id_problem(tid: Any) -> str:
    """What is wrong with a transaction id, or "" (NUL and lone surrogates cannot be stored as text)."""
    if tid is None or tid == "":
        return "required (a non-empty string that identifies the event for deduplication)"
    if type(tid) is not str:
        return f"must be a string, not {type(tid).__name__}"
    if len(tid) > MAX_TRANSACTION_ID:
        return f"is {len(tid)} characters long (at most {MAX_TRANSACTION_ID})"
    if "\x00" in tid or not tid.isascii() and any("\ud800" <= char <= "\udfff" for char in tid):
        return "must not contain NUL characters or unpaired surrogates"
    return ""


def _measure(
    meter: MeterSpec, value: int | None, value_raw: Any, props: dict, bad: list[tuple[str, str]]
) -> tuple[int, str | None, str]:
    """(scaled quantity, distinct value, dims JSON) of an event under `meter`'s aggregation."""
    aggregation, field, code = meter.aggregation, meter.field, meter.code
    quantity, distinct = QUANTITY_SCALE, None
    where = f"properties.{field}" if field else "value"
    raw = props.get(field) if field else value_raw
    if aggregation not in AGGREGATIONS:
        bad.append(("metric", f"meter {code!r} has unknown aggregation {aggregation!r}"))
    elif aggregation == "unique_count" and not field:
        bad.append(("metric", f"meter {code!r} counts unique values but names no field"))
    elif aggregation != "count" and raw is None:
        bad.append((where, f"required by meter {code!r} ({aggregation} of {field or 'value'})"))
    elif aggregation == "unique_count":
        distinct = _text(raw)
        if len(distinct) > MAX_DISTINCT_VALUE or "\x00" in distinct:
            bad.append((where, f"must be at most {MAX_DISTINCT_VALUE} characters without NUL"))
    elif aggregation != "count":
        try:
            quantity = scaled_quantity(raw) if field else value
        except _Bad as exc:
            bad.append((where, str(exc)))
        if quantity is not None and quantity < 0 and aggregation != "weighted_sum":
            bad.append((where, f"{raw} is negative; only weighted_sum meters accept negative changes"))
    dims = ""
    if meter.group_by:
        dims = orjson.dumps({key: _text(props.get(key)) for key in meter.group_by}, option=_SORT).decode()
        if len(dims) > MAX_DIMS:
            bad.append(("properties", f"group_by values of meter {code!r} exceed {MAX_DIMS} characters"))
    return quantity, distinct, dims


def _fast_path(parser: EventParser) -> Callable[[Any], tuple | None]:
    """A lean parse for the shapes telemetry mostly sends; None means "let validate decide".

    It accepts a strict subset of what `validate` accepts (plain dicts, string timestamps, integer or plain
    decimal-string values, string/int/bool/null properties) and must build the very same row, which the
    unit tests check; per-event function calls and Decimal arithmetic are what it saves.
    """
    customers, accounts, billed, plain = parser.customers, parser.accounts, parser.billed_through, _plain
    tenant_id, ingested_at, fragment = parser.tenant_id, parser.ingested_at, orjson.Fragment
    meters = {code: (m.id, m.aggregation, m.field, m.group_by, {}) for code, m in parser.meters.items()}
    fields_ok, scalar_types = FIELDS.issuperset, frozenset({str, int, bool, type(None)})
    from_iso, epoch, dumps = datetime.fromisoformat, _EPOCH, orjson.dumps

    def fast(raw: Any) -> tuple | None:
        if type(raw) is not dict or not fields_ok(raw):
            return None
        get = raw.get
        tid, ref, metric, ts_raw = get("transaction_id"), get("customer"), get("metric"), get("timestamp")
        if type(tid) is not str or not 0 < len(tid) <= MAX_TRANSACTION_ID or "\x00" in tid or not tid.isascii():
            return None
        if ref is not None:
            ref_kind, customer_id = "customer", customers.get(ref)
            if get("external_account_id") is not None:
                return None
        else:
            ref = get("external_account_id")
            ref_kind, customer_id = "external_account_id", accounts.get(ref)
        meter = meters.get(metric)
        if customer_id is None or meter is None or type(ts_raw) is not str:
            return None
        moment = from_iso(ts_raw)
        if moment.tzinfo is None:
            return None
        delta = moment - epoch
        ts = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        value_raw = get("value")
        value = None if value_raw is None else plain(value_raw)
        if value is None and value_raw is not None:
            return None
        props = get("properties")
        if props is None or props == {}:
            props, props_json = _NO_PROPERTIES, None
        elif type(props) is dict:
            for item in props.values():
                if type(item) not in scalar_types:
                    return None
            props_json = dumps(props, option=_SORT)
        else:
            return None
        meter_id, aggregation, field, group_by, dims_cache = meter
        quantity, distinct = QUANTITY_SCALE, None
        if aggregation == "unique_count":
            distinct = props.get(field) if field else None
            if type(distinct) is not str or len(distinct) > MAX_DISTINCT_VALUE or "\x00" in distinct:
                return None
        elif aggregation != "count":
            quantity = plain(props.get(field)) if field else value
            if quantity is None or aggregation not in AGGREGATIONS:
                return None
            if quantity < 0 and aggregation != "weighted_sum":
                return None
        dims = ""
        if group_by:
            key = tuple(map(props.get, group_by))
            dims = dims_cache.get(key)
            if dims is None:  # cached per value tuple; only str/None keys, so 1 and True never collide
                if not all(type(item) is str or item is None for item in key):
                    return None
                dims = dumps(dict(zip(group_by, key)), option=_SORT).decode()
                if len(dims) > MAX_DIMS:
                    return None
                if len(dims_cache) > 65_536:
                    dims_cache.clear()
                dims_cache[key] = dims
        # inlined EventParser._row: a call with twelve arguments costs more than the hash here
        meaning = (ref_kind, ref, metric, ts, value, None if props_json is None else fragment(props_json))
        late = 0
        if billed:
            through = billed.get((customer_id, meter_id))
            late = 1 if through is not None and ts < through else 0
        return (
            tenant_id, tid, customer_id, meter_id, ts, quantity, distinct, dims,
            None if props_json is None else props_json.decode(),
            blake2b(dumps(meaning), digest_size=16).hexdigest(), late, ingested_at,
        )  # fmt: skip

    return fast
