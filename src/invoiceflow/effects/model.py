"""What the outbox hands out: references to effects, read-only views of them and of their attempts.

Times are aware UTC datetimes. SQLite reads `DateTime(timezone=True)` columns back naive (it stores what
was written, and everything written here is UTC), so every time goes through `utc()` on the way out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from invoiceflow.store.types import JSONText

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
DEAD = "dead"
STATUSES = (PENDING, RUNNING, SUCCEEDED, DEAD)

# Outcomes of one attempt, as logged in effect_attempts.
OUTCOME_SUCCEEDED = "succeeded"
OUTCOME_TRANSIENT = "transient"
OUTCOME_PERMANENT = "permanent"
OUTCOME_LOST = "lost"  # the worker died holding the lease; the sweep returned the effect to pending
OUTCOME_STALE = "stale"  # finished after its lease had expired and the effect was handed on: not applied

_JSON = JSONText()


@dataclass(frozen=True, slots=True)
class EffectRef:
    """The effect an enqueue created or found; `created` is False when the key was already enqueued."""

    id: int
    tenant_id: int
    kind: str
    idempotency_key: str
    status: str
    created: bool


@dataclass(frozen=True, slots=True)
class EffectView:
    """One effect as stored; what handlers receive and what `effects show` prints."""

    id: int
    tenant_id: int
    kind: str
    target: str
    payload: dict[str, Any]
    idempotency_key: str
    ordering_key: str | None
    status: str
    attempts: int
    max_attempts: int
    lost_leases: int
    next_attempt_at: datetime
    locked_by: str | None
    locked_at: datetime | None
    locked_until: datetime | None
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One logged run of an effect."""

    id: int
    effect_id: int
    attempt: int
    worker: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A payload or result as it will read back from the table: sorted keys, decimals and dates as strings.

    Raises TypeError for values JSON cannot carry.
    """
    return _JSON.process_result_value(_JSON.process_bind_param(payload, None), None)


def utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive values are UTC already: that is all this module writes)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def effect_view(row: Mapping[str, Any]) -> EffectView:
    return EffectView(
        id=int(row["id"]), tenant_id=int(row["tenant_id"]), kind=row["kind"], target=row["target"],
        payload=row["payload"], idempotency_key=row["idempotency_key"], ordering_key=row["ordering_key"],
        status=row["status"], attempts=int(row["attempts"]), max_attempts=int(row["max_attempts"]),
        lost_leases=int(row["lost_leases"]), next_attempt_at=utc(row["next_attempt_at"]),
        locked_by=row["locked_by"], locked_at=utc(row["locked_at"]), locked_until=utc(row["locked_until"]),
        last_error=row["last_error"], result=row["result"], created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]), succeeded_at=utc(row["succeeded_at"]),
    )


def attempt_view(row: Mapping[str, Any]) -> AttemptView:
    return AttemptView(
        id=int(row["id"]), effect_id=int(row["effect_id"]), attempt=int(row["attempt"]), worker=row["worker"],
        started_at=utc(row["started_at"]), finished_at=utc(row["finished_at"]), outcome=row["outcome"],
        error=row["error"],
    )
