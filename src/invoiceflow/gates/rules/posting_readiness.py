"""Posting readiness: the ledger can post this invoice, because every account it needs is mapped.

Receivable always; revenue for every product on a line (a product's own mapping or the legal entity's
default); tax when the invoice carries tax. A missing mapping holds every invoice that needs it in one case.
"""

from __future__ import annotations

from typing import Any, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules.common import Emit

GATE = "posting_readiness"


def check(invoice: InvoiceFacts, settings: Mapping[str, Any]) -> list[Finding]:
    emit = Emit.of(GATE, settings)
    entity = invoice.legal_entity.code
    needed: list[tuple[str, str]] = [("receivable", "")]
    for line in invoice.lines:
        if line.amount and line.line_type != "prepaid_credit":
            needed.append(("revenue", line.product_code or ""))
    if invoice.tax_total:
        needed.append(("tax", ""))
    found: list[Finding] = []
    roots: set[str] = set()
    for role, product in dict.fromkeys(needed):
        if (role, product) in invoice.gl_roles or (role, "") in invoice.gl_roles:
            continue
        root = f"gl_mapping:{entity}:{role}:*"  # one default mapping fixes every product
        if root in roots:
            continue
        roots.add(root)
        subject = f"product {product}" if product else "lines without a product"
        found.append(emit(
            "posting_readiness.gl_mapping_missing",
            f"legal entity {entity} has no {role} account mapped for {subject} (no product mapping and no default)",
            record=f"legal entity {entity}", field=f"gl.mappings.{role}",
            fix=f"map a default {role} account (or one per product) for legal entity {entity} in the catalog's gl "
                "section and apply it; the held invoices then re-validate",
            root_cause=root, case_type="posting_readiness"))
    return found
