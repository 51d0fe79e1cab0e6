"""Tenant lookup: every query is scoped by a tenant id resolved here."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from invoiceflow.errors import NotFound
from invoiceflow.store.tables import tenants

DEFAULT_TENANT = "default"


def tenant_id(conn: Connection, code: str = DEFAULT_TENANT, *, create: bool = True) -> int:
    """The id of tenant `code`; created on first use when `create` (idempotent)."""
    found = conn.execute(select(tenants.c.id).where(tenants.c.code == code)).scalar()
    if found is not None:
        return int(found)
    if not create:
        raise NotFound(f"tenant {code!r} does not exist")
    return int(conn.execute(insert(tenants).values(code=code, name=code).returning(tenants.c.id)).scalar_one())
