"""Draft documents and lines, and the totals rule: a document's lines always add up to its total.

Invoices carry charges as positive lines and discounts and prepaid credit as negative lines. Credit notes
carry the credited amounts as positive lines (the document type says they reduce what is owed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)

CHARGE_TYPES = frozenset({"fee_advance", "fee_arrears", "usage", "commitment"})
INVOICE = "invoice"
CREDIT_NOTE = "credit_note"


@dataclass(frozen=True, slots=True)
class LineDraft:
    line_type: str
    description: str
    amount: Decimal
    precise_amount: Decimal
    product_code: str | None = None
    charge_code: str | None = None
    meter_code: str | None = None
    dims: dict[str, Any] | None = None
    quantity: Decimal | None = None
    service_start: date | None = None
    service_end: date | None = None
    contract_version_id: int | None = None
    plan_version_id: int | None = None
    price: dict[str, Any] | None = None
    breakdown: list[dict[str, Any]] | None = None
    trace: dict[str, Any] | None = None


@dataclass(slots=True)
class DocumentDraft:
    document_type: str
    subscription_id: int
    customer_id: int
    contract_id: int
    legal_entity_id: int
    currency: str
    billing_date: date
    lines: list[LineDraft] = field(default_factory=list)
    corrects_invoice_id: int | None = None

    @property
    def subtotal(self) -> Decimal:
        if self.document_type == CREDIT_NOTE:
            return sum((line.amount for line in self.lines), ZERO)
        return sum((line.amount for line in self.lines if line.line_type in CHARGE_TYPES), ZERO)

    @property
    def discount_total(self) -> Decimal:
        return -sum((line.amount for line in self.lines if line.line_type == "discount"), ZERO)

    @property
    def credits_applied(self) -> Decimal:
        return -sum((line.amount for line in self.lines if line.line_type == "prepaid_credit"), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def period(self) -> tuple[date | None, date | None]:
        starts = [line.service_start for line in self.lines if line.service_start]
        ends = [line.service_end for line in self.lines if line.service_end]
        return (min(starts) if starts else None, max(ends) if ends else None)
