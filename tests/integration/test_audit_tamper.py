"""Tampering with the stored audit log by raw SQL is detected and named, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from invoiceflow.audit.log import AuditEntry, append_entry, read_entries
from invoiceflow.audit.verify import verify_all, verify_audit_log
from invoiceflow.store.tables import audit_log
from invoiceflow.store.tenancy import tenant_id

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=timezone.utc)


def write_chain(engine, n=8, tenant="default"):
    with engine.begin() as conn:
        tid = tenant_id(conn, tenant)
    for i in range(1, n + 1):  # one transaction per entry, as the service appends
        with engine.begin() as conn:
            append_entry(conn, tenant_id=tid, actor=f"user{i % 3}", action="invoice.approve", object_type="invoice",
                         object_id=i, payload={"from": "pending_approval", "to": "approved", "total": "10.00"},
                         at=T0 + timedelta(minutes=i))
    return tid


def entries(engine, tid):
    with engine.connect() as conn:
        return list(read_entries(conn, tid))


def unlock(conn):
    """What an attacker with database rights does first: lift the append-only triggers."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER trg_audit_log_no_update"))
        conn.execute(text("DROP TRIGGER trg_audit_log_no_delete"))


def forge(conn, tid, sequence, prev_hash):
    entry = AuditEntry(tid, sequence, prev_hash, "", T0, "mallory", "invoice.approve", "invoice", "99", {"to": "approved"})
    entry = AuditEntry(**{**{k: getattr(entry, k) for k in AuditEntry.__slots__}, "hash": entry.computed_hash()})
    conn.execute(insert(audit_log).values(**{k: getattr(entry, k) for k in AuditEntry.__slots__}))


def shift(conn, start, by):
    """Renumber entries from `start` on by `by`, in two steps so the unique index never collides."""
    conn.execute(text("UPDATE audit_log SET sequence = sequence + 1000 WHERE sequence >= :s"), {"s": start})
    conn.execute(text("UPDATE audit_log SET sequence = sequence - 1000 + :by WHERE sequence >= 1000"), {"by": by})


def test_an_untouched_log_verifies(engine):
    write_chain(engine)
    report = verify_audit_log(engine)
    assert report.ok and report.entries == 8 and len(report.head_hash) == 64
    assert verify_audit_log(engine, tenant="default").head_hash == entries(engine, 1)[-1].hash


def test_the_database_refuses_updates_and_deletes(engine):
    write_chain(engine, 3)
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE sequence = 2", "DELETE FROM audit_log"):
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert verify_audit_log(engine).ok


def _edit(conn, tid, chain):
    conn.execute(text("UPDATE audit_log SET payload = :p WHERE sequence = 3"), {"p": '{"to":"void"}'})


def _edit_and_rehash(conn, tid, chain):
    victim = chain[2]
    forged = AuditEntry(**{**{k: getattr(victim, k) for k in AuditEntry.__slots__}, "actor": "mallory"})
    conn.execute(text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE sequence = 3"),
                 {"h": forged.computed_hash()})


def _delete(conn, tid, chain):
    conn.execute(text("DELETE FROM audit_log WHERE sequence = 4"))


def _delete_last(conn, tid, chain):
    conn.execute(text("DELETE FROM audit_log WHERE sequence = 8"))


def _insert(conn, tid, chain):
    shift(conn, 3, 1)
    forge(conn, tid, 3, chain[1].hash)


def _append(conn, tid, chain):
    forge(conn, tid, 9, chain[-1].hash)


def _reorder(conn, tid, chain):
    conn.execute(text("UPDATE audit_log SET sequence = -1 WHERE sequence = 5"))
    conn.execute(text("UPDATE audit_log SET sequence = 5 WHERE sequence = 6"))
    conn.execute(text("UPDATE audit_log SET sequence = 6 WHERE sequence = -1"))


@pytest.mark.parametrize(("tamper", "expected"), [
    (_edit, (3, "edited")),
    (_edit_and_rehash, (3, "edited")),
    (_delete, (4, "deleted")),
    (_delete_last, (8, "deleted")),
    (_insert, (3, "inserted")),
    (_append, (9, "inserted")),
    (_reorder, (5, "reordered")),
], ids=["edit", "edit-and-rehash", "delete", "delete-last", "insert", "append", "reorder"])
def test_tampering_is_detected_and_named(engine, tamper, expected):
    tid = write_chain(engine)
    chain = entries(engine, tid)
    with engine.begin() as conn:
        unlock(conn)
        tamper(conn, tid, chain)
    report = verify_audit_log(engine)
    assert not report.ok
    assert (report.problems[0].sequence, report.problems[0].kind) == expected, report.problems
    if tamper is _reorder:
        assert [str(p) for p in report.problems] == ["entry 5: reordered: holds the entry written as entry 6",
                                                     "entry 6: reordered: holds the entry written as entry 5"]


def test_chains_are_per_tenant_and_verified_each(engine):
    write_chain(engine, 3, tenant="acme")
    tid = write_chain(engine, 4, tenant="globex")
    with engine.begin() as conn:
        unlock(conn)
        conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE tenant_id = :t AND sequence = 2"), {"t": tid})
    reports = {r.tenant: r for r in verify_all(engine)}
    assert reports["acme"].ok and reports["acme"].entries == 3
    assert [(p.sequence, p.kind) for p in reports["globex"].problems] == [(2, "edited")]
