"""Bill runs end to end on a real database (SQLite and PostgreSQL): amounts, traceability, idempotency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from invoiceflow.billing.queries import invoice_detail, list_invoices
from invoiceflow.billing.run import as_of_for_period, run_bill_run
from invoiceflow.catalog.apply import apply_document
from invoiceflow.catalog.document import load_document
from invoiceflow.errors import ApplyError
from invoiceflow.metering.ingest import ingest_events
from invoiceflow.store.tables import contract_versions, invoices
from invoiceflow.store.tenancy import tenant_id

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.yaml"
NOW = 1_800_000_000_000_000


def _seed(engine, doc=None):
    with engine.begin() as conn:
        tid = tenant_id(conn)
        apply_document(conn, tid, doc or load_document(CATALOG))
    return tid


def _ingest(engine, tid, events):
    with engine.begin() as conn:
        return ingest_events(conn, tid, events, ingested_at_micros=NOW)


def _calls(n, region, day, prefix):
    return [{"transaction_id": f"{prefix}-{i}", "customer": "globex", "metric": "api_calls",
             "timestamp": f"{day}T12:00:00-05:00", "properties": {"region": region}} for i in range(n)]


def _docs(engine, customer):
    return sorted(list_invoices(engine, customer=customer, limit=100), key=lambda r: (r["billing_date"], r["id"]))


def test_first_period_prorated_usage_split_by_dimension_and_discount_once(engine):
    tid = _seed(engine)
    _ingest(engine, tid, _calls(100, "eu", "2026-01-20", "eu") + _calls(50, "us", "2026-01-21", "us"))
    report = run_bill_run(engine, as_of=as_of_for_period("2026-01"))
    docs = _docs(engine, "globex")
    assert [(d["billing_date"], d["total"]) for d in docs] == [
        # Jan 15: 17/31 of 31.00 in advance, 10% welcome discount
        (date(2026, 1, 15), Decimal("15.30")),
        # Feb 1: January usage (eu 100 x 0.10, us 50 x 0.10, discounted: first period) + February fee
        (date(2026, 2, 1), Decimal("44.50")),
    ]
    first = invoice_detail(engine, docs[0]["id"])
    fee = first["lines"][0]
    assert (fee["line_type"], fee["amount"], fee["service_start"], fee["service_end"]) == (
        "fee_advance", Decimal("17.00"), date(2026, 1, 15), date(2026, 2, 1))
    assert fee["trace"]["contract_version"] == 1 and fee["trace"]["plan"] == "pro"
    assert fee["trace"]["days"] == 17 and fee["trace"]["full_days"] == 31
    second = invoice_detail(engine, docs[1]["id"])
    usage = {tuple(sorted(l["dims"].items())): l for l in second["lines"] if l["line_type"] == "usage"}
    assert usage[(("region", "eu"),)]["quantity"] == 100 and usage[(("region", "eu"),)]["amount"] == Decimal("10.00")
    assert usage[(("region", "us"),)]["amount"] == Decimal("5.00")
    assert usage[(("region", "us"),)]["meter_code"] == "api_calls"
    assert [l["amount"] for l in second["lines"] if l["line_type"] == "discount"] == [Decimal("-1.50")]
    assert report.invoices == 4  # globex x2, umbrella x2 (initech bills in arrears from Jan 31: nothing due)


def test_zero_decimal_currency_rounds_to_whole_yen(engine):
    tid = _seed(engine)
    _ingest(engine, tid, [{"transaction_id": "s1", "customer": "umbrella", "metric": "storage",
                           "timestamp": "2026-01-10T00:00:00+09:00", "value": "7"}])
    run_bill_run(engine, as_of=date(2026, 2, 1))
    feb = [d for d in _docs(engine, "umbrella") if d["billing_date"] == date(2026, 2, 1)][0]
    lines = invoice_detail(engine, feb["id"])["lines"]
    storage = next(l for l in lines if l["line_type"] == "usage")
    assert storage["precise_amount"] == Decimal("23.1") and storage["amount"] == Decimal("23")
    assert feb["total"] == Decimal("1023") and feb["currency"] == "JPY"


def test_bill_run_twice_creates_nothing_new(engine):
    tid = _seed(engine)
    _ingest(engine, tid, _calls(10, "eu", "2026-01-20", "a"))
    first = run_bill_run(engine, as_of=date(2026, 3, 1))
    second = run_bill_run(engine, as_of=date(2026, 3, 1))
    assert first.invoices > 0 and second.invoices == 0 and second.credit_notes == 0
    with engine.connect() as conn:
        dupes = conn.execute(select(invoices.c.subscription_id, invoices.c.billing_date, func.count())
                             .group_by(invoices.c.subscription_id, invoices.c.billing_date,
                                       invoices.c.document_type).having(func.count() > 1)).all()
    assert dupes == []


def test_arrears_anniversary_from_jan_31_and_prepaid_credit(engine):
    _seed(engine)
    run_bill_run(engine, as_of=date(2026, 4, 1))
    docs = _docs(engine, "initech")
    # anniversary Jan 31: periods end Feb 28 and Mar 31; 30.00 each in arrears; 40.00 of credit drawn down
    assert [(d["billing_date"], d["total"], d["credits_applied"]) for d in docs] == [
        (date(2026, 2, 28), Decimal("0.00"), Decimal("30.00")),
        (date(2026, 3, 31), Decimal("20.00"), Decimal("10.00")),
    ]


def test_upgrade_mid_period_credits_unused_time_and_charges_new_plan(engine):
    doc = load_document(CATALOG)
    tid = _seed(engine, doc)
    run_bill_run(engine, as_of=date(2026, 3, 1))  # bills March 1-31 in advance at 31.00
    doc["contracts"][0]["versions"].append({"effective_from": "2026-03-17", "plan": "enterprise"})
    with engine.begin() as conn:
        apply_document(conn, tid, doc)
    report = run_bill_run(engine, as_of=date(2026, 3, 17))
    assert (report.invoices, report.credit_notes) == (1, 1)
    march17 = [d for d in _docs(engine, "globex") if d["billing_date"] == date(2026, 3, 17)]
    by_type = {d["document_type"]: d for d in march17}
    # 15 unused days of 31.00 credited; 15 days of 62.00 charged
    assert by_type["credit_note"]["total"] == Decimal("15.00")
    assert by_type["invoice"]["total"] == Decimal("30.00")
    credit = invoice_detail(engine, by_type["credit_note"]["id"])
    assert credit["corrects_invoice_id"] is not None
    assert credit["lines"][0]["service_start"] == date(2026, 3, 17)
    charged = invoice_detail(engine, by_type["invoice"]["id"])["lines"][0]
    assert charged["trace"]["contract_version"] == 2 and charged["trace"]["plan"] == "enterprise"


def test_immediate_cancellation_credits_unused_days(engine):
    doc = load_document(CATALOG)
    tid = _seed(engine, doc)
    run_bill_run(engine, as_of=date(2026, 3, 1))
    doc["subscriptions"][0].update(end_date="2026-03-11", cancel_mode="immediate")
    with engine.begin() as conn:
        apply_document(conn, tid, doc)
    run_bill_run(engine, as_of=date(2026, 6, 1))
    docs = [d for d in _docs(engine, "globex") if d["billing_date"] >= date(2026, 3, 2)]
    credit = [d for d in docs if d["document_type"] == "credit_note"]
    assert [(d["billing_date"], d["total"]) for d in credit] == [(date(2026, 3, 11), Decimal("21.00"))]
    assert all(d["billing_date"] <= date(2026, 3, 11) for d in docs)


def test_retroactive_amendment_is_refused_and_nothing_written(engine):
    doc = load_document(CATALOG)
    tid = _seed(engine, doc)
    run_bill_run(engine, as_of=date(2026, 3, 1))
    doc["contracts"][0]["versions"].append({"effective_from": "2026-02-10", "plan": "enterprise"})
    with pytest.raises(ApplyError) as caught:
        with engine.begin() as conn:
            apply_document(conn, tid, doc)
    assert "billed through 2026-03-01" in str(caught.value)
    with engine.connect() as conn:
        versions = conn.execute(select(func.count()).select_from(contract_versions)).scalar()
    assert versions == 3  # one per contract: the refused amendment left nothing behind
    with engine.begin() as conn:
        assert apply_document(conn, tid, load_document(CATALOG)).changed is False


def test_an_earlier_as_of_after_a_later_run_changes_nothing(engine):
    doc = load_document(CATALOG)
    doc["subscriptions"][0]["trial_end"] = "2026-01-25"
    _seed(engine, doc)
    later = run_bill_run(engine, as_of=date(2026, 4, 1))
    earlier = run_bill_run(engine, as_of=date(2026, 2, 1))
    assert later.invoices > 0 and (earlier.invoices, earlier.credit_notes) == (0, 0)
    first = _docs(engine, "globex")[0]
    # the trial waives Jan 15-24: billed in advance on Jan 15, the fee is 7/31 of 31.00 less 10% welcome
    assert (first["billing_date"], first["total"]) == (date(2026, 1, 15), Decimal("6.30"))
