"""The validator: official examples pass, deliberately broken documents fire the expected rule."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from invoiceflow.documents import validation
from invoiceflow.documents.invoice_input import load_invoice
from invoiceflow.documents.render import render
from invoiceflow.documents.validation import (
    ARTIFACTS as FILES,
    ENV_VAR,
    ArtifactsError,
    DocumentError,
    compiled_stylesheets,
    validate,
    validate_file,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
FIXTURES = REPO / "tests" / "fixtures" / "einvoice"
needs_artifacts = pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
EXAMPLES = sorted(
    p for folder in ("en16931/ubl/examples", "en16931/cii/examples", "peppol/examples") for p in (ARTIFACTS / folder).glob("*")
    if p.suffix.lower() == ".xml"
) if ARTIFACTS.is_dir() else []


def generated(scenario: str, fmt: str) -> str:
    return render(load_invoice(FIXTURES / f"{scenario}.json"), fmt).decode("utf-8")


@needs_artifacts
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_official_examples_pass_the_cen_rules(path):
    report = validate_file(path, ARTIFACTS, peppol=False)
    assert report.fatal == [], "\n".join(map(str, report.fatal))


@needs_artifacts
def test_peppol_rules_run_on_documents_declaring_peppol():
    peppol_examples = [p for p in EXAMPLES if "peppol" in p.parts]
    assert len(peppol_examples) == 10
    for path in peppol_examples:
        report = validate_file(path, ARTIFACTS)
        assert "peppol" in report.rule_sets and report.valid, (path.name, [str(f) for f in report.fatal])
    issue116 = validate_file(ARTIFACTS / "en16931/ubl/examples/issue116.xml", ARTIFACTS)
    assert issue116.rules("fatal") == {"PEPPOL-COMMON-R049"}  # declares Peppol, Swedish org number format


@needs_artifacts
@pytest.mark.parametrize(("fmt", "old", "new", "rules"), [
    ("ubl", r"(<cbc:TaxInclusiveAmount currencyID=\"EUR\">)1472.51", r"\g<1>1472.52", {"BR-CO-15", "BR-CO-16"}),
    ("ubl", r"(<cbc:LineExtensionAmount currencyID=\"EUR\">)1237.40", r"\g<1>1237.41", {"BR-CO-10", "BR-CO-13"}),
    ("ubl", r"<cbc:RegistrationName>Nordlicht Software GmbH</cbc:RegistrationName>", "", {"BR-06"}),
    ("peppol", r"<cbc:PayableAmount currencyID=\"EUR\">1472.51", '<cbc:PayableAmount currencyID="EUR">1472.50', {"BR-CO-16"}),
    ("peppol", r"<cbc:BuyerReference>[^<]*</cbc:BuyerReference>", "", {"DE-R-015"}),
    ("cii", r"<ram:GrandTotalAmount>1472.51", "<ram:GrandTotalAmount>1472.52", {"BR-CO-15", "BR-CO-16"}),
    ("cii", r"(<ram:CalculatedAmount>)235.11", r"\g<1>236.11", {"BR-CO-14", "BR-S-09"}),
    ("cii", r"<ram:Name>Nordlicht Software GmbH</ram:Name>", "", {"BR-06"}),
    ("xrechnung-cii", r"<ram:LineTotalAmount>1237.40</ram:LineTotalAmount>", "<ram:LineTotalAmount>1200.00</ram:LineTotalAmount>", {"BR-CO-10", "BR-CO-13"}),
])
def test_broken_documents_fire_the_expected_rule(fmt, old, new, rules):
    xml = generated("domestic-de", fmt)
    broken, count = re.subn(old, new, xml, count=1)
    assert count == 1
    report = validate(broken, ARTIFACTS)
    assert rules <= report.rules("fatal"), [str(f) for f in report.fatal]
    finding = next(f for f in report.fatal if f.rule in rules)
    assert finding.message and finding.location and not finding.message.startswith("[")


@needs_artifacts
def test_broken_official_example():
    text = (ARTIFACTS / "en16931/ubl/examples/ubl-tc434-example1.xml").read_text(encoding="utf-8")
    broken = text.replace('<cbc:TaxInclusiveAmount currencyID="EUR">250.33', '<cbc:TaxInclusiveAmount currencyID="EUR">250.34')
    assert broken != text
    assert "BR-CO-15" in validate(broken, ARTIFACTS).rules("fatal")


@needs_artifacts
def test_schema_errors_are_fatal_findings():
    xml = generated("domestic-de", "ubl").replace("<cbc:DocumentCurrencyCode>", "<cbc:Unknown>x</cbc:Unknown><cbc:DocumentCurrencyCode>")
    report = validate(xml, ARTIFACTS)
    xsd = [f for f in report.fatal if f.rule == "XSD"]
    assert xsd and "Unknown" in xsd[0].message and xsd[0].location.startswith("line ")


@needs_artifacts
def test_not_an_invoice_is_bad_input():
    with pytest.raises(DocumentError, match="not well-formed XML"):
        validate("<Invoice>", ARTIFACTS)
    with pytest.raises(DocumentError, match="is not a UBL Invoice/CreditNote or a CII CrossIndustryInvoice"):
        validate("<order/>", ARTIFACTS)


@needs_artifacts
def test_stylesheets_are_compiled_once_per_process():
    validate(generated("domestic-de", "peppol"), ARTIFACTS)
    cached = dict(validation._stylesheets)
    validate(generated("multi-rate-de", "peppol"), ARTIFACTS)
    assert all(validation._stylesheets[path] is executable for path, executable in cached.items())
    assert {"EN16931-UBL-validation.xslt", "PEPPOL-EN16931-UBL.xslt", "UBL-Invoice-2.1.xsd"} <= set(compiled_stylesheets())


def test_no_artifacts_configured_is_an_explicit_error(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ArtifactsError, match=f"pass --artifacts DIR or set {ENV_VAR}"):
        validate("<x/>")


def test_missing_folder_and_missing_file_are_named(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ArtifactsError, match="artifacts folder .*nowhere does not exist"):
        validate("<x/>", tmp_path / "nowhere")
    xml = generated("domestic-de", "cii")
    with pytest.raises(ArtifactsError) as info:
        validate(xml, tmp_path)
    assert str(tmp_path / FILES["en16931-cii"]) in str(info.value)


@needs_artifacts
def test_environment_variable_and_partial_folders(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(ARTIFACTS))
    assert validate(generated("domestic-de", "ubl")).valid
    partial = tmp_path / "artifacts with spaces"
    shutil.copytree(ARTIFACTS / "en16931", partial / "en16931")
    with pytest.raises(ArtifactsError) as info:
        validate(generated("domestic-de", "ubl"), partial)
    assert "ubl-2.1-xsd/xsd/maindoc/UBL-Invoice-2.1.xsd" in str(info.value)
    with pytest.raises(ArtifactsError, match="peppol/PEPPOL-EN16931-UBL.xslt"):
        validate(generated("domestic-de", "peppol"), partial)
    assert validate(generated("domestic-de", "cii"), partial).valid  # CII needs only en16931/; spaces are fine
