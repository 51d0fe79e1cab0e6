"""Duplicate risk: another open document for the same customer, period and amount, or a fee billed twice.

Two invoices of one customer with the same service period and total are likely the same invoice twice
(an import run twice, a subscription entered twice). A fee of the same product and contract version billed
for overlapping days on two invoices of one subscription is double billing. Credit notes are compared only
with credit notes.
"""

from __future__ import annotations

from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit, span

GATE = "duplicate_risk"
FEES = frozenset({"fee_advance", "fee_arrears"})


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    found: list[Finding] = []
    mine = [(l.product_code or "", l.contract_version_id, l.service_start, l.service_end) for l in invoice.lines
            if l.line_type in FEES and l.amount > 0 and l.service_start and l.service_end]
    for other in invoice.others:
        if other.id == invoice.id or other.document_type != invoice.document_type or other.status == "void":
            continue
        pair = "-".join(map(str, sorted((invoice.id, other.id))))
        if (other.period_start, other.period_end, other.total) == (
                invoice.period_start, invoice.period_end, invoice.total) and invoice.total:
            found.append(emit(
                "duplicate.same_amount_and_period",
                f"document {other.id} ({other.status}) bills customer {invoice.customer.code} the same "
                f"{invoice.total} {invoice.currency} for the same period ({span(invoice.period_start, invoice.period_end)})",
                record=invoice.record, field="total",
                fix=f"void whichever of {invoice.id} and {other.id} is the duplicate, or override with a reason",
                root_cause=f"duplicate:{pair}", case_type="duplicate_risk"))
            continue
        if other.subscription_id != invoice.subscription_id or invoice.document_type != "invoice":
            continue
        for product, version, start, end in mine:
            clash = next((s for s in other.fee_spans if s[0] == product and s[1] == version
                          and s[2] < end and start < s[3]), None)
            if clash:
                found.append(emit(
                    "duplicate.overlapping_service_period",
                    f"{product or 'a fee'} for {span(start, end)} overlaps the same fee on document {other.id} "
                    f"({span(clash[2], clash[3])}) of subscription {invoice.subscription_code}",
                    record=invoice.record, field="service_period",
                    fix=f"void the duplicate draft, or credit the overlap on document {other.id}",
                    root_cause=f"duplicate:{pair}", case_type="duplicate_risk"))
                break
    return found
