"""Posting issued invoices to the tenant's ERP through the outbox: the `erp.post` effect and its handler.

Why an effect and not a call: the ERP is another system that can be down, slow or wrong for hours, while
issuing an invoice must not wait for it nor be undone by it. `enqueue_posting` writes the effect in the
caller's transaction (idempotency key "erp.post:invoice:<id>", ordering key per customer account, so one
account's postings reach the ERP in the order they were made: an invoice before its credit note).

The handler builds the document's journal entry with the same posting rules the built-in ledger uses, hands
it to the tenant's connector (erp_config.py), whose `post` looks the entry key up before creating anything
(reconcile before retry), stores the ExternalRef on the effect's result, and only then moves the invoice
issued -> posted in a new transaction (lifecycle "post", actor "ledger"). Until the ERP confirmed, the
invoice stays issued. With the `builtin` target the entry goes to SqlLedger instead, in the same transaction
as the status change. Faults a fix must precede (GL mapping, configuration, credentials, a changed schema)
are Permanent and dead-letter the effect; `effects replay` runs it again once fixed. See docs/erp.md.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from invoiceflow.clock import Clock
from invoiceflow.effects import EffectContext, EffectRef, EffectView, HandlerRegistry, Permanent, Transient
from invoiceflow.effects import enqueue, register
from invoiceflow.errors import ConflictError, NotFound, ValidationError
from invoiceflow.ledger.accounts import MissingMapping
from invoiceflow.ledger.connectors.base import ExternalRef
from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.erp_config import TARGETS, build_connector, erp_retry_policy, load_target
from invoiceflow.ledger.load import ISSUED_STATUSES, StoredDocument, load_chart, load_document
from invoiceflow.ledger.posting_rules import issued_entry, void_entry
from invoiceflow.ledger.sql_ledger import post_invoice
from invoiceflow.lifecycle.service import transition
from invoiceflow.store.tables import customers, invoices, tenants

KIND = "erp.post"
ACTOR = "ledger"


def idempotency_key(invoice_id: int) -> str:
    return f"{KIND}:invoice:{invoice_id}"


def ordering_key(customer_id: int) -> str:
    return f"{KIND}:customer:{customer_id}"


def enqueue_posting(conn: Connection, tenant_id: int, invoice_id: int, *, at: datetime,
                    target: str | None = None, event: str = "issued") -> EffectRef:
    """Record the ERP posting of an issued invoice or credit note in `conn`'s transaction.

    `target` defaults to the tenant's configured ERP target; enqueueing again returns the same effect.
    `event` "void" records a second posting for a document voided after issue: the handler posts what the
    ledger is missing (the reversal), since every entry is idempotent by its key.
    """
    row = conn.execute(select(invoices.c.status, invoices.c.number, invoices.c.customer_id, tenants.c.code)
                       .join(tenants, tenants.c.id == invoices.c.tenant_id)
                       .where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)).first()
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist for tenant {tenant_id}")
    if row.status not in ISSUED_STATUSES and not (row.status == "void" and row.number):
        raise ValidationError(f"is {row.status}: only issued documents are posted to the ERP",
                              record=f"invoice {invoice_id}", field="status")
    name = target or load_target(row.code).name
    if name not in TARGETS:
        raise ValidationError(f"unknown ERP target {name!r}; use one of {', '.join(TARGETS)}",
                              record=f"invoice {invoice_id}", field="target")
    return enqueue(conn, tenant_id, KIND, target=name, payload={"invoice": int(invoice_id)},
                   idempotency_key=idempotency_key(invoice_id) + ("" if event == "issued" else f":{event}"),
                   ordering_key=ordering_key(int(row.customer_id)),
                   at=at)


def post_to_erp(effect: EffectView, context: EffectContext) -> dict[str, Any]:
    """The `erp.post` handler (see the module docstring)."""
    invoice_id = effect.payload.get("invoice")
    if not isinstance(invoice_id, int) or isinstance(invoice_id, bool):
        raise Permanent(f"{KIND} effect {effect.id}: payload {effect.payload!r} has no integer 'invoice'")
    where = f"{KIND} invoice {invoice_id} (tenant {effect.tenant_id}, target {effect.target})"
    try:
        with context.engine.connect() as conn:
            tenant, customer = _names(conn, effect.tenant_id, invoice_id)
            where = f"{KIND} invoice {invoice_id} (tenant {tenant}, target {effect.target})"
            stored = load_document(conn, effect.tenant_id, invoice_id)
            stored.check_postable()
            entries = [] if effect.target == "builtin" else _entries(conn, effect.tenant_id, stored)
    except MissingMapping as exc:
        raise Permanent(f"{where}: cannot build the journal entry: {'; '.join(g.message for g in exc.gaps)}; "
                        "fix the GL mapping, then replay the effect") from exc
    except (ValidationError, NotFound) as exc:
        raise Permanent(f"{where}: {exc}") from exc
    if effect.target == "builtin":
        return _post_builtin(effect, context, tenant, invoice_id, where)
    try:
        target = load_target(tenant)
        if target.name != effect.target:
            raise ValidationError(f"the tenant now posts to {target.name!r}, but this effect was enqueued for "
                                  f"{effect.target!r}; restore that target to deliver it", record=target.record)
        connector = build_connector(target, customer=customer)
    except ValidationError as exc:
        raise Permanent(f"{where}: the ERP configuration is wrong: {exc}") from exc
    assert connector is not None
    try:
        refs = [connector.post(entry) for entry in entries]
    except Transient as exc:
        raise Transient(f"{where}: {exc.detail}", retry_after=exc.retry_after) from exc
    except Permanent as exc:
        raise Permanent(f"{where}: {exc.detail}") from exc
    finally:
        getattr(connector, "close", lambda: None)()
    with context.engine.begin() as conn:  # the ERP confirmed: only now does the invoice move
        status = _mark_posted(conn, tenant, invoice_id, context.clock)
    return _result(effect.target, invoice_id, refs, status)


def _post_builtin(effect: EffectView, context: EffectContext, tenant: str, invoice_id: int,
                  where: str) -> dict[str, Any]:
    try:
        with context.engine.begin() as conn:
            posted = post_invoice(conn, effect.tenant_id, invoice_id, at=context.clock.now(), actor=ACTOR)
            status = _mark_posted(conn, tenant, invoice_id, context.clock)
    except MissingMapping as exc:
        raise Permanent(f"{where}: cannot build the journal entry: {'; '.join(g.message for g in exc.gaps)}; "
                        "fix the GL mapping, then replay the effect") from exc
    except (ValidationError, ConflictError) as exc:
        raise Permanent(f"{where}: {exc}") from exc
    refs = [ExternalRef("builtin", p.id, None, p.entry.entry_key) for p in posted]
    return _result("builtin", invoice_id, refs, status)


def _entries(conn: Connection, tenant_id: int, stored: StoredDocument) -> list[JournalEntry]:
    """The same entries post_invoice gives the built-in ledger: the issue entry and, once void, its reversal."""
    document = stored.document
    entry = issued_entry(document, load_chart(conn, tenant_id, stored.legal_entity_id, document.legal_entity))
    if entry is None:
        return []  # nothing but zero amounts
    if stored.void_on is None:
        return [entry]
    return [entry, void_entry(document, entry, on=stored.void_on)]


def _names(conn: Connection, tenant_id: int, invoice_id: int) -> tuple[str, str | None]:
    row = conn.execute(select(tenants.c.code, customers.c.code.label("customer"))
                       .select_from(invoices.join(tenants, tenants.c.id == invoices.c.tenant_id)
                                    .outerjoin(customers, customers.c.id == invoices.c.customer_id))
                       .where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)).first()
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist for tenant {tenant_id}")
    return row.code, row.customer


def _mark_posted(conn: Connection, tenant: str, invoice_id: int, clock: Clock) -> str:
    """issued -> posted; any later status (paid, void, posted) is left as it is."""
    status = conn.execute(select(invoices.c.status).where(invoices.c.id == invoice_id)).scalar_one()
    if status != "issued":
        return status
    return transition(conn, tenant, invoice_id, "post", actor=ACTOR, clock=clock).status


def _result(target: str, invoice_id: int, refs: list[ExternalRef], status: str) -> dict[str, Any]:
    return {"target": target, "invoice": invoice_id, "invoice_status": status,
            "refs": [{**asdict(ref), "id": str(ref.id)} for ref in refs]}


def erp_handlers(policy_environ: dict[str, str] | None = None) -> HandlerRegistry:
    """A registry holding only the erp.post handler (for runners that should run nothing else)."""
    handlers = HandlerRegistry()
    handlers.register(KIND, post_to_erp, policy=erp_retry_policy(policy_environ))
    return handlers


register(KIND, post_to_erp, policy=erp_retry_policy())
