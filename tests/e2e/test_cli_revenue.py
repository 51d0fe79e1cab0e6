"""`invoiceflow revrec recognize|close|waterfall` as a user runs them (real subprocesses, SQLite and PostgreSQL).

The governed tenant is billed for September (issued Sept 2) and October (issued Oct 2), with Austin on a
quarterly plan, and every document is posted to the ledger; then the commands run with the real clock.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import select

from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.ledger import post_invoice
from invoiceflow.review import release
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "governed.yaml"
APP = "import typer; from invoiceflow.commands.revrec import register; app = typer.Typer(); register(app); app()"


def cli(args, db_url, cwd, expect=0):
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", APP, *args], capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=120)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def seed(db_url):
    doc = load_document(CATALOG)
    next(s for s in doc["subscriptions"] if s["code"] == "s-austin")["interval"] = "quarterly"
    engine = open_engine(db_url)
    with engine.begin() as conn:
        tid = tenant_id(conn)
        apply_document(conn, tid, doc)
        set_member(conn, tid, "fin", ["finance", "approver"], actor="setup",
                   at=datetime(2026, 9, 1, tzinfo=timezone.utc))
    for as_of, issued in ((date(2026, 9, 1), datetime(2026, 9, 2, 9, tzinfo=timezone.utc)),
                          (date(2026, 10, 1), datetime(2026, 10, 2, 9, tzinfo=timezone.utc))):
        run_bill_run(engine, as_of=as_of)
        release(engine, "default", clock=FrozenClock(issued))
        with engine.begin() as conn:
            for invoice_id in conn.execute(select(invoices.c.id).where(invoices.c.number.is_not(None))).scalars():
                post_invoice(conn, "default", invoice_id, at=issued)


def test_recognize_waterfall_and_close_from_the_command_line(tmp_path, db_url):
    seed(db_url)
    report = json.loads(cli(["revrec", "recognize", "--through", "2026-10", "--json"], db_url, tmp_path).stdout)
    assert (report["schedules"], report["schedules_created"], report["entries_posted"]) == (8, 8, 1)
    assert report["revenue"] == [{"legal_entity": "acme-us", "currency": "USD", "amount": "-198.91"}]
    again = cli(["revrec", "recognize", "--through", "2026-10"], db_url, tmp_path).stdout
    assert "revenue recognized through 2026-10: 0 journal entries posted; 8 schedules (0 new)" in again

    fall = json.loads(cli(["revrec", "waterfall", "--from", "2026-09", "--months", "4", "--format", "json"],
                          db_url, tmp_path).stdout)
    assert fall["months"] == ["2026-09", "2026-10", "2026-11", "2026-12"]
    totals = {(t["legal_entity"], t["measure"]): t["values"] for t in fall["totals"]}
    assert totals[("acme-us", "deferred")] == {"2026-09": "0.00", "2026-10": "198.91", "2026-11": "101.09",
                                               "2026-12": "0.00"}
    assert totals[("acme-eu", "revenue")] == {"2026-09": "600.00", "2026-10": "600.00", "2026-11": "0.00",
                                              "2026-12": "0.00"}

    text = cli(["revrec", "waterfall", "--from", "2026-09", "--months", "4", "--format", "csv", "--entity",
                "acme-us"], db_url, tmp_path).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["legal_entity", "currency", "product", "measure", "2026-09", "2026-10", "2026-11",
                             "2026-12"]
    assert {(r["product"], r["measure"]): r["2026-10"] for r in rows} == {
        ("platform", "revenue"): "401.09", ("platform", "deferred"): "198.91"}

    table = cli(["revrec", "waterfall", "--from", "2026-09", "--months", "3"], db_url, tmp_path).stdout
    assert "Deferred revenue waterfall 2026-09 to 2026-11" in table
    assert "platform" in table and "198.91" in table and "total" in table

    closed = cli(["revrec", "close", "--entity", "acme-us", "--period", "2026-09", "--actor", "fin"],
                 db_url, tmp_path).stdout
    assert "acme-us 2026-09 closed by fin" in closed
    assert "already closed" in cli(["revrec", "close", "--entity", "acme-us", "--period", "2026-09", "--actor",
                                    "someone"], db_url, tmp_path).stdout
    shown = json.loads(cli(["revrec", "waterfall", "--from", "2026-09", "--months", "2", "--format", "json"],
                           db_url, tmp_path).stdout)
    assert shown["closed_through"] == {"acme-us": "2026-09"}


def test_bad_input_exits_2_naming_what_is_wrong(tmp_path, db_url):
    seed(db_url)
    for args, message in [
        (["revrec", "close", "--entity", "acme-eu", "--period", "2026-10", "--actor", "fin"],
         "2026-09 is still open for legal entity acme-eu: months are closed in order, so close 2026-09 first"),
        (["revrec", "close", "--entity", "acme-eu", "--period", "2099-01", "--actor", "fin"],
         "2099-01 has not ended yet"),
        (["revrec", "close", "--entity", "acme-xx", "--period", "2026-09", "--actor", "fin"],
         "legal entity 'acme-xx' does not exist"),
        (["revrec", "recognize", "--through", "2026-13"], "recognize.through: '2026-13' is not a month"),
        (["revrec", "waterfall", "--from", "Sept"], "waterfall.from: 'Sept' is not a month"),
    ]:
        result = cli(args, db_url, tmp_path, expect=2)
        assert message in " ".join(result.stderr.split()) and result.stdout == ""
