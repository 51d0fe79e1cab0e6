"""Bill runs, invoices and credit notes, and lifecycle actions on them."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, model_validator

from invoiceflow.api.schemas.catalog import DecimalText
from invoiceflow.api.schemas.common import Money, ReadModel, Timestamp, WriteModel


class BillRunIn(WriteModel):
    """Give `period` (YYYY-MM: bills that service month) or `as_of` (bills everything due up to that day)."""

    period: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", examples=["2026-10"])
    as_of: date | None = None
    label: str | None = Field(None, max_length=32)

    @model_validator(mode="after")
    def _one_date(self) -> "BillRunIn":
        if (self.period is None) == (self.as_of is None):
            raise ValueError("give exactly one of period and as_of")
        return self


class Progress(ReadModel):
    subscriptions_done: int
    subscriptions_total: int


class BillRun(ReadModel):
    id: int
    as_of: date
    label: str
    status: str = Field(description="running | completed | failed (failed: known to the process that ran it)")
    started_at: Timestamp
    finished_at: Timestamp | None = None
    progress: Progress | None = None
    stats: dict[str, Any] | None = None
    error: str | None = None


class InvoiceSummary(ReadModel):
    id: int
    document_type: str
    status: str
    number: str | None = None
    customer: str
    currency: str
    subtotal: Money
    discount_total: Money
    credits_applied: Money
    tax_total: Money
    total: Money
    billing_date: date
    period_start: date | None = None
    period_end: date | None = None
    created_at: Timestamp
    created_by: str
    approved_by: str | None = None
    issued_at: Timestamp | None = None
    policy_version: int | None = None
    corrects_invoice_id: int | None = None
    bill_run_id: int | None = None


class InvoiceLine(ReadModel):
    id: int = Field(description="The line's id: what a credit note names to credit it.")
    position: int
    line_type: str
    description: str
    product_code: str | None = None
    charge_code: str | None = None
    meter_code: str | None = None
    quantity: Money | None = None
    amount: Money
    precise_amount: Money
    service_start: date | None = None
    service_end: date | None = None
    tax_category: str | None = None
    tax_rate: Money | None = None
    dims: dict[str, Any] | None = None
    trace: dict[str, Any] | None = None
    credits_line_id: int | None = Field(None, description="On a credit note raised against an invoice: the "
                                                          "invoice line this line credits.")


class Invoice(InvoiceSummary):
    lines: list[InvoiceLine]


class CreditLineIn(WriteModel):
    """One invoice line to credit: a quantity or an amount of it, or neither for all that remains of it."""

    line_id: int = Field(ge=1, le=2**63 - 1, description="The invoice line's id (`lines[].id` of the invoice).")
    quantity: DecimalText | None = Field(None, description="Units to credit, at the line's net unit price.")
    amount: DecimalText | None = Field(None, description="An amount to credit, in the invoice's currency.")


class CreditNoteIn(WriteModel):
    """A credit note against an issued invoice: the whole of what remains, or the lines named."""

    reason: str = Field(min_length=1, max_length=2000, description="Why the invoice is credited (recorded with "
                                                                    "the credit note and in the audit log).")
    lines: list[CreditLineIn] | None = Field(None, min_length=1, max_length=1000,
                                             description="The lines to credit; leave out to credit everything "
                                                         "that remains of the invoice.")
    reference: str | None = Field(None, min_length=1, max_length=128,
                                  description="Your reference for this credit note: sending it again with the same "
                                              "request returns the same credit note (200) and writes nothing.")


class ActionIn(WriteModel):
    reason: str | None = Field(None, max_length=2000, description="Required for void and reject.")


class ActionResult(ReadModel):
    invoice_id: int
    action: str
    from_status: str
    status: str
    changed: bool
    number: str | None = None
    findings: list[str] = []
    approvals_given: int | None = None
    approvals_needed: int | None = None


class Finding(ReadModel):
    id: int
    gate: str
    code: str
    severity: str
    message: str
    record: str
    field: str
    suggested_fix: str
    status: str
    case_id: int | None = None


class ValidateResult(ReadModel):
    invoice_id: int
    action: Literal["validate"] = "validate"
    status: str
    findings: list[Finding]


class History(ReadModel):
    invoice: dict[str, Any]
    transitions: list[dict[str, Any]]
    refused: list[dict[str, Any]]
