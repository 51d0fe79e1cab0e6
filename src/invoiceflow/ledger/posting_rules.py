"""Which journal entry each billing event makes (pure): invoice issued, credit note issued, void, payment.

Invoice issued (document currency, dated the issue day):

    Dr receivable           what the customer owes: lines plus tax (prepaid credit already taken off)
    Cr revenue              per product, lines whose service has started by the issue day
    Cr deferred revenue     per product, lines whose service starts after the issue day (the whole line)
    Cr tax                  one line per tax row (category, rate, jurisdiction)
    Dr deferred revenue     prepaid credit applied: the prepayment (a contract liability) is used up

Discounts and other negative lines reduce the revenue of their product, or the default revenue account
when they name no product. A net negative amount for an account flips to the other side. A credit note is
the mirror image (Dr revenue, deferred revenue and tax; Cr receivable). A void reverses the entry posted at
issue line by line. A payment debits cash and credits the receivable. Recognising deferred revenue over
time is revenue recognition's job (revrec/journal.py), posted through the same ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from invoiceflow.errors import ValidationError
from invoiceflow.ledger.accounts import (
    ALL_PRODUCTS, CASH, DEFERRED_REVENUE, RECEIVABLE, REVENUE, TAX, Chart, MappingGap)
from invoiceflow.ledger.entries import JournalEntry, JournalLine

ZERO = Decimal(0)
INVOICE, CREDIT_NOTE = "invoice", "credit_note"
PREPAID_CREDIT = "prepaid_credit"


@dataclass(frozen=True, slots=True)
class DocumentLine:
    amount: Decimal  # rounded, as on the document; negative for discounts and prepaid credit
    line_type: str
    product: str | None = None
    service_start: date | None = None


@dataclass(frozen=True, slots=True)
class DocumentTax:
    category: str
    rate: Decimal
    jurisdiction: str
    tax_amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """What posting needs to know of an invoice or credit note."""

    id: int
    document_type: str  # invoice | credit_note
    legal_entity: str
    currency: str
    billing_date: date
    issued_on: date | None  # None before issue: readiness then plans for either side of the service start
    lines: tuple[DocumentLine, ...]
    taxes: tuple[DocumentTax, ...] = ()
    number: str | None = None

    @property
    def receivable(self) -> Decimal:
        """What the document adds to (credit note: takes off) the customer's balance, tax included."""
        return sum((l.amount for l in self.lines), ZERO) + sum((t.tax_amount for t in self.taxes), ZERO)

    @property
    def source_type(self) -> str:
        return CREDIT_NOTE if self.document_type == CREDIT_NOTE else INVOICE


def entry_key(document: Document, event: str) -> str:
    """The idempotency key of a document's event: "invoice:12:issued", "credit_note:14:void"."""
    return f"{document.source_type}:{document.id}:{event}"


def payment_key(key: str) -> str:
    return f"payment:{key}"


def _role_of(line: DocumentLine, on: date) -> str:
    if line.line_type == PREPAID_CREDIT:
        return DEFERRED_REVENUE
    if line.service_start is not None and line.service_start > on:
        return DEFERRED_REVENUE
    return REVENUE


def _product_of(line: DocumentLine) -> str:
    return ALL_PRODUCTS if line.line_type == PREPAID_CREDIT else (line.product or ALL_PRODUCTS)


def requirements(document: Document) -> list[tuple[str, str]]:
    """Every (role, product) the document's entry needs mapped. Before issue the issue day is unknown: a line
    starting after the billing date may land on either side, so it needs both revenue and deferred revenue."""
    needs = [(RECEIVABLE, ALL_PRODUCTS)]
    on = document.issued_on or document.billing_date
    for line in document.lines:
        if line.amount:
            needs.append((_role_of(line, on), _product_of(line)))
            if document.issued_on is None and line.line_type != PREPAID_CREDIT and _role_of(line, on) != REVENUE:
                needs.append((REVENUE, _product_of(line)))
    if any(t.tax_amount for t in document.taxes):
        needs.append((TAX, ALL_PRODUCTS))
    return list(dict.fromkeys(needs))


def mapping_gaps(document: Document, chart: Chart) -> list[MappingGap]:
    """What the legal entity's GL mapping lacks to post `document` (empty: ready to post)."""
    return chart.gaps(requirements(document))


def issued_entry(document: Document, chart: Chart) -> JournalEntry | None:
    """The entry for issuing `document`; None when every amount on it is zero (nothing to post)."""
    if document.issued_on is None:
        raise ValidationError("is not issued: only issued documents are posted",
                              record=f"{document.source_type.replace('_', ' ')} {document.id}")
    on = document.issued_on
    accounts = chart.accounts_for(requirements(document))
    sign = 1 if document.document_type == CREDIT_NOTE else -1  # invoices credit revenue, credit notes debit it
    # (account, product, memo) -> signed amount (debit positive); one line each, in first-seen order
    nets: dict[tuple[str, str | None, str], Decimal] = defaultdict(lambda: ZERO)
    nets[(accounts[(RECEIVABLE, ALL_PRODUCTS)], None, "receivable")] = -sign * document.receivable
    for line in document.lines:
        if not line.amount:
            continue
        role = _role_of(line, on)
        prepaid = line.line_type == PREPAID_CREDIT
        key = (accounts[(role, _product_of(line))], None if prepaid else line.product,
               "prepaid credit applied" if prepaid else role.replace("_", " "))
        nets[key] += sign * line.amount
    lines = [JournalLine.signed(account, amount, product=product, memo=memo)
             for (account, product, memo), amount in nets.items() if amount]
    lines += [JournalLine.signed(accounts[(TAX, ALL_PRODUCTS)], sign * tax.tax_amount,
                                 memo=f"tax {tax.category} {tax.rate}% {tax.jurisdiction}".rstrip())
              for tax in document.taxes if tax.tax_amount]
    if not lines:
        return None
    label = "credit note" if document.document_type == CREDIT_NOTE else "invoice"
    return JournalEntry(entry_key=entry_key(document, "issued"), legal_entity=document.legal_entity, date=on,
                        currency=document.currency, lines=tuple(lines), source_type=document.source_type,
                        source_id=str(document.id), memo=f"{label} {document.number or document.id} issued")


def void_entry(document: Document, issued: JournalEntry, *, on: date) -> JournalEntry:
    """The exact reversal of the entry posted when `document` was issued, dated the void day."""
    label = "credit note" if document.document_type == CREDIT_NOTE else "invoice"
    return issued.reversal(entry_key=entry_key(document, "void"), on=on,
                           memo=f"{label} {document.number or document.id} void")


def payment_entry(*, key: str, legal_entity: str, on: date, currency: str, amount: Decimal, chart: Chart,
                  source_id: str | None = None, memo: str = "") -> JournalEntry:
    """A customer payment received: Dr cash, Cr receivable. Refunds are their own event, not negative payments."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("a payment needs its own idempotency key", record="payment", field="key")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationError(f"a payment amount is a positive Decimal, got {amount!r}", record=f"payment {key}",
                              field="amount")
    accounts = chart.accounts_for([(CASH, ALL_PRODUCTS), (RECEIVABLE, ALL_PRODUCTS)])
    lines = (JournalLine(accounts[(CASH, ALL_PRODUCTS)], debit=amount, memo="cash"),
             JournalLine(accounts[(RECEIVABLE, ALL_PRODUCTS)], credit=amount, memo="receivable"))
    return JournalEntry(entry_key=payment_key(key), legal_entity=legal_entity, date=on, currency=currency,
                        lines=lines, memo=memo or f"payment {key}", source_type="payment",
                        source_id=source_id or key)
