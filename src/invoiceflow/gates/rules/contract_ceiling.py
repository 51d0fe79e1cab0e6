"""Contract ceiling: an invoice may not exceed the not-to-exceed amount its contract sets per period.

The ceiling is compared with the amount before tax (charges less discounts), in the contract currency. The
version in force at the start of the invoice's period sets it.
"""

from __future__ import annotations

from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit

GATE = "contract_ceiling"


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    if invoice.document_type != "invoice" or invoice.period_start is None:
        return []
    in_force = [v for v in invoice.contract_versions if v.effective_from <= invoice.period_start]
    if not in_force:
        return []
    version = max(in_force, key=lambda v: v.effective_from)
    amount = invoice.subtotal - invoice.discount_total
    if version.ceiling is None or amount <= version.ceiling:
        return []
    emit = Emit.of(GATE, settings)
    return [emit(
        "contract_ceiling.exceeded",
        f"{amount} {invoice.currency} before tax exceeds the not-to-exceed amount of {version.ceiling} "
        f"{invoice.currency} in contract {invoice.contract_code} version {version.version}",
        record=invoice.record, field="total",
        fix="get a contract amendment raising the ceiling, or override with a reason (approved by a second "
            "person above the policy's limit)",
        root_cause=f"ceiling:{invoice.contract_code}:{invoice.period_start}", case_type="contract_ceiling")]
