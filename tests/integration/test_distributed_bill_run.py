"""Distributed bill runs on PostgreSQL: real `invoiceflow worker` processes sharing a run, a worker SIGKILLed
mid-batch, and the per-account lock serialising two batches that bill one customer.

The reference is `run_bill_run` in one process on a second database seeded identically; a distributed run
must leave exactly the same documents (subscription, date, type, total, line count) and usage cursors.
Without a PostgreSQL server every test here skips, saying where it looked (see tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from invoiceflow import demo
from invoiceflow.billing.distributed import (ACCOUNT_LOCKS, batch_bounds, bill_run_status, lock_accounts, run_batch,
                                            start_distributed_run)
from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.errors import ValidationError
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.store.tables import (bill_runs, credit_applications, customers, invoice_lines, invoices, meters,
                                      prepaid_credits, subscriptions, usage_cursors)
from invoiceflow.store.tenancy import tenant_id

PG_URL = os.environ.get("INVOICEFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CUSTOMERS = 120
AS_OF = date(2026, 11, 1)


@pytest.fixture
def reference_url(pg_template):
    """A second fresh database from the same template, for the single-process reference run."""
    name = f"invoiceflow_ref_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _seed(url: str, doc: dict | None = None, customers: int = CUSTOMERS) -> None:
    with open_engine(url).begin() as conn:
        tid = tenant_id(conn, demo.TENANT)
        apply_document(conn, tid, doc or demo.catalog(customers))
        ingest_events(conn, tid, demo.usage(customers, 20), ingested_at_micros=1)


def _documents(url: str) -> list[tuple]:
    with open_engine(url).connect() as conn:
        rows = conn.execute(
            select(subscriptions.c.code, invoices.c.billing_date, invoices.c.document_type, invoices.c.total,
                   invoices.c.credits_applied,
                   select(func.count()).where(invoice_lines.c.invoice_id == invoices.c.id).scalar_subquery())
            .join(subscriptions, subscriptions.c.id == invoices.c.subscription_id)).all()
    return sorted((code, str(day), kind, str(total), str(credits), lines)
                  for code, day, kind, total, credits, lines in rows)


def _cursors(url: str) -> list[tuple]:
    with open_engine(url).connect() as conn:
        return sorted(conn.execute(
            select(customers.c.code, meters.c.code, usage_cursors.c.billed_through)
            .join(customers, customers.c.id == usage_cursors.c.customer_id)
            .join(meters, meters.c.id == usage_cursors.c.meter_id)).all())


def _reference(url: str) -> dict:
    _seed(url)
    report = run_bill_run(open_engine(url), as_of=AS_OF, tenant=demo.TENANT)
    return {"documents": _documents(url), "cursors": _cursors(url), "totals": report.as_dict()["totals"]}


def _worker(url: str, log_path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "invoiceflow.cli", "worker"],
                                env={**os.environ, "INVOICEFLOW_DATABASE_URL": url}, stdout=log, stderr=log)


def _stop(*workers: subprocess.Popen) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def _wait(condition, what: str, timeout: float, *logs) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(p.read_text()[-3000:] for p in logs))
        time.sleep(0.1)


def _scalar(url: str, sql: str, **params):
    with open_engine(url).connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _status(url: str, run_id: int) -> str:
    with open_engine(url).connect() as conn:
        return conn.execute(select(bill_runs.c.status).where(bill_runs.c.id == run_id)).scalar_one()


def _name(worker: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{worker.pid}"  # the worker's default name (effects.runner)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_share_a_run_and_match_a_single_process_run(pg_url, reference_url, tmp_path):
    reference = _reference(reference_url)
    _seed(pg_url)
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_worker(pg_url, log) for log in logs]
    try:
        _wait(lambda: _scalar(pg_url, "SELECT to_regclass('procrastinate_workers') IS NOT NULL") and _scalar(
            pg_url, "SELECT count(*) FROM procrastinate_workers") == 2, "both workers to start", 60, *logs)
        started = subprocess.run(
            [sys.executable, "-m", "invoiceflow.cli", "bill-run", "--as-of", AS_OF.isoformat(), "--distributed",
             "--batch-size", "4", "--tenant", demo.TENANT, "--json"],
            env={**os.environ, "INVOICEFLOW_DATABASE_URL": pg_url}, capture_output=True, text=True, timeout=60)
        assert started.returncode == 0, started.stderr
        run = json.loads(started.stdout)
        assert (run["batches"], run["subscriptions"]) == (CUSTOMERS // 4, CUSTOMERS)
        _wait(lambda: _status(pg_url, run["bill_run_id"]) == "completed", "the run to complete", 180, *logs)
    finally:
        _stop(*workers)
    assert _documents(pg_url) == reference["documents"]
    assert _cursors(pg_url) == reference["cursors"]
    shown = subprocess.run(
        [sys.executable, "-m", "invoiceflow.cli", "bill-run", "status", str(run["bill_run_id"]), "--tenant",
         demo.TENANT, "--json"], env={**os.environ, "INVOICEFLOW_DATABASE_URL": pg_url}, capture_output=True,
        text=True, timeout=60)
    status = json.loads(shown.stdout)
    assert status["totals"] == reference["totals"]
    assert (status["batches_done"], status["batches"], status["subscriptions"]) == (30, 30, CUSTOMERS)
    assert status["invoices"] == sum(1 for d in reference["documents"] if d[2] == "invoice")
    assert status["jobs"] == {"waiting": 0, "running": 0, "failed": 0}
    assert set(status["workers"]) == {_name(w) for w in workers}  # both took part
    assert sum(status["workers"].values()) == 30


@pytest.mark.postgres
@pytest.mark.slow
def test_worker_killed_mid_batch_is_retried_by_the_other_and_bills_once(pg_url, reference_url, tmp_path):
    reference = _reference(reference_url)
    _seed(pg_url)
    engine = open_engine(pg_url)
    run = start_distributed_run(engine, as_of=AS_OF, tenant=demo.TENANT, batch_size=10)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # Hold the bill run row: worker A bills batch 0, writes its documents, then waits here, before commit.
    holder = engine.connect()
    holder_tx = holder.begin()
    holder.execute(select(bill_runs.c.id).where(bill_runs.c.id == run.bill_run_id).with_for_update(key_share=True))
    a = _worker(pg_url, logs[0])
    try:
        waiting = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                   "AND backend_xid IS NOT NULL AND query LIKE '%bill_runs%FOR NO KEY UPDATE%'")
        _wait(lambda: _scalar(pg_url, waiting), "worker A to wait mid-batch with writes pending", 60, logs[0])
        backend = _scalar(pg_url, waiting)
        a.send_signal(signal.SIGKILL)
        a.wait()
        holder_tx.rollback()
        holder.close()
        # A's server session notices its client is gone only once it has the lock; its batch then rolls back.
        _wait(lambda: not _scalar(pg_url, "SELECT count(*) FROM pg_stat_activity WHERE pid = :p", p=backend),
              "worker A's session to end", 60, logs[0])
        assert _scalar(pg_url, "SELECT count(*) FROM invoices") == 0
        assert _scalar(pg_url, "SELECT status::text FROM procrastinate_jobs WHERE (args->>'batch')::int = 0") == "doing"
        b = _worker(pg_url, logs[1])
        try:  # B runs batches 1.., then retries batch 0 once A's heartbeat is 30 s stale
            _wait(lambda: _status(pg_url, run.bill_run_id) == "completed", "B to finish the run", 240, *logs)
        finally:
            _stop(b)
    finally:
        _stop(a)
    assert _documents(pg_url) == reference["documents"]
    assert _cursors(pg_url) == reference["cursors"]
    status = bill_run_status(engine, run.bill_run_id, tenant=demo.TENANT)
    assert status["workers"] == {_name(b): run.batches}  # A committed nothing; B did every batch, batch 0 included
    assert status["totals"] == reference["totals"]


@pytest.mark.postgres
@pytest.mark.slow
def test_per_account_lock_serialises_two_batches_billing_one_customer(pg_url, reference_url):
    doc = demo.catalog(12)
    # cus-0000 (100.00 prepaid credit) gets a second subscription: its id is last, so it lands in another batch.
    doc["contracts"].append({**doc["contracts"][0], "code": "ctr-extra"})
    doc["subscriptions"].append({**doc["subscriptions"][0], "code": "sub-extra", "contract": "ctr-extra"})
    for url in (pg_url, reference_url):
        _seed(url, doc, customers=12)
    run_bill_run(open_engine(reference_url), as_of=AS_OF, tenant=demo.TENANT)
    engine = open_engine(pg_url)
    run = start_distributed_run(engine, as_of=AS_OF, tenant=demo.TENANT, batch_size=4)
    with engine.connect() as conn:
        tid = tenant_id(conn, demo.TENANT, create=False)
        bounds = batch_bounds(conn, tid, 4)
        customer, grant = conn.execute(
            select(customers.c.id, prepaid_credits.c.amount)
            .join(prepaid_credits, prepaid_credits.c.customer_id == customers.c.id)
            .where(customers.c.code == "cus-0000")).one()
        ids = dict(conn.execute(select(subscriptions.c.code, subscriptions.c.id)).all())
    batch_of = {code: next(n for n, (after, until, _) in enumerate(bounds) if after < ids[code] <= until)
                for code in ("sub-0000", "sub-extra")}
    assert batch_of["sub-0000"] != batch_of["sub-extra"]
    holder = engine.connect()
    holder_tx = holder.begin()
    lock_accounts(holder, [customer])  # an in-flight batch billing cus-0000
    results: dict[int, dict] = {}

    def batch(number: int) -> None:
        after, until, _ = bounds[number]
        results[number] = run_batch(engine, bill_run_id=run.bill_run_id, batch=number, after_id=after,
                                    until_id=until, size=4, worker=f"thread-{number}")

    threads = [threading.Thread(target=batch, args=(n,)) for n in batch_of.values()]
    for t in threads:
        t.start()
    blocked = ("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
               "WHERE a.datname = current_database() "
               "AND l.locktype = 'advisory' AND NOT l.granted AND l.classid = :ns AND l.objid = :key")
    key = ((customer & 0xFFFF_FFFF) - 2**31) & 0xFFFF_FFFF  # the lock's signed second key, as pg_locks' oid
    _wait(lambda: _scalar(pg_url, blocked, ns=ACCOUNT_LOCKS, key=key) == 2,
          "both batches to wait for the customer's lock", 60)
    assert _scalar(pg_url, "SELECT count(*) FROM invoices WHERE customer_id = :c", c=customer) == 0
    holder_tx.rollback()
    holder.close()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == sorted(batch_of.values())
    with engine.connect() as conn:
        drawn = conn.execute(select(func.sum(credit_applications.c.amount))
                             .where(credit_applications.c.customer_id == customer)).scalar_one()
        totals = defaultdict(Decimal)
        for code, total in conn.execute(
                select(subscriptions.c.code, invoices.c.total)
                .join(subscriptions, subscriptions.c.id == invoices.c.subscription_id)
                .where(invoices.c.customer_id == customer)):
            totals[code] += total
    assert set(totals) == {"sub-0000", "sub-extra"}
    assert drawn == grant  # the second batch saw the first one's draw: never more than granted
    # Which subscription draws first may differ from the single-process run; what the customer owes may not.
    assert sum(totals.values()) == sum(Decimal(d[3]) for d in _documents(reference_url) if d[0] in totals)
    # A batch run again (a retried job) writes nothing and is not counted twice.
    number = batch_of["sub-extra"]
    after, until, _ = bounds[number]
    again = run_batch(engine, bill_run_id=run.bill_run_id, batch=number, after_id=after, until_id=until, size=4)
    assert (again["invoices"], again["credit_notes"], again["counted"]) == (0, 0, False)
    assert bill_run_status(engine, run.bill_run_id, tenant=demo.TENANT)["batches_done"] == 2


@pytest.mark.postgres
@pytest.mark.slow
def test_rerunning_every_batch_bills_nothing_twice_and_completes_once(pg_url, reference_url):
    reference = _reference(reference_url)
    _seed(pg_url)
    engine = open_engine(pg_url)
    run = start_distributed_run(engine, as_of=AS_OF, tenant=demo.TENANT, batch_size=16)
    with engine.connect() as conn:
        bounds = batch_bounds(conn, tenant_id(conn, demo.TENANT, create=False), 16)
    for attempt in range(2):  # every job delivered twice, the second time after the run completed
        for number in reversed(range(len(bounds))):
            after, until, _ = bounds[number]
            result = run_batch(engine, bill_run_id=run.bill_run_id, batch=number, after_id=after, until_id=until,
                               size=16)
            assert result["counted"] == (attempt == 0)
    assert _documents(pg_url) == reference["documents"] and _cursors(pg_url) == reference["cursors"]
    status = bill_run_status(engine, run.bill_run_id, tenant=demo.TENANT)
    assert (status["status"], status["batches_done"]) == ("completed", run.batches)
    assert status["totals"] == reference["totals"]


def test_distributed_is_refused_on_sqlite(sqlite_url):
    with pytest.raises(ValidationError, match="--distributed needs PostgreSQL"):
        start_distributed_run(open_engine(sqlite_url), as_of=AS_OF)
