"""The append-only, hash-chained audit log: one chain per tenant, written in the caller's transaction.

Each entry carries the hash of the one before it, and its own hash is sha256 over a canonical JSON of
(sequence, previous hash, tenant, time, actor, action, object type and id, payload). Editing, deleting,
inserting or reordering an entry breaks the chain, and `audit/verify.py` names where.

Appends are serialised per tenant so the chain never forks: every append locks the tenant's row in
`audit_heads` (SELECT ... FOR UPDATE on PostgreSQL; on SQLite writers already hold the database write lock
from BEGIN IMMEDIATE) and reads the previous hash from it. The head is updated in the same transaction, so a
rolled-back business change takes its audit entry with it, and entries removed from or added to the end of
the log behind the writer's back no longer match the head. Append last in a transaction: the head lock is
then held only for the commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from invoiceflow.store.tables import audit_heads, audit_log

GENESIS = "0" * 64
_LISTENERS: list[Callable[[Connection, "AuditEntry"], None]] = []  # see add_listener


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of a tenant's chain, as stored."""

    tenant_id: int
    sequence: int
    prev_hash: str
    hash: str
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    payload: dict[str, Any] = field(default_factory=dict)

    def computed_hash(self, sequence: int | None = None) -> str:
        """The hash this entry's contents give (optionally as if stored at another sequence)."""
        return entry_hash(
            sequence=self.sequence if sequence is None else sequence, prev_hash=self.prev_hash,
            tenant_id=self.tenant_id, at=self.at, actor=self.actor, action=self.action,
            object_type=self.object_type, object_id=self.object_id, payload=self.payload,
        )


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the same value always gives the same bytes."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_time(at: datetime) -> str:
    """UTC with microseconds; a naive time (SQLite reads them back so) is UTC already."""
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(*, sequence: int, prev_hash: str, tenant_id: int, at: datetime, actor: str, action: str,
               object_type: str, object_id: str, payload: dict[str, Any]) -> str:
    body = canonical_json({
        "sequence": sequence, "prev_hash": prev_hash, "tenant": tenant_id, "at": canonical_time(at),
        "actor": actor, "action": action, "object_type": object_type, "object_id": object_id, "payload": payload,
    })
    return hashlib.sha256(body.encode()).hexdigest()


def append_entry(conn: Connection, *, tenant_id: int, actor: str, action: str, object_type: str,
                 object_id: str | int, payload: dict[str, Any], at: datetime) -> AuditEntry:
    """Append one entry to the tenant's chain inside the caller's transaction and return it."""
    at = at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(audit_heads).values(tenant_id=tenant_id, sequence=0, hash=GENESIS)
                 .on_conflict_do_nothing(index_elements=["tenant_id"]))
    sequence, prev_hash = conn.execute(
        select(audit_heads.c.sequence, audit_heads.c.hash).where(audit_heads.c.tenant_id == tenant_id)
        .with_for_update()
    ).one()
    entry = AuditEntry(
        tenant_id=tenant_id, sequence=int(sequence) + 1, prev_hash=prev_hash, hash="", at=at, actor=actor,
        action=action, object_type=object_type, object_id=str(object_id), payload=json.loads(canonical_json(payload)),
    )
    entry = AuditEntry(**{**_fields(entry), "hash": entry.computed_hash()})
    conn.execute(insert(audit_log).values(**_fields(entry)))
    conn.execute(update(audit_heads).where(audit_heads.c.tenant_id == tenant_id)
                 .values(sequence=entry.sequence, hash=entry.hash))
    for listener in _LISTENERS:
        listener(conn, entry)
    return entry


def add_listener(listener: Callable[[Connection, AuditEntry], None]) -> None:
    """Call `listener(conn, entry)` after every append, in the appending transaction (added once).

    The one hook for work that must commit or roll back with the audited change: invoiceflow.webhooks
    enqueues outbound webhook deliveries from it. A listener must be quick, must not append audit entries
    itself, and an error it raises fails the append (and so the business change)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def read_entries(conn: Connection, tenant_id: int, *, object_type: str | None = None,
                 object_id: str | int | None = None, last: int | None = None) -> Iterator[AuditEntry]:
    """A tenant's entries in sequence order (optionally about one object, or only the `last` N), streamed."""
    query = select(audit_log).where(audit_log.c.tenant_id == tenant_id)
    if object_type is not None:
        query = query.where(audit_log.c.object_type == object_type)
    if object_id is not None:
        query = query.where(audit_log.c.object_id == str(object_id))
    if last is not None:
        newest = query.order_by(audit_log.c.sequence.desc()).limit(last).subquery()
        query = select(newest)
        order = newest.c.sequence
    else:
        order = audit_log.c.sequence
    for row in conn.execution_options(yield_per=2000).execute(query.order_by(order)).mappings():
        yield AuditEntry(
            tenant_id=int(row["tenant_id"]), sequence=int(row["sequence"]), prev_hash=row["prev_hash"],
            hash=row["hash"], at=row["at"], actor=row["actor"], action=row["action"],
            object_type=row["object_type"], object_id=row["object_id"], payload=row["payload"],
        )


def read_head(conn: Connection, tenant_id: int) -> tuple[int, str] | None:
    """(sequence, hash) of the tenant's last appended entry, or None before the first append."""
    row = conn.execute(select(audit_heads.c.sequence, audit_heads.c.hash)
                       .where(audit_heads.c.tenant_id == tenant_id)).first()
    return None if row is None else (int(row[0]), row[1])


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in AuditEntry.__slots__}


def _plain(value: Any) -> Any:
    """JSON types only; decimals and dates as strings. Floats are refused: money is never a float."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        raise TypeError("float in an audit payload: use Decimal or str")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date)):
        return canonical_time(value) if isinstance(value, datetime) else value.isoformat()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise TypeError(f"not JSON-serialisable in an audit payload: {type(value).__name__}")
