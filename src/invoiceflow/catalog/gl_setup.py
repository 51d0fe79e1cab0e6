"""Applying the `gl` section: each legal entity's chart of accounts and its account mapping.

Accounts are matched by code per legal entity (name and type may change until the ledger has posted to
the account; that guard belongs to the ledger). Mappings name the account for each role — receivable,
revenue (default and per product), tax, deferred revenue, unbilled receivable, cash — and must point to an
account of the same legal entity. Idempotent: the same section applied twice writes nothing.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Connection, delete, insert, select, update

from invoiceflow.store.review_tables import gl_accounts, gl_mappings
from invoiceflow.store.tables import legal_entities, products

Report = Any  # catalog.apply.ApplyReport (counters created/updated/unchanged)


def apply_gl(conn: Connection, tenant_id: int, record: str, item: dict, report: Report,
             problem: Callable[[str, str, str], None]) -> None:
    entity_id = conn.execute(select(legal_entities.c.id).where(
        legal_entities.c.tenant_id == tenant_id, legal_entities.c.code == item["legal_entity"])).scalar()
    if entity_id is None:
        problem(record, "legal_entity", f"unknown legal entity {item['legal_entity']!r}")
        return
    codes = [a["code"] for a in item["accounts"]]
    for code in {c for c in codes if codes.count(c) > 1}:
        problem(record, "accounts", f"account {code!r} appears twice")
    wanted = _mappings(item)
    known_products = set(conn.execute(select(products.c.code).where(products.c.tenant_id == tenant_id)).scalars())
    for (role, product), account in wanted.items():
        where = f"revenue_by_product.{product}" if product else f"mappings.{role}"
        if account not in codes:
            problem(record, where, f"account {account!r} is not in this legal entity's accounts")
        if product and product not in known_products:
            problem(record, where, f"unknown product {product!r}")
    stored = {r.code: r for r in conn.execute(select(gl_accounts).where(
        gl_accounts.c.tenant_id == tenant_id, gl_accounts.c.legal_entity_id == entity_id))}
    for account in item["accounts"]:
        row = stored.get(account["code"])
        if row is None:
            conn.execute(insert(gl_accounts).values(tenant_id=tenant_id, legal_entity_id=entity_id,
                                                    code=account["code"], name=account["name"], type=account["type"]))
            report.created["gl_accounts"] += 1
        elif (row.name, row.type) != (account["name"], account["type"]):
            conn.execute(update(gl_accounts).where(gl_accounts.c.id == row.id).values(
                name=account["name"], type=account["type"]))
            report.updated["gl_accounts"] += 1
        else:
            report.unchanged["gl_accounts"] += 1
    current = {(r.role, r.product_code): r for r in conn.execute(select(gl_mappings).where(
        gl_mappings.c.tenant_id == tenant_id, gl_mappings.c.legal_entity_id == entity_id))}
    for key, account in wanted.items():
        row = current.get(key)
        if row is None:
            conn.execute(insert(gl_mappings).values(tenant_id=tenant_id, legal_entity_id=entity_id, role=key[0],
                                                    product_code=key[1], account_code=account))
            report.created["gl_mappings"] += 1
        elif row.account_code != account:
            conn.execute(update(gl_mappings).where(gl_mappings.c.id == row.id).values(account_code=account))
            report.updated["gl_mappings"] += 1
        else:
            report.unchanged["gl_mappings"] += 1
    dropped = [row.id for key, row in current.items() if key not in wanted]
    if dropped:
        conn.execute(delete(gl_mappings).where(gl_mappings.c.id.in_(dropped)))
        report.updated["gl_mappings"] += len(dropped)


def _mappings(item: dict) -> dict[tuple[str, str], str]:
    wanted = {(role, ""): account for role, account in item["mappings"].items()}
    wanted.update({("revenue", product): account for product, account in (item.get("revenue_by_product") or {}).items()})
    return wanted
