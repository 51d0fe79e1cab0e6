"""The outbox: `enqueue` writes an effect in the caller's transaction; the readers show effects and attempts.

`enqueue` is the only way business code creates an effect. It runs inside the business change's own
transaction, so the change and its effects commit or roll back together: no effect for a change that never
happened, no change whose effect was forgotten. Nothing is sent here; runners send after commit.

The idempotency key is unique per tenant. Enqueueing a key again returns the first effect untouched (a
retried API call or a rerun import does not double an e-mail); enqueueing it with a different kind, target,
ordering key or payload is a ConflictError, because two different effects under one key is a caller bug
that would otherwise silently drop the second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.effects.handlers import registry
from invoiceflow.effects.jobs import defer_run
from invoiceflow.effects.model import (
    PENDING,
    STATUSES,
    AttemptView,
    EffectRef,
    EffectView,
    attempt_view,
    canonical_payload,
    effect_view,
    utc,
)
from invoiceflow.errors import ConflictError, NotFound, Problem, ValidationError
from invoiceflow.store.effects_tables import effect_attempts, effects

_LIMITS = {"kind": 64, "target": 200, "idempotency_key": 200, "ordering_key": 200}


def enqueue(conn: Connection, tenant_id: int, kind: str, *, target: str, payload: Mapping[str, Any],
            idempotency_key: str, ordering_key: str | None = None, at: datetime) -> EffectRef:
    """Record an effect to run after commit, in `conn`'s transaction; due at `at`.

    With procrastinate installed on PostgreSQL the wake-up job is deferred in the same transaction too.
    `max_attempts` starts as the kind's policy known here; the runner that claims it sets the one in force.
    """
    body = _check(kind=kind, target=target, payload=payload, idempotency_key=idempotency_key,
                  ordering_key=ordering_key, at=at)
    at = utc(at)
    policy = registry.policy(kind)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    new_id = conn.execute(
        dialect.insert(effects).values(
            tenant_id=tenant_id, kind=kind, target=target, payload=body, idempotency_key=idempotency_key,
            ordering_key=ordering_key, status=PENDING, attempts=0, max_attempts=policy.max_attempts,
            lost_leases=0, next_attempt_at=at, created_at=at, updated_at=at,
        ).on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"]).returning(effects.c.id)
    ).scalar()
    if new_id is None:
        existing = conn.execute(select(effects).where(effects.c.tenant_id == tenant_id,
                                                      effects.c.idempotency_key == idempotency_key)).mappings().one()
        _same_or_conflict(existing, kind=kind, target=target, ordering_key=ordering_key, payload=body)
        return EffectRef(id=int(existing["id"]), tenant_id=tenant_id, kind=kind, idempotency_key=idempotency_key,
                         status=existing["status"], created=False)
    defer_run(conn, int(new_id), at=at)
    return EffectRef(id=int(new_id), tenant_id=tenant_id, kind=kind, idempotency_key=idempotency_key,
                     status=PENDING, created=True)


def get_effect(conn: Connection, tenant_id: int, effect_id: int) -> EffectView:
    row = conn.execute(select(effects).where(effects.c.tenant_id == tenant_id, effects.c.id == effect_id)
                       ).mappings().first()
    if row is None:
        raise NotFound(f"effect {effect_id} does not exist in this tenant")
    return effect_view(row)


def list_effects(conn: Connection, tenant_id: int, *, status: str | None = None, kind: str | None = None,
                 limit: int = 100) -> list[EffectView]:
    """Effects newest first, optionally of one status and/or kind."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}", field="status")
    query = select(effects).where(effects.c.tenant_id == tenant_id).order_by(effects.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(effects.c.status == status)
    if kind is not None:
        query = query.where(effects.c.kind == kind)
    return [effect_view(row) for row in conn.execute(query).mappings()]


def list_attempts(conn: Connection, tenant_id: int, effect_id: int) -> list[AttemptView]:
    """The attempt log of one effect, oldest first."""
    query = (select(effect_attempts).where(effect_attempts.c.tenant_id == tenant_id,
                                           effect_attempts.c.effect_id == effect_id)
             .order_by(effect_attempts.c.id))
    return [attempt_view(row) for row in conn.execute(query).mappings()]


def _check(*, kind: str, target: str, payload: Any, idempotency_key: str, ordering_key: str | None,
           at: datetime) -> dict[str, Any]:
    record = f"effect {idempotency_key!r}"
    problems: list[Problem] = []
    for name, value in (("kind", kind), ("target", target), ("idempotency_key", idempotency_key),
                        ("ordering_key", ordering_key)):
        if value is None and name == "ordering_key":
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(record, name, "must be a non-empty string"))
        elif len(value) > _LIMITS[name]:
            problems.append(Problem(record, name, f"is {len(value)} characters long; the limit is {_LIMITS[name]}"))
    if not isinstance(at, datetime) or at.tzinfo is None:
        problems.append(Problem(record, "at", "must be an aware datetime (UTC or with an offset)"))
    body: dict[str, Any] = {}
    if not isinstance(payload, Mapping):
        problems.append(Problem(record, "payload", f"must be a JSON object (a mapping), not {type(payload).__name__}"))
    else:
        try:
            body = canonical_payload(payload)
        except TypeError as exc:
            problems.append(Problem(record, "payload", f"is not JSON-serialisable: {exc}"))
    if problems:
        raise ValidationError(problems)
    return body


def _same_or_conflict(existing: Mapping[str, Any], **wanted: Any) -> None:
    differs = [name for name, value in wanted.items() if existing[name] != value]
    if differs:
        raise ConflictError(
            f"idempotency key {existing['idempotency_key']!r} is already used by effect {existing['id']} "
            f"({existing['kind']} to {existing['target']}) with a different {', '.join(differs)}; "
            "one key names one effect: use a new key for a different effect")
