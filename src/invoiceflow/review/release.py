"""The release pass: validate invoices under the current policy, route what is held, release the rest.

For each draft (or held, or validated) invoice: quote and store its tax (billing/taxes.py), gather its facts, run every enabled gate, record the
findings (blocking ones open or join cases), then move it through the lifecycle: held when a blocking
finding is open, otherwise validated, submitted and — when the policy's approval matrix asks for no
approval and `auto_release` is on — approved by the automatic release and issued. Invoices that need an
approval wait in pending_approval. Every step is a lifecycle transition, so it is audited and idempotent.
Batches run in their own transactions; running the pass again changes nothing that is already settled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timezone
from typing import Callable, Iterable

from sqlalchemy import Connection, Engine, select, update

from invoiceflow.billing.taxes import apply_taxes
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.gates.load import FactLoader
from invoiceflow.gates.model import BLOCK, Finding
from invoiceflow.gates.registry import run_gates
from invoiceflow.lifecycle.service import transition
from invoiceflow.policy.model import Policy
from invoiceflow.policy.store import current_policy
from invoiceflow.review.cases import record_findings
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant
from invoiceflow.tax.engine import TaxEngine
from invoiceflow.team import AUTOMATION

RELEASABLE = ("draft", "held", "validated")
BATCH = 100


@dataclass
class ReleaseReport:
    policy_version: int = 0
    outcomes: Counter = field(default_factory=Counter)  # issued | pending_approval | held | validated
    cases_opened: set[int] = field(default_factory=set)
    cases_joined: set[int] = field(default_factory=set)
    findings_by_code: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"policy_version": self.policy_version, "outcomes": dict(self.outcomes),
                "cases_opened": len(self.cases_opened), "cases_joined": len(self.cases_joined - self.cases_opened),
                "findings": dict(self.findings_by_code)}


def release(db: Engine, tenant: str, invoice_ids: Iterable[int] | None = None, *, actor: str = "system",
            clock: Clock | None = None, on_progress: Callable[[int], None] | None = None,
            advance_validated: bool = True, tax_engine: TaxEngine | None = None) -> ReleaseReport:
    """Run the release pass over `invoice_ids` (default: every draft, held and validated invoice).

    With `advance_validated` False it only validates (the `invoice validate` command): findings and cases
    are recorded, and a clean invoice stops at validated.
    """
    clock = clock or SystemClock()
    with db.connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        ids = list(invoice_ids) if invoice_ids is not None else list(conn.execute(
            select(invoices.c.id).where(invoices.c.tenant_id == tid, invoices.c.status.in_(RELEASABLE))
            .order_by(invoices.c.id)).scalars())
    report = ReleaseReport()
    for start in range(0, len(ids), BATCH):
        with db.begin() as conn:
            policy = current_policy(conn, tid)
            report.policy_version = policy.version
            for invoice_id, status in validate_batch(conn, tenant, tid, ids[start:start + BATCH], policy, actor=actor,
                                                     clock=clock, report=report, tax_engine=tax_engine,
                                                     advance_validated=advance_validated).items():
                report.outcomes[status] += 1
        if on_progress:
            on_progress(min(start + BATCH, len(ids)))
    return report


def validate_batch(conn: Connection, tenant: str, tid: int, ids: list[int], policy: Policy, *, actor: str,
                   clock: Clock, report: ReleaseReport | None = None, tax_engine: TaxEngine | None = None,
                   advance_validated: bool = True, reason: str | None = None) -> dict[int, str]:
    """Tax, gate and move each releasable invoice of `ids`; returns {invoice id: status after}."""
    releasable = list(conn.execute(select(invoices.c.id).where(
        invoices.c.id.in_(ids), invoices.c.status.in_(RELEASABLE)).order_by(invoices.c.id)).scalars())
    for invoice_id in releasable:
        apply_taxes(conn, tid, invoice_id, tax_engine)
    statuses = {}
    for facts in FactLoader(conn, tid).facts(releasable):
        found = run_gates(facts, policy.gates)
        statuses[facts.id] = release_one(conn, tenant, tid, facts.id, found, policy, actor=actor, clock=clock,
                                         report=report, advance_validated=advance_validated, reason=reason)
    return statuses


def release_one(conn: Connection, tenant: str, tid: int, invoice_id: int, found: list[Finding], policy: Policy,
                *, actor: str, clock: Clock, report: ReleaseReport | None = None,
                advance_validated: bool = True, reason: str | None = None) -> str:
    """Record the findings of one invoice and move it as far as the policy allows; returns its status.

    `reason` is recorded on the cases this validation clears (a person's reason for re-validating)."""
    at = clock.now().astimezone(timezone.utc)
    conn.execute(update(invoices).where(invoices.c.id == invoice_id).values(
        policy_version=policy.version, validation_runs=invoices.c.validation_runs + 1))
    blocking = [f"{f.code}: {f.message}" for f in found if f.severity == BLOCK]
    touched = record_findings(conn, tid, invoice_id, found, policy, at, actor=actor, reason=reason)
    if report is not None:
        report.cases_opened.update(touched["opened"])
        report.cases_joined.update(touched["joined"])
        report.findings_by_code.update(f.code for f in found)
    result = transition(conn, tenant, invoice_id, "validate", actor=actor, clock=clock,
                        gates=[lambda _conn, _row: blocking])
    if not advance_validated:
        return result.status
    return advance(conn, tenant, invoice_id, result.status, policy, actor=actor, clock=clock)


def advance(conn: Connection, tenant: str, invoice_id: int, status: str, policy: Policy, *, actor: str,
            clock: Clock) -> str:
    """From validated: submit, and when no approval is needed and the policy allows it, approve and issue."""
    if status != "validated":
        return status
    submitted = transition(conn, tenant, invoice_id, "submit", actor=actor, clock=clock)
    if not policy.auto_release:
        return submitted.status
    levels = conn.execute(select(invoices.c.approval_levels).where(invoices.c.id == invoice_id)).scalar()
    if levels:
        return submitted.status
    transition(conn, tenant, invoice_id, "approve", actor=AUTOMATION, clock=clock,
               reason=f"policy version {policy.version} requires no approval")
    from invoiceflow.documents.release_gate import einvoice_issue_policy
    from invoiceflow.lifecycle.states import PolicyRefused

    try:  # an e-invoice that fails refuses the issue (audited); the invoice stays approved until fixed
        return transition(conn, tenant, invoice_id, "issue", actor=actor, clock=clock,
                          policies=[einvoice_issue_policy]).status
    except PolicyRefused:
        return "approved"

