"""Tables of the built-in double-entry ledger: journal entries and their lines. Same metadata (and so the
same migrations) as store/tables.py.

Idempotency and the controls live here as constraints: one entry per (tenant, entry key), an entry is
reversed at most once. Migration 0005 adds triggers that make both tables append-only and, on PostgreSQL,
check at commit that every entry balances.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, String, Table, Text, UniqueConstraint

from invoiceflow.store.tables import Id, _id, _tenant, metadata
from invoiceflow.store.types import ExactDecimal

journal_entries = Table(
    "journal_entries",
    metadata,
    _id(),
    _tenant(),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("entry_key", String(128), nullable=False),  # the business event, e.g. "invoice:12:issued"
    Column("date", Date, nullable=False),  # accounting date
    Column("currency", String(3), nullable=False),
    Column("memo", Text, nullable=False, server_default=""),
    Column("source_type", String(32), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Column("reverses_entry_id", Id, ForeignKey("journal_entries.id")),
    Column("content_hash", String(64), nullable=False),  # sha256 of the entry's content: same key, same hash
    UniqueConstraint("tenant_id", "entry_key", name="uq_journal_entries_key"),
)
# An entry is reversed at most once (NULLs, entries that reverse nothing, do not collide).
Index("uq_journal_entries_reverses", journal_entries.c.reverses_entry_id, unique=True)
Index("ix_journal_entries_source", journal_entries.c.tenant_id, journal_entries.c.source_type,
      journal_entries.c.source_id)
Index("ix_journal_entries_date", journal_entries.c.tenant_id, journal_entries.c.legal_entity_id,
      journal_entries.c.date)

journal_lines = Table(
    "journal_lines",
    metadata,
    _id(),
    _tenant(),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("account_code", String(32), nullable=False),
    Column("debit", ExactDecimal, nullable=False),
    Column("credit", ExactDecimal, nullable=False),
    Column("product_code", String(64)),
    Column("memo", Text, nullable=False, server_default=""),
)
Index("ix_journal_lines_entry", journal_lines.c.entry_id)
