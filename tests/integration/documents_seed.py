"""The governed tenant with everything its documents need: issued invoices of every tax situation and a
credit note, plus the sellers' payment details. Shared by the documents and e-mail delivery tests.

On top of tests/fixtures/governed.yaml (edited in memory; the file is shared): the US customers carry EINs
(their Peppol endpoints), Berlin has a 5 % discount and 100 EUR of prepaid credit, a Tokyo customer is
billed in JPY by the German entity (not subject to VAT: category O), and Paris cancels on 2026-09-16,
which gives a credit note for the unused days.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from governed_seed import CLOCK, T, apply, catalog, seed
from invoiceflow.billing.run import run_bill_run
from invoiceflow.documents.payment_details import set_payment_details
from invoiceflow.review import release
from invoiceflow.store.tables import customers, invoices
from invoiceflow.store.tenancy import tenant_id

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".." / "shared" / "einvoice"
XML_FORMATS = ("ubl", "peppol", "cii", "xrechnung-ubl", "xrechnung-cii")

EU_DETAILS = dict(iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX", account_name="Acme GmbH",
                  contact_name="Anna Schmidt", contact_phone="+49 30 1234567", contact_email="billing@acme.example",
                  legal_id="HRB 123456 B")
US_DETAILS = dict(account_id="000123456789", contact_name="Sam Lee", contact_phone="+1 512 555 0100",
                  contact_email="billing@acme-us.example")


def documents_catalog(doc: dict) -> None:
    """The edits described in the module docstring, applied to the loaded governed catalog."""
    by_code = {c["code"]: c for c in doc["customers"]}
    by_code["austin"]["tax_ids"] = [{"type": "us_ein", "value": "98-7654321"}]
    by_code["oakland"]["tax_ids"] = [{"type": "us_ein", "value": "94-1234567"}]
    doc["plans"].append({"code": "pro-jpy", "name": "Pro", "currency": "JPY", "charges": [
        {"code": "base", "product": "platform", "timing": "advance", "price": {"model": "flat", "amount": "45000"}}]})
    doc["customers"].append({
        "code": "tokyo", "name": "Tokyo Kikai KK", "email": "keiri@tokyo.example", "currency": "JPY",
        "timezone": "Asia/Tokyo", "legal_entity": "acme-eu",
        "billing_address": {"line1": "1-1 Marunouchi", "city": "Tokyo", "postal_code": "100-0005", "country": "JP"},
        "tax_ids": [{"type": "tax_id", "value": "5010001088888"}, {"type": "peppol", "value": "0188:5010001088888"}]})
    doc["contracts"].append({"code": "c-tokyo", "customer": "tokyo", "currency": "JPY",
                             "versions": [{"effective_from": "2026-01-01", "plan": "pro-jpy"}]})
    doc["subscriptions"].append({"code": "s-tokyo", "contract": "c-tokyo", "interval": "monthly",
                                 "start_date": "2026-09-01"})
    berlin = next(c for c in doc["contracts"] if c["code"] == "c-berlin")
    berlin["versions"][0]["discounts"] = [{"code": "LOYAL5", "kind": "percent", "value": "5"}]
    doc.setdefault("prepaid_credits", []).append({"code": "topup-berlin", "customer": "berlin", "currency": "EUR",
                                                  "amount": "100.00", "granted_on": "2026-08-01"})


def set_details(engine, entity: str, **values) -> None:
    with engine.begin() as conn:
        set_payment_details(conn, tenant_id(conn, T), entity, actor="fin", at=CLOCK.now(), **values)


def seed_documents(engine, *, change=None, credit_note: bool = True) -> dict[str, int]:
    """Seed, set payment details, release; then cancel Paris and release its credit note. {key: invoice id}."""
    def edit(doc):
        documents_catalog(doc)
        if change:
            change(doc)
    doc = catalog(change=edit)
    seed(engine, doc)
    set_details(engine, "acme-eu", **EU_DETAILS)
    set_details(engine, "acme-us", **US_DETAILS)
    release(engine, T, clock=CLOCK)
    if credit_note:
        paris = next(s for s in doc["subscriptions"] if s["code"] == "s-paris")
        paris.update(end_date="2026-09-16", cancel_mode="immediate")
        apply(engine, doc)
        run_bill_run(engine, as_of=date(2026, 9, 16))
        release(engine, T, clock=CLOCK)
    return documents_by_key(engine)


def documents_by_key(engine) -> dict[str, int]:
    """The first document of each customer by its code, and the credit note as "credit_note"."""
    with engine.connect() as conn:
        rows = conn.execute(select(customers.c.code, invoices.c.id, invoices.c.document_type)
                            .join(invoices, invoices.c.customer_id == customers.c.id).order_by(invoices.c.id)).all()
    found: dict[str, int] = {}
    for code, invoice_id, kind in rows:
        found.setdefault("credit_note" if kind == "credit_note" else code, invoice_id)
    return found
