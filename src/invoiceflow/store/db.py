"""Engine creation and schema migration for the two supported backends (SQLite embedded, PostgreSQL)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect

DEFAULT_URL = "sqlite:///invoiceflow.db"
DEFAULT_CACHE_KIB = 64 * 1024
INGEST_CACHE_KIB = 256 * 1024
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(url: str | None = None) -> str:
    """The URL to use: explicit, else INVOICEFLOW_DATABASE_URL, else a SQLite file in the working directory."""
    url = url or os.environ.get("INVOICEFLOW_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions never wait for the write lock."""
    return engine.execution_options(readonly=True)


def _sqlite_begin(conn) -> None:
    # Writers take the write lock at BEGIN, so two writers queue on busy_timeout instead of failing with
    # "database is locked" halfway through; readers (WAL snapshots) never wait for it.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute(f"PRAGMA cache_size=-{DEFAULT_CACHE_KIB}")  # bounded: memory stays flat as the file grows
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


@contextmanager
def large_sqlite_cache(conn: Connection, kib: int = INGEST_CACHE_KIB) -> Iterator[None]:
    """A bigger page cache for bulk ingestion (random-key index inserts), restored afterwards."""
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql(f"PRAGMA cache_size=-{kib}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size=-{DEFAULT_CACHE_KIB}")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (idempotent; the same migrations run on both backends).

    "heads": capabilities developed side by side may each add a migration on the same parent; every
    branch is applied (their tables never overlap)."""
    command.upgrade(alembic_config(engine), "heads")


def is_migrated(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
