"""Re-walk a tenant's audit chain and name every entry that was edited, deleted, inserted or reordered.

The walk streams the log in sequence order and keeps one entry in memory; only when it finds a fault does
it load the whole chain and diagnose it, using three facts an attacker with SQL access cannot fix up
without also recomputing every later hash and the chain head:

- an entry's stored hash must equal the hash of its contents at its sequence (else: edited; if it matches
  at the sequence its links give it, it was moved: reordered);
- each entry links to the hash of its predecessor (a sequence gap or a link to nothing: deleted or
  rewritten; an entry that nothing links to while its successor links past it: inserted);
- the chain head (`audit_heads`, written with every append) names the last entry (entries missing from
  or added to the end).

A forger who rewrites the head too can only be caught by a copy of the head kept elsewhere: record the
head hash `audit verify` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy import Engine, select

from invoiceflow.audit.log import GENESIS, AuditEntry, read_entries, read_head
from invoiceflow.store.db import reader
from invoiceflow.store.tables import audit_heads, tenants
from invoiceflow.store.tenancy import tenant_id as resolve_tenant


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """One fault: the sequence number where it is and what is wrong."""

    sequence: int
    kind: str  # edited | deleted | inserted | reordered | head
    message: str

    def __str__(self) -> str:
        return f"entry {self.sequence}: {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    tenant: str
    entries: int
    head_hash: str
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit_log(engine: Engine, *, tenant: str = "default") -> VerifyReport:
    """Verify one tenant's chain against its contents and its head, in one consistent snapshot."""
    with _snapshot(engine) as conn:
        tid = resolve_tenant(conn, tenant, create=False)
        head = read_head(conn, tid)
        count, last = 0, None
        for entry in read_entries(conn, tid):
            if (entry.sequence != count + 1 or entry.prev_hash != (last.hash if last else GENESIS)
                    or entry.computed_hash() != entry.hash):
                break
            count, last = count + 1, entry
        else:
            if head == ((count, last.hash) if last else None):
                return VerifyReport(tenant, count, last.hash if last else GENESIS)
        entries = list(read_entries(conn, tid))
        return VerifyReport(tenant, len(entries), head[1] if head else GENESIS, diagnose(entries, head))


def verify_all(engine: Engine) -> list[VerifyReport]:
    """Verify the chain of every tenant that has one."""
    with reader(engine).connect() as conn:
        codes = conn.execute(select(tenants.c.code).join(audit_heads, audit_heads.c.tenant_id == tenants.c.id)
                             .order_by(tenants.c.code)).scalars().all()
    return [verify_audit_log(engine, tenant=code) for code in codes]


def diagnose(entries: Sequence[AuditEntry], head: tuple[int, str] | None) -> list[ChainProblem]:
    """Every fault in `entries` (sorted by sequence) given the chain head; empty when the chain is intact."""
    by_hash = {e.hash: e for e in entries}
    linked = {e.prev_hash for e in entries}
    origin = _origins(entries, by_hash)
    problems: list[ChainProblem] = []
    expected = 1
    for i, e in enumerate(entries):
        gap = e.sequence > expected
        if gap:
            missing = f"entry {expected} is" if e.sequence == expected + 1 else f"entries {expected}-{e.sequence - 1} are"
            problems.append(ChainProblem(expected, "deleted", f"{missing} missing from the log"))
        if e.computed_hash() != e.hash:
            written = origin.get(e.sequence)
            if written is not None and written != e.sequence and e.computed_hash(written) == e.hash:
                problems.append(ChainProblem(e.sequence, "reordered", f"holds the entry written as entry {written}"))
            else:
                problems.append(ChainProblem(e.sequence, "edited", "its contents no longer match its hash"))
        if e.prev_hash != GENESIS and e.prev_hash not in by_hash and not gap:
            problems.append(ChainProblem(e.sequence - 1, "edited", f"entry {e.sequence} links to a different entry "
                                         f"{e.sequence - 1}: it was rewritten and re-hashed"))
        if e.hash not in linked and i + 1 < len(entries) and entries[i + 1].prev_hash in by_hash:
            skipped_to = by_hash[entries[i + 1].prev_hash].sequence
            problems.append(ChainProblem(e.sequence, "inserted", f"no entry links to it: entry "
                                         f"{entries[i + 1].sequence} links to entry {skipped_to}"))
        expected = e.sequence + 1
    problems += _head_problems(entries, by_hash, head)
    return problems


def _head_problems(entries, by_hash, head) -> list[ChainProblem]:
    top = entries[-1].sequence if entries else 0
    if head is None:
        return [ChainProblem(1, "head", "the log has entries but no chain head")] if entries else []
    sequence, hash_ = head
    if sequence == 0:
        return [ChainProblem(1, "inserted", "entries exist but the chain head records none")] if entries else []
    tip = by_hash.get(hash_)
    if tip is None:
        if top < sequence:
            first = top + 1
            what = f"entry {first} is" if first == sequence else f"entries {first}-{sequence} are"
            return [ChainProblem(first, "deleted", f"{what} missing from the end (the chain head records {sequence})")]
        return [ChainProblem(sequence, "edited", "it is not the entry the chain head recorded")]
    after = [e for e in entries if e.sequence > tip.sequence]
    if after:
        return [ChainProblem(e.sequence, "inserted", f"added after the chain head (entry {sequence})") for e in after]
    return []


def _origins(entries: Sequence[AuditEntry], by_hash: dict[str, AuditEntry]) -> dict[int, int]:
    """Stored sequence -> the sequence the entry's links give it (its distance from the genesis), if whole."""
    depth: dict[str, int | None] = {GENESIS: 0}
    for e in entries:
        path, seen, h = [], set(), e.hash
        while h not in depth:
            node = by_hash.get(h)
            if node is None or h in seen:  # a link to nothing, or a forged cycle
                depth[h] = None
                break
            path.append(h)
            seen.add(h)
            h = node.prev_hash
        base = depth[h]
        for h in reversed(path):
            base = None if base is None else base + 1
            depth[h] = base
    return {e.sequence: depth[e.hash] for e in entries if depth.get(e.hash) is not None}


def _snapshot(engine: Engine):
    """A read-only connection whose statements all see one snapshot (WAL on SQLite, REPEATABLE READ on PG)."""
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return reader(engine).connect()
