"""The built-in ledger: journal entries stored in the invoiceflow database (the embedded default).

`SqlLedger.post` writes an entry and its lines in the caller's transaction, idempotently by entry key:
the header insert is ON CONFLICT DO NOTHING, so a concurrent or repeated post of the same key finds the
stored entry and compares content hashes (equal: no-op; different: ConflictError). Every account must be
in the legal entity's chart. The audit entry ("ledger.posted") is appended last, in the same transaction.
The database keeps the books append-only, and on PostgreSQL checks at commit that every entry balances.

`post_invoice` and `post_payment` are the entry points the billing and collections work call.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.audit.log import append_entry
from invoiceflow.errors import ConflictError, Problem, ValidationError
from invoiceflow.ledger.entries import JournalEntry, JournalLine
from invoiceflow.ledger.interface import Ledger, Posted
from invoiceflow.ledger.load import legal_entity_id, load_chart, load_document, tenant_of
from invoiceflow.ledger.posting_rules import entry_key, issued_entry, payment_entry, void_entry
from invoiceflow.store.ledger_tables import journal_entries, journal_lines
from invoiceflow.store.review_tables import gl_accounts
from invoiceflow.store.tables import legal_entities


def _utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


class SqlLedger:
    """Journal entries in the `journal_entries` and `journal_lines` tables."""

    name = "builtin"

    def post(self, conn: Connection, tenant_id: int, entry: JournalEntry, *, at: datetime,
             actor: str = "ledger") -> Posted:
        at = _utc(at)
        stored = self.find(conn, tenant_id, entry.entry_key)
        if stored is not None:
            return _same_or_conflict(stored, entry)
        entity_id = legal_entity_id(conn, tenant_id, entry.legal_entity)
        _check_accounts(conn, tenant_id, entity_id, entry)
        reverses_id = self._reversed_id(conn, tenant_id, entry)
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        new_id = conn.execute(
            dialect.insert(journal_entries).values(
                tenant_id=tenant_id, legal_entity_id=entity_id, entry_key=entry.entry_key, date=entry.date,
                currency=entry.currency, memo=entry.memo, source_type=entry.source_type,
                source_id=entry.source_id, posted_at=at, reverses_entry_id=reverses_id,
                content_hash=entry.content_hash)
            .on_conflict_do_nothing(index_elements=["tenant_id", "entry_key"])
            .returning(journal_entries.c.id)
        ).scalar()
        if new_id is None:  # posted concurrently by another transaction since we looked
            return _same_or_conflict(self.find(conn, tenant_id, entry.entry_key), entry)  # type: ignore[arg-type]
        conn.execute(insert(journal_lines), [
            {"tenant_id": tenant_id, "entry_id": new_id, "account_code": line.account, "debit": line.debit,
             "credit": line.credit, "product_code": line.product, "memo": line.memo}
            for line in entry.lines])
        append_entry(conn, tenant_id=tenant_id, actor=actor, action="ledger.posted", object_type="journal_entry",
                     object_id=new_id, at=at, payload={
                         "entry_key": entry.entry_key, "legal_entity": entry.legal_entity, "date": entry.date,
                         "currency": entry.currency, "total": entry.total, "lines": len(entry.lines),
                         "source": f"{entry.source_type}:{entry.source_id}", "reverses": entry.reverses,
                         "content_hash": entry.content_hash})
        return Posted(int(new_id), entry, at, True)

    def find(self, conn: Connection, tenant_id: int, entry_key: str) -> Posted | None:
        found = self.entries(conn, tenant_id, entry_keys=[entry_key])
        return found[0] if found else None

    def entries(self, conn: Connection, tenant_id: int, *, source_type: str | None = None,
                source_id: str | None = None, entry_keys: list[str] | None = None,
                legal_entity: str | None = None) -> list[Posted]:
        """Stored entries in posting order, filtered by source, keys or legal entity."""
        reversed_entry = journal_entries.alias("reversed_entry")
        query = (
            select(journal_entries, legal_entities.c.code.label("entity"),
                   reversed_entry.c.entry_key.label("reverses_key"))
            .join(legal_entities, legal_entities.c.id == journal_entries.c.legal_entity_id)
            .outerjoin(reversed_entry, reversed_entry.c.id == journal_entries.c.reverses_entry_id)
            .where(journal_entries.c.tenant_id == tenant_id)
        )
        if source_type is not None:
            query = query.where(journal_entries.c.source_type == source_type)
        if source_id is not None:
            query = query.where(journal_entries.c.source_id == source_id)
        if entry_keys is not None:
            query = query.where(journal_entries.c.entry_key.in_(entry_keys))
        if legal_entity is not None:
            query = query.where(legal_entities.c.code == legal_entity)
        heads = conn.execute(query.order_by(journal_entries.c.id)).mappings().all()
        if not heads:
            return []
        lines: dict[int, list[JournalLine]] = {int(h["id"]): [] for h in heads}
        for row in conn.execute(select(journal_lines).where(journal_lines.c.entry_id.in_(list(lines)))
                                .order_by(journal_lines.c.id)).mappings():
            lines[int(row["entry_id"])].append(JournalLine(row["account_code"], row["debit"], row["credit"],
                                                           row["product_code"], row["memo"]))
        return [Posted(int(h["id"]), _entry(h, lines[int(h["id"])]), _utc(h["posted_at"]), False) for h in heads]

    def _reversed_id(self, conn: Connection, tenant_id: int, entry: JournalEntry) -> int | None:
        if entry.reverses is None:
            return None
        target = self.find(conn, tenant_id, entry.reverses)
        record = f"journal entry {entry.entry_key}"
        if target is None:
            raise ValidationError(f"reverses {entry.reverses!r}, which is not posted", record=record,
                                  field="reverses")
        taken = conn.execute(select(journal_entries.c.entry_key)
                             .where(journal_entries.c.reverses_entry_id == target.id)).scalar()
        if taken is not None:
            raise ConflictError(f"{record}: {entry.reverses!r} is already reversed by {taken!r}")
        return int(target.id)


def _entry(head: Any, lines: list[JournalLine]) -> JournalEntry:
    return JournalEntry(entry_key=head["entry_key"], legal_entity=head["entity"], date=head["date"],
                        currency=head["currency"], lines=tuple(lines), memo=head["memo"],
                        source_type=head["source_type"], source_id=head["source_id"], reverses=head["reverses_key"])


def _same_or_conflict(stored: Posted, entry: JournalEntry) -> Posted:
    if stored.entry.content_hash == entry.content_hash:
        return stored
    raise ConflictError(
        f"journal entry {entry.entry_key!r} is already posted (entry {stored.id}) with different content; "
        "posted entries are never changed: post a reversal and a new entry under a new key")


def _check_accounts(conn: Connection, tenant_id: int, entity_id: int, entry: JournalEntry) -> None:
    codes = {line.account for line in entry.lines}
    known = set(conn.execute(select(gl_accounts.c.code).where(
        gl_accounts.c.tenant_id == tenant_id, gl_accounts.c.legal_entity_id == entity_id,
        gl_accounts.c.code.in_(sorted(codes)))).scalars())
    problems = [Problem(f"journal entry {entry.entry_key}", f"lines[{position}].account",
                        f"account {line.account!r} is not in the chart of accounts of legal entity "
                        f"{entry.legal_entity}")
                for position, line in enumerate(entry.lines, start=1) if line.account not in known]
    if problems:
        raise ValidationError(problems)


def post_invoice(conn: Connection, tenant: str | int, invoice_id: int, *, at: datetime,
                 ledger: Ledger | None = None, actor: str = "ledger") -> list[Posted]:
    """Post what an issued invoice or credit note owes the ledger: its issue entry and, when it has been
    voided, the reversal of that entry. Repeating it is a no-op; an entry already posted is reused as
    stored (a later mapping change never rewrites history). A never-issued document raises."""
    ledger = ledger or SqlLedger()
    tid = tenant_of(conn, tenant)
    stored = load_document(conn, tid, invoice_id)
    stored.check_postable()
    document = stored.document
    posted = [p for p in [ledger.find(conn, tid, entry_key(document, "issued"))] if p is not None]
    if not posted:
        entry = issued_entry(document, load_chart(conn, tid, stored.legal_entity_id, document.legal_entity))
        if entry is None:
            return []  # nothing but zero amounts
        posted.append(ledger.post(conn, tid, entry, at=at, actor=actor))
    if stored.void_on is not None:
        reversal = void_entry(document, posted[0].entry, on=stored.void_on)
        posted.append(ledger.post(conn, tid, reversal, at=at, actor=actor))
    return posted


def post_payment(conn: Connection, tenant: str | int, *, key: str, legal_entity: str, on: date, currency: str,
                 amount: Decimal, at: datetime, invoice_id: int | None = None, memo: str = "",
                 ledger: Ledger | None = None, actor: str = "ledger") -> Posted:
    """Post a customer payment (Dr cash, Cr receivable) under entry key "payment:<key>", idempotently."""
    ledger = ledger or SqlLedger()
    tid = tenant_of(conn, tenant)
    chart = load_chart(conn, tid, legal_entity_id(conn, tid, legal_entity), legal_entity)
    memo = memo or (f"payment {key} for invoice {invoice_id}" if invoice_id is not None else "")
    entry = payment_entry(key=key, legal_entity=legal_entity, on=on, currency=currency, amount=amount, chart=chart,
                          memo=memo)
    return ledger.post(conn, tid, entry, at=at, actor=actor)
