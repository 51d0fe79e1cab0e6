"""`invoiceflow einvoice` end to end, as a separate process: render, validate, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
FIXTURES = REPO / "tests" / "fixtures" / "einvoice"
PROGRAM = "import typer; from invoiceflow.commands.einvoice import register; app = typer.Typer(); register(app); app()"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}"),
]


def einvoice(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "INVOICEFLOW_EINVOICE_ARTIFACTS"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-c", PROGRAM, "einvoice", *args], capture_output=True, text=True,
                          env=environment, timeout=120)


def test_render_validate_round_trip_and_exit_codes(tmp_path):
    out = tmp_path / "invoice.xml"
    rendered = einvoice("render", "--invoice", str(FIXTURES / "multi-rate-de.json"), "--format", "xrechnung-ubl",
                        "--out", str(out), "--validate", "--artifacts", str(ARTIFACTS))
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.splitlines()[0].startswith(f"wrote {out} (UBL 2.1, XRechnung 3.0, ")
    assert "note: XRechnung-specific (KoSIT) rules are not among the artifacts" in rendered.stdout
    assert out.read_bytes().startswith(b"<?xml")

    checked = einvoice("validate", str(out), "--json", env={"INVOICEFLOW_EINVOICE_ARTIFACTS": str(ARTIFACTS)})
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert (report["valid"], report["syntax"], report["rule_sets"], report["fatal"]) == (True, "ubl", ["xsd", "en16931"], 0)

    broken = tmp_path / "broken.xml"
    broken.write_text(out.read_text(encoding="utf-8").replace("<cbc:PayableAmount currencyID=\"EUR\">",
                                                               "<cbc:PayableAmount currencyID=\"EUR\">1"), encoding="utf-8")
    failed = einvoice("validate", str(broken), "--artifacts", str(ARTIFACTS))
    assert failed.returncode == 1
    assert "fatal   BR-CO-16: " in failed.stdout and "        at /" in failed.stdout
    assert failed.stdout.splitlines()[-1].startswith(f"{broken}: INVALID (UBL; rules: xsd, en16931): ")


def test_peppol_rules_and_bad_input(tmp_path):
    out = tmp_path / "peppol.xml"
    rendered = einvoice("render", "--invoice", str(FIXTURES / "reverse-charge-at.json"), "--format", "peppol",
                        "--out", str(out), "--validate", "--artifacts", str(ARTIFACTS))
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.splitlines()[-1] == f"{out}: valid (UBL; rules: xsd, en16931, peppol): 0 fatal, 0 warnings"

    doc = json.loads((FIXTURES / "reverse-charge-at.json").read_text(encoding="utf-8"))
    del doc["buyer"]["vat_id"], doc["payment"]["account_id"]
    (tmp_path / "bad.json").write_text(json.dumps(doc), encoding="utf-8")
    refused = einvoice("render", "--invoice", str(tmp_path / "bad.json"), "--format", "cii", "--out", str(tmp_path / "bad.xml"))
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "error: BT-48 buyer VAT identifier is required for VAT category AE (reverse charge)",
        "error: BT-84 payment account identifier (IBAN) is required for SEPA credit transfer (58)",
    ]
    assert not (tmp_path / "bad.xml").exists()
