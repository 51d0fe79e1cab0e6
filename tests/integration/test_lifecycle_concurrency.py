"""Two processes issuing the same invoices at once: numbers 1..N, no gaps, no duplicates, one chain."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.store.tables import invoice_transitions, invoices
from invoiceflow.store.tenancy import tenant_id

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"
N = 60

# Each worker signals it is ready, waits for the go, then issues every id in its order and prints the numbers.
WORKER = """
import json, sys
from datetime import datetime, timezone
from invoiceflow.clock import FrozenClock
from invoiceflow.lifecycle.service import issue_invoice
from invoiceflow.store.db import make_engine

engine = make_engine(sys.argv[1])
ids = json.loads(sys.argv[2])
clock = FrozenClock(datetime(2026, 5, 4, 10, tzinfo=timezone.utc))
print("ready", flush=True)
sys.stdin.readline()
numbers = {i: issue_invoice(engine, "default", i, actor=sys.argv[3], clock=clock).number for i in ids}
print(json.dumps(numbers), flush=True)
"""


def seed_approved(url: str) -> list[int]:
    """N approved invoices of one legal entity, cloned from a bill-run draft."""
    engine = open_engine(url)
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn), load_document(CATALOG))
    run_bill_run(engine, as_of=date(2026, 2, 1))
    with engine.begin() as conn:
        template = dict(conn.execute(select(invoices).where(invoices.c.customer_id == 1)
                                     .order_by(invoices.c.id).limit(1)).mappings().one())
        del template["id"]
        rows = [{**template, "status": "approved", "approved_by": "bob",
                 "billing_date": date(2030, 1, 1) + timedelta(days=i)} for i in range(N)]
        ids = conn.execute(insert(invoices).returning(invoices.c.id, sort_by_parameter_order=True), rows)
        return [int(i) for i in ids.scalars()]


def issue_from_two_processes(url: str, ids: list[int]) -> list[dict[str, str]]:
    orders = {"worker-a": ids, "worker-b": list(reversed(ids))}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, json.dumps(order), name], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, order in orders.items()]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append({int(k): v for k, v in json.loads(out).items()})
    return results


def assert_gapless(url: str, ids: list[int], *, overlap: bool) -> None:
    a, b = issue_from_two_processes(url, ids)
    assert a == b  # whoever issued an invoice, the other got the same number back
    assert sorted(int(n.rsplit("-", 1)[1]) for n in a.values()) == list(range(1, N + 1))
    assert {n.rsplit("-", 1)[0] for n in a.values()} == {"INV-2026"}
    engine = open_engine(url)
    with engine.connect() as conn:
        seqs = conn.execute(select(invoices.c.number_seq).where(invoices.c.id.in_(ids))
                            .order_by(invoices.c.number_seq)).scalars().all()
        issued = dict(conn.execute(select(invoice_transitions.c.actor, func.count())
                                   .where(invoice_transitions.c.action == "issue")
                                   .group_by(invoice_transitions.c.actor)).all())
    assert seqs == list(range(1, N + 1)) and sum(issued.values()) == N
    if overlap:  # PostgreSQL queues waiters fairly, so both really issued: the runs overlapped
        assert set(issued) == {"worker-a", "worker-b"}
    report = verify_audit_log(engine)
    assert report.ok and report.entries == N  # the chain never forked


@pytest.mark.postgres
def test_concurrent_issue_on_postgresql_is_gapless(pg_url):
    assert_gapless(pg_url, seed_approved(pg_url), overlap=True)


def test_concurrent_issue_on_sqlite_is_gapless(sqlite_url):
    assert_gapless(sqlite_url, seed_approved(sqlite_url), overlap=False)  # busy-waiters may starve
