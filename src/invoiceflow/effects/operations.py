"""What an operator does to an effect: retry it now, or replay it from scratch. Both are audited.

`retry` is for an effect that is waiting (pending, perhaps hours into its backoff) or dead: it becomes due
now and keeps its attempt count, so a dead effect gets one more attempt. `replay` starts an effect over
with a fresh attempt count: for a dead effect after the cause was fixed, or, with `force`, for one that
succeeded but must be sent again (it relies on the handler's idempotency to decide whether the target acts
twice). A running effect is left alone: its worker holds a lease, and the sweep recovers it if it died.

Each action runs in the caller's transaction with the effect row locked, so two operators cannot both
replay it, and (with procrastinate) the wake-up job commits with the change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from invoiceflow.audit.log import append_entry
from invoiceflow.effects.jobs import defer_run
from invoiceflow.effects.model import DEAD, PENDING, RUNNING, SUCCEEDED, EffectView, effect_view, utc
from invoiceflow.errors import ConflictError, NotFound
from invoiceflow.store.effects_tables import effects


def retry_effect(conn: Connection, tenant_id: int, effect_id: int, *, at: datetime, actor: str) -> EffectView:
    """Make a pending or dead effect due at `at`, keeping its attempts."""
    current = _locked(conn, tenant_id, effect_id)
    if current.status not in (PENDING, DEAD):
        raise ConflictError(_refusal(current, "retried", "only pending or dead effects can be retried"))
    at = utc(at)
    conn.execute(update(effects).where(effects.c.id == effect_id)
                 .values(status=PENDING, next_attempt_at=at, updated_at=at))
    defer_run(conn, effect_id, at=at)
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="effect.retried", object_type="effect",
                 object_id=effect_id, payload={"kind": current.kind, "target": current.target,
                                               "previous_status": current.status, "attempts": current.attempts,
                                               "last_error": current.last_error}, at=at)
    return _read(conn, effect_id)


def replay_effect(conn: Connection, tenant_id: int, effect_id: int, *, at: datetime, actor: str,
                  force: bool = False) -> EffectView:
    """Run a dead (or, with `force`, succeeded) effect again from attempt 1, due at `at`."""
    current = _locked(conn, tenant_id, effect_id)
    if current.status == SUCCEEDED and not force:
        raise ConflictError(_refusal(current, "replayed",
                                     "it already succeeded; pass --force to send it again (the handler's "
                                     "idempotency key decides whether the target acts twice)"))
    if current.status not in (DEAD, SUCCEEDED):
        raise ConflictError(_refusal(current, "replayed",
                                     "only dead or succeeded effects can be replayed; use retry for a pending one"))
    at = utc(at)
    conn.execute(update(effects).where(effects.c.id == effect_id).values(
        status=PENDING, attempts=0, lost_leases=0, next_attempt_at=at, updated_at=at, succeeded_at=None,
        last_error=None))
    defer_run(conn, effect_id, at=at)
    append_entry(conn, tenant_id=tenant_id, actor=actor, action="effect.replayed", object_type="effect",
                 object_id=effect_id, payload={"kind": current.kind, "target": current.target,
                                               "idempotency_key": current.idempotency_key,
                                               "previous_status": current.status, "attempts": current.attempts,
                                               "last_error": current.last_error, "forced": force}, at=at)
    return _read(conn, effect_id)


def _locked(conn: Connection, tenant_id: int, effect_id: int) -> EffectView:
    row = conn.execute(select(effects).where(effects.c.tenant_id == tenant_id, effects.c.id == effect_id)
                       .with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"effect {effect_id} does not exist in this tenant")
    return effect_view(row)


def _read(conn: Connection, effect_id: int) -> EffectView:
    return effect_view(conn.execute(select(effects).where(effects.c.id == effect_id)).mappings().one())


def _refusal(effect: EffectView, verb: str, why: str) -> str:
    message = f"effect {effect.id} ({effect.kind} to {effect.target}) is {effect.status} and cannot be {verb}: {why}"
    if effect.status == RUNNING:
        message += (f"; it is held by {effect.locked_by} until {effect.locked_until:%Y-%m-%d %H:%M:%S} UTC: wait for "
                    "the run to finish, or for the sweep to recover it if that worker died")
    return message
