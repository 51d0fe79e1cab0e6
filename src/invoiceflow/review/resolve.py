"""Working a case: assign, escalate, re-validate after a fix, override, approve an override, void.

Every resolution needs a reason, and whoever acts needs the case's queue role (or admin). Overrides of
cases holding more than the policy's limit wait for a second person (`approve_override`), who may not be
the one who asked. All of it is audited; a refused attempt is recorded and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from invoiceflow.audit.log import append_entry
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.errors import NotFound, ValidationError
from invoiceflow.lifecycle.service import transition
from invoiceflow.policy.store import current_policy, policy_version
from invoiceflow.review.cases import ACTIVE, OVERRIDE_PENDING, PRIORITIES, RESOLVED, case_invoice_ids, close_cleared_cases
from invoiceflow.review.release import advance, validate_batch
from invoiceflow.store.review_tables import findings, review_cases
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant
from invoiceflow.tax_providers.configured import configured_engine
from invoiceflow.team import QUEUES, RoleRequired, require_role

ACTIONS = ("revalidate", "override", "void", "escalate")


class CaseRefused(ValidationError):
    """A case action that is not allowed; nothing changed but the audited refusal."""


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    case_id: int
    action: str
    status: str
    message: str
    invoices: dict[int, str]  # invoice id -> status after the action
    remaining: tuple[str, ...] = ()  # findings still open (revalidate)


def resolve_case(db: Engine, tenant: str, case_id: int, action: str, *, actor: str, reason: str | None,
                 clock: Clock | None = None, to_queue: str | None = None) -> CaseOutcome:
    """Apply a resolution to a case in one transaction; refusals are audited and raised as CaseRefused."""
    if action not in ACTIONS:
        raise ValidationError(f"unknown resolution {action!r} (one of: {', '.join(ACTIONS)})", field="action")
    clock = clock or SystemClock()
    with db.begin() as conn:
        tid, case = _load(conn, tenant, case_id)
        refusal = _refusal(conn, tid, case, action, actor, reason, to_queue)
        if refusal is None:
            return _ACT[action](conn, tenant, tid, case, actor, (reason or "").strip(), clock, to_queue)
        _audit(conn, tid, case_id, actor, f"case.{action}.refused", clock, {"reason": reason, "error": refusal})
    raise CaseRefused(refusal, record=f"case {case_id}")


def approve_override(db: Engine, tenant: str, case_id: int, *, actor: str, reason: str | None = None,
                     clock: Clock | None = None) -> CaseOutcome:
    """The second person's approval of a pending override; then the override takes effect."""
    clock = clock or SystemClock()
    with db.begin() as conn:
        tid, case = _load(conn, tenant, case_id)
        refusal = None
        if case["status"] != OVERRIDE_PENDING:
            refusal = f"case {case_id} has no override waiting for approval (status {case['status']})"
        elif actor == case["override_requested_by"]:
            refusal = f"{actor} asked for this override and cannot approve it (segregation of duties)"
        else:
            try:
                require_role(conn, tid, actor, ("approver", "finance", "admin"), doing="approve an override")
            except RoleRequired as exc:
                refusal = exc.problems[0].message
        if refusal is None:
            note = f"{case['override_reason']} (second approval by {actor}" + (f": {reason})" if reason else ")")
            return _override_now(conn, tenant, tid, case, case["override_requested_by"], note, clock,
                                 approved_by=actor)
        _audit(conn, tid, case_id, actor, "case.override_approval.refused", clock, {"error": refusal})
    raise CaseRefused(refusal, record=f"case {case_id}")


def assign_case(db: Engine, tenant: str, case_id: int, *, assignee: str, actor: str,
                clock: Clock | None = None) -> None:
    clock = clock or SystemClock()
    with db.begin() as conn:
        tid, case = _load(conn, tenant, case_id)
        if case["status"] == RESOLVED:
            raise CaseRefused(f"case {case_id} is resolved", record=f"case {case_id}")
        require_role(conn, tid, actor, (case["queue"], "admin"), doing=f"assign a {case['queue']} case")
        conn.execute(update(review_cases).where(review_cases.c.id == case_id).values(assignee=assignee))
        _audit(conn, tid, case_id, actor, "case.assigned", clock, {"assignee": assignee})


# -- the resolutions -------------------------------------------------------------------------------------------
def _revalidate(conn, tenant, tid, case, actor, reason, clock, _to_queue) -> CaseOutcome:
    policy = current_policy(conn, tid)
    engine = configured_engine()  # the tenant's tax engine: an outage case must not re-tax with another
    try:
        statuses = validate_batch(conn, tenant, tid, case_invoice_ids(conn, case["id"]), policy, actor=actor,
                                  clock=clock, reason=reason, tax_engine=engine)
    finally:
        getattr(engine, "close", lambda: None)()
    remaining = tuple(f"{r.code}: {r.message}" for r in conn.execute(select(findings.c.code, findings.c.message)
                      .where(findings.c.case_id == case["id"], findings.c.status == "open")))
    closed = close_cleared_cases(conn, tid, [case["id"]], _now(clock), actor=actor, reason=reason)
    status = RESOLVED if closed or _status(conn, case["id"]) == RESOLVED else case["status"]
    _audit(conn, tid, case["id"], actor, "case.revalidated", clock,
           {"reason": reason, "remaining": len(remaining), "invoices": statuses})
    message = (f"case {case['id']} resolved: every finding cleared; {_summary(statuses)}" if status == RESOLVED
               else f"case {case['id']} stays open: {len(remaining)} finding(s) remain")
    return CaseOutcome(case["id"], "revalidate", status, message, statuses, remaining)


def _override(conn, tenant, tid, case, actor, reason, clock, _to_queue) -> CaseOutcome:
    policy = current_policy(conn, tid)
    amounts = _held_amounts(conn, case["id"])
    if any(policy.override_needs_second_person(currency, amount) for currency, amount in amounts.items()):
        conn.execute(update(review_cases).where(review_cases.c.id == case["id"]).values(
            status=OVERRIDE_PENDING, override_requested_by=actor, override_reason=reason))
        _audit(conn, tid, case["id"], actor, "case.override_requested", clock,
               {"reason": reason, "amounts": {c: str(a) for c, a in amounts.items()}})
        shown = ", ".join(f"{a} {c}" for c, a in amounts.items())
        return CaseOutcome(case["id"], "override", OVERRIDE_PENDING,
                           f"override of {shown} is above the policy's limit: it waits for a second person "
                           f"(invoiceflow review approve-override {case['id']})", {})
    return _override_now(conn, tenant, tid, case, actor, reason, clock)


def _override_now(conn, tenant, tid, case, actor, reason, clock, approved_by: str | None = None) -> CaseOutcome:
    at = _now(clock)
    policy = current_policy(conn, tid)
    ids = case_invoice_ids(conn, case["id"])
    conn.execute(update(findings).where(findings.c.case_id == case["id"], findings.c.status == "open").values(
        status="overridden", resolved_at=at))
    statuses = {}
    for invoice_id in ids:
        still_blocked = conn.execute(select(findings.c.id).where(
            findings.c.invoice_id == invoice_id, findings.c.status == "open", findings.c.severity == "block")
            .limit(1)).first()
        status = conn.execute(select(invoices.c.status).where(invoices.c.id == invoice_id)).scalar()
        if status == "held" and not still_blocked:
            status = transition(conn, tenant, invoice_id, "override", actor=actor, reason=reason, clock=clock).status
            status = advance(conn, tenant, invoice_id, status, policy, actor=actor, clock=clock)
        statuses[invoice_id] = status
    conn.execute(update(review_cases).where(review_cases.c.id == case["id"]).values(
        status=RESOLVED, resolved_at=at, resolved_by=actor, resolution="override", reason=reason))
    _audit(conn, tid, case["id"], approved_by or actor, "case.overridden", clock,
           {"reason": reason, "requested_by": actor, "approved_by": approved_by, "invoices": statuses})
    return CaseOutcome(case["id"], "override", RESOLVED, f"case {case['id']} overridden; {_summary(statuses)}",
                       statuses)


def _void(conn, tenant, tid, case, actor, reason, clock, _to_queue) -> CaseOutcome:
    at = _now(clock)
    statuses = {}
    for invoice_id in case_invoice_ids(conn, case["id"]):
        statuses[invoice_id] = transition(conn, tenant, invoice_id, "void", actor=actor, reason=reason,
                                          clock=clock).status
        conn.execute(update(findings).where(findings.c.invoice_id == invoice_id, findings.c.status == "open")
                     .values(status="void", resolved_at=at))
    conn.execute(update(review_cases).where(review_cases.c.id == case["id"]).values(
        status=RESOLVED, resolved_at=at, resolved_by=actor, resolution="void", reason=reason))
    _audit(conn, tid, case["id"], actor, "case.voided", clock, {"reason": reason, "invoices": statuses})
    # Other cases whose every invoice is now void have nothing left to hold.
    return CaseOutcome(case["id"], "void", RESOLVED, f"case {case['id']} resolved by voiding {len(statuses)} "
                       "invoice(s); bill the period again or issue a corrected invoice", statuses)


def _escalate(conn, tenant, tid, case, actor, reason, clock, to_queue) -> CaseOutcome:
    priority = PRIORITIES[min(PRIORITIES.index(case["priority"]) + 1, len(PRIORITIES) - 1)]
    queue = to_queue or case["queue"]
    route = policy_version(conn, tid, case["policy_version"] or 0).route(case["case_type"])
    due = _now(clock) + timedelta(hours=float(route.sla_hours) / 2)
    conn.execute(update(review_cases).where(review_cases.c.id == case["id"]).values(
        priority=priority, queue=queue, escalations=case["escalations"] + 1, due_at=due))
    _audit(conn, tid, case["id"], actor, "case.escalated", clock,
           {"reason": reason, "priority": priority, "queue": queue, "due_at": due.isoformat()})
    return CaseOutcome(case["id"], "escalate", case["status"],
                       f"case {case['id']} escalated to {queue} at {priority} priority, due {due:%Y-%m-%d %H:%M} UTC",
                       {})


_ACT = {"revalidate": _revalidate, "override": _override, "void": _void, "escalate": _escalate}


# -- helpers ---------------------------------------------------------------------------------------------------
def _load(conn: Connection, tenant: str, case_id: int) -> tuple[int, dict[str, Any]]:
    tid = resolve_tenant(conn, tenant, create=False)
    row = conn.execute(select(review_cases).where(review_cases.c.tenant_id == tid, review_cases.c.id == case_id)
                       .with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"case {case_id} does not exist for tenant {tenant!r}")
    return tid, dict(row)


def _refusal(conn, tid, case, action, actor, reason, to_queue) -> str | None:
    if not (actor or "").strip():
        return "every action needs an actor (--actor NAME)"
    if not (reason or "").strip():
        return f"{action} needs a reason (--reason): nothing is resolved without one"
    if case["status"] not in ACTIVE:
        return f"case {case['id']} is already resolved ({case['resolution']}: {case['reason']})"
    if case["status"] == OVERRIDE_PENDING and action != "void":
        return (f"case {case['id']} has an override waiting for a second person "
                f"(invoiceflow review approve-override {case['id']})")
    if to_queue is not None and to_queue not in QUEUES:
        return f"unknown queue {to_queue!r} (one of: {', '.join(QUEUES)})"
    try:
        require_role(conn, tid, actor, (case["queue"], "admin"), doing=f"{action} a {case['queue']} case")
    except RoleRequired as exc:
        return exc.problems[0].message
    return None


def _held_amounts(conn: Connection, case_id: int) -> dict[str, Decimal]:
    ids = case_invoice_ids(conn, case_id)
    totals: dict[str, Decimal] = {}
    for currency, total in conn.execute(select(invoices.c.currency, invoices.c.total).where(invoices.c.id.in_(ids))):
        totals[currency] = totals.get(currency, Decimal(0)) + abs(total)
    return totals


def _status(conn: Connection, case_id: int) -> str:
    return conn.execute(select(review_cases.c.status).where(review_cases.c.id == case_id)).scalar()


def _summary(statuses: dict[int, str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no invoice to release"


def _now(clock: Clock) -> datetime:
    return clock.now().astimezone(timezone.utc)


def _audit(conn, tid, case_id, actor, action, clock, payload) -> None:
    append_entry(conn, tenant_id=tid, actor=actor, action=action, object_type="review_case", object_id=case_id,
                 at=_now(clock), payload=payload)
