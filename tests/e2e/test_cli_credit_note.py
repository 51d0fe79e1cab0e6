"""`invoice credit` as finance runs it (real subprocesses, SQLite and PostgreSQL): raise, replay, refusals,
then `release` and the four-eyes approval of the credit note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from invoiceflow.billing.queries import invoice_detail
from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.policy.document import default_source
from invoiceflow.policy.store import apply_policy
from invoiceflow.review import release
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "governed.yaml"
AT = datetime(2026, 9, 2, 9, 0, tzinfo=timezone.utc)
APP = ("import typer; from invoiceflow.commands import audit, review; from invoiceflow.commands.invoice import "
       "register; app = typer.Typer(); register(app); review.register(app); audit.register(app); app()")


def cli(args, db_url, cwd, expect=0):
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", APP, *args], capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=120)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def seed(db_url) -> tuple[object, int, int]:
    """September billed and issued; credit notes from 100 EUR need finance. (engine, Berlin's invoice, its line)."""
    engine = open_engine(db_url)
    policy = yaml.safe_load(default_source())
    rule = next(r for r in policy["approvals"]["rules"] if r["when"].get("document_type") == "credit_note")
    rule["when"]["min_total"]["EUR"] = 100
    with engine.begin() as conn:
        tid = tenant_id(conn)
        apply_document(conn, tid, load_document(CATALOG))
        for name, roles in {"fin": ["finance"], "fay": ["finance"], "ada": ["admin"]}.items():
            set_member(conn, tid, name, roles, actor="setup", at=AT)
        apply_policy(conn, tid, yaml.safe_dump(policy), actor="ada", at=AT)
    run_bill_run(engine, as_of=date(2026, 9, 1))
    release(engine, "default", clock=FrozenClock(AT))
    invoice = invoice_detail(engine, 1)
    assert invoice["status"] == "issued"
    return engine, invoice["id"], invoice["lines"][0]["id"]


@pytest.mark.slow
def test_finance_credits_an_invoice_and_another_person_approves_it(tmp_path, db_url):
    engine, invoice, line = seed(db_url)
    raised = cli(["invoice", "credit", str(invoice), "--line", f"{line}:120.00", "--reason", "price agreed lower",
                  "--reference", "ticket-88", "--as", "fin"], db_url, tmp_path).stdout
    assert "credit note 5 raised against invoice 1: 120.00 EUR before tax, draft" in raised
    assert "Credit: Platform subscription (INV-2026-000001 line 1)" in raised and "next: invoiceflow release" in raised
    again = cli(["invoice", "credit", str(invoice), "--line", f"{line}:120", "--reason", "price agreed lower",
                 "--reference", "ticket-88", "--actor", "fin"], db_url, tmp_path).stdout
    assert "credit note 5 was already raised for reference 'ticket-88' (draft); nothing changed" in again

    over = cli(["invoice", "credit", str(invoice), "--line", f"{line}:180.01", "--reason", "x", "--as", "fin"],
               db_url, tmp_path, expect=2)
    assert f"invoice 1 line {line}.amount: cannot credit 180.01 EUR of Platform subscription (position 1): only " \
           "180.00 EUR of its 300.00 EUR net remains uncredited" in over.stderr
    refused = {
        "reason": cli(["invoice", "credit", "1", "--as", "fin"], db_url, tmp_path, expect=2).stderr,
        "syntax": cli(["invoice", "credit", "1", "--line", "one", "--reason", "x", "--as", "fin"], db_url, tmp_path,
                      expect=2).stderr,
        "unknown invoice": cli(["invoice", "credit", "77", "--reason", "x", "--as", "fin"], db_url, tmp_path,
                               expect=1).stderr,
    }
    assert "invoice 1.reason: is required: why the invoice is credited (--reason)" in refused["reason"]
    assert "'one' is not LINE_ID, LINE_ID=QUANTITY or LINE_ID:AMOUNT" in refused["syntax"]
    assert "invoice 77 does not exist in this tenant" in refused["unknown invoice"]

    cli(["release"], db_url, tmp_path)
    assert invoice_detail(engine, 5)["status"] == "pending_approval"  # 142.80 with tax: finance approves
    four_eyes = cli(["invoice", "approve", "5", "--actor", "fin"], db_url, tmp_path, expect=2).stderr
    assert "fin cannot approve this invoice: fin created it" in four_eyes
    cli(["invoice", "approve", "5", "--actor", "fay"], db_url, tmp_path)
    issued = json.loads(cli(["invoice", "issue", "5", "--actor", "fay", "--json"], db_url, tmp_path).stdout)
    assert issued["status"] == "issued" and issued["number"].startswith("CN-")  # the year of today's issue
    assert issued["number"].endswith("-000001")

    rest = json.loads(cli(["invoice", "credit", "1", "--reason", "contract ended", "--as", "fin", "--json"], db_url,
                          tmp_path).stdout)
    assert (rest["credit_note_id"], rest["created"], rest["status"], rest["total"]) == (6, True, "draft", "180.00")
    assert rest["lines"] == [{"position": 1, "credits_line_id": line, "description":
                              "Credit: Platform subscription (INV-2026-000001 line 1)", "quantity": None,
                              "amount": "180.00"}]
    assert (invoice_detail(engine, 5)["created_by"], invoice_detail(engine, 5)["approved_by"]) == ("fin", "fay")
    assert "OK: tenant default" in cli(["audit", "verify"], db_url, tmp_path).stdout
