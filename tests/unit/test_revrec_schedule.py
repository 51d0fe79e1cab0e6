"""Schedules: recognition periods, rounding with the last period absorbing, catch-up, and changes to schedules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from invoiceflow.revrec.contract_input import parse_contract
from invoiceflow.revrec.engine import recognize
from invoiceflow.revrec.model import Granularity
from invoiceflow.revrec.report import as_document
from invoiceflow.revrec.schedule import LineSchedule, Row, change, point, ratable, recognition_periods, spread

D = Decimal


def subscription(price: str, start: str, end: str, granularity: str = "monthly_prorated", currency: str = "USD",
                 **billing) -> dict:
    return {"currency": currency, "lines": [{
        "id": "sub", "product": "plan", "obligation": "subscription", "price": price, "ssp": price,
        "service_period": {"start": start, "end": end}, "granularity": granularity,
        "billing": {"timing": "advance", **billing},
    }]}


def months(doc: dict, *columns: str) -> list[tuple[str, ...]]:
    out = as_document(recognize(parse_contract(doc)))
    return [(row["period"], *(row[c] for c in columns)) for row in out["schedule"]]


@pytest.mark.parametrize(
    ("start", "end", "granularity", "expected"),
    [
        ("2026-01-15", "2026-02-15", "monthly_prorated",
         [("2026-01-15", "2026-02-01", 17), ("2026-02-01", "2026-02-15", 14)]),
        ("2026-01-15", "2026-02-15", "monthly_even",
         [("2026-01-15", "2026-02-01", 1), ("2026-02-01", "2026-02-15", 1)]),
        ("2026-01-30", "2026-02-02", "daily", [("2026-01-30", "2026-01-31", 1), ("2026-01-31", "2026-02-01", 1),
                                               ("2026-02-01", "2026-02-02", 1)]),
        ("2026-12-20", "2027-01-10", "monthly_prorated",
         [("2026-12-20", "2027-01-01", 12), ("2027-01-01", "2027-01-10", 9)]),
        ("2028-02-01", "2028-03-01", "monthly_prorated", [("2028-02-01", "2028-03-01", 29)]),
    ],
)
def test_recognition_periods(start, end, granularity, expected):
    periods = recognition_periods(date.fromisoformat(start), date.fromisoformat(end), Granularity(granularity))
    assert [(s.isoformat(), e.isoformat(), w) for s, e, w in periods] == expected


@pytest.mark.parametrize(
    ("value", "weights", "currency", "expected"),
    [
        ("100.00", [1, 1, 1], "USD", ["33.33", "33.34", "33.33"]),  # running total 33.33, 66.67, 100.00
        ("31.00", [17, 14], "USD", ["17.00", "14.00"]),
        ("0.05", [1, 1, 1, 1], "USD", ["0.01", "0.02", "0.01", "0.01"]),  # running total 0.01, 0.03, 0.04, 0.05
        ("0.02", [1, 1, 1, 1], "USD", ["0.01", "0.00", "0.01", "0.00"]),  # never negative, never ahead
        ("1.00", [1] * 200, "USD", ["0.01", "0.00"] * 100),
        ("0.03", [1, 1, 1, 1], "USD", ["0.01", "0.01", "0.00", "0.01"]),  # running total 0.01, 0.02, 0.02, 0.03
        ("100000", [31, 28], "JPY", ["52542", "47458"]),
        ("-184.00", [31, 31], "USD", ["-92.00", "-92.00"]),
        ("1.000", [1, 2], "KWD", ["0.333", "0.667"]),
    ],
)
def test_spread_rounds_half_up_and_the_last_period_absorbs(value, weights, currency, expected):
    amounts = spread(D(value), weights, currency)
    assert [str(a) for a in amounts] == expected
    assert sum(amounts) == D(value)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (subscription("31.00", "2026-01-15", "2026-02-15"),
         [("2026-01", "17.00", "31.00", "14.00"), ("2026-02", "14.00", "0.00", "0.00")]),
        (subscription("365.00", "2026-01-01", "2027-01-01", "daily"),
         [("2026-01", "31.00", "365.00", "334.00"), ("2026-02", "28.00", "0.00", "306.00"),
          ("2026-03", "31.00", "0.00", "275.00")]),
        (subscription("365.00", "2026-01-01", "2027-01-01", "monthly_prorated"),
         [("2026-01", "31.00", "365.00", "334.00"), ("2026-02", "28.00", "0.00", "306.00"),
          ("2026-03", "31.00", "0.00", "275.00")]),
        (subscription("365.00", "2026-01-01", "2027-01-01", "monthly_even"),
         [("2026-01", "30.42", "365.00", "334.58"), ("2026-02", "30.41", "0.00", "304.17"),
          ("2026-03", "30.42", "0.00", "273.75")]),
        (subscription("100000", "2026-01-01", "2027-01-01", currency="JPY"),
         [("2026-01", "8493", "100000", "91507"), ("2026-02", "7671", "0", "83836"),
          ("2026-03", "8494", "0", "75342")]),
    ],
    ids=["monthly-from-jan-15", "annual-daily", "annual-prorated", "annual-even", "annual-jpy"],
)
def test_worked_examples(doc, expected):
    assert months(doc, "recognized", "billed", "deferred_revenue")[: len(expected)] == expected


def test_the_last_month_takes_what_is_left_in_every_granularity():
    for granularity, last in [("monthly_even", "30.42"), ("monthly_prorated", "31.00"), ("daily", "31.00")]:
        doc = subscription("365.00", "2026-01-01", "2027-01-01", granularity)
        assert months(doc, "recognized")[-1] == ("2026-12", last)


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        (True, [("2026-03", "90.00", "59.00"), ("2026-04", "30.00", "0.00"), ("2026-05", "31.00", "0.00"),
                ("2026-06", "30.00", "0.00")]),
        (False, [("2026-03", "35.24", "0.00"), ("2026-04", "48.05", "0.00"), ("2026-05", "49.66", "0.00"),
                 ("2026-06", "48.05", "0.00")]),
    ],
)
def test_catch_up_when_the_service_starts_before_the_invoice(catch_up, expected):
    doc = subscription("181.00", "2026-01-01", "2026-07-01", invoices=[{"date": "2026-03-10", "amount": "181.00"}])
    doc["policy"] = {"catch_up": catch_up}
    assert months(doc, "recognized", "catch_up") == expected


def test_an_invoice_after_the_whole_service_recognizes_everything_on_its_date():
    doc = subscription("90.00", "2026-01-01", "2026-04-01", invoices=[{"date": "2026-05-05", "amount": "90.00"}])
    for catch_up in (True, False):
        doc["policy"] = {"catch_up": catch_up}
        assert months(doc, "recognized", "billed") == [("2026-05", "90.00", "90.00")]


def test_arrears_billing_is_unbilled_not_catch_up():
    doc = subscription("90.00", "2026-01-01", "2026-04-01", "monthly_even")
    doc["lines"][0]["billing"] = {"timing": "arrears"}
    assert months(doc, "recognized", "catch_up", "unbilled_receivable") == [
        ("2026-01", "30.00", "0.00", "30.00"), ("2026-02", "30.00", "0.00", "60.00"),
        ("2026-03", "30.00", "0.00", "90.00"), ("2026-04", "0.00", "0.00", "0.00"),
    ]


def _schedule(*amounts: str) -> LineSchedule:
    rows = [Row(date(2026, m, 1), date(2026, m + 1, 1), D(a)) for m, a in enumerate(amounts, start=1)]
    return LineSchedule(tuple(rows))


@pytest.mark.parametrize(
    ("day", "delta", "catch_up", "posted", "rows"),
    [
        (date(2026, 3, 1), "-30.00", True, "-20.00", ["10.00", "10.00", "0.00"]),  # 2 of 3 months recognized
        (date(2026, 3, 1), "-5.00", False, "0.00", ["10.00", "10.00", "5.00"]),
        (date(2026, 2, 15), "30.00", True, "10.00", ["10.00", "20.00", "20.00"]),  # February is still to come
        (date(2026, 1, 1), "-1.00", True, "0.00", ["9.66", "9.67", "9.67"]),  # equal remainders: earliest first
        (date(2026, 6, 1), "-6.00", True, "-6.00", ["10.00", "10.00", "10.00"]),  # nothing to come: all at once
    ],
)
def test_change_splits_between_catch_up_and_the_rows_to_come(day, delta, catch_up, posted, rows):
    changed, got = change(_schedule("10.00", "10.00", "10.00"), day, D(delta), "USD", catch_up=catch_up, source="e")
    assert got == D(posted)
    assert [str(r.amount) for r in changed.rows] == rows
    assert changed.value == D("30.00") + D(delta)


def test_change_spreads_evenly_over_rows_that_are_all_zero():
    changed, posted = change(_schedule("0.00", "0.00"), date(2026, 1, 1), D("1.00"), "USD", catch_up=True, source="e")
    assert posted == 0 and [str(r.amount) for r in changed.rows] == ["0.50", "0.50"]


def test_point_rows_and_pending_milestones():
    (row,) = point(D("5.00"), date(2026, 2, 20))
    assert (row.start, row.end, row.amount) == (date(2026, 2, 20), date(2026, 2, 21), D("5.00"))
    (pending,) = point(D("5.00"), None)
    assert pending.start is None and not pending.before(date(2099, 1, 1))


def test_ratable_rows_add_up_to_the_value():
    rows = ratable(D("1000.00"), date(2026, 1, 7), date(2027, 3, 9), Granularity.daily, "USD")
    assert len(rows) == (date(2027, 3, 9) - date(2026, 1, 7)).days
    assert sum(r.amount for r in rows) == D("1000.00")
