"""Tables of the effects outbox: one row per external side effect, and an append-only log of its attempts.
Same metadata (and so the same migrations) as store/tables.py.

Idempotency lives here as a constraint: one effect per (tenant, idempotency key), so enqueueing the same
effect twice finds the first row. The indexes serve the runner's two hot queries: "what is due now" and
"is an earlier effect with the same ordering key still outstanding".
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from invoiceflow.store.tables import Id, _id, _tenant, metadata
from invoiceflow.store.types import JSONText

effects = Table(
    "effects",
    metadata,
    _id(),
    _tenant(),
    Column("kind", String(64), nullable=False),  # "erp.post", "email.send", "webhook.deliver", "tax.quote"
    Column("target", String(200), nullable=False),  # connector or endpoint name
    Column("payload", JSONText, nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("ordering_key", String(200)),  # effects sharing it run one at a time, in id order
    Column("status", String(16), nullable=False),  # pending | running | succeeded | dead
    Column("attempts", Integer, nullable=False, server_default="0"),  # finished attempts that count
    Column("max_attempts", Integer, nullable=False),
    Column("lost_leases", Integer, nullable=False, server_default="0"),  # runs lost with a dead worker
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("locked_by", String(200)),  # claim token of the run holding the lease
    Column("locked_at", DateTime(timezone=True)),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("result", JSONText),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("succeeded_at", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_effects_idempotency_key"),
)
Index("ix_effects_due", effects.c.status, effects.c.next_attempt_at)
Index("ix_effects_ordering", effects.c.tenant_id, effects.c.ordering_key, effects.c.id)
Index("ix_effects_kind", effects.c.tenant_id, effects.c.kind, effects.c.status)

effect_attempts = Table(
    "effect_attempts",
    metadata,
    _id(),
    _tenant(),
    Column("effect_id", Id, ForeignKey("effects.id"), nullable=False),
    Column("attempt", Integer, nullable=False),  # the effect's attempt number this run was
    Column("worker", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),  # succeeded | transient | permanent | lost | stale
    Column("error", Text),
)
Index("ix_effect_attempts_effect", effect_attempts.c.effect_id, effect_attempts.c.id)
