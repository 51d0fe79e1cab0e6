"""Read side of the lifecycle: an invoice's transitions and refused attempts, oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from invoiceflow.audit.log import canonical_time, read_entries
from invoiceflow.errors import NotFound
from invoiceflow.store.db import reader
from invoiceflow.store.tables import invoice_transitions, invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

_HEADER = ("id", "document_type", "status", "number", "legal_entity_id", "currency", "total", "created_by",
           "approved_by", "issued_at")


def invoice_history(engine: Engine, invoice_id: int, *, tenant: str = "default") -> dict[str, Any]:
    """The invoice's header, every transition (who, when, why) and every refused attempt on it.

    Transitions come from `invoice_transitions`; refused attempts change no invoice, so they live only in
    the audit log, where they are read from.
    """
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        row = conn.execute(
            select(*(invoices.c[name] for name in _HEADER))
            .where(invoices.c.tenant_id == tid, invoices.c.id == invoice_id)
        ).mappings().first()
        if row is None:
            raise NotFound(f"invoice {invoice_id} does not exist for tenant {tenant!r}")
        moves = conn.execute(
            select(invoice_transitions).where(invoice_transitions.c.invoice_id == invoice_id)
            .order_by(invoice_transitions.c.id)
        ).mappings().all()
        refused = [
            {"at": canonical_time(e.at), "action": e.action.split(".")[1], "actor": e.actor,
             "status": e.payload.get("status"), "reason": e.payload.get("reason"), "rule": e.payload.get("rule"),
             "error": e.payload.get("error"), "audit_sequence": e.sequence}
            for e in read_entries(conn, tid, object_type="invoice", object_id=invoice_id)
            if e.action.endswith(".refused")
        ]
    transitions = [
        {"at": canonical_time(m["at"]), "action": m["action"], "from": m["from_status"], "to": m["to_status"],
         "actor": m["actor"], "reason": m["reason"], "detail": m["detail"] or {}}
        for m in moves
    ]
    header = dict(row)
    if header["issued_at"] is not None:
        header["issued_at"] = canonical_time(header["issued_at"])
    return {"invoice": header, "transitions": transitions, "refused": refused}
