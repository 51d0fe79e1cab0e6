"""Payment processor events become payments: posted to the ledger and moving the invoice to paid.

`payment_intent.succeeded` and `invoice.paid` name the invoice by `metadata.invoice_number` (set it when
creating the payment intent or the processor's invoice). The amount, in the processor's minor units, is
converted with the currency's ISO 4217 exponent; the ledger's `post_payment` books it (Dr cash, Cr
receivable) under the key "payment:stripe:<payment intent id>", so the two events Stripe sends for one paid
invoice book it once. The invoice then moves posted -> partially_paid or paid through the lifecycle, by what
is still outstanding after the payments recorded from earlier events.

`charge.refunded` is recorded but not booked: a refund corrects an issued invoice, which is a credit note's
job. Other event types are acknowledged and ignored, since Stripe sends whatever the account subscribes to.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import Connection, select

from invoiceflow.clock import FrozenClock
from invoiceflow.ledger.posting_rules import payment_key
from invoiceflow.ledger.sql_ledger import SqlLedger, post_payment
from invoiceflow.lifecycle.service import transition
from invoiceflow.money import exponent, is_currency
from invoiceflow.store.tables import invoices, legal_entities
from invoiceflow.store.webhook_tables import inbound_events
from invoiceflow.webhooks.processing import Context, Processed, ProcessingError

PAYABLE = ("posted", "partially_paid")
_AMOUNT_FIELD = {"payment_intent.succeeded": "amount_received", "invoice.paid": "amount_paid"}
_WHERE = "data.object"


def process(conn: Connection, ctx: Context, event: Mapping[str, Any]) -> Processed:
    kind, obj = event["type"], event["data"]["object"]
    if kind == "charge.refunded":
        return Processed({"action": "recorded", "charge": obj["id"], "amount_refunded_minor": obj["amount_refunded"],
                          "currency": str(obj["currency"]).upper(),
                          "note": "refunds are not booked automatically: issue a credit note for the refund"})
    if kind not in _AMOUNT_FIELD:
        return Processed({"action": "ignored", "reason": f"invoiceflow does not act on {kind} events"})
    currency = str(obj["currency"]).upper()
    if not is_currency(currency):
        raise ProcessingError(f"{obj['currency']!r} is not an ISO 4217 currency", field=f"{_WHERE}.currency")
    amount = Decimal(int(obj[_AMOUNT_FIELD[kind]])).scaleb(-exponent(currency))
    if amount <= 0:
        return Processed({"action": "ignored", "reason": "nothing was paid (amount 0)"})
    number = obj["metadata"]["invoice_number"]
    invoice = _invoice(conn, ctx.tenant_id, number)
    if invoice["currency"] != currency:
        raise ProcessingError(f"invoice {number} is in {invoice['currency']}, the payment in {currency}",
                              field=f"{_WHERE}.currency")
    key = f"stripe:{obj.get('payment_intent') or obj['id']}" if kind == "invoice.paid" else f"stripe:{obj['id']}"
    if SqlLedger().find(conn, ctx.tenant_id, payment_key(key)) is not None:
        return Processed({"action": "already_recorded", "invoice": number, "payment": key,
                          "reason": "this payment was booked from an earlier event"})
    if invoice["status"] not in PAYABLE:
        raise ProcessingError(f"invoice {number} is {invoice['status']}; payments apply to posted invoices (an "
                              "issued invoice waits for its ledger posting): replay this event once it is posted",
                              field=f"{_WHERE}.metadata.invoice_number")
    outstanding = invoice["total"] - _paid_before(conn, ctx.tenant_id, invoice["id"])
    on = datetime.fromtimestamp(int(event["created"]), tz=timezone.utc).date()
    posted = post_payment(conn, ctx.tenant_id, key=key, legal_entity=invoice["legal_entity"], on=on,
                          currency=currency, amount=amount, at=ctx.at, invoice_id=invoice["id"], actor=ctx.actor)
    action = "pay" if amount >= outstanding else "pay_partially"
    moved = transition(conn, ctx.tenant, invoice["id"], action, actor=ctx.actor, clock=FrozenClock(ctx.at))
    return Processed({"action": "payment_recorded", "invoice": number, "invoice_id": invoice["id"],
                      "amount": format(amount, "f"), "currency": currency, "payment": key,
                      "ledger_entry": posted.entry.entry_key, "status": moved.status,
                      "outstanding": format(max(outstanding - amount, Decimal(0)), "f"),
                      "overpaid": format(max(amount - outstanding, Decimal(0)), "f")},
                     invoice_id=invoice["id"], amount=amount)


def _invoice(conn: Connection, tenant_id: int, number: str) -> dict[str, Any]:
    row = conn.execute(select(invoices.c.id, invoices.c.status, invoices.c.currency, invoices.c.total,
                              legal_entities.c.code.label("legal_entity"))
                       .join(legal_entities, legal_entities.c.id == invoices.c.legal_entity_id)
                       .where(invoices.c.tenant_id == tenant_id, invoices.c.number == number)).mappings().first()
    if row is None:
        raise ProcessingError(f"no invoice numbered {number!r} in this tenant",
                              field=f"{_WHERE}.metadata.invoice_number")
    return dict(row)


def _paid_before(conn: Connection, tenant_id: int, invoice_id: int) -> Decimal:
    """Payments applied to the invoice by earlier events (summed in Python: amounts are text on SQLite)."""
    amounts = conn.execute(select(inbound_events.c.amount).where(
        inbound_events.c.tenant_id == tenant_id, inbound_events.c.invoice_id == invoice_id,
        inbound_events.c.status.in_(("accepted", "replayed")), inbound_events.c.amount.is_not(None))).scalars()
    return sum(amounts, Decimal(0))
