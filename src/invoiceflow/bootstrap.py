"""Composition root: one place that turns configuration into an engine with a migrated schema."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from invoiceflow import webhooks  # noqa: F401 - subscribes outbound webhooks to the audit stream
from invoiceflow.store.db import database_url, make_engine, migrate


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def open_engine(url: str | None = None) -> Engine:
    """An engine for `url` (or INVOICEFLOW_DATABASE_URL, or the embedded SQLite file), schema up to date."""
    return _engine_for(database_url(url))
