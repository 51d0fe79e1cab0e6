"""Policy files: every problem located by line; the approval matrix and override limits as decisions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import yaml

from invoiceflow.policy import ApprovalSubject, PolicyError, check_policy_text
from invoiceflow.policy.document import default_source
from invoiceflow.policy.model import parse_policy

DEFAULT = default_source()


def edited(change) -> str:
    doc = yaml.safe_load(DEFAULT)
    change(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        check_policy_text(text, name="p.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_default_policy_is_valid():
    assert check_policy_text(DEFAULT)["gates"]["pricing"] == {"severity": "block"}


BAD = [
    ("unknown gate", lambda d: d["gates"].update(pricng={"severity": "block"}), "gates.pricng: unknown gate 'pricng'"),
    ("missing gate", lambda d: d["gates"].pop("tax_data"), "gate 'tax_data' is not configured"),
    ("bad severity", lambda d: d["gates"]["pricing"].update(severity="maybe"), "gates.pricing.severity: 'maybe' is not one of"),
    ("unknown setting", lambda d: d["gates"]["pricing"].update(tolerance=1), "gate pricing has no setting 'tolerance'"),
    ("impossible factor", lambda d: d["gates"]["usage_completeness"].update(anomaly_factor="0.5"),
     "anomaly_factor: must be greater than 1"),
    ("impossible window", lambda d: d["gates"]["usage_completeness"].update(min_trailing=5, trailing_periods=3),
     "min_trailing: cannot exceed trailing_periods"),
    ("negative SLA", lambda d: d["routing"]["anomaly"].update(sla_hours=-4), "routing.anomaly.sla_hours: -4 is less than"),
    ("unknown queue", lambda d: d["routing"]["anomaly"].update(queue="legal"), "routing.anomaly.queue: 'legal' is not one of"),
    ("unroutable", lambda d: d["routing"].pop("tax_inconsistency"),
     "case type 'tax_inconsistency' (opened by gate tax_data) has no route"),
    ("unknown case type", lambda d: d["routing"].update(fraud={"queue": "finance", "sla_hours": 4}),
     "routing.fraud: unknown case type 'fraud'"),
    ("negative threshold", lambda d: d["approvals"]["rules"][0]["when"]["min_total"].update(USD="-5"),
     "approvals.rules[0].when.min_total.USD: '-5' does not match"),
    ("bad currency", lambda d: d["overrides"]["second_approval_above"].update(XYZ=5),
     "overrides.second_approval_above.XYZ: 'XYZ' is not an ISO 4217 currency"),
    ("unknown role", lambda d: d["approvals"]["rules"][0].update(levels=["cfo"]), "levels[0]: 'cfo' is not one of"),
]


@pytest.mark.parametrize("change, expected", [(c, e) for _, c, e in BAD], ids=[n for n, _, _ in BAD])
def test_a_bad_policy_is_refused_with_the_line_and_reason(change, expected):
    found = problems(edited(change))
    assert any(expected in p for p in found), found
    assert all(p.startswith("p.yaml:") and p.split(":")[1].isdigit() for p in found)


def test_the_line_number_points_at_the_offending_key():
    text = DEFAULT.replace("  pricing: {severity: block}", "  pricing: {severity: block}\n  princing: {severity: block}")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.strip().startswith("princing"))
    assert any(p.startswith(f"p.yaml:{line}: gates.princing") for p in problems(text))


def test_a_gate_can_be_switched_off_and_then_needs_no_route():
    text = edited(lambda d: (d["gates"].update(tax_data={"severity": "off"}), d["routing"].pop("tax_inconsistency")))
    assert check_policy_text(text)["gates"]["tax_data"] == {"severity": "off"}


MATRIX = {
    "gates": {}, "routing": {},
    "approvals": {"rules": [
        {"name": "large", "when": {"min_total": {"EUR": "10000", "USD": "10000"}}, "levels": ["finance", "approver"]},
        {"name": "enterprise", "when": {"segments": ["enterprise"]}, "levels": ["approver"]},
        {"name": "credit notes", "when": {"document_type": "credit_note", "min_total": {"EUR": "500"}},
         "levels": ["finance"]},
        {"name": "non-standard", "when": {"non_standard_terms": True}, "levels": ["revops"]},
        {"name": "override", "when": {"overridden": True}, "levels": ["approver"]},
        {"name": "two approvers", "when": {"min_total": {"EUR": "100000"}}, "levels": ["approver", "approver"]},
    ]},
    "overrides": {"second_approval_above": {"EUR": "5000"}},
}
POLICY = parse_policy(MATRIX, 3)


def subject(total="100", currency="EUR", doc="invoice", segment=None, non_standard=False, overridden=False):
    return ApprovalSubject(doc, currency, D(total), segment, non_standard, overridden)


@pytest.mark.parametrize("case, expected", [
    (subject(), []),
    (subject("10000"), ["finance", "approver"]),
    (subject("9999.99"), []),
    (subject("100", segment="enterprise"), ["approver"]),
    (subject("20000", segment="enterprise"), ["finance", "approver"]),  # approver asked once
    (subject("600", doc="credit_note"), ["finance"]),
    (subject("400", doc="credit_note"), []),
    (subject(non_standard=True), ["revops"]),
    (subject(overridden=True), ["approver"]),
    (subject("150000"), ["finance", "approver", "approver"]),  # one rule asks two approvers
    (subject("5", currency="JPY"), ["finance", "approver", "approver"]),  # unlisted currency fails safe
])
def test_the_approval_matrix(case, expected):
    assert [level.role for level in POLICY.approval_levels(case)] == expected


def test_override_limits_need_a_second_person_above_the_limit_or_in_an_unlisted_currency():
    assert not POLICY.override_needs_second_person("EUR", D("5000"))
    assert POLICY.override_needs_second_person("EUR", D("5000.01"))
    assert POLICY.override_needs_second_person("USD", D("1"))
    assert not parse_policy({**MATRIX, "overrides": {}}, 1).override_needs_second_person("USD", D("1e9"))
