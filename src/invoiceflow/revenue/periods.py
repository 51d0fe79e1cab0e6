"""Accounting months for revenue: parsing "YYYY-MM", whether a month is over, which months are closed,
and the lock that keeps a recognition run and a period close from interleaving.

Closes happen in order, so each legal entity's closed months are a prefix of time: everything up to its
latest closed month is closed, and `closed_through` is all the revenue code needs to know.
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import Connection, func, select, text

from invoiceflow.clock import Clock
from invoiceflow.errors import ValidationError
from invoiceflow.revrec.journal import period_end
from invoiceflow.store.revrec_tables import revenue_periods

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_LOCK = 0x52455645  # "REVE": advisory lock class of revenue runs and closes (PostgreSQL)


def parse_period(value: str, *, record: str = "revenue", field: str = "period") -> str:
    """`value` if it is a month written YYYY-MM, else a ValidationError naming where it came from."""
    if not isinstance(value, str) or not _MONTH.fullmatch(value):
        raise ValidationError(f"{value!r} is not a month: write it YYYY-MM, e.g. 2026-09", record=record, field=field)
    return value


def require_ended(period: str, clock: Clock, *, record: str, field: str = "period") -> date:
    """The clock's UTC day, after checking `period` is over: revenue is recognized and closed for past months."""
    today = clock.now().date()
    if period_end(period) >= today:
        raise ValidationError(f"{period} has not ended yet (today is {today.isoformat()} by the clock): revenue is "
                              "recognized and closed only for months that are over", record=record, field=field)
    return today


def closed_through(conn: Connection, tenant_id: int) -> dict[int, str]:
    """The latest closed month of each legal entity that has closed one (legal entity id -> YYYY-MM)."""
    rows = conn.execute(
        select(revenue_periods.c.legal_entity_id, func.max(revenue_periods.c.period))
        .where(revenue_periods.c.tenant_id == tenant_id, revenue_periods.c.status == "closed")
        .group_by(revenue_periods.c.legal_entity_id))
    return {int(entity_id): period for entity_id, period in rows}


def lock_revenue(conn: Connection, tenant_id: int) -> None:
    """Serialise recognition runs and closes of one tenant: a close must not slip in between a run's reading
    that a month is open and its posting there. SQLite writers are already serialised by BEGIN IMMEDIATE."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(CAST(:kind AS integer), CAST(:tenant AS integer))"),
                     {"kind": _LOCK, "tenant": tenant_id})
