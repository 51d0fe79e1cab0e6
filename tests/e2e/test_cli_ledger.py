"""`invoiceflow ledger post|entries|trial-balance` as a user runs them (real subprocesses, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import insert, select

from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.lifecycle import approve_invoice, issue_invoice, submit_invoice, validate_invoice
from invoiceflow.store.review_tables import gl_accounts, gl_mappings
from invoiceflow.store.tables import legal_entities
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"
APP = ("import typer; from invoiceflow.commands.ledger import register; "
       "app = typer.Typer(); register(app); app()")
AT = datetime(2026, 4, 2, 9, 30, tzinfo=timezone.utc)


def cli(args, db_url, cwd, expect=0):
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", APP, *args], capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=120)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def seed(db_url):
    """Draft invoices from a bill run; acme-us has a chart of accounts, acme-jp none; invoices 1, 2 and 7 issued."""
    engine = open_engine(db_url)
    with engine.begin() as conn:
        tid = tenant_id(conn)
        apply_document(conn, tid, load_document(CATALOG))
        set_member(conn, tid, "bob", ["approver"], actor="admin", at=AT)
        us = conn.execute(select(legal_entities.c.id).where(legal_entities.c.code == "acme-us")).scalar_one()
        conn.execute(insert(gl_accounts), [
            {"tenant_id": tid, "legal_entity_id": us, "code": code, "name": name, "type": kind}
            for code, name, kind in [("1100", "Receivables", "asset"), ("4000", "Revenue", "revenue")]])
        conn.execute(insert(gl_mappings), [
            {"tenant_id": tid, "legal_entity_id": us, "role": role, "product_code": "", "account_code": code}
            for role, code in [("receivable", "1100"), ("revenue", "4000")]])
    run_bill_run(engine, as_of=date(2026, 4, 1))
    clock = FrozenClock(AT)
    for invoice_id in (1, 2, 7):
        validate_invoice(engine, "default", invoice_id, actor="alice", clock=clock)
        submit_invoice(engine, "default", invoice_id, actor="alice", clock=clock)
        approve_invoice(engine, "default", invoice_id, actor="bob", clock=clock)
        issue_invoice(engine, "default", invoice_id, actor="carol", clock=clock)
    return engine


def test_post_list_and_balance_from_the_command_line(tmp_path, db_url):
    seed(db_url)
    [posted] = json.loads(cli(["ledger", "post", "2", "--json"], db_url, tmp_path).stdout)
    assert (posted["entry_key"], posted["date"], posted["new"]) == ("invoice:2:issued", "2026-04-02", True)
    assert [(l["account"], l["product"], l["debit"], l["credit"]) for l in posted["lines"]] == [
        ("1100", None, "31.00", "0.00"), ("4000", "platform", "0.00", "31.00")]
    again = cli(["ledger", "post", "2"], db_url, tmp_path).stdout
    assert "invoice:2:issued: already posted; nothing changed" in again
    shown = cli(["ledger", "post", "1"], db_url, tmp_path).stdout
    assert "invoice:1:issued: posted" in shown and "15.30" in shown

    entries = json.loads(cli(["ledger", "entries", "--invoice", "2", "--json"], db_url, tmp_path).stdout)
    assert [e["entry_key"] for e in entries] == ["invoice:2:issued"]
    everything = json.loads(cli(["ledger", "entries", "--json"], db_url, tmp_path).stdout)
    assert [e["entry_key"] for e in everything] == ["invoice:2:issued", "invoice:1:issued"]
    assert "invoice:1:issued" in cli(["ledger", "entries"], db_url, tmp_path).stdout

    report = json.loads(cli(["ledger", "trial-balance", "--json"], db_url, tmp_path).stdout)
    assert report["balanced"] is True
    assert [(a["account"], a["debit"], a["credit"], a["balance"]) for a in report["accounts"]] == [
        ("1100", "46.30", "0.00", "46.30"), ("4000", "1.70", "48.00", "-46.30")]
    assert report["totals"] == [{"legal_entity": "acme-us", "currency": "USD", "debit": "48.00", "credit": "48.00",
                                 "balanced": True}]
    table = cli(["ledger", "trial-balance", "--entity", "acme-us"], db_url, tmp_path).stdout
    assert "Trial balance (acme-us)" in table and "Receivables" in table and "48.00" in table
    early = cli(["ledger", "trial-balance", "--as-of", "2026-04-01"], db_url, tmp_path).stdout
    assert "no journal entries on or before 2026-04-01" in early


def test_refusals_name_what_is_missing_and_write_nothing(tmp_path, db_url):
    seed(db_url)
    missing = cli(["ledger", "post", "7"], db_url, tmp_path, expect=2).stderr
    assert "legal entity acme-jp.gl_mappings: no GL account is mapped for role 'receivable'" in missing
    assert ("legal entity acme-jp.gl_mappings: no GL account is mapped for role 'revenue' and product 'platform'"
            in missing)
    assert "invoice 3: is draft: only issued documents are posted" in cli(
        ["ledger", "post", "3"], db_url, tmp_path, expect=2).stderr
    assert "legal entity 'nowhere' does not exist" in cli(
        ["ledger", "trial-balance", "--entity", "nowhere"], db_url, tmp_path, expect=2).stderr
    assert json.loads(cli(["ledger", "entries", "--json"], db_url, tmp_path).stdout) == []
