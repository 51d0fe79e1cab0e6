"""Revenue recognition over stored billing data, on SQLite and PostgreSQL: schedules from the governed
tenant's issued invoices, recognition entries through the ledger, period close and the waterfall.

The story: September is billed and released on Sept 2 (Austin is on a quarterly plan, so its first period
is a prorated September and its Q4 fee is billed in advance on Oct 1); Oakland uses the API in September,
which is billed in arrears on Oct 1. September is recognized and closed for acme-eu on Oct 1. Paris is then
cancelled retroactively from Sept 15, so the October bill run credits its unused September days, and
October is billed, released on Oct 2 and recognized on Nov 2.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from governed_seed import CLOCK, T, apply, catalog, ids_by_customer, seed
from invoiceflow.audit.log import read_entries
from invoiceflow.billing.run import run_bill_run
from invoiceflow.clock import FrozenClock
from invoiceflow.errors import ValidationError
from invoiceflow.ledger import SqlLedger, post_invoice, trial_balance
from invoiceflow.lifecycle import void_invoice
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.revenue import close_period, recognize_through, waterfall
from invoiceflow.revrec.model import SSP
from invoiceflow.revrec.stored import StoredLine, allocated_values
from invoiceflow.review import release
from invoiceflow.store.ledger_tables import journal_entries, journal_lines
from invoiceflow.store.review_tables import gl_mappings
from invoiceflow.store.revrec_tables import revenue_periods, revenue_schedule_periods, revenue_schedules
from invoiceflow.store.tables import invoice_lines, invoices
from invoiceflow.store.tenancy import tenant_id

D = Decimal


def on(year: int, month: int, day: int) -> FrozenClock:
    return FrozenClock(datetime(year, month, day, 9, 0, tzinfo=timezone.utc))


def quarterly_austin(doc, *, cancel: dict | None = None) -> None:
    for sub in doc["subscriptions"]:
        if sub["code"] == "s-austin":
            sub["interval"] = "quarterly"
        if cancel and sub["code"] in cancel:
            sub["end_date"], sub["cancel_mode"] = cancel[sub["code"]], "immediate"


def post_all(engine, clock) -> None:
    with engine.begin() as conn:
        for invoice_id in conn.execute(select(invoices.c.id).where(invoices.c.number.is_not(None))).scalars():
            post_invoice(conn, T, invoice_id, at=clock.now())


def bill_and_release(engine, as_of: date, clock) -> None:
    run_bill_run(engine, as_of=as_of)
    release(engine, T, clock=clock)
    post_all(engine, clock)


def september(engine) -> None:
    """September billed, released and posted on Sept 2; Oakland's September API calls ingested."""
    seed(engine, catalog(change=quarterly_austin))
    release(engine, T, clock=CLOCK)
    post_all(engine, CLOCK)
    calls = [{"transaction_id": f"oak-{i}", "customer": "oakland", "metric": "api_calls",
              "timestamp": "2026-09-10T10:00:00Z"} for i in range(250)]
    with engine.begin() as conn:
        ingest_events(conn, tenant_id(conn, T), calls, ingested_at_micros=1)


def october(engine) -> None:
    """September recognized and closed for acme-eu; Paris cancelled from Sept 15; October billed and recognized."""
    september(engine)
    recognize_through(engine, T, "2026-09", clock=on(2026, 10, 1))
    close_period(engine, T, "acme-eu", "2026-09", "fin", clock=on(2026, 10, 1))
    apply(engine, catalog(change=lambda doc: quarterly_austin(doc, cancel={"s-paris": "2026-09-15"})))
    bill_and_release(engine, date(2026, 10, 1), on(2026, 10, 2))
    recognize_through(engine, T, "2026-10", clock=on(2026, 11, 2))


def schedules(engine) -> dict[tuple[str, str], dict]:
    """(customer, line type) of each schedule -> its stored row and months {period: (amount, entry key)}."""
    customer_of = {i: code for code, ids in ids_by_customer(engine).items() for i in ids}
    with engine.connect() as conn:
        heads = conn.execute(select(revenue_schedules, invoice_lines.c.line_type, invoices.c.billing_date).join(
            invoice_lines, invoice_lines.c.id == revenue_schedules.c.line_id).join(
            invoices, invoices.c.id == revenue_schedules.c.invoice_id)).mappings().all()
        months = conn.execute(select(revenue_schedule_periods)).mappings().all()
    out = {}
    for head in heads:
        key = (customer_of[head["invoice_id"]], head["line_type"], head["billing_date"].isoformat())
        out[key] = {**head, "months": {m["period"]: (m["amount"], m["recognized_entry_key"]) for m in months
                                       if m["schedule_id"] == head["id"]}}
    return out


def revrec_entries(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        posted = SqlLedger().entries(conn, tenant_id(conn, T, create=False), source_type="revrec")
    return {p.entry.entry_key: [(l.account, l.product, str(l.debit), str(l.credit), l.memo) for l in p.entry.lines]
            for p in posted}


def balance(engine, entity: str, account: str, as_of: date) -> Decimal:
    """Credit balance of an account (debit balance for assets comes out negative)."""
    rows = [r for r in trial_balance(engine, T, legal_entity=entity, as_of=as_of).rows if r.account == account]
    return -sum((r.balance for r in rows), D(0))


def counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (journal_entries, journal_lines, revenue_schedules, revenue_schedule_periods,
                                   revenue_periods))


def test_schedules_come_from_issued_invoices_and_rebuilding_changes_nothing(engine):
    october(engine)
    found = schedules(engine)
    austin_q4 = found[("austin", "fee_advance", "2026-10-01")]
    assert (austin_q4["obligation"], austin_q4["granularity"], austin_q4["allocated"]) == (
        "subscription", "monthly_prorated", D("300.00"))
    # 300.00 over Oct 1 to Jan 1 (92 days), rounding the running total: 101.09, 198.91, then the rest.
    assert {m: a for m, (a, _) in austin_q4["months"].items()} == {
        "2026-10": D("101.09"), "2026-11": D("97.82"), "2026-12": D("101.09")}
    usage = found[("oakland", "usage", "2026-10-01")]
    # September earns it; October, the month of the invoice, only reclassifies it (a zero-revenue month).
    key = f"revrec:{usage['id']}"
    assert (usage["obligation"], usage["allocated"], usage["months"]) == ("usage", D("2.50"), {
        "2026-09": (D("2.50"), f"{key}:2026-09"), "2026-10": (D("0.00"), f"{key}:2026-10")})
    credit = found[("paris", "fee_advance_credit", "2026-09-15")]
    assert credit["allocated"] == D("-160.00")  # 16 of September's 30 days taken back
    assert credit["months"] == {"2026-10": (D("-160.00"), f"credit_note:{credit['invoice_id']}:issued")}
    assert all(s["policy"]["allocation"] == "billed_amount" for s in found.values())
    before = (counts(engine), found, revrec_entries(engine))
    report = recognize_through(engine, T, "2026-10", clock=on(2026, 11, 3))
    assert (report.created, report.entries) == (0, [])
    assert (counts(engine), schedules(engine), revrec_entries(engine)) == before


def test_recognition_posts_balanced_entries_through_the_ledger(engine):
    october(engine)
    found = schedules(engine)
    q4 = found[("austin", "fee_advance", "2026-10-01")]["id"]
    usage = found[("oakland", "usage", "2026-10-01")]["id"]
    entries = revrec_entries(engine)
    # The issue entry credited all of Q4 to revenue on Oct 2; October keeps its 31 days and defers the rest.
    assert entries[f"revrec:{q4}:2026-10"] == [("4000", "platform", "198.91", "0.00", "revenue"),
                                               ("2300", "platform", "0.00", "198.91", "deferred revenue")]
    # September's API calls are revenue of September, an unbilled receivable until the October invoice.
    assert entries[f"revrec:{usage}:2026-09"] == [("4000", "api", "0.00", "2.50", "revenue"),
                                                  ("1110", "api", "2.50", "0.00", "unbilled receivable")]
    assert entries[f"revrec:{usage}:2026-10"] == [("4000", "api", "2.50", "0.00", "revenue"),
                                                  ("1110", "api", "0.00", "2.50", "unbilled receivable")]
    assert len(entries) == 3
    with engine.connect() as conn:
        dates = dict(conn.execute(select(journal_entries.c.entry_key, journal_entries.c.date)
                                  .where(journal_entries.c.source_type == "revrec")).all())
    assert dates[f"revrec:{usage}:2026-09"] == date(2026, 9, 30)
    assert all(t["balanced"] for t in trial_balance(engine, T).totals())
    # November: the deferred Q4 revenue is released month by month; a rerun posts nothing more.
    recognize_through(engine, T, "2026-11", clock=on(2026, 12, 1))
    assert revrec_entries(engine)[f"revrec:{q4}:2026-11"] == [
        ("4000", "platform", "0.00", "97.82", "revenue"), ("2300", "platform", "97.82", "0.00", "deferred revenue")]
    before = counts(engine)
    assert recognize_through(engine, T, "2026-11", clock=on(2026, 12, 1)).entries == []
    assert counts(engine) == before


def test_deferred_balance_per_month_matches_the_waterfall(engine):
    october(engine)
    recognize_through(engine, T, "2026-11", clock=on(2026, 12, 1))
    fall = waterfall(engine, T, start="2026-09", months=4, legal_entity="acme-us")
    totals = {t.measure: t.values for t in fall.totals}
    assert totals["deferred"] == (D("0.00"), D("198.91"), D("101.09"), D("0.00"))
    for i, day in enumerate([date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)]):
        assert balance(engine, "acme-us", "2300", day) == totals["deferred"][i]
        assert -balance(engine, "acme-us", "1110", day) == totals.get("unbilled", (D(0),) * 4)[i]
    assert totals["unbilled"][0] == D("2.50")
    platform = next(r for r in fall.rows if (r.product, r.measure) == ("platform", "revenue"))
    assert platform.values[:2] == (D("397.83"), D("401.09"))  # Oakland 300.00 + Austin's prorated September


def test_revenue_over_the_contracts_lives_equals_what_was_billed(engine):
    october(engine)
    bill_and_release(engine, date(2026, 11, 1), on(2026, 11, 2))
    bill_and_release(engine, date(2026, 12, 1), on(2026, 12, 2))
    recognize_through(engine, T, "2026-12", clock=on(2027, 1, 2))
    billed: dict[tuple[int, str], Decimal] = defaultdict(lambda: D(0))
    revenue: dict[tuple[int, str], Decimal] = defaultdict(lambda: D(0))
    with engine.connect() as conn:
        # Every line whose service is over by the end of December (all of them here: quarters end Jan 1).
        for entity, doc_type, product, amount, end in conn.execute(
                select(invoices.c.legal_entity_id, invoices.c.document_type, invoice_lines.c.product_code,
                       invoice_lines.c.amount, invoice_lines.c.service_end)
                .join(invoices, invoices.c.id == invoice_lines.c.invoice_id).where(invoices.c.number.is_not(None))):
            assert end <= date(2027, 1, 1)
            billed[(entity, product)] += -amount if doc_type == "credit_note" else amount
        for entity, product, debit, credit in conn.execute(
                select(journal_entries.c.legal_entity_id, journal_lines.c.product_code, journal_lines.c.debit,
                       journal_lines.c.credit).join(journal_entries, journal_entries.c.id == journal_lines.c.entry_id)
                .where(journal_lines.c.account_code.in_(["4000", "4010"]))):
            revenue[(entity, product)] += credit - debit
        by_schedule = conn.execute(
            select(revenue_schedules.c.allocated, func.count(), revenue_schedules.c.id)
            .join(revenue_schedule_periods, revenue_schedule_periods.c.schedule_id == revenue_schedules.c.id)
            .group_by(revenue_schedules.c.id, revenue_schedules.c.allocated)).all()
        months = conn.execute(select(revenue_schedule_periods.c.schedule_id, revenue_schedule_periods.c.amount)).all()
    assert {k: v for k, v in billed.items() if v} == {k: v for k, v in revenue.items() if v}
    assert sorted(product for (_, product), amount in billed.items() if amount) == ["api", "platform", "platform"]
    # Each line's months add up to what it was allocated, to the cent.
    sums: dict[int, Decimal] = defaultdict(lambda: D(0))
    for schedule_id, amount in months:
        sums[schedule_id] += amount
    assert len(by_schedule) > 10 and all(sums[sid] == allocated for allocated, _, sid in by_schedule)
    assert all(t["balanced"] for t in trial_balance(engine, T).totals())


def test_a_credit_note_reverses_what_was_recognized_and_clears_the_deferred_rest(engine):
    october(engine)
    apply(engine, catalog(change=lambda doc: quarterly_austin(doc, cancel={"s-paris": "2026-09-15",
                                                                         "s-austin": "2026-10-20"})))
    bill_and_release(engine, date(2026, 11, 1), on(2026, 11, 2))
    report = recognize_through(engine, T, "2026-11", clock=on(2026, 12, 1))
    credit = schedules(engine)[("austin", "fee_advance_credit", "2026-10-20")]
    assert credit["allocated"] == D("-238.04")  # Oct 20 to Jan 1: 73 of the quarter's 92 days
    # October is still open, so its 12 cancelled days come off October's revenue (contra-revenue); the rest
    # comes off the months that were still deferred.
    assert {m: a for m, (a, _) in credit["months"].items()} == {
        "2026-10": D("-39.13"), "2026-11": D("-97.82"), "2026-12": D("-101.09")}
    entries = revrec_entries(engine)
    # Recognized in October, issued in November: until then the 39.13 is owed to Austin (deferred revenue).
    assert entries[f"revrec:{credit['id']}:2026-10"] == [
        ("4000", "platform", "39.13", "0.00", "revenue"), ("2300", "platform", "0.00", "39.13", "deferred revenue")]
    assert f"revrec:{credit['id']}:2026-11" in report.entries
    # Austin keeps Oct 1-19 (101.09 - 39.13 = 61.96, what the October invoice charges for those days) and
    # nothing of November or December; once the credit note is issued nothing of Q4 stays deferred.
    fall = waterfall(engine, T, start="2026-10", months=3, legal_entity="acme-us")
    by_measure = {t.measure: t.values for t in fall.totals}
    assert by_measure["revenue"] == (D("361.96"), D("300.00"), D("0.00"))  # with Oakland's 300.00 a month
    assert by_measure["deferred"] == (D("238.04"), D("0.00"), D("0.00"))
    for day, expected in ((date(2026, 10, 31), D("238.04")), (date(2026, 11, 30), D("0.00"))):
        assert balance(engine, "acme-us", "2300", day) == expected
    assert balance(engine, "acme-us", "1110", date(2026, 11, 30)) == D("0.00")
    assert all(t["balanced"] for t in trial_balance(engine, T).totals())


def test_a_credit_note_for_a_closed_september_posts_its_catch_up_in_october(engine):
    october(engine)
    credit = schedules(engine)[("paris", "fee_advance_credit", "2026-09-15")]
    assert list(credit["months"]) == ["2026-10"]  # never in the closed month
    # September's revenue in acme-eu is what it was when the month closed: two months of 300.00.
    assert balance(engine, "acme-eu", "4000", date(2026, 9, 30)) == D("600.00")
    # October: Berlin's 300.00 less the 160.00 Paris credit, caught up in the first open month.
    assert balance(engine, "acme-eu", "4000", date(2026, 10, 31)) - D("600.00") == D("140.00")
    fall = waterfall(engine, T, start="2026-09", months=2, legal_entity="acme-eu")
    assert fall.closed_through == {"acme-eu": "2026-09"}
    assert next(t for t in fall.totals if t.measure == "revenue").values == (D("600.00"), D("140.00"))
    with engine.connect() as conn:
        audit = [e for e in read_entries(conn, tenant_id(conn, T, create=False)) if e.action == "revenue.period_closed"]
    assert [(e.actor, e.object_id) for e in audit] == [("fin", "acme-eu:2026-09")]


def test_posting_into_a_closed_month_is_refused_naming_the_line_and_nothing_is_written(engine):
    october(engine)
    # A new Berlin subscription from Sept 20, billed and issued with the clock set back to Sept 30.
    def second(doc):
        quarterly_austin(doc, cancel={"s-paris": "2026-09-15"})
        doc["subscriptions"].append({"code": "s-berlin-2", "contract": "c-berlin", "interval": "monthly",
                                     "start_date": "2026-09-20"})
    apply(engine, catalog(change=second))
    run_bill_run(engine, as_of=date(2026, 9, 20))
    release(engine, T, clock=on(2026, 9, 30))
    post_all(engine, on(2026, 9, 30))
    before = counts(engine)
    with pytest.raises(ValidationError) as refused:
        recognize_through(engine, T, "2026-10", clock=on(2026, 11, 3))
    [problem] = refused.value.problems
    assert problem.record.startswith("invoice ") and problem.record.endswith("line 1 (platform)")
    assert (problem.field, "in 2026-09, which is closed" in problem.message) == ("issued_on", True)
    assert counts(engine) == before
    # The database refuses a write into a closed month whoever issues it, and a close is final.
    credit = schedules(engine)[("paris", "fee_advance_credit", "2026-09-15")]
    berlin = schedules(engine)[("berlin", "fee_advance", "2026-09-01")]
    in_september = (revenue_schedule_periods.c.schedule_id == berlin["id"]) & (
        revenue_schedule_periods.c.period == "2026-09")
    for statement in (
            insert(revenue_schedule_periods).values(tenant_id=credit["tenant_id"], schedule_id=credit["id"],
                                                    period="2026-09", amount=D("-160.00")),
            update(revenue_schedule_periods).where(in_september).values(amount=D("1.00")),
            delete(revenue_schedule_periods).where(in_september),
            update(revenue_periods).values(status="open"),
            delete(revenue_periods)):
        with pytest.raises(DBAPIError, match="closed"):
            with engine.begin() as conn:
                conn.execute(statement)
    assert counts(engine) == before


def test_a_missing_gl_mapping_stops_the_run_before_anything_is_posted(engine):
    september(engine)
    bill_and_release(engine, date(2026, 10, 1), on(2026, 10, 2))
    with engine.begin() as conn:
        conn.execute(delete(gl_mappings).where(gl_mappings.c.role == "unbilled"))
    before = counts(engine)
    with pytest.raises(ValidationError) as refused:
        recognize_through(engine, T, "2026-10", clock=on(2026, 11, 2))
    assert [str(p) for p in refused.value.problems] == [
        "legal entity acme-us.gl_mappings: no GL account is mapped for role 'unbilled' and product 'api', and there "
        "is no default for that role (product '')"]
    assert counts(engine) == before


def test_period_close_rules(engine):
    october(engine)
    for args, clock, message in [
        (("acme-us", "2026-11"), on(2026, 11, 20), "2026-11 has not ended yet"),
        (("acme-us", "2026-10"), on(2026, 11, 20), "2026-09 is still open for legal entity acme-us"),
        (("acme-us", "2026-9"), on(2026, 11, 20), "is not a month"),
    ]:
        with pytest.raises(ValidationError, match=message):
            close_period(engine, T, *args, "fin", clock=clock)
    with pytest.raises(ValidationError, match="names who closes it"):
        close_period(engine, T, "acme-us", "2026-09", " ", clock=on(2026, 11, 20))
    again = close_period(engine, T, "acme-eu", "2026-09", "someone-else", clock=on(2026, 11, 20))
    assert (again.closed, again.closed_by) == (False, "fin")
    # A document issued in October but not posted to the ledger keeps October open.
    run_bill_run(engine, as_of=date(2026, 11, 1))
    release(engine, T, clock=on(2026, 10, 31))
    assert close_period(engine, T, "acme-us", "2026-09", "fin", clock=on(2026, 11, 20)).closed
    with pytest.raises(ValidationError, match=r"issued on 2026-10-31 but not posted to the ledger: post it"):
        close_period(engine, T, "acme-us", "2026-10", "fin", clock=on(2026, 11, 20))
    with pytest.raises(ValidationError, match="has not ended yet"):
        recognize_through(engine, T, "2026-11", clock=on(2026, 11, 30))


def test_a_void_reverses_recognized_revenue_and_clears_deferred(engine):
    october(engine)
    q4 = schedules(engine)[("austin", "fee_advance", "2026-10-01")]
    recognize_through(engine, T, "2026-11", clock=on(2026, 12, 1))
    void_invoice(engine, T, q4["invoice_id"], actor="fin", reason="billed in error", clock=on(2026, 12, 3))
    post_all(engine, on(2026, 12, 3))
    recognize_through(engine, T, "2026-12", clock=on(2027, 1, 2))
    voided = schedules(engine)[("austin", "fee_advance", "2026-10-01")]
    assert voided["void_on"] == date(2026, 12, 3)
    # October and November keep what they recognized; December reverses it all (contra-revenue).
    assert {m: a for m, (a, _) in voided["months"].items()} == {
        "2026-10": D("101.09"), "2026-11": D("97.82"), "2026-12": D("-198.91")}
    # The void entry reverses the issue entry's 300.00 of revenue; December releases what was still deferred.
    assert revrec_entries(engine)[f"revrec:{voided['id']}:2026-12"] == [
        ("4000", "platform", "0.00", "101.09", "revenue"), ("2300", "platform", "101.09", "0.00", "deferred revenue")]
    assert balance(engine, "acme-us", "2300", date(2026, 12, 31)) == D("0.00")
    assert all(t["balanced"] for t in trial_balance(engine, T).totals())


def test_relative_ssp_allocation_applies_when_every_product_has_one():
    def line(line_id, product, amount, line_type="fee_advance"):
        return StoredLine(line_id, 1, "invoice", line_type, product, D(amount), "USD", date(2026, 1, 1),
                          date(2026, 2, 1), date(2026, 1, 2))
    lines = [line(1, "license", "100.00"), line(2, "support", "0.00"), line(3, "training", "0.00")]
    assert allocated_values(lines) == {1: D("100.00"), 2: D("0.00"), 3: D("0.00")}
    ssp = {"license": SSP(D("50.00"), D("50.00")), "support": SSP(D("25.00"), D("25.00")),
           "training": SSP(D("75.00"), D("75.00"))}
    assert allocated_values(lines, ssp) == {1: D("33.33"), 2: D("16.67"), 3: D("50.00")}
    assert allocated_values(lines, {"license": ssp["license"]})[1] == D("100.00")  # not every product known
