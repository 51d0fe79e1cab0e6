"""A small metering fixture shared by the ingestion and aggregation tests (rows inserted directly)."""

from __future__ import annotations

from sqlalchemy import insert

from invoiceflow.store.tables import customer_accounts, customers, legal_entities, meters
from invoiceflow.store.tenancy import tenant_id


def seed(engine, code: str = "acme") -> dict:
    """A tenant with two customers, one telemetry account and one meter of each aggregation."""
    with engine.begin() as conn:
        tenant = tenant_id(conn, code)
        entity = conn.execute(
            insert(legal_entities).values(
                tenant_id=tenant, code="LE", name="Entity", country="US", currency="USD", content_hash="h"
            ).returning(legal_entities.c.id)
        ).scalar_one()
        ids = {"tenant": tenant}
        for customer in ("c1", "c2"):
            ids[customer] = conn.execute(
                insert(customers).values(
                    tenant_id=tenant, code=customer, name=customer, timezone="UTC", currency="USD",
                    legal_entity_id=entity, content_hash="h",
                ).returning(customers.c.id)
            ).scalar_one()
        conn.execute(
            insert(customer_accounts).values(tenant_id=tenant, external_id="tel-1", customer_id=ids["c1"], source="t")
        )
        for meter, aggregation, field, group_by in [
            ("calls", "sum", None, []), ("storage", "max", None, ["region"]), ("users", "unique_count", "user", []),
            ("requests", "count", None, []), ("seats", "weighted_sum", None, ["plan"]), ("gauge", "latest", None, []),
            ("tokens", "sum", "tokens", ["model"]),
        ]:  # fmt: skip
            ids[meter] = conn.execute(
                insert(meters).values(
                    tenant_id=tenant, code=meter, name=meter, aggregation=aggregation, field=field,
                    group_by=group_by, content_hash="h",
                ).returning(meters.c.id)
            ).scalar_one()
    return ids
