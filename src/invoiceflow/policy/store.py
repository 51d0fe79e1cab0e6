"""Policy versions: applying a file creates the next version; reading gives the tenant's current one.

Versions are immutable. Applying the same content again changes nothing (idempotent); different content
becomes version N+1 with an audit entry. Each invoice records the version it was validated under, and its
approvals are read from that version, so a later version never changes a decision already taken. A tenant
that never applied a policy runs under the built-in default, version 0.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import yaml
from sqlalchemy import Connection, func, insert, select

from invoiceflow.audit.log import append_entry
from invoiceflow.errors import NotFound
from invoiceflow.policy.document import check_policy_text, default_source
from invoiceflow.policy.model import Policy, parse_policy
from invoiceflow.store.review_tables import policies
from invoiceflow.store.tables import customers


@dataclass(frozen=True, slots=True)
class AppliedPolicy:
    version: int
    created: bool  # False: the same content was already the current version
    warnings: tuple[str, ...] = ()


def content_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def apply_policy(conn: Connection, tenant_id: int, source: str, *, actor: str, at: datetime,
                 name: str = "policy") -> AppliedPolicy:
    """Check `source` and store it as the next version unless it equals the current one."""
    doc = check_policy_text(source, name=name)
    digest = content_hash(doc)
    current = conn.execute(select(policies.c.version, policies.c.content_hash).where(
        policies.c.tenant_id == tenant_id).order_by(policies.c.version.desc()).limit(1).with_for_update()).first()
    warnings = tuple(_uncovered_currencies(conn, tenant_id, doc))
    if current is not None and current.content_hash == digest:
        return AppliedPolicy(current.version, False, warnings)
    version = (current.version if current else 0) + 1
    conn.execute(insert(policies).values(tenant_id=tenant_id, version=version, document=doc, source=source,
                                         content_hash=digest, created_by=actor, created_at=at))
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="policy.applied", object_type="policy",
                 object_id=version, at=at, payload={"version": version, "name": doc.get("name"),
                                                    "content_hash": digest})
    return AppliedPolicy(version, True, warnings)


def current_policy(conn: Connection, tenant_id: int) -> Policy:
    row = conn.execute(select(func.max(policies.c.version)).where(policies.c.tenant_id == tenant_id)).scalar()
    return policy_version(conn, tenant_id, row or 0)


def policy_version(conn: Connection, tenant_id: int, version: int) -> Policy:
    if version == 0:
        return _default_policy()
    row = conn.execute(select(policies.c.document, policies.c.content_hash).where(
        policies.c.tenant_id == tenant_id, policies.c.version == version)).first()
    if row is None:
        raise NotFound(f"policy version {version} does not exist")
    return _parsed(row.content_hash, version, json.dumps(row.document, sort_keys=True))


def policy_history(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(policies.c.version, policies.c.created_by, policies.c.created_at,
                               policies.c.content_hash, policies.c.document)
                        .where(policies.c.tenant_id == tenant_id).order_by(policies.c.version)).all()
    return [{"version": r.version, "name": r.document.get("name"), "created_by": r.created_by,
             "created_at": r.created_at, "content_hash": r.content_hash} for r in rows]


@lru_cache(maxsize=1)
def _default_policy() -> Policy:
    return parse_policy(yaml.safe_load(default_source()), 0)


@lru_cache(maxsize=64)
def _parsed(digest: str, version: int, document: str) -> Policy:
    return parse_policy(json.loads(document), version)


def _uncovered_currencies(conn: Connection, tenant_id: int, doc: dict[str, Any]) -> list[str]:
    """Amount limits that say nothing about a currency the tenant bills in (those invoices fail safe)."""
    billed = sorted(set(conn.execute(select(customers.c.currency).where(customers.c.tenant_id == tenant_id)
                                     .distinct()).scalars()))
    notes = []
    for i, rule in enumerate(doc["approvals"]["rules"]):
        limits = rule["when"].get("min_total")
        missing = [c for c in billed if limits is not None and c not in limits]
        if missing:
            notes.append(f"approvals.rules[{i}] ({rule['name']}): no min_total for {', '.join(missing)}; invoices "
                         "in those currencies always need this approval")
    limits = (doc.get("overrides") or {}).get("second_approval_above")
    if limits:
        missing = [c for c in billed if c not in limits]
        if missing:
            notes.append(f"overrides.second_approval_above: no limit for {', '.join(missing)}; overrides in "
                         "those currencies always need a second person")
    return notes
