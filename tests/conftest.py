"""Shared fixtures: fresh SQLite files and fresh PostgreSQL databases (cloned from a migrated template)."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Property tests judge outcomes, not speed: no per-example deadline on a shared 2-core machine.
settings.register_profile("invoiceflow", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("invoiceflow")

PG_URL = os.environ.get("INVOICEFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("INVOICEFLOW_REQUIRE_POSTGRES") == "1"


def _admin_engine():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def pg_template():
    """A migrated template database; each test clones it. Skips (or fails in CI) without a server."""
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # no server: skip with the reason, unless CI demands PostgreSQL
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set INVOICEFLOW_TEST_POSTGRES_URL): {exc}")
    name = f"invoiceflow_tmpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    from invoiceflow.store.db import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_template):
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"invoiceflow_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    from invoiceflow.bootstrap import _engine_for

    _engine_for.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'invoiceflow.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    from invoiceflow.bootstrap import open_engine

    return open_engine(db_url)
