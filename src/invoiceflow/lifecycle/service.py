"""Applying lifecycle actions to stored invoices: the only write path for an invoice's status.

Each action runs in one transaction: lock the invoice row, ask the state machine (lifecycle/states.py)
whether the action is legal, run the pluggable gates and policies, then write the new status, the
transition record, the number (at issue) and the audit entry together. Either all of it commits or none.

- Idempotent: repeating an action whose effect already holds changes nothing and returns the same result
  (re-issuing an issued invoice returns its number).
- Refusals (illegal move, missing reason, segregation of duties, a policy) change nothing but are recorded
  as refused attempts in the audit log, then raised as `TransitionRefused` (a ValidationError).
- Given an Engine, the function opens and commits its own transaction (the refusal entry is committed
  before the error is raised). Given a Connection, everything happens in the caller's transaction, the
  refusal entry included: commit it to keep the record.

Plug-in points for the stages that come later: `gates` (validation rules returning open findings: any
finding sends the invoice to held) and `policies` (e.g. an approval matrix returning a refusal message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import Connection, Engine, insert, select, update

from invoiceflow.audit.log import append_entry
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.errors import NotFound, ValidationError
from invoiceflow.lifecycle import states
from invoiceflow.lifecycle.approval_matrix import levels_text, required_levels
from invoiceflow.lifecycle.numbering import assign_number
from invoiceflow.lifecycle.states import PolicyRefused, RoleRefused, SegregationOfDuties, TransitionRefused
from invoiceflow.store.review_tables import approvals
from invoiceflow.store.tables import invoice_transitions, invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant
from invoiceflow.team import AUTOMATION, roles_of

Invoice = Mapping[str, Any]
# (connection, invoice row) -> descriptions of open findings; any finding holds the invoice.
Gate = Callable[[Connection, Invoice], Sequence[str]]
# (connection, invoice row, action, actor) -> None to allow, or why the action is refused.
Policy = Callable[[Connection, Invoice, str, str], "str | None"]


@dataclass(frozen=True, slots=True)
class TransitionResult:
    """What an action did: `changed` is False when its effect already held (nothing was written)."""

    invoice_id: int
    action: str
    from_status: str
    status: str
    changed: bool
    number: str | None = None
    findings: tuple[str, ...] = ()
    approvals: tuple[int, int] | None = None  # (given, needed) in the current approval round


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """The approval an `approve` action records: its level, role and rule, and whether it is the last."""

    level: int
    needed: int
    role: str
    rule: str

    @property
    def final(self) -> bool:
        return self.level >= self.needed


def transition(db: Engine | Connection, tenant: str, invoice_id: int, action: str, *, actor: str,
               reason: str | None = None, clock: Clock | None = None, gates: Sequence[Gate] = (),
               policies: Sequence[Policy] = ()) -> TransitionResult:
    """Apply `action` to an invoice atomically and idempotently; raise TransitionRefused if not allowed."""
    actor = _clean_actor(actor)
    if action not in states.ACTIONS:
        raise ValidationError(f"unknown action {action!r} (known: {', '.join(states.ACTIONS)})", field="action")
    at = (clock or SystemClock()).now().astimezone(timezone.utc)  # the issue date (and year) is UTC
    args = (tenant, invoice_id, action, actor, (reason or "").strip() or None, at, gates, policies)
    if isinstance(db, Engine):
        with db.begin() as conn:
            outcome = _apply(conn, *args)
    else:
        outcome = _apply(db, *args)
    if isinstance(outcome, TransitionRefused):
        raise outcome
    return outcome


def validate_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None = None,
                     clock: Clock | None = None, gates: Sequence[Gate] = ()) -> TransitionResult:
    """Run the gates: no open findings -> validated, otherwise held (with the findings recorded)."""
    return transition(db, tenant, invoice_id, "validate", actor=actor, reason=reason, clock=clock, gates=gates)


def hold_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None,
                 clock: Clock | None = None) -> TransitionResult:
    """Put a draft or validated invoice on hold (reason required)."""
    return transition(db, tenant, invoice_id, "hold", actor=actor, reason=reason, clock=clock)


def override_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None,
                     clock: Clock | None = None) -> TransitionResult:
    """Release a held invoice despite its findings (reason required; the actor may not approve it)."""
    return transition(db, tenant, invoice_id, "override", actor=actor, reason=reason, clock=clock)


def submit_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None = None,
                   clock: Clock | None = None) -> TransitionResult:
    """Send a validated invoice for approval (the submitter may not approve it)."""
    return transition(db, tenant, invoice_id, "submit", actor=actor, reason=reason, clock=clock)


def reject_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None,
                   clock: Clock | None = None) -> TransitionResult:
    """Send an invoice pending approval back to held (reason required)."""
    return transition(db, tenant, invoice_id, "reject", actor=actor, reason=reason, clock=clock)


def approve_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None = None,
                    clock: Clock | None = None, policies: Sequence[Policy] = ()) -> TransitionResult:
    """Approve an invoice pending approval; refused for whoever created, changed, submitted or overrode it."""
    return transition(db, tenant, invoice_id, "approve", actor=actor, reason=reason, clock=clock,
                      policies=policies)


def issue_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None = None,
                  clock: Clock | None = None) -> TransitionResult:
    """Issue an approved invoice and assign its gapless number; re-issuing returns the same number."""
    return transition(db, tenant, invoice_id, "issue", actor=actor, reason=reason, clock=clock)


def void_invoice(db, tenant: str, invoice_id: int, *, actor: str, reason: str | None,
                 clock: Clock | None = None) -> TransitionResult:
    """Void an invoice not yet paid (reason required); an issued invoice keeps its number."""
    return transition(db, tenant, invoice_id, "void", actor=actor, reason=reason, clock=clock)


def _apply(conn: Connection, tenant: str, invoice_id: int, action: str, actor: str, reason: str | None,
           at: datetime, gates: Sequence[Gate], policies: Sequence[Policy]):
    tid = resolve_tenant(conn, tenant, create=False)
    row = conn.execute(
        select(invoices).where(invoices.c.tenant_id == tid, invoices.c.id == invoice_id).with_for_update()
    ).mappings().first()
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist for tenant {tenant!r}")
    current, record = row["status"], f"invoice {invoice_id}"
    if current in states.ALREADY_DONE[action]:
        return TransitionResult(invoice_id, action, current, current, False, row["number"])
    findings: tuple[str, ...] = ()
    try:
        if action == "validate":
            findings = tuple(f for gate in gates for f in gate(conn, row))
        target = states.target_for(action, current, findings=bool(findings), record=record)
        if target == current:  # re-validated while held, findings still open
            return TransitionResult(invoice_id, action, current, current, False, row["number"], findings)
        states.check_transition(current, target, action=action, reason=reason, record=record)
        states.check_duties(action, actor, _makers(conn, row), record=record)
        for policy in policies:
            refusal = policy(conn, row, action, actor)
            if refusal:
                raise PolicyRefused(refusal, record=record)
        step = _approval_step(conn, tid, row, actor, record) if action == "approve" else None
    except TransitionRefused as refused:
        append_entry(conn, tenant_id=tid, actor=actor, action=f"invoice.{action}.refused", object_type="invoice",
                     object_id=invoice_id, at=at, payload={
                         "status": current, "reason": reason, "rule": refused.rule, "error": str(refused)})
        return refused
    if step is not None:
        conn.execute(insert(approvals).values(tenant_id=tid, invoice_id=invoice_id, round=row["approval_round"],
                                              level=step.level, role=step.role, approver=actor, rule=step.rule,
                                              at=at))
        if not step.final:
            append_entry(conn, tenant_id=tid, actor=actor, action="invoice.approval_recorded", object_type="invoice",
                         object_id=invoice_id, at=at, payload={
                             "level": step.level, "of": step.needed, "role": step.role, "rule": step.rule,
                             "reason": reason})
            return TransitionResult(invoice_id, action, current, current, True, row["number"],
                                    approvals=(step.level, step.needed))
    result = _write(conn, tid, row, action, actor, reason, at, target, findings)
    if step is not None:
        return TransitionResult(**{**_fields(result), "approvals": (step.level, step.needed)})
    return result


def _fields(result: TransitionResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in TransitionResult.__slots__}  # type: ignore[attr-defined]


def _approval_step(conn: Connection, tid: int, row: Invoice, actor: str, record: str) -> ApprovalStep:
    """The level this approval fills, after checking the actor's role and that nobody approves twice.

    The levels were fixed at submit from the policy version the invoice was validated under. With no level
    required, the automatic release (or an approver) gives the single approval.
    """
    levels = row["approval_levels"] or []
    given = conn.execute(select(approvals.c.approver).where(
        approvals.c.invoice_id == row["id"], approvals.c.round == row["approval_round"])
        .order_by(approvals.c.level)).scalars().all()
    if actor in given:
        raise SegregationOfDuties(f"{actor} already approved this invoice at level {given.index(actor) + 1}; the "
                                  "next level needs another person (segregation of duties)", record=record)
    if not levels:
        if actor == AUTOMATION:
            return ApprovalStep(1, 1, "policy", "no approval required")
        held = roles_of(conn, tid, actor)
        if not {"approver", "finance"} & set(held):
            raise RoleRefused(f"{actor} cannot approve: it needs the role approver or finance and has "
                              f"{', '.join(held) or 'no role'}", record=record)
        return ApprovalStep(1, 1, "approver" if "approver" in held else "finance", "manual approval")
    level = levels[len(given)]
    held = roles_of(conn, tid, actor)
    if level["role"] not in held:
        raise RoleRefused(f"{actor} cannot give approval {len(given) + 1} of {len(levels)}: it needs the role "
                          f"{level['role']} (rule: {level['rule']}) and {actor} has {', '.join(held) or 'no role'}",
                          record=record)
    return ApprovalStep(len(given) + 1, len(levels), level["role"], level["rule"])


def _write(conn: Connection, tid: int, row: Invoice, action: str, actor: str, reason: str | None, at: datetime,
           target: str, findings: tuple[str, ...]) -> TransitionResult:
    values: dict[str, Any] = {"status": target, "updated_by": actor, "updated_at": at}
    detail: dict[str, Any] = {"findings": list(findings)} if findings else {}
    number = row["number"]
    if action == "approve":
        values["approved_by"] = actor
    if action == "submit":
        levels = required_levels(conn, tid, row)
        values.update(approval_round=row["approval_round"] + 1,
                      approval_levels=[{"rule": level.rule, "role": level.role} for level in levels])
        detail["approvals_needed"] = levels_text(levels)
    if action == "issue":
        assigned = assign_number(conn, tenant_id=tid, legal_entity_id=row["legal_entity_id"],
                                 document_type=row["document_type"], issued_on=at.date())
        number = assigned.text
        values.update(number=number, number_series=assigned.series, number_year=assigned.year,
                      number_seq=assigned.sequence, issued_at=at)
        detail["number"] = number
    conn.execute(update(invoices).where(invoices.c.id == row["id"]).values(**values))
    if action == "issue" or (action == "void" and row["number"]):
        _enqueue_posting(conn, tid, row["id"], at, "issued" if action == "issue" else "void")
    conn.execute(insert(invoice_transitions).values(
        tenant_id=tid, invoice_id=row["id"], action=action, from_status=row["status"], to_status=target,
        actor=actor, reason=reason, at=at, detail=detail or None))
    append_entry(conn, tenant_id=tid, actor=actor, action=f"invoice.{action}", object_type="invoice",
                 object_id=row["id"], at=at, payload={
                     "from": row["status"], "to": target, "reason": reason, "document_type": row["document_type"],
                     "total": row["total"], "currency": row["currency"], **detail})
    return TransitionResult(row["id"], action, row["status"], target, True, number, findings)


def _enqueue_posting(conn: Connection, tid: int, invoice_id: int, at: datetime, event: str) -> None:
    """An issued (or voided after issue) document owes the ledger an entry: record the posting effect in this
    transaction, so it can never be issued without reaching the ledger."""
    from invoiceflow.ledger.erp_posting import enqueue_posting  # the posting handler moves invoices itself

    enqueue_posting(conn, tid, invoice_id, at=at, event=event)


def _makers(conn: Connection, row: Invoice) -> list[tuple[str, str]]:
    """Everyone who prepared the invoice: its creator, its last changer, and who submitted or overrode it."""
    done = conn.execute(
        select(invoice_transitions.c.actor, invoice_transitions.c.action)
        .where(invoice_transitions.c.invoice_id == row["id"],
               invoice_transitions.c.action.in_(list(states.MAKER_ACTIONS)))
        .order_by(invoice_transitions.c.id)
    ).all()
    makers = [(row["created_by"], "created it")] + [(who, states.MAKER_ACTIONS[what]) for who, what in done]
    if row["updated_by"] and all(who != row["updated_by"] for who, _ in makers):
        makers.append((row["updated_by"], "last changed it"))
    return makers


def _clean_actor(actor: str | None) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise ValidationError("every action needs an actor (--actor NAME)", field="actor")
    if len(actor) > 128:
        raise ValidationError("an actor name has at most 128 characters", field="actor")
    return actor
