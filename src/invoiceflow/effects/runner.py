"""Running effects: claim in one transaction, call the handler outside it, record the outcome in another.

The handler never runs inside a database transaction: an ERP call can take a minute, and holding row locks
(or, on SQLite, the write lock) that long would stall every writer. Instead a claim marks the effect
`running` with a lease (`locked_by` = a token unique to this run, `locked_until`) and commits; the outcome
is recorded only if the run still holds that lease. A run whose lease ran out and whose effect was handed
on by the sweep is logged as `stale` and changes nothing, so a slow run and its successor never both write.

An effect is claimable when it is pending, due, of a kind this runner has a handler for, and no earlier
effect (smaller id) with the same ordering key is anything but succeeded. On PostgreSQL the claim is
SELECT ... FOR UPDATE SKIP LOCKED, so concurrent runners take different effects without waiting; on SQLite
a writer holds the database write lock from BEGIN, which serialises claims.

Both the inline runner (embedded; `invoiceflow effects run`) and the procrastinate worker's jobs use the
functions here, so the rules are the same whichever runs an effect.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update

from invoiceflow.audit.log import append_entry
from invoiceflow.clock import Clock
from invoiceflow.effects import model
from invoiceflow.effects.errors import Permanent, Transient
from invoiceflow.effects.handlers import EffectContext, HandlerRegistry, registry
from invoiceflow.effects.jobs import defer_run, procrastinate_installed
from invoiceflow.effects.model import (
    DEAD,
    PENDING,
    RUNNING,
    SUCCEEDED,
    EffectView,
    canonical_payload,
    effect_view,
    utc,
)
from invoiceflow.effects.policy import MAX_LOST_LEASES, DeadLetter, RandomSource, decide
from invoiceflow.store.effects_tables import effect_attempts, effects

log = logging.getLogger(__name__)
ACTOR = "system:effects"


@dataclass(frozen=True, slots=True)
class Claim:
    """One run of one effect: the lease token and the attempt number it will be."""

    effect: EffectView
    token: str
    started_at: datetime
    attempt: int


@dataclass(slots=True)
class RunReport:
    """What a pass did; `waiting_without_handler` counts due effects no registered handler can run."""

    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    stale: int = 0
    waiting_without_handler: int = 0

    def add(self, outcome: str) -> None:
        field = {"succeeded": "succeeded", "transient": "retried", "dead": "dead", "stale": "stale"}[outcome]
        setattr(self, field, getattr(self, field) + 1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """Effects whose lease expired: returned to pending, or dead-lettered after too many lost runs."""

    recovered: list[int]
    dead_lettered: list[int]


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claimable(*, due_by: datetime, kinds: Iterable[str]):
    """The WHERE clause of an effect a runner may take now (see the module docstring)."""
    earlier = effects.alias("earlier")
    blocked = exists().where(earlier.c.tenant_id == effects.c.tenant_id,
                             earlier.c.ordering_key == effects.c.ordering_key,
                             earlier.c.id < effects.c.id, earlier.c.status != SUCCEEDED)
    return and_(effects.c.status == PENDING, effects.c.next_attempt_at <= utc(due_by),
                effects.c.kind.in_(sorted(kinds)), ~blocked)


def claim(engine: Engine, *, now: datetime, handlers: HandlerRegistry, worker: str, due_by: datetime | None = None,
          effect_id: int | None = None, limit: int = 1) -> list[Claim]:
    """Take up to `limit` claimable effects (or effect `effect_id` only) and lease them to this run."""
    now = utc(now)
    query = (select(effects).where(claimable(due_by=due_by or now, kinds=handlers.kinds()))
             .order_by(effects.c.next_attempt_at, effects.c.id).limit(limit))
    if effect_id is not None:
        query = query.where(effects.c.id == effect_id)
    claims = []
    with engine.begin() as conn:
        for row in conn.execute(query.with_for_update(skip_locked=True)).mappings().all():
            effect = effect_view(row)
            policy = handlers.policy(effect.kind)
            # The runner's policy is the one in force (handlers may bring their own); the row shows it.
            lease = {"status": RUNNING, "locked_by": f"{worker}/{uuid.uuid4().hex[:12]}", "locked_at": now,
                     "locked_until": now + timedelta(seconds=policy.lease), "max_attempts": policy.max_attempts,
                     "updated_at": now}
            conn.execute(update(effects).where(effects.c.id == effect.id).values(**lease))
            claims.append(Claim(effect=replace(effect, **lease), token=lease["locked_by"], started_at=now,
                                attempt=effect.attempts + 1))
    return claims


def execute(engine: Engine, item: Claim, *, clock: Clock, handlers: HandlerRegistry, rng: RandomSource) -> str:
    """Run the handler of a claimed effect, then record what happened; the outcome name."""
    effect = item.effect
    handler = handlers.get(effect.kind)
    context = EffectContext(engine=engine, clock=clock, attempt=item.attempt, worker=item.token)
    permanent, retry_after, result, error = False, None, None, None
    try:
        if handler is None:  # claim only takes kinds with a handler; a registry changed under us
            raise Transient(f"no handler registered for effect kind {effect.kind!r} in {item.token}")
        result = _json_result(effect, handler(effect, context))
    except Permanent as exc:
        permanent, error = True, exc.detail
    except Transient as exc:
        retry_after, error = exc.retry_after, exc.detail
    except Exception as exc:  # an unforeseen fault: retry it, but leave the traceback for whoever debugs it
        log.exception("effect %s (%s to %s) attempt %s raised", effect.id, effect.kind, effect.target, item.attempt)
        error = f"{type(exc).__name__}: {exc}"
    return record(engine, item, now=clock.now(), result=result, error=error, permanent=permanent,
                  retry_after=retry_after, handlers=handlers, rng=rng)


def record(engine: Engine, item: Claim, *, now: datetime, result: dict[str, Any] | None, error: str | None,
           permanent: bool, retry_after: float | None, handlers: HandlerRegistry, rng: RandomSource) -> str:
    """Record the outcome of a run in a new transaction, if the run still holds its lease."""
    now, effect = utc(now), item.effect
    outcome = model.OUTCOME_SUCCEEDED if error is None else (
        model.OUTCOME_PERMANENT if permanent else model.OUTCOME_TRANSIENT)
    with engine.begin() as conn:
        status, holder = conn.execute(select(effects.c.status, effects.c.locked_by).where(effects.c.id == effect.id)
                                      .with_for_update()).one()
        if status != RUNNING or holder != item.token:
            note = (f"finished as {outcome} after its lease was lost; the effect is now {status}"
                    + (f" and held by {holder}" if holder else "") + ": this result was not applied")
            _log_attempt(conn, item, now, model.OUTCOME_STALE, f"{error}; {note}" if error else note)
            log.warning("effect %s: %s", effect.id, note)
            return model.OUTCOME_STALE
        _log_attempt(conn, item, now, outcome, error)
        released = {"locked_by": None, "locked_at": None, "locked_until": None, "updated_at": now,
                    "attempts": item.attempt}
        if error is None:
            conn.execute(update(effects).where(effects.c.id == effect.id).values(
                status=SUCCEEDED, result=result, succeeded_at=now, last_error=None, **released))
            _wake_successor(conn, effect)
            return model.OUTCOME_SUCCEEDED
        decision = decide(handlers.policy(effect.kind), attempt=item.attempt, permanent=permanent, rng=rng,
                          retry_after=retry_after)
        if isinstance(decision, DeadLetter):
            _dead_letter(conn, effect, now, f"{error} [{decision.reason}]", released)
            return DEAD
        at = now + timedelta(seconds=decision.delay)
        conn.execute(update(effects).where(effects.c.id == effect.id).values(
            status=PENDING, next_attempt_at=at, last_error=error, **released))
        defer_run(conn, effect.id, at=at)
        return model.OUTCOME_TRANSIENT


def sweep(engine: Engine, now: datetime) -> SweepReport:
    """Return effects whose lease expired (their worker died) to pending, due now.

    The lost run is logged as an attempt with outcome `lost` but does not count against max_attempts: the
    effect did not fail, its worker vanished. After MAX_LOST_LEASES lost runs it is dead-lettered instead,
    so an effect that crashes every worker that takes it cannot take them all down forever.
    """
    now = utc(now)
    recovered, dead = [], []
    with engine.begin() as conn:
        query = (select(effects).where(effects.c.status == RUNNING, effects.c.locked_until < now)
                 .order_by(effects.c.id).with_for_update(skip_locked=True))
        for effect in [effect_view(row) for row in conn.execute(query).mappings().all()]:
            item = Claim(effect=effect, token=effect.locked_by or "?", started_at=effect.locked_at or now,
                         attempt=effect.attempts + 1)
            why = (f"lease of {effect.locked_by} expired at {effect.locked_until:%Y-%m-%d %H:%M:%S} UTC "
                   "before an outcome was recorded (the worker stopped or lost its database)")
            _log_attempt(conn, item, now, model.OUTCOME_LOST, why)
            released = {"locked_by": None, "locked_at": None, "locked_until": None, "updated_at": now,
                        "lost_leases": effect.lost_leases + 1}
            if effect.lost_leases + 1 >= MAX_LOST_LEASES:
                _dead_letter(conn, effect, now, f"{why} [lost {effect.lost_leases + 1} runs in a row]", released)
                dead.append(effect.id)
                continue
            conn.execute(update(effects).where(effects.c.id == effect.id).values(
                status=PENDING, next_attempt_at=now, **released))
            defer_run(conn, effect.id, at=now)
            recovered.append(effect.id)
    for effect_id in recovered:
        log.warning("effect %s: lease expired, returned to pending", effect_id)
    return SweepReport(recovered=recovered, dead_lettered=dead)


def count_without_handler(engine: Engine, *, due_by: datetime, handlers: HandlerRegistry) -> int:
    """Due pending effects whose kind has no handler here (they wait for a runner that has one)."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(effects).where(
            effects.c.status == PENDING, effects.c.next_attempt_at <= utc(due_by),
            effects.c.kind.not_in(sorted(handlers.kinds())))).scalar_one()


class InlineRunner:
    """The in-process runner: claims and runs effects in the calling thread.

    Used by `invoiceflow effects run`, by `invoiceflow worker` on SQLite, and by the procrastinate jobs to run
    the one effect they were woken for.
    """

    def __init__(self, *, worker: str | None = None, rng: RandomSource | None = None):
        self.worker = worker or default_worker_name()
        self.rng = rng or random.Random()

    def run_until_idle(self, engine: Engine, *, clock: Clock, handlers: HandlerRegistry | None = None,
                       limit: int | None = None) -> RunReport:
        """Run every effect due when the pass starts (and successors they unblock), each at most once.

        A retry is scheduled after the pass's start, so a failing effect is tried once per pass, not in a
        tight loop until it is dead.
        """
        handlers = handlers or registry
        horizon, report, done = clock.now(), RunReport(), 0
        while limit is None or done < limit:
            claims = claim(engine, now=clock.now(), due_by=horizon, handlers=handlers, worker=self.worker)
            if not claims:
                break
            report.add(execute(engine, claims[0], clock=clock, handlers=handlers, rng=self.rng))
            done += 1
        report.waiting_without_handler = count_without_handler(engine, due_by=horizon, handlers=handlers)
        return report

    def run_effect(self, engine: Engine, effect_id: int, *, clock: Clock,
                   handlers: HandlerRegistry | None = None) -> str | None:
        """Run effect `effect_id` if it is claimable now; its outcome, or None if it was not.

        A pending effect that is not due yet (a wake-up that came early) gets a new wake-up at its time.
        """
        handlers = handlers or registry
        claims = claim(engine, now=clock.now(), handlers=handlers, worker=self.worker, effect_id=effect_id)
        if claims:
            return execute(engine, claims[0], clock=clock, handlers=handlers, rng=self.rng)
        with engine.begin() as conn:
            row = conn.execute(select(effects.c.status, effects.c.next_attempt_at)
                               .where(effects.c.id == effect_id)).first()
            if row is not None and row.status == PENDING and utc(row.next_attempt_at) > utc(clock.now()):
                defer_run(conn, effect_id, at=utc(row.next_attempt_at))
        return None


def _json_result(effect: EffectView, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Permanent(f"handler for {effect.kind!r} returned {type(value).__name__}, not a dict: fix the "
                        "handler, then replay (the target may have acted already)")
    try:
        return canonical_payload(value)
    except TypeError as exc:
        raise Permanent(f"handler for {effect.kind!r} returned a result that is not JSON-serialisable ({exc}): "
                        "fix the handler, then replay (the target may have acted already)") from exc


def _log_attempt(conn: Connection, item: Claim, now: datetime, outcome: str, error: str | None) -> None:
    conn.execute(insert(effect_attempts).values(
        tenant_id=item.effect.tenant_id, effect_id=item.effect.id, attempt=item.attempt, worker=item.token,
        started_at=utc(item.started_at), finished_at=now, outcome=outcome, error=error))


def _dead_letter(conn: Connection, effect: EffectView, now: datetime, error: str, released: dict) -> None:
    conn.execute(update(effects).where(effects.c.id == effect.id).values(status=DEAD, last_error=error, **released))
    log.error("effect %s (%s to %s) dead-lettered: %s", effect.id, effect.kind, effect.target, error)
    append_entry(conn, tenant_id=effect.tenant_id, actor=ACTOR, action="effect.dead_lettered", object_type="effect",
                 object_id=effect.id, payload={"kind": effect.kind, "target": effect.target,
                                               "idempotency_key": effect.idempotency_key,
                                               "attempts": released.get("attempts", effect.attempts),
                                               "error": error}, at=now)


def _wake_successor(conn: Connection, effect: EffectView) -> None:
    """With procrastinate, wake the next effect of the same ordering key: it was blocked until now."""
    if effect.ordering_key is None or not procrastinate_installed(conn):
        return
    row = conn.execute(select(effects.c.id, effects.c.status, effects.c.next_attempt_at).where(
        effects.c.tenant_id == effect.tenant_id, effects.c.ordering_key == effect.ordering_key,
        effects.c.id > effect.id, effects.c.status != SUCCEEDED).order_by(effects.c.id).limit(1)).first()
    if row is not None and row.status == PENDING:
        defer_run(conn, int(row.id), at=utc(row.next_attempt_at))
