"""The approvals an invoice needs, read from the policy version it was validated under.

Computed at submit and stored on the invoice (`approval_levels`), so a policy applied later never changes
what an invoice already waiting for approval, or already issued, needed.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import Connection, select

from invoiceflow.policy.model import ApprovalSubject, Level
from invoiceflow.policy.store import current_policy, policy_version
from invoiceflow.store.tables import contract_versions, customers, invoice_transitions

NON_STANDARD_TERMS = ("price_overrides", "quantity_overrides", "discounts", "minimum_commitment")


def required_levels(conn: Connection, tenant_id: int, invoice: Mapping[str, Any]) -> list[Level]:
    version = invoice["policy_version"]
    policy = policy_version(conn, tenant_id, version) if version is not None else current_policy(conn, tenant_id)
    return policy.approval_levels(subject_of(conn, invoice))


def subject_of(conn: Connection, invoice: Mapping[str, Any]) -> ApprovalSubject:
    segment = conn.execute(select(customers.c.segment).where(customers.c.id == invoice["customer_id"])).scalar()
    start = invoice["period_start"] or invoice["billing_date"]
    terms = conn.execute(
        select(contract_versions.c.terms).where(contract_versions.c.contract_id == invoice["contract_id"],
                                                contract_versions.c.effective_from <= start)
        .order_by(contract_versions.c.effective_from.desc()).limit(1)).scalar() or {}
    overridden = conn.execute(select(invoice_transitions.c.id).where(
        invoice_transitions.c.invoice_id == invoice["id"], invoice_transitions.c.action == "override").limit(1)
    ).first() is not None
    return ApprovalSubject(document_type=invoice["document_type"], currency=invoice["currency"],
                           total=invoice["total"], segment=segment,
                           non_standard_terms=any(terms.get(k) for k in NON_STANDARD_TERMS),
                           overridden=overridden)


def levels_text(levels: list[Level]) -> str:
    return ", then ".join(f"{level.role} ({level.rule})" for level in levels) or "none"

