"""The trial balance of the built-in ledger: debits, credits and balance per account.

Rows are per (legal entity, currency, account): entries are never converted between currencies, so each
currency of each entity balances on its own. Amounts are summed in Python as Decimal, one code path for
both backends (SQLite stores them as text, where SQL SUM would go through float); lines are streamed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, Engine, select

from invoiceflow.ledger.interface import AccountBalance, TrialBalance
from invoiceflow.ledger.load import legal_entity_id, tenant_of
from invoiceflow.store.db import reader
from invoiceflow.store.ledger_tables import journal_entries, journal_lines
from invoiceflow.store.review_tables import gl_accounts
from invoiceflow.store.tables import legal_entities

ZERO = Decimal(0)


def trial_balance(db: Engine | Connection, tenant: str | int = "default", legal_entity: str | None = None,
                  as_of: date | None = None) -> TrialBalance:
    """Balances of every account with postings dated on or before `as_of` (all dates when None)."""
    if isinstance(db, Engine):
        with reader(db).connect() as conn:
            return _trial_balance(conn, tenant, legal_entity, as_of)
    return _trial_balance(db, tenant, legal_entity, as_of)


def _trial_balance(conn: Connection, tenant: str | int, legal_entity: str | None,
                   as_of: date | None) -> TrialBalance:
    tid = tenant_of(conn, tenant)
    query = (
        select(legal_entities.c.id, legal_entities.c.code, journal_entries.c.currency, journal_lines.c.account_code,
               journal_lines.c.debit, journal_lines.c.credit)
        .select_from(journal_lines)
        .join(journal_entries, journal_entries.c.id == journal_lines.c.entry_id)
        .join(legal_entities, legal_entities.c.id == journal_entries.c.legal_entity_id)
        .where(journal_entries.c.tenant_id == tid)
    )
    if legal_entity is not None:
        query = query.where(journal_entries.c.legal_entity_id == legal_entity_id(conn, tid, legal_entity))
    if as_of is not None:
        query = query.where(journal_entries.c.date <= as_of)
    sums: dict[tuple[int, str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for entity_id, entity, currency, account, debit, credit in conn.execution_options(yield_per=5000).execute(query):
        total = sums[(int(entity_id), entity, currency, account)]
        total[0] += debit
        total[1] += credit
    names = {
        (int(entity_id), code): (name, kind) for entity_id, code, name, kind in conn.execute(
            select(gl_accounts.c.legal_entity_id, gl_accounts.c.code, gl_accounts.c.name, gl_accounts.c.type)
            .where(gl_accounts.c.tenant_id == tid))
    }
    rows = []
    for (entity_id, entity, currency, account), (debit, credit) in sorted(sums.items(), key=lambda kv: kv[0][1:]):
        name, kind = names.get((entity_id, account), ("", ""))
        rows.append(AccountBalance(entity, currency, account, name, kind, debit, credit))
    return TrialBalance(as_of=as_of, legal_entity=legal_entity, rows=tuple(rows))
