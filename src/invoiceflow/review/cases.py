"""Findings and the cases they open: one open case per root cause, routed by the policy.

Re-validating an invoice refreshes its findings: new ones are recorded (a blocking one opens or joins the
case of its root cause), ones no longer found are resolved. A case whose every finding is gone is resolved
with a recorded reason. Written in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from invoiceflow.audit.log import append_entry
from invoiceflow.gates.model import BLOCK, Finding
from invoiceflow.policy.model import Policy
from invoiceflow.store.review_tables import findings, review_cases

OPEN, OVERRIDE_PENDING, RESOLVED = "open", "override_pending", "resolved"
ACTIVE = (OPEN, OVERRIDE_PENDING)
PRIORITIES = ("low", "normal", "high", "urgent")


def _key(code: str, root: str, record: str, field: str) -> tuple[str, str, str, str]:
    return code, root, record, field


def record_findings(conn: Connection, tenant_id: int, invoice_id: int, found: Iterable[Finding], policy: Policy,
                    at: datetime, *, actor: str, reason: str | None = None) -> dict[str, list[int]]:
    """Store this validation's findings for the invoice; returns case ids {"opened": [...], "joined": [...]}."""
    current = {_key(r.code, r.root_cause, r.record, r.field): r for r in conn.execute(
        select(findings).where(findings.c.invoice_id == invoice_id, findings.c.status == "open"))}
    seen: set[tuple] = set()
    touched: dict[str, list[int]] = {"opened": [], "joined": []}
    for finding in found:
        key = _key(finding.code, finding.root_cause, finding.record, finding.field)
        if key in seen:
            continue
        seen.add(key)
        if key in current:
            continue
        case_id = None
        if finding.severity == BLOCK:
            case_id, opened = open_or_join(conn, tenant_id, finding, policy, at, actor=actor)
            touched["opened" if opened else "joined"].append(case_id)
        conn.execute(insert(findings).values(
            tenant_id=tenant_id, invoice_id=invoice_id, case_id=case_id, gate=finding.gate, code=finding.code,
            severity=finding.severity, message=finding.message, record=finding.record, field=finding.field,
            suggested_fix=finding.suggested_fix, root_cause=finding.root_cause, status="open", first_seen_at=at,
            policy_version=policy.version))
    gone = [row.id for key, row in current.items() if key not in seen]
    if gone:
        conn.execute(update(findings).where(findings.c.id.in_(gone)).values(status="resolved", resolved_at=at))
        cases = {row.case_id for key, row in current.items() if key not in seen and row.case_id}
        close_cleared_cases(conn, tenant_id, cases, at, actor=actor,
                            reason=reason or f"every finding cleared on re-validation (policy version {policy.version})")
    return touched


def open_or_join(conn: Connection, tenant_id: int, finding: Finding, policy: Policy, at: datetime, *,
                 actor: str) -> tuple[int, bool]:
    """The open case for the finding's root cause, opened now if there is none (True when opened)."""
    existing = _open_case(conn, tenant_id, finding.root_cause)
    if existing is not None:
        return existing, False
    route = policy.route(finding.case_type)
    due = at + timedelta(hours=float(route.sla_hours))
    try:
        with conn.begin_nested():  # a concurrent release pass may open the same root cause first
            case_id = conn.execute(insert(review_cases).values(
                tenant_id=tenant_id, case_type=finding.case_type, root_cause=finding.root_cause,
                title=finding.message[:300], queue=route.queue, priority=route.priority, status=OPEN,
                opened_at=at, due_at=due, policy_version=policy.version).returning(review_cases.c.id)).scalar_one()
    except IntegrityError:
        existing = _open_case(conn, tenant_id, finding.root_cause)
        if existing is None:
            raise
        return existing, False
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="case.opened", object_type="review_case",
                 object_id=case_id, at=at, payload={"case_type": finding.case_type, "root_cause": finding.root_cause,
                                                    "queue": route.queue, "priority": route.priority,
                                                    "due_at": due.isoformat(), "policy_version": policy.version})
    return int(case_id), True


def _open_case(conn: Connection, tenant_id: int, root_cause: str) -> int | None:
    found = conn.execute(select(review_cases.c.id).where(
        review_cases.c.tenant_id == tenant_id, review_cases.c.root_cause == root_cause,
        review_cases.c.status.in_(ACTIVE))).scalar()
    return None if found is None else int(found)


def close_cleared_cases(conn: Connection, tenant_id: int, case_ids: Iterable[int], at: datetime, *, actor: str,
                        reason: str, resolution: str = "fixed") -> list[int]:
    """Resolve each active case that has no open finding left; returns the ids resolved."""
    closed = []
    for case_id in sorted(set(case_ids)):
        still_open = conn.execute(select(findings.c.id).where(
            findings.c.case_id == case_id, findings.c.status == "open").limit(1)).first()
        if still_open:
            continue
        done = conn.execute(update(review_cases).where(
            review_cases.c.id == case_id, review_cases.c.status.in_(ACTIVE)).values(
            status=RESOLVED, resolved_at=at, resolved_by=actor, resolution=resolution, reason=reason)).rowcount
        if done:
            append_entry(conn, tenant_id=tenant_id, actor=actor, action="case.resolved", object_type="review_case",
                         object_id=case_id, at=at, payload={"resolution": resolution, "reason": reason})
            closed.append(case_id)
    return closed


def case_invoice_ids(conn: Connection, case_id: int, *, status: str | None = "open") -> list[int]:
    query = select(findings.c.invoice_id).where(findings.c.case_id == case_id, findings.c.invoice_id.is_not(None))
    if status:
        query = query.where(findings.c.status == status)
    return sorted(set(conn.execute(query.distinct()).scalars()))
