"""The release pass on SQLite and PostgreSQL: gates, cases by root cause, queues, one fix releasing many."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from governed_seed import CLOCK, T, apply, catalog, ids_by_customer, policy_text, seed, status_of
from invoiceflow.audit.verify import verify_audit_log
from invoiceflow.billing.run import run_bill_run
from invoiceflow.errors import ValidationError
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.policy.store import apply_policy
from invoiceflow.review import approve_override, case_detail, list_cases, release, release_kpis, resolve_case
from invoiceflow.review.resolve import CaseRefused
from invoiceflow.store.review_tables import findings, review_cases
from invoiceflow.store.tables import audit_log, invoices
from invoiceflow.store.tenancy import tenant_id


def open_cases(engine, queue=None):
    return list_cases(engine, tenant=T, queue=queue, now=CLOCK.now())


def test_clean_invoices_are_released_without_a_manual_touch(engine):
    seed(engine)
    report = release(engine, T, clock=CLOCK)
    assert report.outcomes == {"issued": 4}
    with engine.connect() as conn:
        rows = conn.execute(select(invoices.c.number, invoices.c.policy_version, invoices.c.approved_by)).all()
    assert all(number and version == 0 and approver == "auto-release" for number, version, approver in rows)
    assert release(engine, T, clock=CLOCK).outcomes == {}  # nothing left to release: idempotent
    kpis = release_kpis(engine, tenant=T, now=CLOCK.now())
    assert (kpis["automation_coverage"], kpis["manual_touch_rate"], kpis["rework_rate"]) == ("100.0", "0.0", "0.0")


def _without_default_revenue(doc):
    for setup in doc["gl"]:
        setup["mappings"].pop("revenue")


def test_one_upstream_fix_releases_every_invoice_it_held(engine):
    seed(engine, catalog(change=_without_default_revenue))
    report = release(engine, T, clock=CLOCK)
    assert report.outcomes == {"held": 4}
    cases = open_cases(engine)
    by_root = {c["root_cause"]: c for c in cases}
    assert set(by_root) == {"gl_mapping:acme-eu:revenue:*", "gl_mapping:acme-us:revenue:*"}
    eu = by_root["gl_mapping:acme-eu:revenue:*"]
    assert (eu["queue"], eu["case_type"], eu["invoices"], eu["priority"]) == ("finance", "posting_readiness", 2, "high")
    # Nothing was fixed yet: re-validating keeps the case open and says what remains.
    outcome = resolve_case(engine, T, eu["id"], "revalidate", actor="fin", reason="checking", clock=CLOCK)
    assert outcome.status == "open" and "stays open" in outcome.message
    assert outcome.remaining and all("gl_mapping_missing" in r for r in outcome.remaining)
    apply(engine, catalog())  # the fix: map the default revenue account again
    outcome = resolve_case(engine, T, eu["id"], "revalidate", actor="fin", reason="revenue account mapped",
                           clock=CLOCK)
    assert outcome.status == "resolved" and set(outcome.invoices.values()) == {"issued"}
    assert len(outcome.invoices) == 2
    detail = case_detail(engine, eu["id"], tenant=T, now=CLOCK.now())
    assert (detail["resolution"], detail["resolved_by"], detail["reason"]) == ("fixed", "fin", "revenue account mapped")
    # The other entity's case is released by the next release pass, which re-validates held invoices.
    assert release(engine, T, clock=CLOCK).outcomes == {"issued": 2}
    assert open_cases(engine) == []
    kpis = release_kpis(engine, tenant=T, now=CLOCK.now())
    assert kpis["rework_rate"] == "100.0" and kpis["exception_rate_by_type"] == {"posting_readiness": "100.0"}
    assert verify_audit_log(engine, tenant=T).ok


def test_cases_route_to_the_queue_that_owns_them(engine):
    def break_facts(doc):
        paris = next(c for c in doc["customers"] if c["code"] == "paris")
        paris["tax_ids"] = []  # reverse charge without a VAT id
        berlin = next(c for c in doc["customers"] if c["code"] == "berlin")
        berlin.pop("email")
        berlin["po_required"] = True
    seed(engine, catalog(change=break_facts))
    release(engine, T, clock=CLOCK)
    queues = {c["root_cause"]: c["queue"] for c in open_cases(engine)}
    assert queues == {"tax:customer:paris": "tax", "master_data:customer:berlin": "support",
                      "purchase_order:c-berlin": "collections"}
    assert [c["root_cause"] for c in open_cases(engine, queue="tax")] == ["tax:customer:paris"]
    ids = ids_by_customer(engine)
    assert status_of(engine, ids["paris"][0]) == "held" and status_of(engine, ids["austin"][0]) == "issued"


def test_resolving_needs_a_reason_and_the_queue_role_and_refusals_are_audited(engine):
    seed(engine, catalog(change=_without_default_revenue))
    release(engine, T, clock=CLOCK)
    case = open_cases(engine)[0]
    with pytest.raises(CaseRefused, match="needs a reason"):
        resolve_case(engine, T, case["id"], "override", actor="fin", reason="  ", clock=CLOCK)
    with pytest.raises(CaseRefused, match="needs the role finance or admin"):
        resolve_case(engine, T, case["id"], "override", actor="rev", reason="looks fine", clock=CLOCK)
    with pytest.raises(ValidationError, match="unknown resolution"):
        resolve_case(engine, T, case["id"], "ignore", actor="fin", reason="x", clock=CLOCK)
    with engine.connect() as conn:
        refused = conn.execute(select(audit_log.c.action, audit_log.c.actor).where(
            audit_log.c.action.like("case.%.refused")).order_by(audit_log.c.id)).all()
        assert refused == [("case.override.refused", "fin"), ("case.override.refused", "rev")]
        assert conn.execute(select(review_cases.c.status).where(review_cases.c.id == case["id"])).scalar() == "open"


def test_an_override_above_the_limit_needs_a_second_person(engine):
    seed(engine, catalog(change=_without_default_revenue))
    release(engine, T, clock=CLOCK)
    eu = next(c for c in open_cases(engine) if "acme-eu" in c["root_cause"])
    # 2 x 300 EUR is below the default limit of 5,000 EUR: apply a stricter policy first.
    strict = policy_text(lambda d: d["overrides"].update(second_approval_above={"EUR": 500, "USD": 500}))
    with engine.begin() as conn:
        assert apply_policy(conn, tenant_id(conn, T), strict, actor="ada", at=CLOCK.now()).version == 1
    pending = resolve_case(engine, T, eu["id"], "override", actor="fin", reason="mapping follows tomorrow",
                           clock=CLOCK)
    assert pending.status == "override_pending"
    assert {status_of(engine, i) for i in ids_by_customer(engine)["berlin"]} == {"held"}
    with pytest.raises(CaseRefused, match="cannot approve it"):
        approve_override(engine, T, eu["id"], actor="fin", clock=CLOCK)
    with pytest.raises(CaseRefused, match="needs the role"):
        approve_override(engine, T, eu["id"], actor="rev", clock=CLOCK)
    done = approve_override(engine, T, eu["id"], actor="apr", reason="agreed", clock=CLOCK)
    assert done.status == "resolved"
    # Overridden invoices need an approver (the default policy's manual-override rule), and not the overrider.
    assert set(done.invoices.values()) == {"pending_approval"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(findings.c.case_id == eu["id"],
                                                       findings.c.status == "overridden")).scalar() == 2


def test_void_resolution_voids_the_held_invoices(engine):
    seed(engine, catalog(change=_without_default_revenue))
    release(engine, T, clock=CLOCK)
    us = next(c for c in open_cases(engine) if "acme-us" in c["root_cause"])
    outcome = resolve_case(engine, T, us["id"], "void", actor="fin", reason="billed in the legacy system", clock=CLOCK)
    assert set(outcome.invoices.values()) == {"void"} and outcome.status == "resolved"


def test_escalation_raises_priority_and_can_move_the_queue(engine):
    seed(engine, catalog(change=_without_default_revenue))
    release(engine, T, clock=CLOCK)
    case = open_cases(engine)[0]
    outcome = resolve_case(engine, T, case["id"], "escalate", actor="fin", reason="close is tomorrow",
                           to_queue="revops", clock=CLOCK)
    assert outcome.status == "open"
    moved = case_detail(engine, case["id"], tenant=T, now=CLOCK.now())
    assert (moved["priority"], moved["queue"], moved["escalations"]) == ("urgent", "revops", 1)


def test_unmapped_account_usage_holds_the_invoice_of_the_customer_it_resembles(engine):
    seed(engine, as_of=date(2026, 9, 1))
    release(engine, T, clock=CLOCK)
    events = [{"transaction_id": f"u{i}", "external_account_id": "tel-berlin-staging", "metric": "api_calls",
               "timestamp": "2026-09-10T10:00:00Z"} for i in range(5)]
    events += [{"transaction_id": f"m{i}", "customer": "berlin", "metric": "api_calls",
                "timestamp": "2026-09-11T10:00:00Z"} for i in range(3)]
    with engine.begin() as conn:
        report = ingest_events(conn, tenant_id(conn, T), events, ingested_at_micros=1)
    assert (report.inserted, report.parked) == (3, 5)
    run_bill_run(engine, as_of=date(2026, 10, 1))
    release(engine, T, clock=CLOCK)
    [case] = open_cases(engine, queue="revops")
    assert (case["root_cause"], case["case_type"], case["invoices"]) == (
        "unmapped_account:tel-berlin-staging", "usage_mismatch", 1)
    detail = case_detail(engine, case["id"], tenant=T, now=CLOCK.now())
    assert "tel-berlin-prod" in detail["findings"][0]["message"]

    def map_account(doc):
        berlin = next(c for c in doc["customers"] if c["code"] == "berlin")
        berlin["account_ids"].append("tel-berlin-staging")
    apply(engine, catalog(change=map_account))  # attaches the parked events (late: the period is billed)
    outcome = resolve_case(engine, T, case["id"], "revalidate", actor="rev", reason="staging account mapped",
                           clock=CLOCK)
    # The unmapped usage is gone; the events now sit late in a billed period, which is its own finding.
    assert outcome.status == "resolved"
    late = [c for c in open_cases(engine) if c["root_cause"].startswith("late_usage:berlin")]
    assert len(late) == 1
