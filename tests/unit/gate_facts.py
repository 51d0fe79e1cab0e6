"""Builders of plain gate facts for the rule tests: a clean invoice that passes every gate, and variations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from invoiceflow.gates.model import (
    ContractVersionFacts,
    CustomerFacts,
    InvoiceFacts,
    LegalEntityFacts,
    LineFacts,
    MeterUsageFacts,
)

ADDRESS_DE = {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
ADDRESS_FR = {"line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}
V1 = ContractVersionFacts(id=11, version=1, effective_from=date(2026, 1, 1), effective_to=None, plan_version_id=5,
                          meters=frozenset({"api_calls"}), entitled_meters=None, ceiling=None, non_standard=False)
GL_ALL = frozenset({("receivable", ""), ("revenue", ""), ("tax", "")})


def customer(**changes) -> CustomerFacts:
    base = CustomerFacts(code="globex", name="Globex GmbH", email="billing@globex.example", billing_address=ADDRESS_DE,
                         currency="EUR", tax_ids=(("eu_vat", "DE136695976"),), segment="enterprise",
                         po_required=False, tax_exempt=False, account_ids=("tel-globex",))
    return replace(base, **changes)


def entity(**changes) -> LegalEntityFacts:
    base = LegalEntityFacts(code="acme-eu", name="Acme GmbH", country="DE", currency="EUR", tax_id="DE136695976",
                            address=ADDRESS_DE)
    return replace(base, **changes)


def fee(position=1, amount="100.00", **changes) -> LineFacts:
    base = LineFacts(position=position, line_type="fee_advance", description="Platform fee", amount=D(amount),
                     precise_amount=D(amount), product_code="platform", service_start=date(2026, 10, 1),
                     service_end=date(2026, 11, 1), contract_version_id=11, plan_version_id=5)
    return replace(base, **changes)


def usage_line(position=2, amount="20.00", quantity="2000", **changes) -> LineFacts:
    base = LineFacts(position=position, line_type="usage", description="API calls", amount=D(amount),
                     precise_amount=D(amount), product_code="api", meter_code="api_calls", quantity=D(quantity),
                     service_start=date(2026, 10, 1), service_end=date(2026, 11, 1), contract_version_id=11,
                     plan_version_id=5)
    return replace(base, **changes)


def invoice(**changes) -> InvoiceFacts:
    lines = changes.pop("lines", (fee(), usage_line()))
    net = sum((l.amount for l in lines), D(0))
    base = InvoiceFacts(
        id=7, document_type="invoice", status="draft", currency="EUR", billing_date=date(2026, 10, 1),
        period_start=date(2026, 10, 1), period_end=date(2026, 11, 1), subtotal=net, discount_total=D(0),
        credits_applied=D(0), tax_total=D(0), total=net, subscription_code="sub-globex", subscription_id=3,
        contract_code="c-globex", po_number=None, customer=customer(), legal_entity=entity(), lines=lines,
        contract_versions=(V1,),
        usage=(MeterUsageFacts("api_calls", events=2000, late_events=0, trailing=(D(1900), D(2100), D(2000)),
                               billed=D(2000), feed_events=9000),),
        product_tax_codes={"platform": "digital_service", "api": "digital_service"}, gl_roles=GL_ALL)
    return replace(base, **changes)
