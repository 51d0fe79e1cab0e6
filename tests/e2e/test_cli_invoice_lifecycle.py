"""`invoice ...` and `audit verify` as a user runs them (real subprocesses, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import text

from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "governed.yaml"
TEAM = ("alice", "bob", "carol", "dave")
APP = ("import typer; from invoiceflow.commands import audit; from invoiceflow.commands.invoice import register; "
       "app = typer.Typer(); register(app); audit.register(app); app()")


def cli(args, db_url, cwd, expect=0):
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", APP, *args], capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=120)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def seed(db_url):
    engine = open_engine(db_url)
    with engine.begin() as conn:
        tid = tenant_id(conn)
        apply_document(conn, tid, load_document(CATALOG))
        for name in TEAM:
            set_member(conn, tid, name, ["approver"], actor="setup", at=datetime(2026, 9, 1, tzinfo=timezone.utc))
    run_bill_run(engine, as_of=date(2026, 9, 1))
    return engine


def test_release_an_invoice_with_four_eyes_and_verify_the_audit_log(tmp_path, db_url):
    engine = seed(db_url)
    assert "invoice 2: validated" in cli(["invoice", "validate", "2", "--actor", "alice"], db_url, tmp_path).stdout
    cli(["invoice", "submit", "2", "--actor", "alice"], db_url, tmp_path)
    refused = cli(["invoice", "approve", "2", "--actor", "alice"], db_url, tmp_path, expect=2)
    assert "alice cannot approve this invoice: alice submitted it (segregation of duties)" in refused.stderr
    cli(["invoice", "approve", "2", "--actor", "bob"], db_url, tmp_path)
    issued = json.loads(cli(["invoice", "issue", "2", "--actor", "carol", "--json"], db_url, tmp_path).stdout)
    assert (issued["number"], issued["status"], issued["changed"]) == ("INV-2026-000001", "issued", True)
    again = cli(["invoice", "issue", "2", "--actor", "carol"], db_url, tmp_path).stdout
    assert "already issued as INV-2026-000001; nothing changed" in again
    assert "void needs a reason" in cli(["invoice", "void", "2", "--actor", "bob"], db_url, tmp_path, expect=2).stderr
    cli(["invoice", "void", "2", "--actor", "bob", "--reason", "billed the wrong entity"], db_url, tmp_path)
    illegal = cli(["invoice", "approve", "2", "--actor", "dave"], db_url, tmp_path, expect=2)
    assert "invoice 2: cannot approve a void invoice" in illegal.stderr

    history = json.loads(cli(["invoice", "history", "2", "--json"], db_url, tmp_path).stdout)
    assert [t["action"] for t in history["transitions"]] == ["validate", "submit", "approve", "issue", "void"]
    assert history["invoice"]["number"] == "INV-2026-000001" and history["invoice"]["status"] == "void"
    assert [(r["action"], r["rule"]) for r in history["refused"]] == [
        ("approve", "segregation_of_duties"), ("void", "reason_required"), ("approve", "illegal_transition")]
    shown = cli(["invoice", "history", "2"], db_url, tmp_path).stdout
    assert "billed the wrong entity" in shown and "Refused attempts" in shown

    ok = cli(["audit", "verify"], db_url, tmp_path).stdout
    assert "OK: tenant default: 12 entries, chain intact" in ok  # 4 role grants, 5 transitions, 3 refusals
    with engine.begin() as conn:  # someone with database rights rewrites history
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER trg_audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'alice' WHERE sequence = 4"))
    tampered = cli(["audit", "verify"], db_url, tmp_path, expect=1)
    assert "entry 4: edited: its contents no longer match its hash" in tampered.stderr


def test_unknown_invoice_and_missing_actor(tmp_path, sqlite_url):
    seed(sqlite_url)
    missing = cli(["invoice", "issue", "999", "--actor", "carol"], sqlite_url, tmp_path, expect=1)
    assert "invoice 999 does not exist" in missing.stderr
    no_actor = cli(["invoice", "issue", "2"], sqlite_url, tmp_path, expect=2)
    assert "--actor" in no_actor.stderr
    listed = json.loads(cli(["audit", "list", "--object", "invoice:2", "--json"], sqlite_url, tmp_path).stdout)
    assert listed == []
    bad = cli(["audit", "list", "--object", "invoice"], sqlite_url, tmp_path, expect=2)
    assert "is not TYPE:ID" in bad.stderr
