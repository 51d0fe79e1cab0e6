"""Every validation rule with a passing and a failing case: code, severity, where, root cause, case type."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from gate_facts import V1, customer, entity, fee, invoice, usage_line
from invoiceflow.gates import GATES, run_gates
from invoiceflow.gates.model import (
    CASE_TYPES,
    MeterUsageFacts,
    OtherInvoiceFacts,
    TaxRowFacts,
    UnmappedAccountFacts,
)
from invoiceflow.gates.registry import CASES_OF

ON = {"severity": "block"}
US_ADDRESS = {"line1": "1 Main St", "city": "Austin", "postal_code": "78701", "region": "TX", "country": "US"}
V2 = replace(V1, id=12, version=2, effective_from=date(2026, 10, 15))


def codes(gate: str, facts, settings=ON) -> list[str]:
    return [f.code for f in GATES[gate](facts, settings)]


def test_the_clean_invoice_passes_every_gate():
    assert run_gates(invoice(), {}) == []


def usage(**changes):
    base = MeterUsageFacts("api_calls", events=2000, late_events=0, trailing=(D(1900), D(2100), D(2000)),
                           billed=D(2000), feed_events=9000)
    return (replace(base, **changes),)


FAILING = [
    # (gate, facts, expected codes)
    ("pricing", invoice(contract_versions=(V1, V2)), ["pricing.stale_contract_version"] * 2),
    ("pricing", invoice(lines=(fee(plan_version_id=99),)), ["pricing.plan_version_mismatch"]),
    ("pricing", invoice(lines=(fee(contract_version_id=404),)), ["pricing.unknown_contract_version"]),
    ("usage_completeness", invoice(usage=usage(events=0, billed=D(0))), ["usage.feed_missing"]),
    ("usage_completeness", invoice(usage=usage(late_events=12)), ["usage.late_events"]),
    ("usage_completeness", invoice(usage=usage(billed=D(9000))), ["usage.anomalous_volume"]),
    ("usage_completeness", invoice(usage=usage(billed=D(100))), ["usage.anomalous_volume"]),
    ("usage_completeness", invoice(unmapped=(UnmappedAccountFacts("tel-globex-2", 40, "tel-globex"),)),
     ["usage.unmapped_account"]),
    ("entitlement", invoice(contract_versions=(replace(V1, entitled_meters=frozenset({"storage"})),)),
     ["entitlement.not_entitled"]),
    ("master_data", invoice(customer=customer(billing_address={"line1": "x", "country": "DE"})),
     ["master_data.billing_address"]),
    ("master_data", invoice(customer=customer(email=None)), ["master_data.delivery_email"]),
    ("master_data", invoice(customer=customer(email="not-an-address")), ["master_data.delivery_email"]),
    ("master_data", invoice(customer=customer(currency="USD")), ["master_data.currency"]),
    ("master_data", invoice(legal_entity=entity(address=None)), ["master_data.legal_entity"]),
    ("tax_data", invoice(customer=customer(billing_address={"line1": "1 rue", "city": "Paris", "country": "FR"},
                                           tax_ids=())), ["tax.buyer_vat_id_invalid"]),
    ("tax_data", invoice(customer=customer(billing_address={"line1": "1 rue", "city": "Paris", "country": "FR"},
                                           tax_ids=(("eu_vat", "FR00000000000"),))), ["tax.buyer_vat_id_invalid"]),
    ("tax_data", invoice(legal_entity=entity(country="US", tax_id=None, address=US_ADDRESS), currency="USD",
                         customer=customer(billing_address={**US_ADDRESS, "region": "ZZ"}, currency="USD")),
     ["tax.jurisdiction_unresolvable"]),
    ("purchase_order", invoice(customer=customer(po_required=True)), ["purchase_order.missing"]),
    ("contract_ceiling", invoice(contract_versions=(replace(V1, ceiling=D("99.99")),)),
     ["contract_ceiling.exceeded"]),
    ("posting_readiness", invoice(gl_roles=frozenset({("receivable", "")})), ["posting_readiness.gl_mapping_missing"]),
    ("posting_readiness", invoice(gl_roles=frozenset({("revenue", "")})), ["posting_readiness.gl_mapping_missing"]),
    ("arithmetic", invoice(total=D("120.01")), ["arithmetic.total"]),
    ("arithmetic", invoice(lines=(fee(amount="100.00", precise_amount=D("100.006")),)),
     ["arithmetic.line_rounding"]),
    ("arithmetic", invoice(taxes=(TaxRowFacts("S", D(19), D("120.00"), D("22.81")),), tax_total=D("22.81"),
                           total=D("142.81")), ["arithmetic.tax_rate"]),
    ("duplicate_risk", invoice(others=(OtherInvoiceFacts(8, "invoice", "issued", 4, date(2026, 10, 1),
                                                         date(2026, 11, 1), D("120.00")),)),
     ["duplicate.same_amount_and_period"]),
    ("duplicate_risk", invoice(others=(OtherInvoiceFacts(8, "invoice", "issued", 3, date(2026, 9, 1),
                                                         date(2026, 11, 1), D("55.00"),
                                                         (("platform", 11, date(2026, 10, 15), date(2026, 11, 1)),)),)),
     ["duplicate.overlapping_service_period"]),
]


@pytest.mark.parametrize("gate, facts, expected", FAILING, ids=[f"{g}-{e[0]}" for g, _, e in FAILING])
def test_each_rule_fails_on_its_problem(gate, facts, expected):
    found = GATES[gate](facts, ON)
    assert [f.code for f in found] == expected
    for f in found:
        assert f.severity == "block" and f.message and f.record and f.suggested_fix and f.root_cause
        assert f.case_type in CASES_OF[gate] and f.case_type in CASE_TYPES
    # Every other gate stays quiet: a rule reports only its own concern.
    assert [f.gate for f in run_gates(facts, {}) if f.gate != gate] == []


PASSING = [
    ("pricing", invoice(contract_versions=(V1, replace(V2, effective_from=date(2026, 11, 1))))),
    ("usage_completeness", invoice(usage=usage(events=0, billed=D(0), trailing=(D(0), D(0))))),
    ("usage_completeness", invoice(usage=usage(billed=D(5999)))),
    ("usage_completeness", invoice(usage=usage(billed=D(9000), trailing=(D(2000),)))),  # too little history
    ("usage_completeness", invoice(usage=usage(events=0, billed=D(0), trailing=(D(5), D(0), D(3))))),  # sparse
    ("usage_completeness", invoice(usage=usage(events=0, billed=D(0), trailing=(D(5),)))),  # one period only
    ("usage_completeness", invoice(usage=usage(events=5, billed=D(9000)))),  # too few events to judge
    ("usage_completeness", invoice(usage=usage(events=0, billed=D(7), aggregation="weighted_sum"))),  # a gauge
    ("entitlement", invoice(contract_versions=(replace(V1, entitled_meters=frozenset({"api_calls"})),))),
    ("tax_data", invoice(customer=customer(billing_address={"line1": "1 rue", "city": "Paris", "country": "FR"},
                                           tax_ids=(("eu_vat", "FR40303265045"),)))),
    ("tax_data", invoice(customer=customer(segment="consumer", tax_ids=(),
                                           billing_address={"line1": "1 rue", "city": "Paris", "country": "FR"}))),
    ("purchase_order", invoice(customer=customer(po_required=True), po_number="PO-1")),
    ("contract_ceiling", invoice(contract_versions=(replace(V1, ceiling=D("120.00")),))),
    ("posting_readiness", invoice(gl_roles=frozenset({("receivable", ""), ("revenue", "platform"),
                                                      ("revenue", "api")}))),
    ("arithmetic", invoice(taxes=(TaxRowFacts("S", D(19), D("120.00"), D("22.80")),), tax_total=D("22.80"),
                           total=D("142.80"))),
    ("duplicate_risk", invoice(others=(OtherInvoiceFacts(8, "invoice", "void", 4, date(2026, 10, 1),
                                                         date(2026, 11, 1), D("120.00")),))),
    ("duplicate_risk", invoice(others=(OtherInvoiceFacts(8, "credit_note", "issued", 3, date(2026, 10, 1),
                                                         date(2026, 11, 1), D("120.00")),))),
]


@pytest.mark.parametrize("gate, facts", PASSING, ids=[g for g, _ in PASSING])
def test_each_rule_passes_when_its_concern_is_met(gate, facts):
    assert codes(gate, facts) == []


def test_root_causes_group_invoices_that_one_fix_releases():
    a = invoice(id=1, gl_roles=frozenset({("receivable", "")}))
    b = invoice(id=2, customer=customer(code="initech"), gl_roles=frozenset({("receivable", "")}))
    roots = {f.root_cause for facts in (a, b) for f in GATES["posting_readiness"](facts, ON)}
    assert roots == {"gl_mapping:acme-eu:revenue:*"}
    whole_feed = usage(events=0, billed=D(0), feed_events=0)
    roots = {f.root_cause for facts in (invoice(id=1, usage=whole_feed),
                                        invoice(id=2, customer=customer(code="initech"), usage=whole_feed))
             for f in GATES["usage_completeness"](facts, ON)}
    assert roots == {"feed:api_calls:2026-10-01"}


def test_severity_comes_from_the_policy_and_off_skips_the_gate():
    facts = invoice(customer=customer(po_required=True))
    assert [f.severity for f in GATES["purchase_order"](facts, {"severity": "warn"})] == ["warn"]
    assert run_gates(facts, {"purchase_order": {"severity": "off"}}) == []


def test_anomaly_factor_and_window_are_settings():
    facts = invoice(usage=usage(billed=D(5000)))
    assert codes("usage_completeness", facts, {"severity": "block", "anomaly_factor": "2"}) == ["usage.anomalous_volume"]
    assert codes("usage_completeness", facts, {"severity": "block", "anomaly_factor": "3"}) == []
