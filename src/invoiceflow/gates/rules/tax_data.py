"""Tax data: the customer's tax details support the tax treatment every line needs.

The tax engine decides the treatment of each product on the invoice for this seller and buyer; whatever it
needs and lacks (a valid VAT id for an EU reverse charge, a resolvable jurisdiction such as a US state, an
exemption certificate) comes back as requirements, which become findings here. Tax ids are checked
syntactically with their official check digits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from invoiceflow.gates.model import OFF, WARN, Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit
from invoiceflow.tax.model import Buyer, Seller, Supply, TaxRequest
from invoiceflow.tax.rules import determine

GATE = "tax_data"
CASE = "tax_inconsistency"
# Customer tax id types read as the buyer's VAT / tax registration number.
TAX_ID_TYPES = ("vat", "eu_vat", "gb_vat", "us_ein", "tax_id", "gst", "abn")


def buyer_of(invoice: InvoiceFacts) -> Buyer:
    """The buyer as the tax engine sees it: every customer is a business unless its segment is consumer."""
    customer = invoice.customer
    address = customer.billing_address or {}
    tax_id = next((value for kind, value in customer.tax_ids if kind.lower() in TAX_ID_TYPES), None)
    return Buyer(country=str(address.get("country") or ""), region=address.get("region") or None, tax_id=tax_id,
                 is_business=(customer.segment or "").lower() != "consumer", exempt=customer.tax_exempt,
                 certificate=next((v for k, v in customer.tax_ids if k.lower() == "exemption_certificate"), None))


def seller_of(invoice: InvoiceFacts) -> Seller:
    entity = invoice.legal_entity
    return Seller(country=entity.country or "", tax_id=entity.tax_id, legal_entity=entity.code)


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    seller, buyer = seller_of(invoice), buyer_of(invoice)
    customer = invoice.customer.code
    codes = sorted({invoice.product_tax_codes.get(line.product_code or "", "standard") for line in invoice.lines
                    if line.amount and line.line_type != "prepaid_credit"}) or ["standard"]
    seen: set[str] = set()
    found: list[Finding] = []
    if invoice.tax_status == "pending":
        found.append(emit(
            "tax.engine_unavailable", "the tax engine did not answer: the tax of this invoice is not known yet",
            record=invoice.record, field="tax", root_cause="tax_engine:unavailable", case_type=CASE,
            fix="nothing to fix in the data: the next release pass asks again and releases the invoice once "
                "the tax engine answers"))
    for code in codes:
        decision = determine(TaxRequest(seller, buyer, Supply(tax_code=code), invoice.billing_date))
        for requirement in decision.requirements:
            if requirement.code in seen:
                continue
            seen.add(requirement.code)
            on_buyer = requirement.field.startswith("buyer")
            record = f"customer {customer}" if on_buyer else f"legal entity {invoice.legal_entity.code}"
            root = (f"tax:customer:{customer}" if on_buyer
                    else f"tax:{decision.jurisdiction or invoice.legal_entity.code}:{requirement.code}")
            finding = emit(
                f"tax.{requirement.code}", f"{requirement.message} (treatment: {decision.rule})", record=record,
                field=requirement.field,
                fix=(f"correct the tax details of customer {customer} (tax_ids, billing_address) and apply the "
                     "catalog" if on_buyer else "correct the legal entity's tax registration or the rate table"),
                root_cause=root, case_type=CASE)
            found.append(finding if requirement.blocking else _as_warning(finding))
    return found


def _as_warning(finding: Finding) -> Finding:
    return replace(finding, severity=WARN) if finding.severity != OFF else finding
