"""Reading what an export needs from the built-in ledger (adapter): journal entries and account metadata.

The renderers are pure; this is the one place that touches the database, so an export of a tenant, a legal
entity or a date range is the stored entries as posted, never recomputed from invoices. The date range is
half-open, `[start, before)`, like every period in invoiceflow.
"""

from __future__ import annotations

from datetime import date
from typing import Callable

from sqlalchemy import Connection, Engine, select

from invoiceflow.errors import ValidationError
from invoiceflow.ledger.entries import JournalEntry
from invoiceflow.ledger.exports.beancount import render_beancount
from invoiceflow.ledger.exports.hledger import render_hledger
from invoiceflow.ledger.exports.naming import AccountInfo
from invoiceflow.ledger.load import legal_entity_id, tenant_of
from invoiceflow.ledger.sql_ledger import SqlLedger
from invoiceflow.store.db import reader
from invoiceflow.store.review_tables import gl_accounts
from invoiceflow.store.tables import legal_entities

FORMATS: dict[str, Callable[..., str]] = {"beancount": render_beancount, "hledger": render_hledger}


def load_for_export(conn: Connection, tenant: str | int, *, legal_entity: str | None = None,
                    start: date | None = None, before: date | None = None,
                    ) -> tuple[list[JournalEntry], dict[tuple[str, str], AccountInfo]]:
    """Entries in posting order dated in `[start, before)`, and every account of the entities concerned."""
    tid = tenant_of(conn, tenant)
    if legal_entity is not None:
        legal_entity_id(conn, tid, legal_entity)  # an unknown entity is an error, not an empty export
    if start is not None and before is not None and before <= start:
        raise ValidationError(f"the range [{start}, {before}) is empty: the end must be after the start",
                              record="export", field="before")
    entries = [posted.entry for posted in SqlLedger().entries(conn, tid, legal_entity=legal_entity)
               if (start is None or posted.entry.date >= start) and (before is None or posted.entry.date < before)]
    query = (select(legal_entities.c.code, gl_accounts.c.code, gl_accounts.c.name, gl_accounts.c.type)
             .join(legal_entities, legal_entities.c.id == gl_accounts.c.legal_entity_id)
             .where(gl_accounts.c.tenant_id == tid))
    if legal_entity is not None:
        query = query.where(legal_entities.c.code == legal_entity)
    accounts = {(entity, code): AccountInfo(entity, code, name, kind)
                for entity, code, name, kind in conn.execute(query)}
    return entries, accounts


def export_ledger(db: Engine | Connection, tenant: str | int, fmt: str, *, legal_entity: str | None = None,
                  start: date | None = None, before: date | None = None) -> str:
    """The built-in ledger rendered as `fmt` ("beancount" or "hledger")."""
    render = FORMATS.get(fmt)
    if render is None:
        raise ValidationError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", record="export",
                              field="format")
    if isinstance(db, Engine):
        with reader(db).connect() as conn:
            entries, accounts = load_for_export(conn, tenant, legal_entity=legal_entity, start=start, before=before)
    else:
        entries, accounts = load_for_export(db, tenant, legal_entity=legal_entity, start=start, before=before)
    return render(entries, accounts)
