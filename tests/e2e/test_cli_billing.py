"""The command line as a user runs it: apply, ingest, bill-run, invoices, demo (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"


def run(args, db_url, cwd, check=True):
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "invoiceflow.cli", *args], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def test_apply_ingest_bill_run_and_inspect(tmp_path, db_url):
    out = run(["apply", str(CATALOG)], db_url, tmp_path).stdout
    assert "customers" in out
    assert "nothing changed" in run(["apply", str(CATALOG)], db_url, tmp_path).stdout
    events = tmp_path / "usage.ndjson"
    events.write_text("\n".join(json.dumps({
        "transaction_id": f"t{i}", "external_account_id": "tel-globex", "metric": "api_calls",
        "timestamp": "2026-01-20T10:00:00Z", "properties": {"region": "eu"}}) for i in range(120)) + "\n")
    run(["ingest", str(events)], db_url, tmp_path)
    summary = json.loads(run(["bill-run", "--period", "2026-01", "--json"], db_url, tmp_path).stdout)
    assert summary["invoices"] == 4
    again = json.loads(run(["bill-run", "--period", "2026-01", "--json"], db_url, tmp_path).stdout)
    assert again["invoices"] == 0 and again["credit_notes"] == 0
    listed = json.loads(run(["invoices", "list", "--customer", "globex", "--json"], db_url, tmp_path).stdout)
    feb = next(r for r in listed if r["billing_date"] == "2026-02-01")
    # 100 x 0.10 + 20 x 0.05 = 11.00 usage, discounted 10% once, plus February's 31.00
    assert feb["total"] == "40.90"
    shown = run(["invoices", "show", str(feb["id"])], db_url, tmp_path).stdout
    assert "api_calls" in shown and "v1 pro" in shown


def test_bad_input_exits_2_and_names_the_record(tmp_path, sqlite_url):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CATALOG.read_text().replace("timezone: Asia/Tokyo", "timezone: Asia/Atlantis"))
    result = run(["apply", str(bad)], sqlite_url, tmp_path, check=False)
    assert result.returncode == 2
    assert "customers[2] (umbrella).timezone" in result.stderr
    result = run(["bill-run", "--period", "2026-13"], sqlite_url, tmp_path, check=False)
    assert result.returncode == 2 and "is not a month" in result.stderr


@pytest.mark.slow
def test_demo_routes_held_invoices_releases_the_rest_posts_and_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = run(["demo", "--customers", "40", "--events-per-customer", "20"], url, tmp_path).stdout
    assert "bill run" in first and "JPY" in first and "late" in first
    assert "25 parked under unmapped account ids" in first
    # Held invoices sit in the queue that owns their problem; the rest is issued automatically.
    for queue, kind in (("finance", "pricing_discrepancy"), ("revops", "usage_mismatch"), ("tax", "tax_inconsistency")):
        assert any(queue in line and kind in line for line in first.splitlines()), (queue, kind)
    assert "unmapped_account:tel-" in first and "contract_version:ctr-" in first and "tax:customer:cus-" in first
    assert "issued" in first and "needs the role approver" in first
    assert "case 1 resolved: every finding cleared" in first
    assert "debits equal credits in every entity and currency: yes" in first and "audit log verified" in first
    cases = json.loads(run(["review", "list", "--tenant", "demo", "--json"], url, tmp_path).stdout)
    assert {c["queue"] for c in cases} == {"finance", "revops"}
    kpis = json.loads(run(["review", "kpis", "--tenant", "demo", "--json"], url, tmp_path).stdout)
    assert float(kpis["automation_coverage"]) > 50 and kpis["queues"]["tax"]["resolved"] == 1
    second = run(["demo", "--customers", "40", "--events-per-customer", "20"], url, tmp_path).stdout
    assert second.count("0 invoices and 0 credit notes created") == 2
    assert "0 issued documents posted" in second and "0 parked" in second
