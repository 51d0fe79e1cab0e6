"""Writing a batch's documents (the bill run's write side), in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Connection, case, insert
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.billing.drafts import DocumentDraft
from invoiceflow.store.bulk import bulk_insert
from invoiceflow.store.tables import credit_applications, invoice_lines, invoices, usage_cursors

LINE_COLUMNS = [c.name for c in invoice_lines.columns if c.name != "id"]


def write_documents(
    conn: Connection, tenant_id: int, bill_run_id: int, created_at: datetime, documents: list[DocumentDraft]
) -> list[int]:
    """Insert documents with their lines and prepaid-credit draws; returns the new ids in order."""
    if not documents:
        return []
    rows = []
    for doc in documents:
        start, end = doc.period
        rows.append({
            "tenant_id": tenant_id, "document_type": doc.document_type, "status": "draft",
            "customer_id": doc.customer_id, "subscription_id": doc.subscription_id, "contract_id": doc.contract_id,
            "legal_entity_id": doc.legal_entity_id, "billing_date": doc.billing_date, "period_start": start,
            "period_end": end, "currency": doc.currency, "subtotal": doc.subtotal,
            "discount_total": doc.discount_total, "credits_applied": doc.credits_applied, "total": doc.total,
            "corrects_invoice_id": doc.corrects_invoice_id, "bill_run_id": bill_run_id, "created_at": created_at,
        })
    # One statement for the whole batch; ids come back in parameter order.
    result = conn.execute(insert(invoices).returning(invoices.c.id, sort_by_parameter_order=True), rows)
    ids = [int(i) for i in result.scalars()]
    line_rows = [
        {
            "tenant_id": tenant_id, "invoice_id": doc_id, "position": position, "line_type": line.line_type,
            "description": line.description[:300], "product_code": line.product_code,
            "charge_code": line.charge_code, "meter_code": line.meter_code, "dims": line.dims,
            "quantity": line.quantity, "amount": line.amount, "precise_amount": line.precise_amount,
            "service_start": line.service_start, "service_end": line.service_end,
            "contract_version_id": line.contract_version_id, "plan_version_id": line.plan_version_id,
            "price": line.price, "breakdown": line.breakdown, "trace": line.trace,
        }
        for doc_id, doc in zip(ids, documents)
        for position, line in enumerate(doc.lines, start=1)
    ]
    bulk_insert(conn, invoice_lines, LINE_COLUMNS, line_rows)
    draws = [
        {"tenant_id": tenant_id, "customer_id": doc.customer_id, "invoice_id": doc_id, "currency": doc.currency,
         "amount": doc.credits_applied}
        for doc_id, doc in zip(ids, documents)
        if doc.credits_applied > 0
    ]
    if draws:
        conn.execute(insert(credit_applications), draws)
    return ids


def advance_usage_cursors(conn: Connection, tenant_id: int, cursors: Iterable[tuple[int, int, int]]) -> None:
    """Record (customer, meter, billed-through micros): events ingested later for earlier instants are late."""
    rows = [{"tenant_id": tenant_id, "customer_id": c, "meter_id": m, "billed_through": t} for c, m, t in cursors]
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(usage_cursors)
    later = case(
        (stmt.excluded.billed_through > usage_cursors.c.billed_through, stmt.excluded.billed_through),
        else_=usage_cursors.c.billed_through,
    )
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "customer_id", "meter_id"],
                                   set_={"billed_through": later}),
        rows,
    )
