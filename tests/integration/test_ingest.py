"""Usage ingestion on SQLite and PostgreSQL: idempotent, all-or-nothing, late-aware, and its CLI."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import typer
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from invoiceflow.commands.ingest import register
from invoiceflow.errors import IngestError
from invoiceflow.metering import ingest as ingest_module
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.metering.unmapped import attach_mapped_usage
from invoiceflow.store.review_tables import unmapped_usage
from invoiceflow.store.tables import customer_accounts, usage_cursors, usage_events
from metering_seed import seed

NOON = 1_791_028_800_000_000  # 2026-10-03T12:00:00Z in epoch microseconds


def ev(tid: str, value="1", *, customer="c1", metric="calls", ts: int = NOON, **extra) -> dict:
    seconds, micros = divmod(ts, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=micros).isoformat()
    return {"transaction_id": tid, "customer": customer, "metric": metric, "timestamp": stamp, "value": value, **extra}


def ingest(engine, tenant, events, **kwargs):
    with engine.begin() as conn:
        return ingest_events(conn, tenant, events, ingested_at_micros=kwargs.pop("at", 1), **kwargs)


def stored(engine, *columns):
    with engine.connect() as conn:
        cols = columns or (usage_events.c.transaction_id,)
        return [tuple(r) for r in conn.execute(select(*cols).order_by(usage_events.c.transaction_id))]


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(usage_events)).scalar_one()


def test_rows_are_stored_exactly(engine):
    ids = seed(engine)
    report = ingest(engine, ids["tenant"], [
        ev("a", "1.5"), ev("b", Decimal("0.000001"), metric="storage", properties={"region": "eu"}),
        {**ev("c", None, metric="users", properties={"user": "u1"}), "customer": None, "external_account_id": "tel-1"},
    ], at=42)  # fmt: skip
    assert (report.received, report.inserted, report.duplicates, report.late) == (3, 3, 0, 0)
    assert report.by_meter == {"calls": 1, "storage": 1, "users": 1}
    c = usage_events.c
    columns = (c.transaction_id, c.customer_id, c.quantity, c.dims, c.distinct_value, c.late, c.ingested_at)
    assert stored(engine, *columns) == [
        ("a", ids["c1"], 1_500_000, "", None, 0, 42),
        ("b", ids["c1"], 1, '{"region":"eu"}', None, 0, 42),
        ("c", ids["c1"], 1_000_000, "", "u1", 0, 42),
    ]


def test_exact_duplicates_are_ignored_within_batches_across_batches_and_across_calls(engine):
    ids = seed(engine)
    events = [ev("a"), ev("b"), ev("a"), ev("c"), ev("b"), ev("a")]
    first = ingest(engine, ids["tenant"], events, batch_size=2)
    assert (first.received, first.inserted, first.duplicates) == (6, 3, 3)
    same_batch = ingest(engine, ids["tenant"], [ev("d"), ev("d")])
    assert (same_batch.inserted, same_batch.duplicates) == (1, 1)
    again = ingest(engine, ids["tenant"], [ev("a"), ev("b", "1.0"), ev("e")])
    assert (again.received, again.inserted, again.duplicates, again.by_meter) == (3, 1, 2, {"calls": 1})
    assert stored(engine) == [("a",), ("b",), ("c",), ("d",), ("e",)]


@pytest.mark.parametrize("batch_size", [10, 1])
def test_reused_transaction_id_in_one_input_rejects_the_whole_call(engine, batch_size):
    ids = seed(engine)
    with pytest.raises(IngestError) as caught:
        ingest(engine, ids["tenant"], [ev("ok"), ev("x", "1"), ev("x", "2")], batch_size=batch_size)
    [problem] = caught.value.problems
    assert (problem.record, problem.field) == ("event 2 (x)", "transaction_id")
    expected = "event 1 (x)" if batch_size == 10 else "an earlier event in this input"
    assert expected in problem.message and "different payload" in problem.message
    assert count(engine) == 0


def test_reused_transaction_id_against_stored_event_is_rejected(engine):
    ids = seed(engine)
    ingest(engine, ids["tenant"], [ev("x", "1")], at=NOON)
    with pytest.raises(IngestError) as caught:
        ingest(engine, ids["tenant"], [ev("new"), ev("x", "2")], at=NOON + 5)
    [problem] = caught.value.problems
    assert problem.record == "event 1 (x)"
    assert "ingested at 2026-10-03T12:00:00Z with a different payload" in problem.message
    assert stored(engine) == [("x",)]


def test_unknown_references_list_every_problem_and_write_nothing(engine):
    ids = seed(engine)
    events = [ev("a"), ev("b", metric="nope"), ev("c", customer="ghost"), {**ev("d"), "customer": None,
              "external_account_id": "tel-404", "metric": "nope"}, ev("e", 1.5)]  # fmt: skip
    with pytest.raises(IngestError) as caught:
        ingest(engine, ids["tenant"], events)
    assert [(p.record, p.field) for p in caught.value.problems] == [
        ("event 1 (b)", "metric"), ("event 2 (c)", "customer"), ("event 3 (d)", "external_account_id"),
        ("event 3 (d)", "metric"), ("event 4 (e)", "value"),
    ]  # fmt: skip
    assert count(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(unmapped_usage)).scalar() == 0


def test_an_unmapped_account_id_is_parked_not_refused_and_attached_once_mapped(engine):
    ids = seed(engine)
    events = [ev("a"), {**ev("d"), "customer": None, "external_account_id": "tel-404"},
              {**ev("e"), "customer": None, "external_account_id": "tel-404"}]
    report = ingest(engine, ids["tenant"], events)
    assert (report.inserted, report.parked, dict(report.parked_accounts)) == (1, 2, {"tel-404": 2})
    again = ingest(engine, ids["tenant"], events)  # a resend parks nothing twice
    assert (again.parked, again.duplicates) == (0, 3)
    with engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(unmapped_usage)).scalar() == 2
        conn.execute(insert(customer_accounts).values(tenant_id=ids["tenant"], external_id="tel-404",
                                                      customer_id=ids["c1"], source="telemetry"))
        assert attach_mapped_usage(conn, ids["tenant"]) == 2
        assert attach_mapped_usage(conn, ids["tenant"]) == 0
    assert count(engine) == 3


def test_problem_list_is_capped_but_counted(engine, monkeypatch):
    ids = seed(engine)
    monkeypatch.setattr(ingest_module, "MAX_PROBLEMS", 3)
    with pytest.raises(IngestError) as caught:
        ingest(engine, ids["tenant"], [ev(f"t{i}", metric="nope") for i in range(5)])
    assert len(caught.value.problems) == 4
    assert caught.value.problems[-1].message == "... and 2 more problems"


def test_late_events_are_stored_flagged_and_counted(engine):
    ids = seed(engine)
    with engine.begin() as conn:
        conn.execute(insert(usage_cursors).values(
            tenant_id=ids["tenant"], customer_id=ids["c1"], meter_id=ids["calls"], billed_through=NOON
        ))  # fmt: skip
    ingest(engine, ids["tenant"], [ev("old", ts=NOON - 10)])
    report = ingest(engine, ids["tenant"], [
        ev("old", ts=NOON - 10), ev("late", ts=NOON - 1), ev("on-time", ts=NOON),
        ev("other-customer", customer="c2", ts=NOON - 1), ev("other-meter", metric="requests", ts=NOON - 1),
    ])  # fmt: skip
    assert (report.inserted, report.duplicates, report.late, report.late_samples) == (4, 1, 1, ("late",))
    assert stored(engine, usage_events.c.transaction_id, usage_events.c.late) == [
        ("late", 1), ("old", 1), ("on-time", 0), ("other-customer", 0), ("other-meter", 0)
    ]


def test_progress_is_reported_per_batch(engine):
    ids = seed(engine)
    seen: list[int] = []
    ingest(engine, ids["tenant"], [ev(str(i)) for i in range(5)], batch_size=2, on_progress=seen.append)
    assert seen == [2, 4, 5]


def test_bigger_input_with_resend(engine):
    ids = seed(engine)
    events = [ev(f"tx-{i}", str(i % 97), ts=NOON + i, customer=("c1", "c2")[i % 2]) for i in range(3000)]
    assert ingest(engine, ids["tenant"], events, batch_size=700).inserted == 3000
    report = ingest(engine, ids["tenant"], events + [ev("tail")], batch_size=700)
    assert (report.inserted, report.duplicates) == (1, 3000)
    with engine.connect() as conn:
        total = conn.execute(select(func.sum(usage_events.c.quantity))).scalar_one()
    assert int(total) == sum(i % 97 for i in range(3000)) * 1_000_000 + 1_000_000


# --- the CLI -------------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


def run(db_url, path, *args):
    return CliRunner().invoke(cli(), ["ingest", str(path), "--database", db_url, "--tenant", "acme", *args])


def test_cli_ingests_csv_and_ignores_a_resend(engine, db_url, tmp_path):
    seed(engine)
    path = tmp_path / "usage.csv"
    path.write_text(
        "transaction_id,customer,external_account_id,metric,timestamp,value,properties.region\n"
        "t1,c1,,calls,2026-10-03T12:00:00Z,2.5,\n"
        "t2,,tel-1,storage,2026-10-03T12:00:00+02:00,10,eu\n"
    )
    result = run(db_url, path)
    assert result.exit_code == 0, result.output
    assert "inserted" in result.stdout and "2" in result.stdout
    assert stored(engine, usage_events.c.transaction_id, usage_events.c.quantity, usage_events.c.dims) == [
        ("t1", 2_500_000, ""), ("t2", 10_000_000, '{"region":"eu"}')
    ]
    again = run(db_url, path)
    assert again.exit_code == 0 and "duplicates ignored" in again.stdout
    assert count(engine) == 2


def test_cli_ingests_ndjson_with_exact_decimals(engine, db_url, tmp_path):
    seed(engine)
    path = tmp_path / "usage.ndjson"
    lines = [
        {"transaction_id": "n1", "customer": "c1", "metric": "calls", "timestamp": "2026-10-03T12:00:00Z",
         "value": 1.1},
        {"transaction_id": "n2", "customer": "c1", "metric": "tokens", "timestamp": "2026-10-03T12:00:01Z",
         "properties": {"tokens": 0.000003, "model": "m1"}},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    result = run(db_url, path)
    assert result.exit_code == 0, result.output
    assert stored(engine, usage_events.c.transaction_id, usage_events.c.quantity) == [("n1", 1_100_000), ("n2", 3)]


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("bad.csv", "transaction_id,customer,metric,timestamp,value\nt1,c1,calls,2026-10-03T12:00:00Z,1\n"
         "t2,c1,calls,2026-10-03T12:00:00,1\nt3,c1,calls,2026-10-03T12:00:00Z,1\n", "line 3.timestamp"),
        ("bad.jsonl", '{"transaction_id":"t1","customer":"c1","metric":"calls","timestamp":"2026-10-03T12:00:00Z",'
         '"value":1}\n{"transaction_id": oops}\n', "line 2: is not valid JSON"),
    ],
)  # fmt: skip
def test_cli_one_bad_line_writes_nothing(engine, db_url, tmp_path, name, content, fragment):
    seed(engine)
    path = tmp_path / name
    path.write_text(content)
    result = run(db_url, path)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert count(engine) == 0


def test_cli_reports_header_problems_and_unknown_tenant(engine, db_url, tmp_path):
    seed(engine)
    path = tmp_path / "usage.csv"
    path.write_text("transaction_id,customer,metrc,timestamp\n")
    result = run(db_url, path)
    assert result.exit_code == 2
    assert "line 1.metrc: unknown column" in result.stderr and "line 1.metric: required column" in result.stderr
    other = CliRunner().invoke(cli(), ["ingest", str(path), "--database", db_url, "--tenant", "nobody"])
    assert other.exit_code == 1 and "tenant 'nobody' does not exist" in other.stderr
    unknown = tmp_path / "usage.txt"
    unknown.write_text("")
    assert run(db_url, unknown).exit_code == 2


def test_in_memory_sqlite_writes_from_the_calling_thread():
    from invoiceflow.store.db import make_engine, migrate

    engine = make_engine("sqlite://")
    migrate(engine)
    ids = seed(engine)
    report = ingest(engine, ids["tenant"], [ev("a"), ev("b"), ev("a")], batch_size=1)
    assert (report.inserted, report.duplicates) == (2, 1)
    assert stored(engine) == [("a",), ("b",)]
