"""Purchase order: a customer that requires a PO number on its invoices gets none without one."""

from __future__ import annotations

from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit

GATE = "purchase_order"


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    if not invoice.customer.po_required or (invoice.po_number or "").strip():
        return []
    emit = Emit.of(GATE, settings)
    return [emit(
        "purchase_order.missing",
        f"customer {invoice.customer.code} requires a purchase order number and contract "
        f"{invoice.contract_code} has none", record=f"contract {invoice.contract_code}", field="po_number",
        fix=f"set po_number on contract {invoice.contract_code} and apply the catalog",
        root_cause=f"purchase_order:{invoice.contract_code}", case_type="purchase_order")]
