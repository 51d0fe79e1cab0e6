"""`release`, `review`, `policy` and `team` as a user runs them (real subprocesses, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import yaml

from invoiceflow.billing.run import run_bill_run
from invoiceflow.bootstrap import open_engine
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.policy.document import default_source
from invoiceflow.store.tenancy import tenant_id

CATALOG = Path(__file__).parent.parent / "fixtures" / "governed.yaml"


def cli(args, db_url, cwd, expect=0):
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "invoiceflow.cli", *args], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=120)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def catalog(vat_id: bool = False) -> dict:
    doc = load_document(CATALOG)
    paris = next(c for c in doc["customers"] if c["code"] == "paris")
    if not vat_id:
        paris["tax_ids"] = []  # the reverse charge needs a VAT id: paris is held in the tax queue
    berlin = next(c for c in doc["customers"] if c["code"] == "berlin")
    berlin["po_required"] = True  # and berlin in the collections queue, for want of a PO number
    return doc


def seed(db_url):
    engine = open_engine(db_url)
    with engine.begin() as conn:
        apply_document(conn, tenant_id(conn), catalog())
    run_bill_run(engine, as_of=date(2026, 9, 1))
    return engine


def test_policy_team_release_and_a_case_worked_to_the_end(tmp_path, db_url):
    engine = seed(db_url)
    bad = tmp_path / "bad.yaml"
    bad.write_text(default_source().replace("  pricing: {severity: block}", "  pricng: {severity: block}"))
    refused = cli(["policy", "validate", str(bad)], db_url, tmp_path, expect=2).stderr
    assert f"{bad}:6: gates.pricng: unknown gate 'pricng'" in refused and "gate 'pricing' is not configured" in refused
    good = tmp_path / "policy.yaml"
    doc = yaml.safe_load(default_source())
    doc["approvals"]["rules"].append({"name": "enterprise", "when": {"segments": ["enterprise"]}, "levels": ["approver"]})
    good.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert "valid (10 gates" in cli(["policy", "validate", str(good)], db_url, tmp_path).stdout

    for name, roles in (("ada", ["admin"]), ("tina", ["tax"]), ("omar", ["approver"]), ("rita", ["revops"]),
                        ("cole", ["collections"])):
        cli(["team", "set", name, *[f"--role={r}" for r in roles], "--actor", "ada"], db_url, tmp_path)
    assert "rita cannot change roles" in cli(["team", "set", "rita", "--role=admin", "--actor", "rita"], db_url,
                                            tmp_path, expect=2).stderr
    assert "rita cannot apply a policy" in cli(["policy", "apply", str(good), "--actor", "rita"], db_url, tmp_path,
                                               expect=2).stderr
    assert "policy version 1 created" in cli(["policy", "apply", str(good), "--actor", "ada"], db_url, tmp_path).stdout
    assert "unchanged" in cli(["policy", "apply", str(good), "--actor", "ada"], db_url, tmp_path).stdout
    assert "enterprise" in cli(["policy", "show"], db_url, tmp_path).stdout

    released = json.loads(cli(["release", "--json"], db_url, tmp_path).stdout)
    assert released["outcomes"] == {"held": 2, "issued": 2} and released["policy_version"] == 1
    [case] = json.loads(cli(["review", "list", "--queue", "tax", "--json"], db_url, tmp_path).stdout)
    assert case["root_cause"] == "tax:customer:paris" and case["invoices"] == 1
    assert json.loads(cli(["review", "list", "--queue", "finance", "--json"], db_url, tmp_path).stdout) == []
    shown = cli(["review", "show", str(case["id"])], db_url, tmp_path).stdout
    assert "tax.buyer_vat_id_invalid" in shown and "tax_ids" in shown
    cid = str(case["id"])
    assert "needs a reason" in cli(["review", "resolve", cid, "--action", "revalidate", "--actor", "tina"], db_url,
                                   tmp_path, expect=2).stderr
    assert "needs the role tax or admin" in cli(["review", "resolve", cid, "--action", "revalidate", "--reason", "x",
                                                 "--actor", "rita"], db_url, tmp_path, expect=2).stderr
    cli(["review", "assign", cid, "--to", "tina", "--actor", "tina"], db_url, tmp_path)
    with engine.begin() as conn:  # the fix: the customer's VAT id is recorded
        apply_document(conn, tenant_id(conn), catalog(vat_id=True))
    fixed = json.loads(cli(["review", "resolve", cid, "--action", "revalidate", "--reason", "VAT id recorded",
                            "--actor", "tina", "--json"], db_url, tmp_path).stdout)
    # Enterprise customer: the policy's rule sends it to an approver after the fix.
    assert fixed["status"] == "resolved" and list(fixed["invoices"].values()) == ["pending_approval"]

    [po_case] = json.loads(cli(["review", "list", "--queue", "collections", "--json"], db_url, tmp_path).stdout)
    out = json.loads(cli(["review", "resolve", str(po_case["id"]), "--action", "override", "--reason",
                          "PO follows, agreed with the customer", "--actor", "cole", "--json"], db_url, tmp_path).stdout)
    assert out["status"] == "resolved" and list(out["invoices"].values()) == ["pending_approval"]
    invoice = next(iter(out["invoices"]))
    refused = cli(["invoice", "approve", invoice, "--actor", "cole"], db_url, tmp_path, expect=2).stderr
    assert "cole cannot approve this invoice: cole overrode its findings" in refused
    for pending in (invoice, next(iter(fixed["invoices"]))):
        cli(["invoice", "approve", pending, "--actor", "omar"], db_url, tmp_path)
        assert "issued as INV-" in cli(["invoice", "issue", pending, "--actor", "omar"], db_url, tmp_path).stdout
    kpis = json.loads(cli(["review", "kpis", "--json"], db_url, tmp_path).stdout)
    assert (kpis["invoices_released"], kpis["automation_coverage"]) == (4, "50.0")
    assert kpis["queues"]["tax"]["resolved"] == 1 and kpis["queues"]["collections"]["resolved"] == 1
    assert "Release KPIs" in cli(["review", "kpis"], db_url, tmp_path).stdout
    assert "chain intact" in cli(["audit", "verify"], db_url, tmp_path).stdout
