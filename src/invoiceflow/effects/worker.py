"""`invoiceflow worker`: procrastinate workers on PostgreSQL, an inline polling loop on SQLite.

On PostgreSQL the worker installs procrastinate's schema if it is missing, then runs a procrastinate worker
over every queue. Its jobs are registered by the functions in `JOB_TYPES`; each takes the procrastinate App
and the shared `WorkerContext`. Effects register two tasks: `run` (wake-up for one effect, deferred by the
outbox in the business transaction) and a periodic `tick` (the lease sweep, a catch-up for effects that
have no wake-up job, and retrying procrastinate jobs of workers that stopped sending heartbeats). Another
job type, such as bill-run batches, adds its own registrar to `JOB_TYPES`; N workers then share its jobs.

On SQLite there is no procrastinate (it needs PostgreSQL): the worker loops over the inline runner and the
sweep, waiting `poll_interval` seconds when idle. SQLite serialises writers, so run one worker per file.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import Engine, func, select

from invoiceflow.billing.distributed import register_bill_run_jobs
from invoiceflow.clock import Clock
from invoiceflow.effects.handlers import HandlerRegistry
from invoiceflow.effects.jobs import (
    QUEUE,
    RUN_TASK,
    TICK_TASK,
    defer_run,
    install_procrastinate,
    job_connection_url,
)
from invoiceflow.effects.runner import InlineRunner, claimable, sweep
from invoiceflow.store.effects_tables import effects

log = logging.getLogger(__name__)
TICK_CRON = "* * * * * */15"  # every 15 seconds (procrastinate's optional 6th cron field is seconds)
CATCH_UP_GRACE = timedelta(seconds=60)  # a due effect still waiting after this has lost its wake-up
CATCH_UP_BATCH = 500


@dataclass
class WorkerContext:
    """What every job of this worker shares."""

    engine: Engine
    clock: Clock
    handlers: HandlerRegistry
    runner: InlineRunner = field(default_factory=InlineRunner)


JobRegistrar = Callable[[Any, WorkerContext], None]


def catch_up(engine: Engine, *, now: datetime, handlers: HandlerRegistry, grace: timedelta = CATCH_UP_GRACE) -> int:
    """Defer wake-ups for claimable effects overdue by more than `grace`; how many were deferred.

    Covers effects enqueued before procrastinate was installed, and wake-ups that were lost. A duplicate
    wake-up costs one empty claim, nothing more.
    """
    with engine.begin() as conn:
        ids = conn.execute(select(effects.c.id).where(claimable(due_by=now - grace, kinds=handlers.kinds()))
                           .order_by(effects.c.next_attempt_at, effects.c.id).limit(CATCH_UP_BATCH)).scalars().all()
        for effect_id in ids:
            defer_run(conn, effect_id)
    return len(ids)


def register_effect_jobs(app: Any, ctx: WorkerContext) -> None:
    """The effects' procrastinate tasks: one wake-up per effect, and the periodic tick."""

    @app.task(name=RUN_TASK, queue=QUEUE)
    def run_effect(effect_id: int) -> str | None:
        return ctx.runner.run_effect(ctx.engine, effect_id, clock=ctx.clock, handlers=ctx.handlers)

    @app.periodic(cron=TICK_CRON, periodic_id="effects")
    @app.task(name=TICK_TASK, queue=QUEUE)
    async def tick(timestamp: int) -> dict[str, Any]:
        now = ctx.clock.now()
        swept = await asyncio.to_thread(sweep, ctx.engine, now)
        woken = await asyncio.to_thread(catch_up, ctx.engine, now=now, handlers=ctx.handlers)
        stalled = 0
        # Wake-ups held by a worker that stopped sending heartbeats: retried, they find the swept effect.
        for job in await app.job_manager.get_stalled_jobs(task_name=RUN_TASK):
            await app.job_manager.retry_job(job)
            stalled += 1
        return {"recovered": swept.recovered, "dead_lettered": swept.dead_lettered, "woken": woken,
                "stalled_jobs_retried": stalled}


JOB_TYPES: list[JobRegistrar] = [register_effect_jobs, register_bill_run_jobs]  # bill runs: billing/distributed.py


def run_procrastinate_worker(ctx: WorkerContext, *, concurrency: int = 1, once: bool = False,
                             name: str | None = None, job_types: list[JobRegistrar] | None = None) -> None:
    """Run a procrastinate worker on the engine's PostgreSQL database until stopped (or idle, with `once`)."""
    import procrastinate

    if install_procrastinate(ctx.engine):
        log.info("installed procrastinate's schema")
    now = ctx.clock.now()
    sweep(ctx.engine, now)
    catch_up(ctx.engine, now=now, handlers=ctx.handlers, grace=timedelta(0))
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=job_connection_url(ctx.engine)))
    for registrar in job_types or JOB_TYPES:
        registrar(app, ctx)
    options = {"concurrency": concurrency, "name": name or ctx.runner.worker, "delete_jobs": "successful"}
    if not once:
        app.run_worker(wait=True, **options)
        return
    # procrastinate stops as soon as its queue looks empty, which can be while a finishing job is still
    # deferring the next effect of an ordering key: go round while what was due at the start shrinks.
    remaining = None
    while True:
        app.run_worker(wait=False, **options)
        left = _claimable_count(ctx, due_by=now)
        if not left or (remaining is not None and left >= remaining):
            if left:
                log.warning("%s due effects were left unrun; see the job errors above", left)
            return
        remaining = left
        catch_up(ctx.engine, now=ctx.clock.now(), handlers=ctx.handlers, grace=timedelta(0))


def _claimable_count(ctx: WorkerContext, *, due_by: datetime) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(effects)
                            .where(claimable(due_by=due_by, kinds=ctx.handlers.kinds()))).scalar_one()


def run_inline_worker(ctx: WorkerContext, *, concurrency: int = 1, once: bool = False, poll_interval: float = 1.0,
                      stop: threading.Event | None = None) -> dict[str, int]:
    """Poll the effects table with `concurrency` threads until stopped (or, with `once`, until idle)."""
    stop = stop or threading.Event()
    totals: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[Exception] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                sweep(ctx.engine, ctx.clock.now())
                report = ctx.runner.run_until_idle(ctx.engine, clock=ctx.clock, handlers=ctx.handlers)
            except Exception as exc:  # e.g. the database restarting: a long-lived worker waits and goes on
                log.exception("effects pass failed")
                if once:
                    errors.append(exc)
                    return
                stop.wait(poll_interval)
                continue
            with lock:
                for key, value in report.as_dict().items():
                    totals[key] = totals.get(key, 0) + value if key != "waiting_without_handler" else value
            if once:
                return
            if not report.succeeded + report.retried + report.dead + report.stale:
                stop.wait(poll_interval)

    threads = [threading.Thread(target=loop, name=f"effects-{n}", daemon=True) for n in range(max(1, concurrency))]
    restore = _stop_on_signals(stop)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    finally:
        restore()
    if errors:
        raise errors[0]
    return totals


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
