"""Audit verification and the effects outbox."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from invoiceflow.api.schemas.common import ReadModel, Timestamp, WriteModel


class ChainProblem(ReadModel):
    sequence: int
    kind: str
    message: str


class AuditVerification(ReadModel):
    tenant: str
    ok: bool
    entries: int
    head_hash: str
    problems: list[ChainProblem] = []


class Effect(ReadModel):
    id: int
    kind: str
    target: str
    payload: dict[str, Any]
    idempotency_key: str
    ordering_key: str | None = None
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: Timestamp
    locked_by: str | None = None
    locked_until: Timestamp | None = None
    last_error: str | None = None
    result: dict[str, Any] | None = None
    created_at: Timestamp
    updated_at: Timestamp
    succeeded_at: Timestamp | None = None


class Attempt(ReadModel):
    attempt: int
    worker: str
    started_at: Timestamp
    finished_at: Timestamp
    outcome: str
    error: str | None = None


class EffectDetail(Effect):
    attempt_log: list[Attempt] = []


class ReplayIn(WriteModel):
    force: bool = Field(False, description="Send a succeeded effect again (the handler's idempotency decides).")
