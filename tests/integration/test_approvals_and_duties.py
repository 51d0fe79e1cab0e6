"""Approval matrix and segregation of duties through every path: the service, the Python API, raw SQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from governed_seed import CLOCK, T, ids_by_customer, policy_text, seed, status_of
from invoiceflow.lifecycle import SegregationOfDuties, approve_invoice, transition
from invoiceflow.lifecycle.states import RoleRefused
from invoiceflow.policy.store import apply_policy
from invoiceflow.review import release
from invoiceflow.store.review_tables import approvals
from invoiceflow.store.tables import audit_log, invoices
from invoiceflow.store.tenancy import tenant_id
from invoiceflow.team import set_member

ENTERPRISE = {"name": "enterprise", "when": {"segments": ["enterprise"]}, "levels": ["finance", "approver"]}


def with_rule(engine, rule, version=1):
    text_ = policy_text(lambda d: d["approvals"]["rules"].append(rule))
    with engine.begin() as conn:
        assert apply_policy(conn, tenant_id(conn, T), text_, actor="ada", at=CLOCK.now()).version == version


@pytest.fixture
def pending(engine):
    """Paris (enterprise segment) waits for two approvals, finance then approver; the rest is issued."""
    seed(engine)
    with_rule(engine, ENTERPRISE)
    report = release(engine, T, clock=CLOCK)
    assert report.outcomes == {"issued": 3, "pending_approval": 1}
    [paris] = ids_by_customer(engine)["paris"]
    return engine, paris


def test_levels_run_in_order_each_by_its_role_and_by_different_people(pending):
    engine, paris = pending
    with pytest.raises(RoleRefused, match="needs the role finance"):
        approve_invoice(engine, T, paris, actor="apr", clock=CLOCK)  # level 1 is finance's
    first = approve_invoice(engine, T, paris, actor="fin", clock=CLOCK)
    assert (first.status, first.approvals) == ("pending_approval", (1, 2))
    with pytest.raises(SegregationOfDuties, match="already approved"):
        approve_invoice(engine, T, paris, actor="fin", clock=CLOCK)
    second = approve_invoice(engine, T, paris, actor="apr", clock=CLOCK)
    assert (second.status, second.approvals) == ("approved", (2, 2))
    assert transition(engine, T, paris, "issue", actor="system", clock=CLOCK).number == "INV-2026-000002"
    with engine.connect() as conn:
        given = conn.execute(select(approvals.c.level, approvals.c.role, approvals.c.approver, approvals.c.rule)
                             .where(approvals.c.invoice_id == paris).order_by(approvals.c.level)).all()
        refused = conn.execute(select(audit_log.c.actor, audit_log.c.payload).where(
            audit_log.c.action == "invoice.approve.refused")).all()
    assert given == [(1, "finance", "fin", "enterprise"), (2, "approver", "apr", "enterprise")]
    assert [(actor, p["rule"]) for actor, p in refused] == [("apr", "role"), ("fin", "segregation_of_duties")]


def test_whoever_prepared_the_invoice_cannot_approve_it_through_any_path(pending):
    engine, paris = pending
    with engine.begin() as conn:  # the maker is given every role: duties still win over roles
        set_member(conn, tenant_id(conn, T), "system", ["finance", "approver"], actor="ada", at=CLOCK.now())
    with pytest.raises(SegregationOfDuties, match="system created it"):
        approve_invoice(engine, T, paris, actor="system", clock=CLOCK)  # Python API
    with pytest.raises(SegregationOfDuties):
        with engine.begin() as conn:  # the service on a caller's connection
            transition(conn, T, paris, "approve", actor="system", clock=CLOCK)
    at = datetime(2026, 9, 2, tzinfo=timezone.utc)
    with pytest.raises((IntegrityError, DBAPIError), match="segregation of duties"):
        with engine.begin() as conn:  # raw SQL around the service: the database refuses
            conn.execute(insert(approvals).values(tenant_id=1, invoice_id=paris, round=1, level=1, role="finance",
                                                  approver="system", rule="enterprise", at=at))
    with pytest.raises((IntegrityError, DBAPIError), match="segregation of duties"):
        with engine.begin() as conn:
            conn.execute(update(invoices).where(invoices.c.id == paris).values(status="approved",
                                                                               approved_by="system"))
    with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM approvals"))
    assert status_of(engine, paris) == "pending_approval"


def test_a_new_policy_version_never_changes_what_was_decided(pending):
    engine, paris = pending
    with engine.connect() as conn:
        issued = conn.execute(select(invoices.c.id, invoices.c.policy_version, invoices.c.number)
                              .where(invoices.c.status == "issued").order_by(invoices.c.id)).all()
    # Version 2 drops the enterprise rule: paris still needs the two approvals fixed at its submit.
    with engine.begin() as conn:
        assert apply_policy(conn, tenant_id(conn, T), policy_text(), actor="ada", at=CLOCK.now()).version == 2
        # Applying the same content again creates nothing.
        assert not apply_policy(conn, tenant_id(conn, T), policy_text(), actor="ada", at=CLOCK.now()).created
    assert release(engine, T, clock=CLOCK).outcomes == {}
    with pytest.raises(RoleRefused, match="approval 1 of 2"):
        approve_invoice(engine, T, paris, actor="apr", clock=CLOCK)
    with engine.connect() as conn:
        again = conn.execute(select(invoices.c.id, invoices.c.policy_version, invoices.c.number)
                             .where(invoices.c.status == "issued").order_by(invoices.c.id)).all()
        assert again == issued and {version for _, version, _ in issued} == {1}
        assert conn.execute(select(func.count()).where(audit_log.c.action == "policy.applied")).scalar() == 2
