"""Credit notes raised by a person against an issued invoice: the one write path for them.

Issued invoices are never edited; a mistake is corrected by a credit note. `raise_credit_note` checks a
request against the invoice (billing/crediting.py decides what remains creditable, line by line) and writes
a draft credit note with `corrects_invoice_id`, its request record (who, why, the client reference) and an
audit entry, all in the caller's transaction. A refused request raises before anything is written.

From there the credit note takes the governed path of every draft: the release pass quotes its tax like the
invoice's (same seller, buyer and products, and the invoice's billing date as the tax point), runs the
policy's gates and approval matrix, and issues it as CN-YEAR-SEQUENCE. Whoever raised it is its creator, so
segregation of duties keeps them from approving it.

Idempotent by the client reference: the same request again returns the credit note it made and writes
nothing; the same reference with another request is a ConflictError. Two requests on one invoice queue on
its row lock, so the second sees what the first credited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select

from invoiceflow.audit.log import append_entry, canonical_json
from invoiceflow.billing.crediting import (
    CREDIT, CreditLine, LineRequest, creditable_lines, plain_number, plan_credit)
from invoiceflow.billing.drafts import CREDIT_NOTE, INVOICE, DocumentDraft, LineDraft
from invoiceflow.billing.load import billed_line, earlier_credits
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.errors import ConflictError, NotFound, Problem, ValidationError
from invoiceflow.lifecycle import states
from invoiceflow.money import to_decimal
from invoiceflow.store.tables import credit_note_requests, invoice_lines, invoices

# Statuses of an invoice that was issued and not voided: what a credit note can correct.
CREDITABLE = (states.ISSUED, states.POSTED, states.PARTIALLY_PAID, states.PAID)
MAX_REASON, MAX_REFERENCE, MAX_ACTOR = 2000, 128, 128
LINE_KEYS = ("line_id", "quantity", "amount")


@dataclass(frozen=True, slots=True)
class CreditNoteResult:
    """The credit note a request made; `created` is False when the reference found an earlier one. `total` is
    as stored: before tax until the release pass quotes it."""

    credit_note_id: int
    invoice_id: int
    created: bool
    status: str
    currency: str
    total: Decimal


def raise_credit_note(conn: Connection, tenant_id: int, invoice_id: int, *, actor: str, reason: str | None,
                      lines: Sequence[Mapping[str, Any]] | None = None, reference: str | None = None,
                      clock: Clock | None = None) -> CreditNoteResult:
    """Write a draft credit note against issued invoice `invoice_id` of the tenant.

    `lines`: None credits everything that remains; otherwise [{"line_id", "quantity" or "amount"}], a line
    without either crediting all that remains of it. Quantities and amounts are decimal strings or integers.
    """
    record = f"invoice {invoice_id}"
    actor = _required(actor, "actor", MAX_ACTOR, "the team member who raises the credit note", record)
    reason = _required(reason, "reason", MAX_REASON, "why the invoice is credited", record)
    reference = _reference(reference, record)
    requests = line_requests(lines, record)
    invoice = _locked_invoice(conn, tenant_id, invoice_id)
    fingerprint = request_hash(invoice_id, reason, requests)
    earlier = _replay(conn, tenant_id, reference, fingerprint) if reference is not None else None
    if earlier is not None:
        return earlier
    _check_creditable(invoice, record)
    draft, planned = _plan(conn, invoice, requests, record)
    at = (clock or SystemClock()).now().astimezone(timezone.utc)
    credit_note_id = _write(conn, tenant_id, draft, planned, actor=actor, at=at)
    conn.execute(insert(credit_note_requests).values(
        tenant_id=tenant_id, credit_note_id=credit_note_id, reference=reference, request_hash=fingerprint,
        reason=reason, requested_by=actor, requested_at=at))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="invoice.credit", object_type="invoice",
                 object_id=invoice_id, at=at, payload={
                     "credit_note": credit_note_id, "number": invoice["number"], "reason": reason,
                     "reference": reference, "currency": invoice["currency"], "total": draft.total,
                     "lines": [{"line": p.source.line.id, "quantity": p.quantity, "amount": p.amount}
                               for p in planned]})
    return CreditNoteResult(credit_note_id, invoice_id, True, states.DRAFT, invoice["currency"], draft.total)


def line_requests(items: Sequence[Mapping[str, Any]] | None, record: str) -> list[LineRequest] | None:
    """Requested lines as typed requests, or a ValidationError naming each item at fault."""
    if items is None:
        return None
    problems: list[Problem] = []
    out = []
    for index, item in enumerate(items):
        where = f"{record} lines[{index}]"
        try:
            out.append(_line_request(item, where))
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        raise ValidationError(problems)
    return out


def request_hash(invoice_id: int, reason: str, requests: Sequence[LineRequest] | None) -> str:
    """What makes two requests the same: the invoice, the reason and the lines (numbers compared by value)."""
    lines = None if requests is None else [
        {"line_id": r.line_id, "quantity": _plain(r.quantity), "amount": _plain(r.amount)} for r in requests]
    body = canonical_json({"invoice": invoice_id, "reason": reason, "lines": lines})
    return hashlib.sha256(body.encode()).hexdigest()


def _line_request(item: Mapping[str, Any], where: str) -> LineRequest:
    if not isinstance(item, Mapping):
        raise ValidationError("must be an object with line_id and an optional quantity or amount", record=where)
    unknown = sorted(set(item) - set(LINE_KEYS))
    if unknown:
        raise ValidationError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(LINE_KEYS)})", record=where)
    line_id = item.get("line_id")
    if isinstance(line_id, bool) or not isinstance(line_id, int) or line_id < 1:
        raise ValidationError(f"must be the id of an invoice line (a positive integer), got {line_id!r}",
                              record=where, field="line_id")
    quantity, amount = (None if item.get(key) is None else to_decimal(item[key], record=where, field=key)
                        for key in ("quantity", "amount"))
    return LineRequest(line_id, quantity, amount)


def _required(value: str | None, field: str, limit: int, what: str, record: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError(f"is required: {what} (--{field})", record=record, field=field)
    if len(text) > limit:
        raise ValidationError(f"has {len(text)} characters; at most {limit}", record=record, field=field)
    return text


def _reference(value: str | None, record: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_REFERENCE or not text.isprintable():
        raise ValidationError(f"a reference is 1 to {MAX_REFERENCE} printable characters, got {value!r}",
                              record=record, field="reference")
    return text


def _locked_invoice(conn: Connection, tenant_id: int, invoice_id: int) -> Mapping[str, Any]:
    row = conn.execute(select(invoices).where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)
                       .with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist in this tenant")
    return row


def _replay(conn: Connection, tenant_id: int, reference: str, fingerprint: str) -> CreditNoteResult | None:
    found = conn.execute(
        select(credit_note_requests.c.request_hash, invoices.c.id, invoices.c.corrects_invoice_id,
               invoices.c.status, invoices.c.currency, invoices.c.total)
        .join(invoices, invoices.c.id == credit_note_requests.c.credit_note_id)
        .where(credit_note_requests.c.tenant_id == tenant_id, credit_note_requests.c.reference == reference)
    ).first()
    if found is None:
        return None
    if found.request_hash != fingerprint:
        raise ConflictError(f"reference {reference!r} was already used for credit note {found.id} against invoice "
                            f"{found.corrects_invoice_id} with a different request; use a new reference for a new "
                            "credit note")
    return CreditNoteResult(int(found.id), int(found.corrects_invoice_id), False, found.status, found.currency,
                            found.total)


def _check_creditable(invoice: Mapping[str, Any], record: str) -> None:
    if invoice["document_type"] != INVOICE:
        corrects = invoice["corrects_invoice_id"]
        hint = f" (to give more back, credit invoice {corrects}; to undo it, void it)" if corrects else ""
        raise ValidationError(f"is a credit note: only invoices are credited{hint}", record=record)
    if invoice["status"] not in CREDITABLE:
        hint = ("void it or correct it before issue" if invoice["status"] != states.VOID
                else "a void invoice owes nothing")
        raise ValidationError(f"is {invoice['status']}: only issued invoices ({', '.join(CREDITABLE)}) are credited; "
                              f"{hint}", record=record, field="status")


def _plan(conn: Connection, invoice: Mapping[str, Any], requests: list[LineRequest] | None,
          record: str) -> tuple[DocumentDraft, list[CreditLine]]:
    """The credit note the request makes, from the invoice's lines and what earlier credit notes took."""
    rows = _invoice_lines(conn, invoice["id"])
    billed = [billed_line(row) for row in rows.values()]
    earlier = earlier_credits(conn, [invoice["id"]])[invoice["id"]]
    creditable = creditable_lines(billed, earlier, invoice["currency"])
    planned = plan_credit(creditable, requests, invoice["currency"], record=record, lines=billed)
    return _draft(invoice, planned, rows), planned


def _invoice_lines(conn: Connection, invoice_id: int) -> dict[int, Mapping[str, Any]]:
    rows = conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id)
                        .order_by(invoice_lines.c.position)).mappings().all()
    return {int(row["id"]): row for row in rows}


def _draft(invoice: Mapping[str, Any], planned: Sequence[CreditLine],
           rows: Mapping[int, Mapping[str, Any]]) -> DocumentDraft:
    """The credit note as a draft document. Its billing date is the invoice's: the tax point its tax is
    quoted for. Each line keeps the credited line's product (its tax and revenue account follow from it),
    charge, meter, dimensions, contract and plan versions and service period (recognition reverses those
    days)."""
    source = f"{invoice['number']}" if invoice["number"] else f"invoice {invoice['id']}"
    draft = DocumentDraft(
        document_type=CREDIT_NOTE, subscription_id=invoice["subscription_id"], customer_id=invoice["customer_id"],
        contract_id=invoice["contract_id"], legal_entity_id=invoice["legal_entity_id"],
        currency=invoice["currency"], billing_date=invoice["billing_date"], corrects_invoice_id=invoice["id"])
    for p in planned:
        line, row = p.source.line, rows[p.source.line.id]
        draft.lines.append(LineDraft(
            line_type=CREDIT, description=f"Credit: {line.description} ({source} line {line.position})"[:300],
            amount=p.amount, precise_amount=p.precise_amount, quantity=p.quantity, product_code=row["product_code"],
            charge_code=row["charge_code"], meter_code=row["meter_code"], dims=row["dims"],
            service_start=line.service_start, service_end=line.service_end,
            contract_version_id=row["contract_version_id"], plan_version_id=row["plan_version_id"],
            trace={"credits": {"invoice_id": invoice["id"], "number": invoice["number"], "line_id": line.id,
                               "position": line.position}, "line_net": str(p.source.net),
                   "credited_before": str(p.source.credited)}))
    return draft


def _write(conn: Connection, tenant_id: int, draft: DocumentDraft, planned: Sequence[CreditLine], *, actor: str,
           at: datetime) -> int:
    start, end = draft.period
    credit_note_id = int(conn.execute(insert(invoices).values(
        tenant_id=tenant_id, document_type=CREDIT_NOTE, status=states.DRAFT, customer_id=draft.customer_id,
        subscription_id=draft.subscription_id, contract_id=draft.contract_id, legal_entity_id=draft.legal_entity_id,
        billing_date=draft.billing_date, period_start=start, period_end=end, currency=draft.currency,
        subtotal=draft.subtotal, discount_total=draft.discount_total, credits_applied=draft.credits_applied,
        total=draft.total, corrects_invoice_id=draft.corrects_invoice_id, bill_run_id=None, created_at=at,
        created_by=actor).returning(invoices.c.id)).scalar_one())
    conn.execute(insert(invoice_lines), [
        {**asdict(line), "tenant_id": tenant_id, "invoice_id": credit_note_id, "position": position,
         "credits_line_id": p.source.line.id}
        for position, (line, p) in enumerate(zip(draft.lines, planned), start=1)])
    return credit_note_id


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else plain_number(value)

