"""Distributed bill runs: N `invoiceflow worker` processes share one bill run on PostgreSQL.

`start_distributed_run` creates the bill run row, splits the tenant's subscriptions into the batches
`run_bill_run` would make (id order, `batch_size` each) and defers one procrastinate job per batch, all in one
transaction: either the run and every one of its jobs exist, or nothing does. A worker runs a batch as one
transaction through the very code of the in-process run (`load_batch`, `bill_batch`), so both bill alike.

Why it is safe with several workers:

- Per-account locks. After locking its subscription rows, a batch takes a blocking
  `pg_advisory_xact_lock` per customer, in ascending customer id order, before it reads any billing history
  or prepaid-credit balance. Two batches that share a customer (one customer, several subscriptions) bill it
  one after the other, and the second sees the first's credit draws. Blocking rather than `pg_try_...`:
  contention is rare and lasts one batch, and a try-lock would throw away the batch's work and re-queue it.
  A global lock order plus lock-at-start leaves no cycle; if one ever happened, PostgreSQL's deadlock
  detector aborts one batch and its job is retried.
- Retries never bill twice. A bill-run document is unique per (subscription, billing date, type), and a batch
  only bills points without a document, so rerunning a committed batch writes nothing. A batch killed before
  commit left nothing. Progress is recorded in the same transaction as the documents, keyed by batch
  number, so a batch counts once however often it runs.
- A worker SIGKILLed mid-batch stops sending heartbeats; every worker's periodic `invoiceflow.billing.tick`
  retries batch jobs of such stalled workers (after procrastinate's 30 s heartbeat timeout).

Progress lives in `bill_runs.stats` (batches done of total, documents, totals, failures, batches per worker);
the batch that completes the last one marks the run completed. `bill_run_status` reads it back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, select, text, update

from invoiceflow.billing.load import CatalogCache, load_batch
from invoiceflow.billing.run import BillRunReport, bill_batch, late_event_count
from invoiceflow.clock import Clock, SystemClock
from invoiceflow.effects.jobs import install_procrastinate, procrastinate_installed
from invoiceflow.effects.runner import default_worker_name
from invoiceflow.errors import NotFound, ValidationError
from invoiceflow.store.tables import bill_runs, subscriptions
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

if TYPE_CHECKING:
    from invoiceflow.effects.worker import WorkerContext

QUEUE = "billing"
BATCH_TASK = "invoiceflow.billing.batch"
TICK_TASK = "invoiceflow.billing.tick"
TICK_CRON = "* * * * * */15"  # every 15 seconds
MAX_ATTEMPTS = 5  # a batch failing on a fault (not on bad data: that is a per-subscription failure)
ACCOUNT_LOCKS = 0x0B11  # advisory-lock namespace (first key of the two-key form) for per-customer locks


@dataclass(frozen=True)
class DistributedRun:
    bill_run_id: int
    as_of: date
    subscriptions: int
    batches: int
    batch_size: int

    def as_dict(self) -> dict[str, Any]:
        status = "running" if self.batches else "completed"  # no subscriptions: nothing to wait for
        return {"bill_run_id": self.bill_run_id, "as_of": self.as_of.isoformat(), "status": status,
                "subscriptions": self.subscriptions, "batches": self.batches, "batch_size": self.batch_size}


def start_distributed_run(engine: Engine, *, as_of: date, tenant: str = "default", label: str | None = None,
                          clock: Clock | None = None, batch_size: int = 500) -> DistributedRun:
    """Create the bill run and defer one batch job per `batch_size` subscriptions, in one transaction."""
    if engine.dialect.name != "postgresql":
        raise ValidationError(
            f"--distributed needs PostgreSQL (procrastinate workers share the run); this database is "
            f"{engine.dialect.name}, where the bill run runs in this process: drop --distributed",
            field="distributed")
    clock = clock or SystemClock()
    install_procrastinate(engine)  # a no-op once any worker has started on this database
    with engine.begin() as conn:
        tid = resolve_tenant(conn, tenant)
        bounds = batch_bounds(conn, tid, batch_size)
        total = sum(n for _, _, n in bounds)
        now = clock.now()
        run_id = conn.execute(insert(bill_runs).values(
            tenant_id=tid, as_of=as_of, label=label or as_of.isoformat(), status="running" if bounds else "completed",
            started_at=now, finished_at=None if bounds else now).returning(bill_runs.c.id)).scalar_one()
        stats = {"bill_run_id": run_id, "as_of": as_of.isoformat(), "mode": "distributed", "batch_size": batch_size,
                 "batches": len(bounds), "batches_done": [], "subscriptions_total": total, "subscriptions": 0,
                 "invoices": 0, "credit_notes": 0, "failures": [], "totals": [], "workers": {},
                 "late_events": 0 if bounds else late_event_count(conn, tid)}
        conn.execute(update(bill_runs).where(bill_runs.c.id == run_id).values(stats=stats))
        if bounds:
            _deferrer(conn).batch_defer(*[
                {"bill_run_id": run_id, "batch": number, "after_id": after, "until_id": until, "size": batch_size}
                for number, (after, until, _n) in enumerate(bounds)])
    return DistributedRun(run_id, as_of, total, len(bounds), batch_size)


def batch_bounds(conn: Connection, tenant_id: int, batch_size: int) -> list[tuple[int, int, int]]:
    """(after id, last id, count) of each batch: `run_bill_run`'s keyset batches, computed up front."""
    ids = conn.execute(select(subscriptions.c.id).where(subscriptions.c.tenant_id == tenant_id)
                       .order_by(subscriptions.c.id)).scalars().all()
    bounds, after = [], 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        bounds.append((after, chunk[-1], len(chunk)))
        after = chunk[-1]
    return bounds


def lock_accounts(conn: Connection, customer_ids: list[int]) -> None:
    """Per-account locks until the end of the transaction, taken in ascending key order (no lock cycles).

    One statement for the whole batch: PostgreSQL evaluates a volatile function in the select list after the
    sort. Ids are folded into the 32-bit second key; ids 2**32 apart share a lock, which only serialises them.
    """
    keys = sorted({(customer_id & 0xFFFF_FFFF) - 2**31 for customer_id in customer_ids})
    if keys:
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, k) FROM unnest(CAST(:keys AS integer[])) AS k "
                          "ORDER BY k"), {"ns": ACCOUNT_LOCKS, "keys": keys})


def run_batch(engine: Engine, *, bill_run_id: int, batch: int, after_id: int, until_id: int, size: int,
              clock: Clock | None = None, worker: str | None = None) -> dict[str, Any]:
    """Bill batch number `batch` of a distributed run in one transaction; safe to run again (see the module)."""
    clock = clock or SystemClock()
    with engine.begin() as conn:
        run = conn.execute(select(bill_runs.c.tenant_id, bill_runs.c.as_of)
                           .where(bill_runs.c.id == bill_run_id)).one_or_none()
        if run is None:
            raise NotFound(f"bill run {bill_run_id} does not exist")
        cache = CatalogCache(conn, run.tenant_id)
        # A subscription deleted since the split lets load_batch reach past `until_id`: those belong to the next.
        loaded = [s for s in load_batch(conn, cache, after_id, size, lock=True) if s.id <= until_id]
        lock_accounts(conn, [s.customer_id for s in loaded])
        report = BillRunReport(bill_run_id=bill_run_id, as_of=run.as_of, subscriptions=len(loaded))
        bill_batch(conn, run.tenant_id, bill_run_id, loaded, run.as_of, clock, report)
        counted = _record(conn, bill_run_id, batch, report, worker or default_worker_name(), clock)
    return {"bill_run_id": bill_run_id, "batch": batch, "subscriptions": len(loaded), "invoices": report.invoices,
            "credit_notes": report.credit_notes, "failures": len(report.failures), "counted": counted}


def _record(conn: Connection, bill_run_id: int, batch: int, report: BillRunReport, worker: str,
            clock: Clock) -> bool:
    """Add one batch to the run's progress, once per batch number; the last batch completes the run.

    Last in the batch's transaction, so the bill run row is locked only for the moment before commit. FOR NO
    KEY UPDATE, not FOR UPDATE: each batch's invoices hold a FOR KEY SHARE lock on the row (their foreign key),
    which FOR UPDATE would wait for, and two batches upgrading their key-share locks would deadlock.
    """
    row = conn.execute(select(bill_runs.c.tenant_id, bill_runs.c.stats).where(bill_runs.c.id == bill_run_id)
                       .with_for_update(key_share=True)).one()
    stats = row.stats
    if batch in stats["batches_done"]:
        return False  # a retry of a batch that already committed: it wrote nothing new either
    stats["batches_done"] = sorted([*stats["batches_done"], batch])
    stats["subscriptions"] += report.subscriptions
    stats["invoices"] += report.invoices
    stats["credit_notes"] += report.credit_notes
    stats["failures"] += [{"subscription": code, "reason": reason} for code, reason in report.failures]
    totals = {(t["document_type"], t["currency"]): t for t in stats["totals"]}
    for key, amount in report.totals.items():
        entry = totals.setdefault(key, {"document_type": key[0], "currency": key[1], "count": 0, "total": "0"})
        entry["count"] += report.count_by[key]
        entry["total"] = str(Decimal(entry["total"]) + amount)
    stats["totals"] = [totals[k] for k in sorted(totals)]
    stats["workers"][worker] = stats["workers"].get(worker, 0) + 1
    values: dict[str, Any] = {"stats": stats}
    if len(stats["batches_done"]) == stats["batches"]:
        stats["late_events"] = late_event_count(conn, row.tenant_id)
        values.update(status="completed", finished_at=clock.now())
    conn.execute(update(bill_runs).where(bill_runs.c.id == bill_run_id).values(**values))
    return True


def bill_run_status(engine: Engine, bill_run_id: int, *, tenant: str = "default") -> dict[str, Any]:
    """A bill run's progress: batches done of total, documents, failures, and its batch jobs by state."""
    with engine.connect() as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        row = conn.execute(select(bill_runs).where(bill_runs.c.id == bill_run_id, bill_runs.c.tenant_id == tid)
                           ).one_or_none()
        if row is None:
            raise NotFound(f"bill run {bill_run_id} does not exist in tenant {tenant!r}")
        stats = dict(row.stats or {})
        jobs: Counter = Counter()
        if stats.get("mode") == "distributed" and procrastinate_installed(conn):
            jobs.update(dict(conn.execute(text(
                "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = :task "
                "AND (args->>'bill_run_id')::bigint = :id GROUP BY status"), {"task": BATCH_TASK, "id": bill_run_id}
            ).all()))
    done = stats.pop("batches_done", None)
    return {**stats, "bill_run_id": row.id, "label": row.label, "as_of": row.as_of.isoformat(), "status": row.status,
            "started_at": row.started_at.isoformat(), "finished_at": row.finished_at and row.finished_at.isoformat(),
            "distributed": stats.get("mode") == "distributed",
            "batches_done": len(done) if done is not None else None,
            "jobs": {"waiting": jobs["todo"], "running": jobs["doing"], "failed": jobs["failed"]}}


def register_bill_run_jobs(app: Any, ctx: "WorkerContext") -> None:
    """`invoiceflow worker`'s bill-run tasks: one batch per job, and the periodic retry of stalled batches."""
    import procrastinate

    @app.task(name=BATCH_TASK, queue=QUEUE,
              retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2))
    def bill_run_batch(bill_run_id: int, batch: int, after_id: int, until_id: int, size: int) -> dict[str, Any]:
        return run_batch(ctx.engine, bill_run_id=bill_run_id, batch=batch, after_id=after_id, until_id=until_id,
                         size=size, clock=ctx.clock, worker=ctx.runner.worker)

    @app.periodic(cron=TICK_CRON, periodic_id="bill-runs")
    @app.task(name=TICK_TASK, queue=QUEUE)
    async def tick(timestamp: int) -> dict[str, int]:
        retried = 0
        for job in await app.job_manager.get_stalled_jobs(task_name=BATCH_TASK):
            await app.job_manager.retry_job(job)  # its worker died mid-batch: the batch rolled back
            retried += 1
        return {"stalled_batches_retried": retried}


def _deferrer(conn: Connection) -> Any:
    """Defers batch jobs on `conn`'s own psycopg connection, so they commit (or roll back) with the run."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())
    return app.configure_task(BATCH_TASK, connection=conn.connection.driver_connection, queue=QUEUE)
