"""Stored invoices and credit notes as e-invoices, on SQLite and PostgreSQL: every format passes the official
rules, the documents state exactly the stored amounts, the release gate refuses (and audits) an issue whose
e-invoice fails, and `einvoice render --invoice-id` / `einvoice export` work end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import select

from documents_seed import ARTIFACTS, XML_FORMATS, documents_catalog, seed_documents
from governed_seed import CLOCK, T, apply, catalog, seed
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.documents.cii import RAM
from invoiceflow.documents.export import check_document, render_stored
from invoiceflow.documents.from_db import StoredDocumentError, load_document
from invoiceflow.documents.release_gate import einvoice_issue_policy
from invoiceflow.documents.ubl import CAC, CBC
from invoiceflow.documents.validation import ENV_VAR
from invoiceflow.lifecycle.service import transition
from invoiceflow.store.tables import audit_log, invoices
from invoiceflow.store.tenancy import tenant_id

pytestmark = pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"official e-invoice artifacts not found at {ARTIFACTS}")
DOCUMENTS = ("berlin", "paris", "austin", "oakland", "tokyo", "credit_note")


def stored(engine, invoice_id: int):
    with engine.connect() as conn:
        row = conn.execute(select(invoices).where(invoices.c.id == invoice_id)).mappings().one()
        return row, load_document(conn, tenant_id(conn, T), invoice_id)


def xml_totals(data: bytes) -> dict[str, Decimal]:
    """BT-106, BT-107, BT-110, BT-113 and BT-115 as the document states them (UBL or CII)."""
    root = etree.fromstring(data)
    if root.tag.endswith("CrossIndustryInvoice"):
        summary = root.find(f".//{{{RAM}}}SpecifiedTradeSettlementHeaderMonetarySummation")
        get = lambda tag: summary.findtext(f"{{{RAM}}}{tag}")  # noqa: E731
        names = ("LineTotalAmount", "AllowanceTotalAmount", "TaxTotalAmount", "TotalPrepaidAmount", "DuePayableAmount")
    else:
        total = root.find(f"{{{CAC}}}LegalMonetaryTotal")
        get = lambda tag: (total.findtext(f"{{{CBC}}}{tag}") if tag != "TaxAmount"  # noqa: E731
                           else root.findtext(f"{{{CAC}}}TaxTotal/{{{CBC}}}TaxAmount"))
        names = ("LineExtensionAmount", "AllowanceTotalAmount", "TaxAmount", "PrepaidAmount", "PayableAmount")
    return {term: Decimal(get(name) or "0") for term, name in zip(("BT-106", "BT-107", "BT-110", "BT-113", "BT-115"), names)}


def stored_totals(row) -> dict[str, Decimal]:
    return {"BT-106": row["subtotal"], "BT-107": row["discount_total"], "BT-110": row["tax_total"],
            "BT-113": row["credits_applied"], "BT-115": row["total"]}


def test_every_stored_document_passes_the_official_rules_in_every_xml_format(engine):
    ids = seed_documents(engine)
    assert set(ids) == set(DOCUMENTS)
    for key in DOCUMENTS:
        row, document = stored(engine, ids[key])
        assert row["status"] == "issued" and document.invoice.number == row["number"]
        for fmt in XML_FORMATS:
            data = render_stored(document, fmt)
            report = check_document(data, fmt, ARTIFACTS)
            assert report.fatal == [], f"{key} {fmt}:\n" + "\n".join(map(str, report.fatal))
            assert xml_totals(data) == stored_totals(row), f"{key} {fmt}"


def test_pdf_and_facturx_of_stored_documents(engine):
    from pypdf import PdfReader

    ids = seed_documents(engine)
    for key in ("berlin", "tokyo", "credit_note"):
        row, document = stored(engine, ids[key])
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render_stored(document, "pdf"))).pages)
        assert row["number"] in text
        facturx = render_stored(document, "facturx", locale="de")
        report = check_document(facturx, "facturx", ARTIFACTS)
        assert report.valid and report.notes[0].startswith("validated the embedded factur-x.xml"), report.findings


def test_the_mapping_states_what_is_stored(engine):
    ids = seed_documents(engine)
    row, berlin = stored(engine, ids["berlin"])
    invoice = berlin.invoice
    assert (row["subtotal"], row["discount_total"], row["credits_applied"], row["total"]) == (
        Decimal("300.00"), Decimal("15.00"), Decimal("100.00"), Decimal("239.15"))
    [allowance] = invoice.allowances_charges
    assert (allowance.charge, allowance.amount, allowance.reason_code, allowance.vat.category) == (False, Decimal("15.00"), "95", "S")
    assert (invoice.prepaid_amount, berlin.totals.tax_total, berlin.totals.payable) == (Decimal("100.00"), Decimal("54.15"), Decimal("239.15"))
    assert (invoice.buyer_reference, invoice.buyer.vat_id, invoice.seller.vat_id) == ("berlin", "DE811907980", "DE136695976")
    assert invoice.due_date == invoice.issue_date + timedelta(days=30) and invoice.period.end.isoformat() == "2026-09-30"
    assert (invoice.payment_means.code, invoice.payment_means.account_id) == ("58", "DE89370400440532013000")
    assert (invoice.seller.legal_registration.identifier, invoice.seller.contact.name) == ("HRB 123456 B", "Anna Schmidt")

    _, austin = stored(engine, ids["austin"])
    seller = austin.invoice.seller
    assert (seller.vat_id, seller.tax_registration_id, seller.electronic_address.scheme) == (None, "12-3456789", "9959")
    assert [(line.vat.category, line.vat.rate) for line in austin.invoice.lines] == [("S", Decimal("6.25"))]
    _, oakland = stored(engine, ids["oakland"])
    assert oakland.invoice.exemptions[0].reason == "Software as a service is not taxable in US-CA"

    paris_row, _ = stored(engine, ids["paris"])
    _, note = stored(engine, ids["credit_note"])
    assert note.invoice.is_credit_note and note.invoice.number.startswith("CN-")
    assert note.invoice.preceding_invoice.number == paris_row["number"]
    assert note.invoice.exemptions[0].code == "VATEX-EU-AE" and note.totals.payable == Decimal("150.00")

    tokyo_row, tokyo = stored(engine, ids["tokyo"])
    assert (tokyo.invoice.currency, tokyo.totals.payable, tokyo_row["total"]) == ("JPY", Decimal("45000"), Decimal("45000"))
    assert tokyo.invoice.outside_scope_only() and tokyo.invoice.buyer.electronic_address.scheme == "0188"


def test_drafts_are_refused_with_the_reason(engine):
    seed(engine)
    with engine.connect() as conn, pytest.raises(StoredDocumentError, match=r"invoice 1: is draft: only documents "
                                                                              r"that passed validation"):
        load_document(conn, tenant_id(conn, T), 1)


def _refusals(engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.object_id, audit_log.c.payload)
                            .where(audit_log.c.action == "invoice.issue.refused").order_by(audit_log.c.id)).all()
    return {object_id: payload["error"] for object_id, payload in rows}


def test_the_release_gate_refuses_an_invoice_whose_einvoice_fails_and_audits_it(engine, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(ARTIFACTS))

    def break_it(doc):  # a Peppol id whose scheme is not on the EAS code list: the official rule BR-CL-25 fires
        next(c for c in doc["customers"] if c["code"] == "berlin")["tax_ids"].append({"type": "peppol", "value": "XX99:4711"})
        next(e for e in doc["legal_entities"] if e["code"] == "acme-us").pop("tax_id")  # and a seller without tax id

    ids = seed_documents(engine, change=break_it, credit_note=False)
    with engine.connect() as conn:
        status = dict(conn.execute(select(invoices.c.id, invoices.c.status)).all())
    assert {key: status[ids[key]] for key in ("berlin", "paris", "austin", "oakland", "tokyo")} == {
        "berlin": "approved", "paris": "issued", "austin": "approved", "oakland": "approved", "tokyo": "issued"}
    refused = _refusals(engine)
    assert "breaks the official rule(s) BR-CL-25" in refused[str(ids["berlin"])]
    assert "BT-31 seller VAT identifier or BT-30 legal registration identifier is required" in refused[str(ids["austin"])]

    apply(engine, catalog(change=documents_catalog))  # the fix: the catalog without the broken facts
    result = transition(engine, T, ids["berlin"], "issue", actor="fin", clock=CLOCK, policies=[einvoice_issue_policy])
    assert result.status == "issued" and result.number
    assert verify_audit_log(engine, tenant=T).ok


def cli(*args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "INVOICEFLOW_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "invoiceflow.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=300)


@pytest.mark.slow
def test_cli_render_by_invoice_id_and_export(engine, tmp_path):
    ids = seed_documents(engine)
    url = engine.url.render_as_string(hide_password=False)
    out = tmp_path / "berlin.xml"
    rendered = cli("einvoice", "render", "--invoice-id", str(ids["berlin"]), "--format", "xrechnung-ubl", "--out", str(out),
                   "--validate", "--artifacts", str(ARTIFACTS), "--database", url, "--tenant", T)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith(f"wrote {out} (UBL 2.1, XRechnung 3.0, ")
    assert xml_totals(out.read_bytes())["BT-115"] == Decimal("239.15")

    both = cli("einvoice", "render", "--invoice-id", "1", "--invoice", str(out), "--format", "ubl", "--out", str(out),
               "--database", url)
    assert both.returncode == 2 and "give either --invoice FILE.json or --invoice-id ID" in both.stderr
    missing = cli("einvoice", "render", "--invoice-id", "999", "--format", "ubl", "--out", str(out), "--database", url)
    assert missing.returncode == 1 and "invoice 999 does not exist" in missing.stderr

    folder = tmp_path / "export"
    exported = cli("einvoice", "export", "--status", "issued", "--formats", "ubl,cii", "--out", str(folder), "--validate",
                   "--artifacts", str(ARTIFACTS), "--json", "--database", url, "--tenant", T)
    assert exported.returncode == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert (summary["documents"], summary["written"], summary["valid"], summary["failed"]) == (7, 14, 14, {})
    assert len(list(folder.glob("*.ubl.xml"))) == 7 and (folder / f"acme-eu-{stored(engine, ids['berlin'])[0]['number']}.cii.xml").is_file()

    refused = cli("einvoice", "export", "--status", "draft", "--out", str(folder), "--database", url)
    assert refused.returncode == 2 and "cannot export documents that are draft" in refused.stderr
