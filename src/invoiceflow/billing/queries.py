"""Read models for invoices: lists and one document with its lines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from invoiceflow.errors import NotFound
from invoiceflow.store.db import reader
from invoiceflow.store.tables import customers, invoice_lines, invoices
from invoiceflow.store.tenancy import tenant_id as resolve_tenant


def list_invoices(
    engine: Engine, *, tenant: str = "default", customer: str | None = None, status: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Invoices and credit notes of a tenant, newest first, optionally for one customer code or status."""
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        query = (
            select(invoices, customers.c.code.label("customer"))
            .join(customers, customers.c.id == invoices.c.customer_id)
            .where(invoices.c.tenant_id == tid)
            .order_by(invoices.c.id.desc())
            .limit(limit)
        )
        if customer:
            query = query.where(customers.c.code == customer)
        if status:
            query = query.where(invoices.c.status == status)
        return [dict(r) for r in conn.execute(query).mappings()]


def invoice_detail(engine: Engine, invoice_id: int, *, tenant: str = "default") -> dict[str, Any]:
    """One document with its lines (each with price, breakdown and trace); NotFound outside the tenant."""
    with reader(engine).connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        row = conn.execute(
            select(invoices, customers.c.code.label("customer"))
            .join(customers, customers.c.id == invoices.c.customer_id)
            .where(invoices.c.tenant_id == tid, invoices.c.id == invoice_id)
        ).mappings().first()
        if row is None:
            raise NotFound(f"invoice {invoice_id} does not exist for tenant {tenant!r}")
        lines = conn.execute(
            select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id).order_by(invoice_lines.c.position)
        ).mappings().all()
        return {**dict(row), "lines": [dict(line) for line in lines]}
