"""Stored invoices and credit notes as EN 16931 documents: the one path from the database to every format.

The billing stage stores what was charged (lines), the tax stage what is owed on it (`invoice_taxes`, each
line's category and rate). This module maps both, with the seller (legal entity), the buyer (customer) and
the seller's payment details, onto `documents.model.Invoice`; the format writers do the rest. Mapping:

- charge lines become invoice lines (BG-25) with their VAT category and rate; a quantity is kept when the
  amount divides into an exact unit price, otherwise the price is stated for the whole quantity (BT-149),
  so quantity x price is the stored amount exactly;
- discount lines become document-level allowances (BG-20, reason code 95) in their VAT category;
- prepaid credit applied is a means of payment, not a price reduction: it is the paid amount (BT-113);
- a credit note references the invoice it corrects (BT-25/BT-26).

The amounts are then recomputed by `compute_totals` and compared with the stored invoice, term by term. A
difference is refused rather than written: a document whose figures disagree with the books must not leave.
Only documents that passed validation (validated and later) are rendered; before issue they carry a
provisional number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import Connection, select

from invoiceflow.documents import parties
from invoiceflow.documents.model import (
    CREDIT_NOTE,
    INVOICE,
    AllowanceCharge,
    Delivery,
    DocumentReference,
    Invoice,
    Line,
    Period,
    VatExemption,
    VatRate,
)
from invoiceflow.documents.totals import Totals, compute_totals
from invoiceflow.errors import NotFound, Problem, ValidationError
from invoiceflow.money import div, mul
from invoiceflow.store.document_tables import legal_entity_payment
from invoiceflow.store.review_tables import invoice_taxes
from invoiceflow.store.tables import contracts, customers, invoice_lines, invoices, legal_entities

#: Statuses whose documents have passed validation and may be rendered (drafts and held ones have not).
RENDERABLE = ("validated", "pending_approval", "approved", "issued", "posted", "partially_paid", "paid")
ISSUED = ("issued", "posted", "partially_paid", "paid")
NET_DAYS = 30
UNIT = "C62"  # UN/ECE Rec. 20 "one": billed items are counted, not weighed
DISCOUNT = "95"  # UNTDID 5189 allowance reason code "Discount"
_PRICE_DIGITS = 6  # at most this many decimals in a unit price derived from amount / quantity


class StoredDocumentError(ValidationError):
    """A stored document that cannot become an e-invoice (not released, no tax, figures that disagree)."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A stored invoice or credit note as an EN 16931 invoice, with the totals it was checked against."""

    invoice_id: int
    status: str
    seller_code: str
    invoice: Invoice
    totals: Totals
    customer_email: str | None

    @property
    def provisional(self) -> bool:
        return self.status not in ISSUED

    @property
    def file_stem(self) -> str:
        """A file name: seller and number (numbers repeat across legal entities), or the id before issue."""
        name = f"provisional-{self.invoice_id}" if self.provisional else self.invoice.number
        return f"{self.seller_code}-{name}"


def load_document(conn: Connection, tenant_id: int, invoice_id: int) -> StoredDocument:
    """Load document `invoice_id` of the tenant and map it; raises NotFound or StoredDocumentError."""
    row = conn.execute(select(invoices).where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)
                       ).mappings().first()
    record = f"invoice {invoice_id}"
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist in this tenant")
    if row["status"] not in RENDERABLE:
        raise StoredDocumentError(
            f"is {row['status']}: only documents that passed validation ({', '.join(RENDERABLE)}) are rendered; "
            "release it first (invoiceflow release)", record=record)
    if row["tax_status"] != "calculated":
        raise StoredDocumentError(f"has no calculated tax (tax_status {row['tax_status']}): run the release pass",
                                  record=record)
    entity = conn.execute(select(legal_entities).where(legal_entities.c.id == row["legal_entity_id"])).mappings().one()
    customer = conn.execute(select(customers).where(customers.c.id == row["customer_id"])).mappings().one()
    details = conn.execute(select(legal_entity_payment).where(
        legal_entity_payment.c.tenant_id == tenant_id,
        legal_entity_payment.c.legal_entity_id == row["legal_entity_id"])).mappings().first()
    po_number = conn.execute(select(contracts.c.po_number).where(contracts.c.id == row["contract_id"])).scalar()
    lines = conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id)
                         .order_by(invoice_lines.c.position)).mappings().all()
    taxes = conn.execute(select(invoice_taxes).where(invoice_taxes.c.invoice_id == invoice_id)
                         .order_by(invoice_taxes.c.id)).mappings().all()
    invoice = _invoice(conn, row, entity, customer, details, po_number, lines, taxes)
    totals = compute_totals(invoice)
    _check_amounts(row, taxes, totals, record)
    return StoredDocument(invoice_id, row["status"], entity["code"], invoice, totals, customer["email"])


def _invoice(conn: Connection, row: Mapping[str, Any], entity, customer, details, po_number, lines, taxes) -> Invoice:
    record = f"invoice {row['id']}"
    provisional = row["status"] not in ISSUED
    number = f"PROVISIONAL-{row['id']}" if provisional else row["number"]
    issued_on = row["billing_date"] if provisional else _utc_date(row["issued_at"])
    credit_note = row["document_type"] == "credit_note"
    charged, adjustments, prepaid = _lines(lines, record)
    buyer = parties.buyer(customer)
    categories = {line.vat.category for line in charged}
    return Invoice(
        number=number,
        issue_date=issued_on,
        currency=row["currency"],
        seller=parties.seller(entity, details),
        buyer=buyer,
        lines=tuple(charged),
        type_code=CREDIT_NOTE if credit_note else INVOICE,
        due_date=None if credit_note else issued_on + timedelta(days=NET_DAYS),
        payment_terms=("The credited amount is set off against open or future invoices." if credit_note
                       else f"Payable within {NET_DAYS} days of the invoice date without deduction."),
        buyer_reference=customer["code"],
        purchase_order=po_number or None,
        preceding_invoice=_preceding(conn, row, record) if credit_note else None,
        period=_period(row["period_start"], row["period_end"]),
        delivery=Delivery(name=buyer.name, address=buyer.address) if "K" in categories else None,
        allowances_charges=tuple(adjustments),
        exemptions=_exemptions(taxes),
        payment_means=parties.payment_means(details, number),
        notes=("Provisional document: not issued yet.",) if provisional else (),
        prepaid_amount=prepaid,
    )


def _lines(rows, record: str) -> tuple[list[Line], list[AllowanceCharge], Decimal]:
    charged: list[Line] = []
    adjustments: list[AllowanceCharge] = []
    prepaid = Decimal(0)
    for row in rows:
        where = f"{record} line {row['position']}"
        if row["line_type"] == "prepaid_credit":
            prepaid -= row["amount"]
            continue
        if row["tax_category"] is None:
            raise StoredDocumentError("has no VAT category: the tax step has not run on it", record=where)
        vat = VatRate(row["tax_category"], None if row["tax_category"] == "O" else row["tax_rate"])
        if row["line_type"] == "discount":
            amount = row["amount"]
            adjustments.append(AllowanceCharge(charge=amount > 0, reason=row["description"], amount=abs(amount),
                                               reason_code=None if amount > 0 else DISCOUNT, vat=vat))
            continue
        quantity, price, base = _quantity_and_price(row["quantity"], row["amount"])
        charged.append(Line(
            id=str(row["position"]), name=row["description"], quantity=quantity, unit_code=UNIT, net_price=price,
            vat=vat, price_base_quantity=base, seller_item_id=row["product_code"] or None,
            period=_period(row["service_start"], row["service_end"]),
        ))
    if not charged:
        raise StoredDocumentError("has no charged line to state (an e-invoice needs at least one)", record=record)
    return charged, adjustments, prepaid


def _quantity_and_price(quantity: Decimal | None, amount: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, net price, price base quantity) whose product is `amount` exactly; the price is never negative.

    A unit price is used when amount / quantity is exact within six decimals (3 x 29.90); otherwise (tiered
    or prorated charges) the price is stated for the whole quantity: 12345 calls at 61.73 per 12345.
    """
    if quantity == 0 and amount == 0:  # e.g. no usage in the period: say so rather than "1 at 0.00"
        return quantity, amount, Decimal(1)
    if quantity is None or quantity == 0:
        quantity = Decimal(1)
    sign = -1 if amount < 0 else 1
    count, price = abs(quantity) * sign, abs(amount)
    if abs(quantity) == 1:
        return count, price, Decimal(1)
    unit = div(price, abs(quantity)).normalize()
    if mul(unit, abs(quantity)) == price and -unit.as_tuple().exponent <= _PRICE_DIGITS:
        return count, unit.quantize(Decimal(1)) if unit.as_tuple().exponent > 0 else unit, Decimal(1)
    return count, price, abs(quantity)


def _period(start: date | None, end: date | None) -> Period | None:
    """Stored periods are half-open [start, end); EN 16931 periods name their last day."""
    if start is None and end is None:
        return None
    last = end - timedelta(days=1) if end is not None else None
    if start is not None and last is not None and last < start:
        last = start
    return Period(start, last)


def _exemptions(taxes) -> tuple[VatExemption, ...]:
    found: dict[str, VatExemption] = {}
    for tax in taxes:
        if tax["category"] not in ("S", "Z") and (tax["exemption_code"] or tax["exemption_reason"]):
            exemption = VatExemption(tax["category"], tax["exemption_reason"], tax["exemption_code"])
            found.setdefault(tax["category"], exemption)
    return tuple(found.values())


def _preceding(conn: Connection, row: Mapping[str, Any], record: str) -> DocumentReference:
    corrected = row["corrects_invoice_id"]
    if corrected is None:
        raise StoredDocumentError("is a credit note without the invoice it corrects (BT-25)", record=record)
    number, issued_at = conn.execute(select(invoices.c.number, invoices.c.issued_at)
                                     .where(invoices.c.id == corrected)).one()
    if not number:
        raise StoredDocumentError(f"corrects invoice {corrected}, which has not been issued and has no number (BT-25)",
                                  record=record)
    return DocumentReference(number, _utc_date(issued_at) if issued_at else None)


def _utc_date(value: datetime) -> date:
    """The UTC date of a stored time (SQLite gives naive UTC, PostgreSQL an aware time)."""
    return (value if value.tzinfo is None else value.astimezone(timezone.utc)).date()


def _check_amounts(row: Mapping[str, Any], taxes, totals: Totals, record: str) -> None:
    """The e-invoice must state exactly what is stored: compare every total and each VAT breakdown."""
    problems = []
    for term, stored, computed in (
        ("BT-106", row["subtotal"], totals.line_total),
        ("BT-107", row["discount_total"], totals.allowance_total),
        ("BT-110", row["tax_total"], totals.tax_total),
        ("BT-113", row["credits_applied"], totals.prepaid),
        ("BT-115", row["total"], totals.payable),
    ):
        if stored != computed:
            problems.append(Problem(record, term, f"the e-invoice would state {computed}, the stored document "
                                                  f"{stored}"))
    stored_breakdown: dict[tuple[str, Decimal], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for tax in taxes:
        entry = stored_breakdown[tax["category"], tax["rate"].normalize()]
        entry[0] += tax["taxable_amount"]
        entry[1] += tax["tax_amount"]
    computed_breakdown = {(b.category, (b.rate or Decimal(0)).normalize()): [b.taxable_amount, b.tax_amount]
                          for b in totals.breakdown}
    if stored_breakdown != computed_breakdown:
        problems.append(Problem(record, "BG-23", f"VAT breakdown {_show(computed_breakdown)} differs from the stored "
                                                 f"{_show(stored_breakdown)}"))
    if problems:
        raise StoredDocumentError(problems)


def _show(breakdown: Mapping[tuple[str, Decimal], list[Decimal]]) -> str:
    return "; ".join(f"{category} {rate}%: {base} -> {tax}"
                     for (category, rate), (base, tax) in sorted(breakdown.items()))
