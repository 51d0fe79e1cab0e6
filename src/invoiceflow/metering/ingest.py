"""Bulk, idempotent, all-or-nothing ingestion of usage events.

Runs inside the caller's transaction. Reference data (meters, customers, external accounts, billed-through
cursors) is read once; events are validated in Python and written in batches through the raw driver, one
statement per batch, because per-event round trips or ORM overhead would cap throughput far below what
telemetry pipelines send. Every problem in the whole input is collected and raised at the end as one
IngestError, so the caller's transaction rolls back and a file is either fully ingested or not at all.

Idempotency rests on the unique (tenant_id, transaction_id) constraint: rows are inserted with ON CONFLICT
DO NOTHING, and only the rows that did not go in are read back to tell an exact resend (same payload hash,
ignored and counted) from a reused transaction id (different payload, an error).
"""

from __future__ import annotations

import sqlite3
from contextlib import nullcontext
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Select, Text, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql

from invoiceflow.errors import IngestError, InvoiceflowError, Problem
from invoiceflow.store.db import large_sqlite_cache
from invoiceflow.metering.events import (
    ROW_COLUMNS,
    EventParser,
    MeterSpec,
    RecordLabel,
    event_label,
    line_label,
    timestamp_micros,
)
from invoiceflow.metering.unmapped import Parker, parkable
from invoiceflow.store.tables import customer_accounts, customers, meters, usage_cursors

MAX_PROBLEMS = 1_000
LATE_SAMPLES = 5
_ON_CONFLICT = "ON CONFLICT (tenant_id, transaction_id) DO NOTHING"
_COLUMNS = ", ".join(ROW_COLUMNS)
_meter_of = itemgetter(3)


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingestion did. `inserted + duplicates + parked == received` when it succeeds."""

    received: int
    inserted: int
    duplicates: int
    late: int
    late_samples: tuple[str, ...] = ()
    by_meter: Mapping[str, int] = field(default_factory=dict)  # inserted events per meter code
    parked: int = 0  # events parked under external account ids no customer maps (see metering/unmapped.py)
    parked_accounts: Mapping[str, int] = field(default_factory=dict)


def ingest_events(
    conn: Connection,
    tenant_id: int,
    events: Iterable[Mapping[str, Any]],
    *,
    ingested_at_micros: int,
    batch_size: int = 10_000,
    on_progress: Callable[[int], None] | None = None,
    record_label: RecordLabel = event_label,
) -> IngestReport:
    """Ingest `events` (mappings) for `tenant_id`; problems name events by index: "event 3 (tx-42)".

    A list of at most `SCOPED_LOAD_LIMIT` events (an API batch) reads only the customers and accounts it
    names instead of the whole tenant, which is what makes small batches fast on large tenants.
    """
    sized = isinstance(events, (list, tuple))
    scope = _scope(events) if sized and len(events) <= SCOPED_LOAD_LIMIT else None
    return ingest_records(
        conn, tenant_id, enumerate(events), ingested_at_micros=ingested_at_micros, batch_size=batch_size,
        on_progress=on_progress, record_label=record_label, scope=scope,
        pipelined=not (sized and len(events) <= batch_size),
    )  # fmt: skip


SCOPED_LOAD_LIMIT = 20_000


def _scope(events: list | tuple) -> tuple[set[str], set[str]]:
    """(customer codes, external account ids) named by the events; anything odd is simply not looked up."""
    codes: set[str] = set()
    accounts: set[str] = set()
    for event in events:
        if isinstance(event, Mapping):
            code, account = event.get("customer"), event.get("external_account_id")
            if type(code) is str:
                codes.add(code)
            if type(account) is str:
                accounts.add(account)
    return codes, accounts


def ingest_records(
    conn: Connection,
    tenant_id: int,
    records: Iterable[tuple[int, Mapping[str, Any] | Problem]],
    *,
    ingested_at_micros: int,
    batch_size: int = 10_000,
    on_progress: Callable[[int], None] | None = None,
    record_label: RecordLabel = line_label,
    scope: tuple[set[str], set[str]] | None = None,
    pipelined: bool = True,
) -> IngestReport:
    """Ingest (position, event) pairs, e.g. from `metering.files.read_events`; a Problem item is a bad line.

    `scope` (customer codes, account ids) limits the reference data read to what the events name.
    `pipelined=False` writes in the calling thread: for input that fits one batch there is nothing to
    overlap, and a writer thread per call would only add its start-up and hand-offs."""
    with large_sqlite_cache(conn):
        return _ingest(conn, tenant_id, records, ingested_at_micros, batch_size, on_progress, record_label, scope,
                       pipelined)


def _ingest(conn, tenant_id, records, ingested_at_micros, batch_size, on_progress, record_label,
            scope=None, pipelined=True) -> IngestReport:
    reference = load_reference(conn, tenant_id, scope=scope)
    parser = EventParser(tenant_id, ingested_at_micros=ingested_at_micros, record_label=record_label, **reference)
    meter_codes = {m.id: m.code for m in reference["meters"].values()}
    # One writer thread: the driver releases the GIL while the database works, so the next batch is
    # validated while the previous one is written. At most one batch is in flight, in input order.
    writer = _writer(conn)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-ingest") if pipelined else nullcontext() as pool:
        executor = pool if pool is not None and writer.shareable(pool) else _Inline()
        run = _Run(writer, executor, record_label, ingested_at_micros, meter_codes)
        run.parker = Parker(tenant_id, reference["meters"], ingested_at_micros)
        received = _consume(run, parser.parse, records, batch_size, on_progress)
    report = run.report(received)
    if not run.parker.rows:
        return report
    parked = run.parker.write(conn)
    return replace(report, parked=parked, duplicates=report.duplicates + len(run.parker.rows) - parked,
                   parked_accounts=dict(sorted(run.parker.accounts.items())) if parked else {})


def _consume(
    run: _Run, parse: Callable[[Any, int], tuple], records: Iterable[tuple[int, Any]], batch_size: int,
    on_progress: Callable[[int], None] | None,
) -> int:  # fmt: skip
    batch: dict[str, int] = {}  # transaction id -> index in rows
    rows: list[tuple] = []
    positions: list[int] = []
    received = 0
    for position, raw in records:
        received += 1
        try:
            row = parse(raw, position)
        except IngestError as exc:
            if parkable(exc.problems):
                run.parker.park(raw, timestamp_micros)
                continue
            run.problems(position, exc.problems)
            continue
        tid = row[1]
        prior = batch.get(tid)
        if prior is not None:
            run.repeated(position, row, rows[prior], positions[prior])
            continue
        batch[tid] = len(rows)
        rows.append(row)
        positions.append(position)
        if len(rows) >= batch_size:
            run.flush(batch, rows, positions)
            batch, rows, positions = {}, [], []
            if on_progress is not None:
                on_progress(received)
    if rows:
        run.flush(batch, rows, positions)
    run.settle()
    if on_progress is not None:
        on_progress(received)
    return received


def load_reference(conn: Connection, tenant_id: int, *,
                   scope: tuple[set[str], set[str]] | None = None) -> dict[str, Any]:
    """The tenant's meters, customer codes, external account ids and billed-through cursors, read once.

    With `scope` (customer codes, account ids) only those customers and accounts, and their cursors, are read.
    """
    meter_rows = conn.execute(
        select(meters.c.id, meters.c.code, meters.c.aggregation, meters.c.field, meters.c.group_by).where(
            meters.c.tenant_id == tenant_id
        )
    )
    customer_query = select(customers.c.code, customers.c.id).where(customers.c.tenant_id == tenant_id)
    account_query = select(customer_accounts.c.external_id, customer_accounts.c.customer_id).where(
        customer_accounts.c.tenant_id == tenant_id)
    cursor_query = select(usage_cursors.c.customer_id, usage_cursors.c.meter_id, usage_cursors.c.billed_through
                          ).where(usage_cursors.c.tenant_id == tenant_id)
    if scope is not None:
        codes, external = scope
        customer_query = only(conn, customer_query, customers.c.code, sorted(codes))
        account_query = only(conn, account_query, customer_accounts.c.external_id, sorted(external))
    customer_ids = dict(conn.execute(customer_query).all())
    account_ids = dict(conn.execute(account_query).all())
    if scope is not None:
        wanted = sorted(set(customer_ids.values()) | set(account_ids.values()))
        cursor_query = only(conn, cursor_query, usage_cursors.c.customer_id, wanted)
    return {
        "meters": {
            code: MeterSpec(int(mid), code, aggregation, fld or None, tuple(group_by or ()))
            for mid, code, aggregation, fld, group_by in meter_rows
        },
        "customers": customer_ids,
        "accounts": account_ids,
        "billed_through": {(customer_id, meter_id): through
                           for customer_id, meter_id, through in conn.execute(cursor_query)},
    }


def only(conn: Connection, query: Select, column: ColumnElement, values: list) -> Select:
    """`query` restricted to rows whose `column` is one of `values`, bound as ONE parameter.

    An expanded IN list renders one placeholder per value, so its SQL differs with every batch size and is
    compiled, and parsed by the driver, anew for every batch. On PostgreSQL `= ANY($1)` keeps the text
    fixed but, once the prepared statement runs on a generic plan, compares every row with every value
    (25 ms for 2,000 customers); a join on the unnested array stays a hash or index lookup. On SQLite an
    IN over `json_each` builds a temporary index on the values."""
    if conn.dialect.name == "postgresql":
        wanted = func.unnest(bindparam(None, values, type_=postgresql.ARRAY(column.type))).table_valued("value")
        wanted = wanted.render_derived()
        return query.join_from(wanted, column.table, column == wanted.c.value)
    items = func.json_each(bindparam(None, orjson.dumps(values).decode(), type_=Text()))
    return query.where(column.in_(select(literal_column("value")).select_from(items)))


class _Run:
    """Counters and problems of one ingestion, and the per-batch write with conflict resolution."""

    def __init__(self, writer: Any, pool: Executor, label: RecordLabel, ingested_at: int, meter_codes: dict[int, str]):
        self.writer, self.pool, self.label = writer, pool, label
        self.ingested_at, self.meter_codes = ingested_at, meter_codes
        self.pending: tuple[Future, dict[str, int], list[tuple], list[int]] | None = None
        self.found: list[tuple[int, Problem]] = []
        self.problem_count = 0
        self.inserted = self.duplicates = self.late = 0
        self.late_samples: list[str] = []
        self.by_meter: Counter[int] = Counter()
        self.parker: Parker | None = None

    def problems(self, position: int, problems: list[Problem]) -> None:
        self.problem_count += len(problems)
        room = MAX_PROBLEMS - len(self.found)
        self.found.extend((position, p) for p in problems[: max(room, 0)])

    def repeated(self, position: int, row: tuple, prior: tuple, prior_position: int) -> None:
        """The same transaction id twice within one batch: a resend if the payloads match, else an error."""
        if row[9] == prior[9]:
            self.duplicates += 1
            return
        earlier = self.label(prior_position, row[1])
        message = f"reuses transaction_id {row[1]!r} of {earlier} with a different payload"
        self.problems(position, [Problem(self.label(position, row[1]), "transaction_id", message)])

    def flush(self, batch: dict[str, int], rows: list[tuple], positions: list[int]) -> None:
        """Hand `rows` to the writer thread once the batch before it is written and settled."""
        self.settle()
        self.pending = (self.pool.submit(self.writer.write, rows), batch, rows, positions)

    def settle(self) -> None:
        """Wait for the batch in flight and account for it: resends, reused ids, late events."""
        if self.pending is None:
            return
        future, batch, rows, positions = self.pending
        self.pending = None
        conflicts = future.result()
        meters_seen = Counter(map(_meter_of, rows))
        late_rows = [row for row in rows if row[10]] if any(row[10] for row in rows) else []
        skipped: set[str] = set()
        for tid, stored_hash, stored_at in conflicts:
            index = batch[tid]
            skipped.add(tid)
            meters_seen[rows[index][3]] -= 1
            if stored_hash == rows[index][9]:
                self.duplicates += 1
                continue
            earlier = (
                "an earlier event in this input" if stored_at == self.ingested_at
                else f"an event ingested at {_iso(stored_at)}"
            )  # fmt: skip
            position = positions[index]
            message = f"reuses transaction_id {tid!r} of {earlier} with a different payload"
            self.problems(position, [Problem(self.label(position, tid), "transaction_id", message)])
        self.inserted += len(rows) - len(skipped)
        self.by_meter.update(meters_seen)
        for row in late_rows:
            if row[1] not in skipped:
                self.late += 1
                if len(self.late_samples) < LATE_SAMPLES:
                    self.late_samples.append(row[1])

    def report(self, received: int) -> IngestReport:
        if self.problem_count:
            found = [p for _, p in sorted(self.found, key=itemgetter(0))]
            if self.problem_count > len(found):
                found.append(Problem("", "", f"... and {self.problem_count - len(found)} more problems"))
            raise IngestError(found)
        by_meter = {self.meter_codes[mid]: n for mid, n in sorted(self.by_meter.items()) if n}
        return IngestReport(received, self.inserted, self.duplicates, self.late, tuple(self.late_samples), by_meter)


class _Inline(Executor):
    """Runs each write at once, in the calling thread (for connections bound to their thread)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed back through the future, as a pool would
            future.set_exception(exc)
        return future


def _iso(micros: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
    return moment.isoformat().replace("+00:00", "Z")


def _writer(conn: Connection) -> Any:
    if conn.dialect.name == "sqlite":
        return _SqliteWriter(conn)
    if conn.dialect.name == "postgresql":
        return _PostgresWriter(conn)
    raise InvoiceflowError(f"unsupported database {conn.dialect.name!r}: invoiceflow runs on SQLite and PostgreSQL")


class _SqliteWriter:
    """Multi-row INSERTs of up to 2,000 rows: fewer, longer statement steps than executemany row by row,
    each run with the GIL released. The connection's change counter tells how many rows went in."""

    def __init__(self, conn: Connection):
        self.raw = conn.connection.driver_connection
        self.cursor = self.raw.cursor()
        self.chunk = min(2_000, self.raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(ROW_COLUMNS))

    def shareable(self, pool: Executor) -> bool:
        """False for in-memory databases, whose driver connection refuses use from another thread."""
        try:
            pool.submit(lambda: self.raw.execute("SELECT 1").fetchall()).result()
        except sqlite3.ProgrammingError:
            return False
        return True

    @staticmethod
    def _insert(rows: int) -> str:
        values = ", ".join([f"({', '.join('?' * len(ROW_COLUMNS))})"] * rows)
        return f"INSERT INTO usage_events ({_COLUMNS}) VALUES {values} {_ON_CONFLICT}"

    def write(self, rows: list[tuple]) -> list[tuple[str, str, int]]:
        """Insert `rows`; return (transaction_id, stored payload_hash, stored ingested_at) of those skipped."""
        cursor, chunk = self.cursor, self.chunk
        # New rowids exceed the current maximum (the write lock is held), so rows with id <= last_id are
        # exactly the ones that existed before this batch.
        last_id = cursor.execute("SELECT max(id) FROM usage_events").fetchone()[0] or 0
        before = self.raw.total_changes
        whole = len(rows) - len(rows) % chunk
        if whole:
            flat = [list(chain.from_iterable(rows[i : i + chunk])) for i in range(0, whole, chunk)]
            cursor.executemany(self._insert(chunk), flat)
        if whole < len(rows):
            cursor.execute(self._insert(len(rows) - whole), list(chain.from_iterable(rows[whole:])))
        if self.raw.total_changes - before == len(rows):
            return []
        tenant_id = rows[0][0]
        found: list[tuple[str, str, int]] = []
        for start in range(0, len(rows), 500):
            tids = [row[1] for row in rows[start : start + 500]]
            found += cursor.execute(
                "SELECT transaction_id, payload_hash, ingested_at FROM usage_events WHERE tenant_id = ? "
                f"AND id <= ? AND transaction_id IN ({', '.join('?' * len(tids))})",
                (tenant_id, last_id, *tids),
            ).fetchall()
        return found


class _PostgresWriter:
    """COPY into a session-local staging table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING per batch.

    The staging table is created once per database session and emptied at every commit (ON COMMIT DELETE
    ROWS): creating and dropping it in every transaction cost more than the COPY itself. Only when some
    rows did not go in are the stored versions of those read back."""

    def __init__(self, conn: Connection):
        self.raw = conn.connection.driver_connection
        self.cursor = self.raw.cursor()
        self.cursor.execute(  # a no-op lookup once the session has it; rolled back with a failed first use
            "CREATE TEMP TABLE IF NOT EXISTS _usage_ingest (tenant_id bigint, transaction_id text, "
            "customer_id bigint, meter_id bigint, ts bigint, quantity bigint, distinct_value text, dims text, "
            "properties text, payload_hash text, late smallint, ingested_at bigint) ON COMMIT DELETE ROWS"
        )
        self.dirty = False

    def shareable(self, pool: Executor) -> bool:
        return True  # psycopg connections are thread-safe

    def write(self, rows: list[tuple]) -> list[tuple[str, str, int]]:
        cursor = self.cursor
        if self.dirty:  # a second batch in the same transaction
            cursor.execute("TRUNCATE _usage_ingest")
        self.dirty = True
        with cursor.copy(f"COPY _usage_ingest ({_COLUMNS}) FROM STDIN") as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        cursor.execute(
            f"INSERT INTO usage_events ({_COLUMNS}) SELECT {_COLUMNS} FROM _usage_ingest "
            f"{_ON_CONFLICT} RETURNING transaction_id"
        )
        inserted = {tid for (tid,) in cursor.fetchall()}
        if len(inserted) == len(rows):
            return []
        skipped = [row[1] for row in rows if row[1] not in inserted]
        cursor.execute(
            "SELECT transaction_id, payload_hash, ingested_at FROM usage_events "
            "WHERE tenant_id = %s AND transaction_id = ANY(%s)",
            (rows[0][0], skipped),
        )
        return cursor.fetchall()
