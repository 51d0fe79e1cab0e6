"""The lifecycle service on SQLite and PostgreSQL: transitions, numbering, idempotency, refusals, SoD."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from invoiceflow.audit.log import read_entries
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.billing.run import run_bill_run
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.clock import FrozenClock
from invoiceflow.errors import NotFound, ValidationError
from invoiceflow.lifecycle import (
    IllegalTransition,
    PolicyRefused,
    ReasonRequired,
    SegregationOfDuties,
    approve_invoice,
    hold_invoice,
    invoice_history,
    issue_invoice,
    override_invoice,
    reject_invoice,
    submit_invoice,
    transition,
    validate_invoice,
    void_invoice,
)
from invoiceflow.store.tables import audit_log, invoice_transitions, invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"
T = "default"


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 4, 2, 9, 30, tzinfo=timezone.utc))


@pytest.fixture
def drafts(engine):
    """Ten draft invoices: ids 1-6 for legal entity acme-us (USD), 7-10 for acme-jp (JPY). Everyone may approve."""
    with engine.begin() as conn:
        tid = tenant_id(conn)
        apply_document(conn, tid, load_document(CATALOG))
        for name in ("alice", "bob", "carol", "cfo", "dave"):
            set_member(conn, tid, name, ["approver"], actor="setup", at=datetime(2026, 4, 1, tzinfo=timezone.utc))
    run_bill_run(engine, as_of=date(2026, 4, 1))
    return engine


def to_approved(engine, invoice_id, clock):
    validate_invoice(engine, T, invoice_id, actor="alice", clock=clock)
    submit_invoice(engine, T, invoice_id, actor="alice", clock=clock)
    return approve_invoice(engine, T, invoice_id, actor="bob", clock=clock)


def to_issued(engine, invoice_id, clock):
    to_approved(engine, invoice_id, clock)
    return issue_invoice(engine, T, invoice_id, actor="carol", clock=clock)


def snapshot(engine, invoice_id):
    with engine.connect() as conn:
        row = dict(conn.execute(select(invoices).where(invoices.c.id == invoice_id)).mappings().one())
        moves = conn.execute(select(func.count()).select_from(invoice_transitions)).scalar_one()
        entries = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return row, moves, entries


def test_full_lifecycle_records_actor_time_and_reason_of_every_step(drafts, clock):
    to_issued(drafts, 2, clock)
    for action in ("post", "pay_partially", "pay"):
        transition(drafts, T, 2, action, actor="ledger", clock=clock)
    found = invoice_history(drafts, 2)
    assert [(t["action"], t["from"], t["to"], t["actor"]) for t in found["transitions"]] == [
        ("validate", "draft", "validated", "alice"), ("submit", "validated", "pending_approval", "alice"),
        ("approve", "pending_approval", "approved", "bob"), ("issue", "approved", "issued", "carol"),
        ("post", "issued", "posted", "ledger"), ("pay_partially", "posted", "partially_paid", "ledger"),
        ("pay", "partially_paid", "paid", "ledger"),
    ]
    assert {t["at"] for t in found["transitions"]} == {"2026-04-02T09:30:00.000000Z"}
    assert found["invoice"]["number"] == "INV-2026-000001" and found["invoice"]["approved_by"] == "bob"
    with pytest.raises(IllegalTransition, match="cannot void a paid invoice"):
        void_invoice(drafts, T, 2, actor="bob", reason="too late", clock=clock)
    report = verify_audit_log(drafts)
    assert report.ok and report.entries == 5 + 8  # five role grants, seven transitions and one refused void


def test_issue_is_idempotent_and_returns_the_same_number(drafts, clock):
    first = to_issued(drafts, 3, clock)
    before = snapshot(drafts, 3)
    again = issue_invoice(drafts, T, 3, actor="dave", clock=clock)
    assert (first.number, first.changed) == ("INV-2026-000001", True)
    assert (again.number, again.changed, again.status) == ("INV-2026-000001", False, "issued")
    assert snapshot(drafts, 3) == before  # nothing written: no transition, no audit entry


def test_void_keeps_the_number_and_numbers_are_never_reused(drafts, clock):
    to_issued(drafts, 2, clock)
    with pytest.raises(ReasonRequired, match="void needs a reason"):
        void_invoice(drafts, T, 2, actor="bob", reason="  ", clock=clock)
    voided = void_invoice(drafts, T, 2, actor="bob", reason="wrong customer", clock=clock)
    assert (voided.status, voided.number) == ("void", "INV-2026-000001")
    assert to_issued(drafts, 3, clock).number == "INV-2026-000002"
    with pytest.raises(IllegalTransition, match="cannot issue a void invoice"):
        issue_invoice(drafts, T, 2, actor="carol", clock=clock)
    assert invoice_history(drafts, 2)["transitions"][-1]["reason"] == "wrong customer"


def test_numbers_are_gapless_per_legal_entity_series_and_year(drafts, clock):
    with drafts.begin() as conn:
        row = dict(conn.execute(select(invoices).where(invoices.c.id == 2)).mappings().one())
        row.update(id=None, document_type="credit_note", corrects_invoice_id=2)
        conn.execute(insert(invoices).values({k: v for k, v in row.items() if k != "id"}))
    numbers = [to_issued(drafts, i, clock).number for i in (2, 3, 7, 11)]
    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000001", "CN-2026-000001"]
    clock.advance(datetime(2027, 1, 1, tzinfo=timezone.utc) - clock.now())
    assert to_issued(drafts, 4, clock).number == "INV-2027-000001"


def test_an_illegal_transition_changes_nothing_and_is_audited_as_refused(drafts, clock):
    void_invoice(drafts, T, 5, actor="alice", reason="duplicate", clock=clock)
    before_row, before_moves, before_entries = snapshot(drafts, 5)
    with pytest.raises(IllegalTransition) as caught:
        approve_invoice(drafts, T, 5, actor="bob", clock=clock)
    assert str(caught.value) == "invoice 5: cannot approve a void invoice (no action is allowed any more)"
    row, moves, entries = snapshot(drafts, 5)
    assert (row, moves) == (before_row, before_moves) and entries == before_entries + 1
    with drafts.connect() as conn:
        last = list(read_entries(conn, tenant_id(conn, create=False)))[-1]
    assert (last.action, last.actor, last.object_id) == ("invoice.approve.refused", "bob", "5")
    assert last.payload["rule"] == "illegal_transition" and last.payload["status"] == "void"
    assert invoice_history(drafts, 5)["refused"][0]["action"] == "approve"
    assert verify_audit_log(drafts).ok


def test_no_one_who_created_submitted_or_overrode_an_invoice_may_approve_it(drafts, clock):
    validate_invoice(drafts, T, 6, actor="alice", clock=clock)
    submit_invoice(drafts, T, 6, actor="alice", clock=clock)
    for who, did in (("system", "created it"), ("alice", "submitted it")):
        with pytest.raises(SegregationOfDuties, match=f"{who} cannot approve this invoice: {who} {did}"):
            approve_invoice(drafts, T, 6, actor=who, clock=clock)
    reject_invoice(drafts, T, 6, actor="bob", reason="wrong PO", clock=clock)
    override_invoice(drafts, T, 6, actor="carol", reason="PO confirmed by phone", clock=clock)
    submit_invoice(drafts, T, 6, actor="dave", clock=clock)
    with pytest.raises(SegregationOfDuties, match="carol overrode its findings"):
        approve_invoice(drafts, T, 6, actor="carol", clock=clock)
    assert approve_invoice(drafts, T, 6, actor="bob", clock=clock).status == "approved"
    refused = invoice_history(drafts, 6)["refused"]
    assert [(r["actor"], r["rule"]) for r in refused] == [("system", "segregation_of_duties"),
                                                           ("alice", "segregation_of_duties"),
                                                           ("carol", "segregation_of_duties")]


def test_the_database_refuses_what_the_service_never_does(drafts, clock):
    validate_invoice(drafts, T, 2, actor="alice", clock=clock)
    submit_invoice(drafts, T, 2, actor="alice", clock=clock)
    with pytest.raises(IntegrityError, match="segregation of duties"), drafts.begin() as conn:
        conn.execute(text("UPDATE invoices SET status = 'approved', approved_by = 'alice' WHERE id = 2"))
    to_issued(drafts, 3, clock)
    for statement in ("UPDATE invoices SET total = '1.00' WHERE id = 3",
                      "UPDATE invoices SET number = 'INV-2026-000009' WHERE id = 3",
                      "DELETE FROM invoice_lines WHERE invoice_id = 3",
                      "UPDATE invoice_lines SET amount = '0' WHERE invoice_id = 3",
                      "UPDATE invoice_transitions SET actor = 'mallory'",
                      "DELETE FROM audit_log"):
        with pytest.raises(IntegrityError, match="never edited|append-only"), drafts.begin() as conn:
            conn.execute(text(statement))
    assert snapshot(drafts, 3)[0]["number"] == "INV-2026-000001"


def test_gates_hold_an_invoice_with_findings_and_policies_can_refuse(drafts, clock):
    def no_po(conn, invoice):
        return ["purchase order missing"] if invoice["customer_id"] == 1 else []

    held = validate_invoice(drafts, T, 2, actor="alice", clock=clock, gates=[no_po])
    assert (held.status, held.findings) == ("held", ("purchase order missing",))
    still = validate_invoice(drafts, T, 2, actor="alice", clock=clock, gates=[no_po])
    assert (still.status, still.changed) == ("held", False)
    assert validate_invoice(drafts, T, 2, actor="alice", clock=clock).status == "validated"
    assert invoice_history(drafts, 2)["transitions"][0]["detail"] == {"findings": ["purchase order missing"]}
    submit_invoice(drafts, T, 2, actor="alice", clock=clock)

    def matrix(conn, invoice, action, actor):
        return None if actor == "cfo" else f"{actor} may not approve {invoice['currency']} invoices"

    with pytest.raises(PolicyRefused, match="bob may not approve USD invoices"):
        approve_invoice(drafts, T, 2, actor="bob", clock=clock, policies=[matrix])
    assert approve_invoice(drafts, T, 2, actor="cfo", clock=clock, policies=[matrix]).status == "approved"


def test_with_a_connection_everything_happens_in_the_callers_transaction(drafts, clock):
    to_approved(drafts, 2, clock)
    with pytest.raises(RuntimeError), drafts.begin() as conn:
        assert issue_invoice(conn, T, 2, actor="carol", clock=clock).number == "INV-2026-000001"
        raise RuntimeError("the caller fails after issuing")
    assert snapshot(drafts, 2)[0]["status"] == "approved"  # rolled back: number given back
    to_approved(drafts, 3, clock)
    assert issue_invoice(drafts, T, 3, actor="carol", clock=clock).number == "INV-2026-000001"
    assert verify_audit_log(drafts).ok


def test_unknown_invoice_blank_actor_and_unknown_action(drafts, clock):
    with pytest.raises(NotFound, match="invoice 999 does not exist"):
        approve_invoice(drafts, T, 999, actor="bob", clock=clock)
    with pytest.raises(ValidationError, match="needs an actor"):
        approve_invoice(drafts, T, 2, actor=" ", clock=clock)
    with pytest.raises(ValidationError, match="unknown action 'ship'"):
        transition(drafts, T, 2, "ship", actor="bob", clock=clock)
    hold_invoice(drafts, T, 2, actor="alice", reason="customer disputes the fee", clock=clock)
    assert snapshot(drafts, 2)[0]["status"] == "held"
