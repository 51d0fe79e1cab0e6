"""Tables of the REST API: API keys, OAuth2 clients and stored idempotent responses.
Same metadata (and so the same migrations) as store/tables.py.

No credential is stored in a form that can be used: keys and client secrets are kept as scrypt hashes,
and a key's public `prefix` is what finds its row. Idempotency is a constraint: one stored request per
(tenant, Idempotency-Key), so two concurrent requests with the same key cannot both run.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text, UniqueConstraint

from invoiceflow.store.tables import _id, _tenant, metadata
from invoiceflow.store.types import JSONText

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _tenant(),
    Column("prefix", String(32), nullable=False, unique=True),  # shown in lists; finds the row
    Column("hash", String(200), nullable=False),  # scrypt$n$r$p$salt$digest of the whole key
    Column("member", String(128), nullable=False),  # the team member the key acts as
    Column("roles", JSONText, nullable=False),  # the key's scope: a subset of invoiceflow.team.ROLES
    Column("label", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)
Index("ix_api_keys_tenant", api_keys.c.tenant_id, api_keys.c.id)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    _id(),
    _tenant(),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("secret_hash", String(200), nullable=False),
    Column("member", String(128), nullable=False),
    Column("roles", JSONText, nullable=False),
    Column("label", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _id(),
    _tenant(),
    Column("key", String(255), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(500), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),  # NULL while the first request is still running
    Column("response_headers", JSONText),
    Column("response_body", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "key", name="uq_idempotency_keys_key"),
)
Index("ix_idempotency_keys_expires", idempotency_keys.c.expires_at)
