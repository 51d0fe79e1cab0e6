"""Outbound events: `emit` writes one "webhook.deliver" effect per subscribed endpoint, in the caller's
transaction, and the audit-log listener turns audited business changes into events.

Why the audit log: every change worth telling a receiver about (an invoice issued or held, a review case
opened or resolved, an effect dead-lettered) already appends an audit entry in its own transaction. Hooking
there (audit.log.add_listener) gives every one of those events, from the API, the CLI or a worker, without
touching the modules that make the changes, and an event is enqueued if and only if its change commits.

Event ids derive from the audit entry's hash, so an event has one id whichever process sees it; with the
endpoint id they make the effect's idempotency key, so an endpoint gets an event at most once (redelivery
is explicit). Events carry `created` and no ordering key: like Stripe's, they may arrive out of order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Connection, select

from invoiceflow.audit.log import AuditEntry
from invoiceflow.effects.model import EffectRef, utc
from invoiceflow.effects.outbox import enqueue
from invoiceflow.store.review_tables import review_cases
from invoiceflow.store.tables import customers, invoices, tenants
from invoiceflow.store.webhook_tables import webhook_endpoints

KIND = "webhook.deliver"
WILDCARD = "*"
EVENT_TYPES = (
    "invoice.issued", "invoice.held", "invoice.posted", "invoice.partially_paid", "invoice.paid", "invoice.voided",
    "review_case.opened", "review_case.resolved", "effect.dead_lettered", "integration_event.parked",
)
_INVOICE_ACTIONS = {"invoice.issue": "invoice.issued", "invoice.post": "invoice.posted",
                    "invoice.pay_partially": "invoice.partially_paid", "invoice.pay": "invoice.paid",
                    "invoice.void": "invoice.voided"}
_HELD_BY = ("invoice.validate", "invoice.hold", "invoice.reject")


def target(endpoint_id: int) -> str:
    """The effect target of deliveries to an endpoint: what the delivery log filters on."""
    return f"webhook-endpoint:{endpoint_id}"


def emit(conn: Connection, tenant_id: int, event_type: str, obj: Mapping[str, Any], *, at: datetime,
         event_id: str | None = None) -> list[EffectRef]:
    """Enqueue `event_type` about `obj` to every active endpoint of the tenant subscribed to it."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    rows = conn.execute(select(webhook_endpoints.c.id, webhook_endpoints.c.event_types).where(
        webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.active.is_(True),
        webhook_endpoints.c.deleted_at.is_(None))).all()
    subscribed = [int(r.id) for r in rows if event_type in r.event_types or WILDCARD in r.event_types]
    if not subscribed:
        return []
    at = utc(at)  # type: ignore[assignment]
    event = {"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type,
             "created": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "tenant": _tenant_code(conn, tenant_id),
             "data": dict(obj)}
    return [enqueue(conn, tenant_id, KIND, target=target(endpoint_id), payload={"endpoint_id": endpoint_id,
                                                                                "event": event},
                    idempotency_key=f"webhook:{endpoint_id}:{event['id']}", at=at) for endpoint_id in subscribed]


def event_of(conn: Connection, entry: AuditEntry) -> tuple[str, dict[str, Any]] | None:
    """The outbound event an audit entry means, as (type, data object), or None."""
    action, payload = entry.action, entry.payload or {}
    if action in _INVOICE_ACTIONS or (action in _HELD_BY and payload.get("to") == "held"):
        event_type = _INVOICE_ACTIONS.get(action, "invoice.held")
        return event_type, _invoice(conn, entry.tenant_id, int(entry.object_id), payload)
    if action in ("case.opened", "case.resolved"):
        return f"review_case.{action.split('.')[1]}", _case(conn, entry.tenant_id, int(entry.object_id), payload)
    if action == "effect.dead_lettered" and payload.get("kind") != KIND:  # a failing webhook must not beget more
        return "effect.dead_lettered", {"object": "effect", "id": int(entry.object_id), **{
            k: payload.get(k) for k in ("kind", "target", "idempotency_key", "attempts", "error")}}
    return None


def on_audit_entry(conn: Connection, entry: AuditEntry) -> None:
    """The audit-log listener: emit the event an entry means (cheap when it means none)."""
    if entry.action not in _LISTENED:
        return
    found = event_of(conn, entry)
    if found is not None:
        emit(conn, entry.tenant_id, found[0], found[1], at=entry.at, event_id="evt_" + entry.hash[:32])


_LISTENED = frozenset({*_INVOICE_ACTIONS, *_HELD_BY, "case.opened", "case.resolved", "effect.dead_lettered"})


def _invoice(conn: Connection, tenant_id: int, invoice_id: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    row = conn.execute(select(invoices.c.id, invoices.c.number, invoices.c.status, invoices.c.document_type,
                              invoices.c.currency, invoices.c.total, invoices.c.tax_total, invoices.c.billing_date,
                              invoices.c.issued_at, customers.c.code.label("customer"))
                       .join(customers, customers.c.id == invoices.c.customer_id)
                       .where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)).mappings().first()
    data: dict[str, Any] = {"object": "invoice", "id": invoice_id}
    if row is not None:
        data.update({k: row[k] for k in ("number", "status", "document_type", "customer", "currency")})
        data.update(total=format(row["total"], "f"), tax_total=format(row["tax_total"], "f"),
                    billing_date=row["billing_date"].isoformat() if row["billing_date"] else None,
                    issued_at=_iso(row["issued_at"]))
    data.update({k: payload[k] for k in ("from", "reason", "findings") if payload.get(k) is not None})
    return data


def _case(conn: Connection, tenant_id: int, case_id: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    row = conn.execute(select(review_cases).where(review_cases.c.tenant_id == tenant_id,
                                                  review_cases.c.id == case_id)).mappings().first()
    data: dict[str, Any] = {"object": "review_case", "id": case_id}
    if row is not None:
        data.update({k: row[k] for k in ("case_type", "root_cause", "title", "queue", "priority", "status",
                                         "assignee", "resolution", "reason")})
        data.update(opened_at=_iso(row["opened_at"]), due_at=_iso(row["due_at"]), resolved_at=_iso(row["resolved_at"]))
    return data


def _tenant_code(conn: Connection, tenant_id: int) -> str:
    return conn.execute(select(tenants.c.code).where(tenants.c.id == tenant_id)).scalar_one()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]
