"""Bad input through the command: missing business terms listed by BT, nothing written, clear artifact errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from invoiceflow.commands.einvoice import register
from invoiceflow.documents.validation import ENV_VAR

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
FIXTURES = REPO / "tests" / "fixtures" / "einvoice"
app = typer.Typer()
register(app)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, ["einvoice", *args], env=env)


def write(path: Path, doc: dict) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("fmt", ["ubl", "peppol", "cii", "xrechnung-ubl", "xrechnung-cii"])
def test_reverse_charge_without_buyer_vat_id_writes_nothing(tmp_path, fmt):
    doc = fixture("reverse-charge-at")
    del doc["buyer"]["vat_id"]
    out = tmp_path / "out.xml"
    result = run("render", "--invoice", write(tmp_path / "in.json", doc), "--format", fmt, "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: BT-48 buyer VAT identifier is required for VAT category AE (reverse charge)"]
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "in.json"]


def test_missing_iban_and_missing_terms_are_all_listed(tmp_path):
    doc = fixture("domestic-de")
    del doc["payment"]["account_id"], doc["buyer_reference"], doc["seller"]["contact"]["email"]
    out = tmp_path / "out.xml"
    result = run("render", "--invoice", write(tmp_path / "in.json", doc), "--format", "xrechnung-cii", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: BT-84 payment account identifier (IBAN) is required for SEPA credit transfer (58)",
        "error: BT-10 buyer reference is required by XRechnung",
        "error: BT-43 seller contact email address is required by XRechnung",
    ]
    assert not out.exists()


def test_float_in_the_invoice_json_is_refused(tmp_path):
    doc = fixture("domestic-de")
    doc["lines"][0]["quantity"] = 12.5
    result = run("render", "--invoice", write(tmp_path / "in.json", doc), "--format", "ubl", "--out", str(tmp_path / "o.xml"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invoice.lines[0].quantity: must be a decimal string or an integer, not float 12.5")


def test_unknown_format_and_missing_output_folder(tmp_path):
    invoice = str(FIXTURES / "domestic-de.json")
    result = run("render", "--invoice", invoice, "--format", "docx", "--out", str(tmp_path / "o.xml"))
    assert result.exit_code == 2 and "unknown e-invoice format 'docx'" in result.stderr
    result = run("render", "--invoice", invoice, "--format", "ubl", "--out", str(tmp_path / "no" / "o.xml"))
    assert result.exit_code == 2 and "output folder" in result.stderr


def test_validator_pointed_at_a_missing_folder_or_file(tmp_path):
    sample = tmp_path / "invoice.xml"
    result = run("render", "--invoice", str(FIXTURES / "domestic-de.json"), "--format", "ubl", "--out", str(sample))
    assert result.exit_code == 0, result.output
    result = run("validate", str(sample), "--artifacts", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "missing does not exist" in result.stderr
    (tmp_path / "empty").mkdir()
    result = run("validate", str(sample), "--artifacts", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert "missing validation artifact" in result.stderr and "en16931/ubl/xslt/EN16931-UBL-validation.xslt" in result.stderr
    result = run("validate", str(sample), env={ENV_VAR: ""})
    assert result.exit_code == 2 and f"set {ENV_VAR}" in result.stderr


def test_render_with_validation_but_no_artifacts_writes_nothing(tmp_path):
    out = tmp_path / "out.xml"
    result = run("render", "--invoice", str(FIXTURES / "domestic-de.json"), "--format", "cii", "--out", str(out),
                 "--validate", "--artifacts", str(tmp_path / "missing"))
    assert result.exit_code == 2 and not out.exists()


@pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
def test_validate_refuses_files_that_are_not_invoices(tmp_path):
    (tmp_path / "note.xml").write_text("<note/>", encoding="utf-8")
    result = run("validate", str(tmp_path / "note.xml"), "--artifacts", str(ARTIFACTS))
    assert result.exit_code == 2 and "not a UBL Invoice/CreditNote or a CII CrossIndustryInvoice" in result.stderr
    result = run("validate", str(tmp_path / "absent.xml"), "--artifacts", str(ARTIFACTS))
    assert result.exit_code == 2 and "cannot read" in result.stderr


@pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
def test_render_with_validation_writes_nothing_when_a_rule_fails(tmp_path):
    doc = fixture("domestic-de")
    doc["buyer"]["electronic_address"] = {"id": "einkauf@stadtwerke-musterstadt.example", "scheme": "EM"}
    out = tmp_path / "out.xml"
    source = write(tmp_path / "in.json", doc)
    result = run("render", "--invoice", source, "--format", "peppol", "--out", str(out), "--validate", "--artifacts", str(ARTIFACTS))
    assert result.exit_code == 1
    assert "fatal   PEPPOL-EN16931-CL008: " in result.stdout
    assert result.stderr.strip() == f"not written: {out} breaks 1 fatal rule(s)"
    assert not out.exists()
    result = run("render", "--invoice", source, "--format", "ubl", "--out", str(out), "--validate", "--artifacts", str(ARTIFACTS))
    assert result.exit_code == 0 and out.exists()  # e-mail endpoints are fine outside Peppol
