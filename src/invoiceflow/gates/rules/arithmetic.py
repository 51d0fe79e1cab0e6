"""Arithmetic: the stored totals are what the lines and tax rows add up to, to the minor unit.

Checks each line's amount against its precise amount rounded once, the subtotal, discounts and prepaid
credit against their lines, the tax rows (tax = base x rate, rounded once per rate) against the tax total,
and the total against lines plus tax. The bill run never writes inconsistent totals; this catches edits
outside it and imported documents.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import CHARGE_TYPES, Emit, line_record
from invoiceflow.money import round_amount

GATE = "arithmetic"
ZERO = Decimal(0)


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    root, fix = f"arithmetic:{invoice.record}", "void this document and bill the period again"
    found: list[Finding] = []

    def wrong(code: str, field: str, stored: Decimal, expected: Decimal, record: str = invoice.record) -> None:
        found.append(emit(code, f"{field} is {stored} but its parts add up to {expected}", record=record,
                          field=field, fix=fix, root_cause=root, case_type="arithmetic"))

    for line in invoice.lines:
        expected = round_amount(line.precise_amount, invoice.currency)
        if line.amount != expected:
            wrong("arithmetic.line_rounding", "amount", line.amount, expected,
                  line_record(invoice.record, line.position))
    lines = invoice.lines
    charges = sum((l.amount for l in lines if invoice.document_type == "credit_note" or l.line_type in CHARGE_TYPES),
                  ZERO)
    checks = [
        ("arithmetic.subtotal", "subtotal", invoice.subtotal, charges),
        ("arithmetic.discounts", "discount_total", invoice.discount_total,
         -sum((l.amount for l in lines if l.line_type == "discount"), ZERO)),
        ("arithmetic.credits", "credits_applied", invoice.credits_applied,
         -sum((l.amount for l in lines if l.line_type == "prepaid_credit"), ZERO)),
        ("arithmetic.tax_total", "tax_total", invoice.tax_total, sum((t.tax_amount for t in invoice.taxes), ZERO)),
        ("arithmetic.total", "total", invoice.total, sum((l.amount for l in lines), ZERO) + invoice.tax_total),
    ]
    for code, field, stored, expected in checks:
        if stored != expected:
            wrong(code, field, stored, expected)
    for row in invoice.taxes:
        expected = round_amount(row.taxable_amount * row.rate / 100, invoice.currency)
        if row.tax_amount != expected:
            wrong("arithmetic.tax_rate", f"tax at {row.rate}% ({row.category})", row.tax_amount, expected)
    return found
