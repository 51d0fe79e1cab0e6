"""Demo steps that act like the people in the story: an approver works the approval queue, the ledger
posts what was issued. Each is idempotent, so a rerun of the demo finds nothing left to do."""

from __future__ import annotations

from sqlalchemy import Engine, select

from invoiceflow.clock import Clock
from invoiceflow.ledger import post_invoice
from invoiceflow.lifecycle.service import transition
from invoiceflow.lifecycle.states import TransitionRefused
from invoiceflow.store.tables import invoices
from invoiceflow.store.tenancy import tenant_id

APPROVER, NOT_AN_APPROVER = "omar.controller", "maya.finance"


def _ids(engine: Engine, tenant: str, status: str) -> list[int]:
    with engine.connect() as conn:
        tid = tenant_id(conn, tenant, create=False)
        return list(conn.execute(select(invoices.c.id).where(invoices.c.tenant_id == tid, invoices.c.status == status)
                                 .order_by(invoices.c.id)).scalars())


def approve_pending(engine: Engine, tenant: str, clock: Clock) -> tuple[int, str]:
    """Approve and issue every invoice waiting for approval; returns (count, one refusal shown on the way)."""
    pending = _ids(engine, tenant, "pending_approval")
    refused = ""
    if pending:
        try:
            transition(engine, tenant, pending[0], "approve", actor=NOT_AN_APPROVER, clock=clock)
        except TransitionRefused as exc:
            refused = exc.problems[0].message
    done = 0
    for invoice_id in pending:
        result = transition(engine, tenant, invoice_id, "approve", actor=APPROVER, clock=clock)
        if result.status == "approved":
            transition(engine, tenant, invoice_id, "issue", actor=APPROVER, clock=clock)
            done += 1
    return done, refused


def post_to_ledger(engine: Engine, tenant: str, clock: Clock) -> int:
    """Post every issued document to the built-in ledger and mark it posted, one transaction each."""
    posted = 0
    for invoice_id in _ids(engine, tenant, "issued"):
        with engine.begin() as conn:
            post_invoice(conn, tenant, invoice_id, at=clock.now())
            transition(conn, tenant, invoice_id, "post", actor="ledger", clock=clock)
        posted += 1
    return posted
