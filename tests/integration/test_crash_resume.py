"""A real bill-run process SIGKILLed at several points, then restarted: no duplicates, no gaps.

The reference is the same bill run on a second database that was never interrupted; after the restart the
interrupted database must hold exactly the same documents (subscription, billing date, type, total).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from invoiceflow import demo
from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.store.db import reader
from invoiceflow.store.tables import invoice_lines, invoices, subscriptions
from invoiceflow.store.tenancy import tenant_id

pytestmark = pytest.mark.slow
CUSTOMERS = 120
AS_OF = "2026-11-01"


def _seed(url: str) -> None:
    engine = open_engine(url)
    with engine.begin() as conn:
        tid = tenant_id(conn, demo.TENANT)
        apply_document(conn, tid, demo.catalog(CUSTOMERS))
        ingest_events(conn, tid, demo.usage(CUSTOMERS, 20), ingested_at_micros=1)


def _documents(url: str) -> list[tuple]:
    engine = open_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(subscriptions.c.code, invoices.c.billing_date, invoices.c.document_type, invoices.c.total,
                   select(func.count()).where(invoice_lines.c.invoice_id == invoices.c.id).scalar_subquery())
            .join(subscriptions, subscriptions.c.id == invoices.c.subscription_id)
        ).all()
    return sorted((code, str(day), kind, str(total), lines) for code, day, kind, total, lines in rows)


def _count(url: str) -> int:
    with reader(open_engine(url)).connect() as conn:
        return conn.execute(select(func.count()).select_from(invoices)).scalar_one()


def _bill_run_process(url: str) -> subprocess.Popen:
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "invoiceflow.cli", "bill-run", "--as-of", AS_OF, "--batch-size", "2",
         "--tenant", demo.TENANT, "--json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _kill_when(url: str, proc: subprocess.Popen, at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _count(url) >= at_least:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _count(url)


@pytest.fixture
def reference(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ref') / 'ref.db'}"
    _seed(url)
    run_bill_run(open_engine(url), as_of=date.fromisoformat(AS_OF), tenant=demo.TENANT)
    return _documents(url)


def test_sigkill_at_several_points_then_restart_matches_reference(db_url, reference):
    _seed(db_url)
    total = len(reference)
    killed_at = []
    for threshold in (0, total // 5, total // 2, (4 * total) // 5):
        killed_at.append(_kill_when(db_url, _bill_run_process(db_url), threshold))
    assert any(0 < n < total for n in killed_at), f"no kill landed mid-run: {killed_at} of {total}"
    finisher = _bill_run_process(db_url)
    _, err = finisher.communicate(timeout=300)
    assert finisher.returncode == 0, err.decode()
    assert _documents(db_url) == reference
