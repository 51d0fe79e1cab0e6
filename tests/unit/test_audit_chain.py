"""The hash chain in memory: canonical hashing and the diagnosis of every kind of tampering."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from invoiceflow.audit.log import GENESIS, AuditEntry, canonical_json, entry_hash
from invoiceflow.audit.verify import diagnose

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)


def chain(n: int) -> list[AuditEntry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry = AuditEntry(1, seq, prev, "", T0 + timedelta(seconds=seq), f"user{seq % 3}", "invoice.approve",
                           "invoice", str(seq), {"n": seq, "total": "10.00"})
        entry = replace(entry, hash=entry.computed_hash())
        entries.append(entry)
        prev = entry.hash
    return entries


def head(entries):
    return (entries[-1].sequence, entries[-1].hash)


def forge(seq: int, prev_hash: str) -> AuditEntry:
    entry = AuditEntry(1, seq, prev_hash, "", T0, "mallory", "invoice.approve", "invoice", "99", {"forged": True})
    return replace(entry, hash=entry.computed_hash())


def kinds(problems):
    return [(p.sequence, p.kind) for p in problems]


def test_an_intact_chain_has_no_problems():
    entries = chain(8)
    assert diagnose(entries, head(entries)) == []
    assert diagnose([], None) == []


def test_the_hash_covers_every_field_and_is_canonical():
    base = dict(sequence=1, prev_hash=GENESIS, tenant_id=1, at=T0, actor="a", action="x", object_type="invoice",
                object_id="1", payload={"b": 1, "a": [1, 2]})
    h = entry_hash(**base)
    assert h == entry_hash(**{**base, "payload": {"a": [1, 2], "b": 1}})  # key order does not matter
    assert h == entry_hash(**{**base, "at": T0.replace(tzinfo=None)})  # naive times are UTC (SQLite reads)
    assert h == entry_hash(**{**base, "at": T0.astimezone(timezone(timedelta(hours=9)))})
    for name, other in [("sequence", 2), ("prev_hash", "1" * 64), ("tenant_id", 2), ("at", T0 + timedelta(microseconds=1)),
                        ("actor", "b"), ("action", "y"), ("object_type", "credit_note"), ("object_id", "2"),
                        ("payload", {"b": 1, "a": [2, 1]})]:
        assert entry_hash(**{**base, name: other}) != h, name


def test_canonical_json_is_compact_sorted_and_refuses_floats():
    assert canonical_json({"b": Decimal("1.50"), "a": date(2026, 4, 1), "c": "é"}) == '{"a":"2026-04-01","b":"1.50","c":"é"}'
    with pytest.raises(TypeError, match="float"):
        canonical_json({"amount": 1.5})


def test_edited_entry_is_named():
    entries = chain(6)
    entries[2] = replace(entries[2], actor="mallory")
    assert kinds(diagnose(entries, head(entries))) == [(3, "edited")]


def test_edited_and_rehashed_entry_is_named_by_its_successor():
    entries = chain(6)
    edited = replace(entries[2], payload={"n": 3, "total": "0.00"})
    entries[2] = replace(edited, hash=edited.computed_hash())
    assert kinds(diagnose(entries, head(entries))) == [(3, "edited")]


def test_rehashed_last_entry_is_caught_by_the_head():
    entries = chain(6)
    original = head(entries)
    edited = replace(entries[-1], actor="mallory")
    entries[-1] = replace(edited, hash=edited.computed_hash())
    assert kinds(diagnose(entries, original)) == [(6, "edited")]


def test_deleted_entries_are_named():
    entries = chain(8)
    original = head(entries)
    assert kinds(diagnose(entries[:3] + entries[4:], original)) == [(4, "deleted")]
    problems = diagnose(entries[:2] + entries[5:], original)
    assert kinds(problems) == [(3, "deleted")] and "entries 3-5 are missing" in str(problems[0])
    assert kinds(diagnose(entries[:-2], original)) == [(7, "deleted")]  # from the end: the head knows


def test_inserted_entry_in_the_middle_is_named_and_the_shifted_ones_flagged():
    entries = chain(6)
    shifted = [replace(e, sequence=e.sequence + 1) for e in entries[2:]]
    forged = entries[:2] + [forge(3, entries[1].hash)] + shifted
    problems = diagnose(forged, head(entries))
    assert (3, "inserted") in kinds(problems)
    assert [k for k in kinds(problems) if k != (3, "inserted")] == [(s, "reordered") for s in range(4, 8)]
    assert "holds the entry written as entry 3" in str(problems[1])


def test_entry_appended_behind_the_writer_is_named():
    entries = chain(5)
    original = head(entries)
    assert kinds(diagnose(entries + [forge(6, entries[-1].hash)], original)) == [(6, "inserted")]


def test_reordered_entries_are_named():
    entries = chain(6)
    swapped = entries[:2] + [replace(entries[3], sequence=3), replace(entries[2], sequence=4)] + entries[4:]
    problems = diagnose(swapped, head(entries))
    assert kinds(problems) == [(3, "reordered"), (4, "reordered")]
    assert str(problems[0]) == "entry 3: reordered: holds the entry written as entry 4"


def test_missing_head_is_reported():
    entries = chain(2)
    assert kinds(diagnose(entries, None)) == [(1, "head")]
