"""procrastinate on PostgreSQL: wake-up jobs deferred in the caller's own transaction.

The effects table is the truth; a procrastinate job only says "effect N may be runnable now (or at T)". The
job is deferred on the very psycopg connection, and so in the very transaction, that changes the effect:
enqueueing, a retry being scheduled, an operator's retry or replay, the sweep returning an effect, an
ordering-key predecessor finishing. A rolled-back business change takes its job with it, and a committed
one always has its job. procrastinate 3.x supports this directly: `configure_task(..., connection=conn)`
with a `SyncPsycopgConnector` runs its defer query on a connection we hand it, without committing.

Running a job claims the effect with the same rules as the inline runner, so a duplicate or early wake-up
is harmless: it finds nothing claimable and returns.

Whether jobs are deferred is decided per database: when procrastinate's schema is installed (the first
`invoiceflow worker` on PostgreSQL installs it), enqueue defers; otherwise effects wait for the inline
runner (`invoiceflow effects run`) or for the worker's catch-up pass when it starts.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, text

QUEUE = "effects"
RUN_TASK = "invoiceflow.effects.run"
TICK_TASK = "invoiceflow.effects.tick"
RETRY_STALLED_TASK = "invoiceflow.effects.retry_stalled_jobs"
_INSTALL_LOCK = 0x1F0E_FEC7  # advisory lock key: two workers starting at once install the schema once


def procrastinate_installed(conn: Connection) -> bool:
    """True on PostgreSQL when procrastinate's schema is in this database (checked on every call)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar_one()


def install_procrastinate(engine: Engine) -> bool:
    """Install procrastinate's schema unless present; True if it was installed now. PostgreSQL only.

    procrastinate keeps its own schema (its jobs, events and workers tables and functions) beside ours; it
    is not part of our Alembic revisions because procrastinate versions it with its own migrations.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError(f"procrastinate needs PostgreSQL; {engine.url.render_as_string()} is "
                         f"{engine.dialect.name}")
    from procrastinate.schema import SchemaManager

    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INSTALL_LOCK})
        if procrastinate_installed(conn):
            return False
        # The schema script has no parameters: run it on the driver connection, which takes it as is.
        _driver(conn).execute(SchemaManager.get_schema())
    return True


def defer_run(conn: Connection, effect_id: int, *, at: datetime | None = None) -> int | None:
    """Defer a wake-up job for `effect_id` in `conn`'s transaction (at `at`, else now); its job id.

    Returns None (and defers nothing) where procrastinate is not in use: SQLite, or PostgreSQL without
    procrastinate's schema.
    """
    if not procrastinate_installed(conn):
        return None
    return _deferring_app().configure_task(RUN_TASK, connection=_driver(conn), queue=QUEUE,
                                           schedule_at=at).defer(effect_id=int(effect_id))


def job_connection_url(engine: Engine) -> str:
    """The libpq URL (no SQLAlchemy driver suffix) procrastinate's own pool connects with."""
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection: same session, same open transaction."""
    return conn.connection.driver_connection


@lru_cache(maxsize=1)
def _deferring_app():
    # Never opened: it only runs the defer query on connections handed to it, never on a pool of its own.
    import procrastinate

    return procrastinate.App(connector=procrastinate.SyncPsycopgConnector())
