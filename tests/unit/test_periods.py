"""Billing periods and day-based proration: the anchor x interval x timing matrix, DST windows and properties."""

from __future__ import annotations

import calendar
import doctest
import itertools
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoiceflow.errors import ValidationError
from invoiceflow.money import PRECISION, round_amount
from invoiceflow.rating.periods import (
    Anchor,
    Interval,
    Period,
    Timing,
    billed_on,
    billing_periods,
    local_midnight_utc,
    next_boundary,
    period_start_on_or_before,
    prorate,
    split_period,
    to_epoch_micros,
    unused_days,
    validate_timezone,
    window_utc,
)

D = date.fromisoformat
DOCS = Path(__file__).resolve().parents[2] / "docs" / "periods.md"

# (id, anchor, interval, start, end, until, fee, [(start, end, full_start, full_end, billed fee), ...])
MATRIX = [
    ("cal-weekly-midweek", "calendar", "weekly", "2026-01-14", None, "2026-01-20", "7.00",
     [("2026-01-14", "2026-01-19", "2026-01-12", "2026-01-19", "5.00"),
      ("2026-01-19", "2026-01-26", "2026-01-19", "2026-01-26", "7.00")]),
    ("cal-monthly-mid-month", "calendar", "monthly", "2026-01-15", None, "2026-02-15", "31.00",
     [("2026-01-15", "2026-02-01", "2026-01-01", "2026-02-01", "17.00"),
      ("2026-02-01", "2026-03-01", "2026-02-01", "2026-03-01", "31.00")]),
    ("cal-monthly-jan-31", "calendar", "monthly", "2026-01-31", None, "2026-02-01", "31.00",
     [("2026-01-31", "2026-02-01", "2026-01-01", "2026-02-01", "1.00")]),
    ("cal-monthly-leap-feb", "calendar", "monthly", "2028-02-10", None, "2028-03-01", "29.00",
     [("2028-02-10", "2028-03-01", "2028-02-01", "2028-03-01", "20.00")]),
    ("cal-monthly-common-feb", "calendar", "monthly", "2026-02-10", None, "2026-03-01", "28.00",
     [("2026-02-10", "2026-03-01", "2026-02-01", "2026-03-01", "19.00")]),
    ("cal-monthly-last-day", "calendar", "monthly", "2026-04-30", None, "2026-05-02", "30.00",
     [("2026-04-30", "2026-05-01", "2026-04-01", "2026-05-01", "1.00"),
      ("2026-05-01", "2026-06-01", "2026-05-01", "2026-06-01", "30.00")]),
    ("cal-monthly-cancel", "calendar", "monthly", "2026-01-01", "2026-03-16", "2027-01-01", "31.00",
     [("2026-01-01", "2026-02-01", "2026-01-01", "2026-02-01", "31.00"),
      ("2026-02-01", "2026-03-01", "2026-02-01", "2026-03-01", "31.00"),
      ("2026-03-01", "2026-03-16", "2026-03-01", "2026-04-01", "15.00")]),
    ("cal-quarterly-half", "calendar", "quarterly", "2026-02-15", None, "2026-04-01", "300.00",
     [("2026-02-15", "2026-04-01", "2026-01-01", "2026-04-01", "150.00")]),
    ("cal-quarterly-leap", "calendar", "quarterly", "2028-03-01", None, "2028-04-02", "91.00",
     [("2028-03-01", "2028-04-01", "2028-01-01", "2028-04-01", "31.00"),
      ("2028-04-01", "2028-07-01", "2028-04-01", "2028-07-01", "91.00")]),
    ("cal-semiannual", "calendar", "semiannual", "2026-05-01", None, "2026-07-02", "100.00",
     [("2026-05-01", "2026-07-01", "2026-01-01", "2026-07-01", "33.70"),
      ("2026-07-01", "2027-01-01", "2026-07-01", "2027-01-01", "100.00")]),
    ("cal-annual-common", "calendar", "annual", "2026-07-02", None, "2027-01-01", "365.00",
     [("2026-07-02", "2027-01-01", "2026-01-01", "2027-01-01", "183.00")]),
    ("cal-annual-leap", "calendar", "annual", "2028-03-01", "2028-12-01", "2030-01-01", "366.00",
     [("2028-03-01", "2028-12-01", "2028-01-01", "2029-01-01", "275.00")]),
    ("ann-weekly", "anniversary", "weekly", "2026-01-14", None, "2026-01-22", "7.00",
     [("2026-01-14", "2026-01-21", "2026-01-14", "2026-01-21", "7.00"),
      ("2026-01-21", "2026-01-28", "2026-01-21", "2026-01-28", "7.00")]),
    ("ann-weekly-cancel", "anniversary", "weekly", "2026-01-14", "2026-01-24", "2026-03-01", "7.00",
     [("2026-01-14", "2026-01-21", "2026-01-14", "2026-01-21", "7.00"),
      ("2026-01-21", "2026-01-24", "2026-01-21", "2026-01-28", "3.00")]),
    ("ann-monthly-jan-31", "anniversary", "monthly", "2026-01-31", None, "2026-05-01", "31.00",
     [("2026-01-31", "2026-02-28", "2026-01-31", "2026-02-28", "31.00"),
      ("2026-02-28", "2026-03-31", "2026-02-28", "2026-03-31", "31.00"),
      ("2026-03-31", "2026-04-30", "2026-03-31", "2026-04-30", "31.00"),
      ("2026-04-30", "2026-05-31", "2026-04-30", "2026-05-31", "31.00")]),
    ("ann-monthly-jan-31-leap", "anniversary", "monthly", "2028-01-31", None, "2028-03-01", "31.00",
     [("2028-01-31", "2028-02-29", "2028-01-31", "2028-02-29", "31.00"),
      ("2028-02-29", "2028-03-31", "2028-02-29", "2028-03-31", "31.00")]),
    ("ann-monthly-mid-month-cancel", "anniversary", "monthly", "2026-01-15", "2026-03-01", "2026-12-31", "28.00",
     [("2026-01-15", "2026-02-15", "2026-01-15", "2026-02-15", "28.00"),
      ("2026-02-15", "2026-03-01", "2026-02-15", "2026-03-15", "14.00")]),
    ("ann-monthly-last-day", "anniversary", "monthly", "2026-04-30", None, "2026-07-01", "30.00",
     [("2026-04-30", "2026-05-30", "2026-04-30", "2026-05-30", "30.00"),
      ("2026-05-30", "2026-06-30", "2026-05-30", "2026-06-30", "30.00"),
      ("2026-06-30", "2026-07-30", "2026-06-30", "2026-07-30", "30.00")]),
    ("ann-quarterly-leap-clamp", "anniversary", "quarterly", "2027-11-30", None, "2028-05-30", "91.00",
     [("2027-11-30", "2028-02-29", "2027-11-30", "2028-02-29", "91.00"),
      ("2028-02-29", "2028-05-30", "2028-02-29", "2028-05-30", "91.00")]),
    ("ann-semiannual-aug-31", "anniversary", "semiannual", "2026-08-31", "2027-05-31", "2030-01-01", "184.00",
     [("2026-08-31", "2027-02-28", "2026-08-31", "2027-02-28", "184.00"),
      ("2027-02-28", "2027-05-31", "2027-02-28", "2027-08-31", "92.00")]),
    ("ann-annual-feb-29", "anniversary", "annual", "2028-02-29", None, "2032-03-01", "365.00",
     [("2028-02-29", "2029-02-28", "2028-02-29", "2029-02-28", "365.00"),
      ("2029-02-28", "2030-02-28", "2029-02-28", "2030-02-28", "365.00"),
      ("2030-02-28", "2031-02-28", "2030-02-28", "2031-02-28", "365.00"),
      ("2031-02-28", "2032-02-29", "2031-02-28", "2032-02-29", "365.00"),
      ("2032-02-29", "2033-02-28", "2032-02-29", "2033-02-28", "365.00")]),
]


def fee_billed_at(period: Period, timing: Timing) -> date:
    """Where the matrix expects a period's fee: advance on its first day, arrears at its exclusive end."""
    return period.start if timing is Timing.advance else period.end


def test_matrix_covers_every_anchor_and_interval():
    assert {(Anchor(c[1]), Interval(c[2])) for c in MATRIX} == set(itertools.product(Anchor, Interval))


@pytest.mark.parametrize("timing", list(Timing), ids=lambda t: t.value)
@pytest.mark.parametrize("case", MATRIX, ids=[c[0] for c in MATRIX])
def test_proration_matrix(case, timing):
    _, anchor, interval, start, end, until, fee, expected = case
    periods = list(billing_periods(start=D(start), end=end and D(end), interval=interval, anchor=anchor,
                                   until=D(until)))
    assert [(p.start, p.end, p.full_start, p.full_end) for p in periods] == [
        tuple(D(x) for x in row[:4]) for row in expected
    ]
    for period, row in zip(periods, expected):
        precise = prorate(Decimal(fee), period.days, period.full_days)
        assert round_amount(precise, "USD") == Decimal(row[4])
        assert period.is_partial == (precise != Decimal(fee))
        assert billed_on(period, timing) == fee_billed_at(period, timing)
        assert billed_on(period, timing.value) == billed_on(period, timing)


@pytest.mark.parametrize(
    "day, interval, anchor, anchor_date, start, boundary",
    [
        ("2026-01-18", "weekly", "calendar", None, "2026-01-12", "2026-01-19"),  # Sunday -> Monday
        ("2026-01-19", "weekly", "calendar", None, "2026-01-19", "2026-01-26"),
        ("2026-11-15", "quarterly", "calendar", None, "2026-10-01", "2027-01-01"),
        ("2026-06-30", "semiannual", "calendar", None, "2026-01-01", "2026-07-01"),
        ("2028-12-31", "annual", "calendar", None, "2028-01-01", "2029-01-01"),
        ("2026-03-15", "monthly", "anniversary", "2026-01-31", "2026-02-28", "2026-03-31"),
        ("2025-12-15", "monthly", "anniversary", "2026-01-31", "2025-11-30", "2025-12-31"),  # before the anchor
        ("2026-01-13", "weekly", "anniversary", "2026-01-14", "2026-01-07", "2026-01-14"),
        ("2029-02-28", "annual", "anniversary", "2028-02-29", "2029-02-28", "2030-02-28"),
        ("2032-02-28", "annual", "anniversary", "2028-02-29", "2031-02-28", "2032-02-29"),
    ],
)
def test_period_start_and_next_boundary(day, interval, anchor, anchor_date, start, boundary):
    anchor_day = anchor_date and D(anchor_date)
    assert period_start_on_or_before(D(day), interval, anchor, anchor_day) == D(start)
    assert next_boundary(D(day), Interval(interval), Anchor(anchor), anchor_day) == D(boundary)


def test_split_period_sums_back_to_the_full_fee():
    feb = Period(D("2028-02-01"), D("2028-03-01"), D("2028-02-01"), D("2028-03-01"))
    old, new = split_period(feb, D("2028-02-10"))
    assert (old.start, old.end, new.start, new.end) == (feb.start, D("2028-02-10"), D("2028-02-10"), feb.end)
    assert old.full_start == new.full_start == feb.full_start and old.full_end == new.full_end == feb.full_end
    assert old.days + new.days == feb.full_days == 29
    fee = Decimal("29.00")
    assert prorate(fee, old.days, old.full_days) + prorate(fee, new.days, new.full_days) == fee
    assert prorate(Decimal("58.00"), new.days, new.full_days) == Decimal("40.00")


def test_unused_days_credit_is_clamped_to_the_period():
    jan = Period(D("2026-01-01"), D("2026-02-01"), D("2026-01-01"), D("2026-02-01"))
    assert unused_days(jan, D("2026-01-21")) == 11
    assert unused_days(jan, D("2025-12-01")) == 31
    assert unused_days(jan, D("2026-03-01")) == 0
    assert round_amount(prorate(Decimal("31.00"), 11, jan.full_days), "USD") == Decimal("11.00")


def test_prorate_multiplies_before_dividing_and_keeps_precision():
    assert prorate(Decimal("31.00"), 31, 31) == Decimal("31.00")
    assert str(prorate(Decimal("100.00"), 1, 3)) == "33.33333333333333333333333333333333"
    assert prorate(Decimal("10"), 0, 30) == 0


UTC = timezone.utc
# (zone, period start, period end, window start UTC, window end UTC, the day that is not 24 hours, its hours)
DST_CASES = [
    ("America/New_York", "2026-03-01", "2026-04-01", "2026-03-01T05:00", "2026-04-01T04:00", "2026-03-08", 23),
    ("Europe/Berlin", "2026-10-01", "2026-11-01", "2026-09-30T22:00", "2026-10-31T23:00", "2026-10-25", 25),
    ("Australia/Sydney", "2026-04-01", "2026-05-01", "2026-03-31T13:00", "2026-04-30T14:00", "2026-04-05", 25),
    ("Australia/Sydney", "2026-10-01", "2026-11-01", "2026-09-30T14:00", "2026-10-31T13:00", "2026-10-04", 23),
    ("Pacific/Chatham", "2026-04-01", "2026-05-01", "2026-03-31T10:15", "2026-04-30T11:15", "2026-04-05", 25),
    ("Pacific/Chatham", "2026-06-01", "2026-07-01", "2026-05-31T11:15", "2026-06-30T11:15", None, 24),
    ("Asia/Kolkata", "2026-01-01", "2026-02-01", "2025-12-31T18:30", "2026-01-31T18:30", None, 24),
]


@pytest.mark.parametrize("tz, start, end, utc_start, utc_end, odd_day, hours", DST_CASES,
                         ids=[f"{c[0]}-{c[1][:7]}" for c in DST_CASES])
def test_window_shifts_in_utc_but_days_do_not(tz, start, end, utc_start, utc_end, odd_day, hours):
    period = Period(D(start), D(end), D(start), D(end))
    lo, hi = window_utc(period, tz)
    assert (lo, hi) == (datetime.fromisoformat(utc_start).replace(tzinfo=UTC),
                        datetime.fromisoformat(utc_end).replace(tzinfo=UTC))
    assert lo.tzinfo is UTC and hi.tzinfo is UTC
    assert hi - lo == timedelta(days=period.days, hours=hours - 24)
    if odd_day is not None:
        first, second = split_period(period, D(odd_day))
        day, _ = split_period(second, D(odd_day) + timedelta(days=1))
        assert day.days == 1 and window_utc(day, tz)[1] - window_utc(day, tz)[0] == timedelta(hours=hours)
        assert prorate(Decimal("31.00"), day.days, 31) == Decimal(1)


@pytest.mark.parametrize("tz, day, expected", [
    ("America/Santiago", "2026-09-06", "2026-09-06T04:00"),  # 00:00 -> 01:00: the change itself
    ("America/Havana", "2026-03-08", "2026-03-08T05:00"),
    ("Asia/Beirut", "2026-03-29", "2026-03-28T22:00"),
])
def test_midnight_in_a_dst_gap_is_the_first_valid_instant(tz, day, expected):
    assert local_midnight_utc(D(day), tz) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_to_epoch_micros_is_integer_exact():
    assert to_epoch_micros(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_epoch_micros(datetime(2026, 3, 1, 5, tzinfo=UTC)) == 1_772_341_200_000_000
    assert to_epoch_micros(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    assert to_epoch_micros(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == 253_402_300_799_999_999
    kolkata = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert to_epoch_micros(kolkata) == to_epoch_micros(datetime(2025, 12, 31, 18, 30, tzinfo=UTC))


def test_validate_timezone():
    assert validate_timezone("Pacific/Chatham") == "Pacific/Chatham"
    for bad in ["Mars/Olympus_Mons", "", "../etc/passwd", "europe berlin"]:
        with pytest.raises(ValidationError) as info:
            validate_timezone(bad)
        assert info.value.problems[0].field == "timezone" and "IANA" in str(info.value)


@pytest.mark.parametrize("call, field", [
    (lambda: list(billing_periods(start=D("2026-02-01"), end=D("2026-02-01"), interval="monthly",
                                  anchor="calendar", until=D("2027-01-01"))), "end"),
    (lambda: list(billing_periods(start=D("2026-02-01"), end=None, interval="fortnightly",
                                  anchor="calendar", until=D("2027-01-01"))), "interval"),
    (lambda: next_boundary(D("2026-02-01"), "monthly", "billing-day"), "anchor"),
    (lambda: next_boundary(D("2026-02-01"), "monthly", "anniversary"), "anchor_date"),
    (lambda: billed_on(Period(D("2026-01-01"), D("2026-01-02"), D("2026-01-01"), D("2026-01-02")), "later"),
     "timing"),
    (lambda: Period(D("2026-01-05"), D("2026-01-05"), D("2026-01-01"), D("2026-02-01")), "period"),
    (lambda: Period(D("2026-01-05"), D("2026-02-05"), D("2026-01-01"), D("2026-02-01")), "period"),
    (lambda: prorate(Decimal("1"), 1, 0), "full_days"),
    (lambda: prorate(Decimal("1"), 32, 31), "days"),
    (lambda: split_period(Period(D("2026-01-01"), D("2026-02-01"), D("2026-01-01"), D("2026-02-01")),
                          D("2026-02-01")), "at"),
    (lambda: local_midnight_utc(D("2026-01-01"), "Nowhere/City"), "timezone"),
    (lambda: to_epoch_micros(datetime(2026, 1, 1)), "timestamp"),
])
def test_invalid_inputs_name_the_field(call, field):
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.problems[0].field == field


def test_prorate_refuses_non_decimal():
    with pytest.raises(TypeError):
        prorate(31, 1, 31)  # type: ignore[arg-type]


def test_docs_examples():
    result = doctest.testfile(str(DOCS), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 15 and result.failed == 0


# Hypothesis properties -----------------------------------------------------------------------------------------

days_ = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


@given(start=days_, span=st.integers(0, 1200), cut=st.none() | st.integers(1, 1500),
       interval=st.sampled_from(Interval), anchor=st.sampled_from(Anchor))
def test_periods_tile_from_start_to_until(start, span, cut, interval, anchor):
    until, end = start + timedelta(days=span), cut and start + timedelta(days=cut)
    periods = list(billing_periods(start=start, end=end, interval=interval, anchor=anchor, until=until))
    if span == 0:
        assert periods == []
        return
    assert periods[0].start == start
    for before, after in itertools.pairwise(periods):
        assert before.end == after.start
        assert before.full_end <= after.full_start
    stop = until if end is None else min(end, until)
    assert periods[-1].start < until and periods[-1].end >= stop
    assert end is None or periods[-1].end <= end
    for i, p in enumerate(periods):
        assert p.full_start <= p.start < p.end <= p.full_end
        assert p.start == period_start_on_or_before(p.start, interval, anchor, start) or i == 0
        if 0 < i and p is not periods[-1]:
            assert not p.is_partial
        if anchor is Anchor.anniversary and (end is None or p.end < end):
            assert not p.is_partial


@given(day=days_, anchor_date=days_, interval=st.sampled_from(Interval), anchor=st.sampled_from(Anchor))
def test_every_day_lies_in_its_nominal_period(day, anchor_date, interval, anchor):
    first = period_start_on_or_before(day, interval, anchor, anchor_date)
    after = next_boundary(day, interval, anchor, anchor_date)
    assert first <= day < after
    assert next_boundary(first, interval, anchor, anchor_date) == after
    assert period_start_on_or_before(after, interval, anchor, anchor_date) == after
    assert 7 <= (after - first).days <= 366


amounts = st.builds(lambda units, exp: Decimal(units).scaleb(-exp), st.integers(-10**12, 10**12), st.integers(0, 4))


@given(amount=amounts, start=days_, full_days=st.integers(2, 366), data=st.data())
def test_split_prorations_sum_to_the_full_amount(amount, start, full_days, data):
    period = Period(start, start + timedelta(days=full_days), start, start + timedelta(days=full_days))
    at = start + timedelta(days=data.draw(st.integers(1, full_days - 1)))
    halves = split_period(period, at)
    assert sum(h.days for h in halves) == period.full_days
    with localcontext() as ctx:
        ctx.prec = PRECISION
        total = sum((prorate(amount, h.days, h.full_days) for h in halves), Decimal(0))
    assert total == amount


@given(day=days_, tz=st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata",
                                      "Pacific/Chatham", "America/Santiago", "Australia/Lord_Howe", "UTC"]))
def test_local_days_have_tiling_windows_of_about_a_day(day, tz):
    p = Period(day, day + timedelta(days=1), day, day + timedelta(days=1))
    lo, hi = window_utc(p, tz)
    assert window_utc(Period(p.end, p.end + timedelta(days=1), p.end, p.end + timedelta(days=1)), tz)[0] == hi
    assert timedelta(hours=22) <= hi - lo <= timedelta(hours=26) and p.days == 1
    assert to_epoch_micros(lo) == calendar.timegm(lo.utctimetuple()) * 1_000_000 + lo.microsecond
