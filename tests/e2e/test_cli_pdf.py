"""`invoiceflow einvoice render --format pdf|facturx` and `validate FILE.pdf` end to end, as a separate process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
FIXTURES = REPO / "tests" / "fixtures" / "einvoice"
PROGRAM = "import typer; from invoiceflow.commands.einvoice import register; app = typer.Typer(); register(app); app()"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}"),
]


def einvoice(*args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "INVOICEFLOW_EINVOICE_ARTIFACTS"}
    return subprocess.run([sys.executable, "-c", PROGRAM, "einvoice", *args], capture_output=True, text=True,
                          env=environment, timeout=180)


def text_of(path: Path) -> str:
    return "".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


def test_render_facturx_in_german_validate_it_and_catch_a_tampered_one(tmp_path):
    out = tmp_path / "invoice.pdf"
    rendered = einvoice("render", "--invoice", str(FIXTURES / "multi-rate-de.json"), "--format", "facturx", "--locale", "de",
                        "--out", str(out), "--validate", "--artifacts", str(ARTIFACTS))
    assert rendered.returncode == 0, rendered.stderr
    lines = rendered.stdout.splitlines()
    assert lines[0].startswith(f"wrote {out} (Factur-X EN 16931, PDF/A-3b with CII D16B, ")
    assert lines[-1] == f"{out}: valid (CII; rules: xsd, en16931): 0 fatal, 0 warnings"
    assert out.read_bytes().startswith(b"%PDF-")
    assert "Rechnung" in text_of(out) and "400,73€" in text_of(out)

    checked = einvoice("validate", str(out), "--json", "--artifacts", str(ARTIFACTS))
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert (report["valid"], report["syntax"], report["rule_sets"], report["fatal"]) == (True, "cii", ["xsd", "en16931"], 0)
    assert report["notes"] == ["validated the embedded factur-x.xml (Factur-X profile EN16931)"]

    import facturx

    xml = PdfReader(out).attachments["factur-x.xml"][0]
    broken = xml.replace(b"<ram:DuePayableAmount>400.73<", b"<ram:DuePayableAmount>410.73<")
    assert broken != xml
    plain = tmp_path / "plain.pdf"
    assert einvoice("render", "--invoice", str(FIXTURES / "multi-rate-de.json"), "--format", "pdf",
                    "--out", str(plain)).returncode == 0
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(facturx.generate_from_binary(plain.read_bytes(), broken, flavor="factur-x", level="en16931", check_xsd=False))
    failed = einvoice("validate", str(tampered), "--artifacts", str(ARTIFACTS))
    assert failed.returncode == 1
    assert "fatal   BR-CO-16: " in failed.stdout
    assert failed.stdout.splitlines()[-1].startswith(f"{tampered}: INVALID (CII; rules: xsd, en16931): ")


def test_render_pdf_with_branding_and_the_bad_inputs(tmp_path):
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
                                       '<rect width="40" height="20" fill="#0a7d5a"/></svg>', encoding="utf-8")
    (tmp_path / "brand.json").write_text(json.dumps({"accent_color": "#0a7d5a", "logo": "logo.svg",
                                                     "footer_text": "Amtsgericht Charlottenburg HRB 123456 B"}), encoding="utf-8")
    out = tmp_path / "invoice.pdf"
    rendered = einvoice("render", "--invoice", str(FIXTURES / "reverse-charge-at.json"), "--format", "pdf", "--locale", "fr",
                        "--branding", str(tmp_path / "brand.json"), "--out", str(out))
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith(f"wrote {out} (PDF/A-3b, ")
    text = text_of(out)
    assert "Autoliquidation" in text and "AmtsgerichtCharlottenburgHRB123456B" in text
    assert PdfReader(io.BytesIO(out.read_bytes())).attachments == {}

    not_facturx = einvoice("validate", str(out), "--artifacts", str(ARTIFACTS))
    assert not_facturx.returncode == 2
    assert not_facturx.stderr.startswith("error: document: the PDF carries no factur-x.xml")

    invoice = str(FIXTURES / "domestic-de.json")
    refused = einvoice("render", "--invoice", invoice, "--format", "pdf", "--locale", "es", "--out", str(tmp_path / "es.pdf"))
    assert refused.returncode == 2 and refused.stderr.startswith("error: locale: unsupported locale 'es'")
    refused = einvoice("render", "--invoice", invoice, "--format", "pdf", "--validate", "--out", str(tmp_path / "v.pdf"),
                       "--artifacts", str(ARTIFACTS))
    assert refused.returncode == 2 and "use the facturx format to validate" in refused.stderr
    assert not (tmp_path / "es.pdf").exists() and not (tmp_path / "v.pdf").exists()
