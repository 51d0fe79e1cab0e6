"""Recognition schedules: an obligation's value cut into dated rows, and changes applied to them later.

Why rows and not a formula: events (credit notes, modifications) change what is still to be recognized
while what was recognized stays as it was. A schedule is therefore a list of rows with dates and rounded
amounts, plus the catch-up adjustments events posted. Rounding happens once, when rows are first built:
each row is its precise share rounded half up by `money.round_amount`, and the last row takes what is left,
so a schedule always adds up to the obligation's value exactly. Later changes move whole minor units
between rows by the largest-remainder method and never round again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from invoiceflow.money import div, mul, round_amount
from invoiceflow.rating.periods import prorate
from invoiceflow.revrec.allocation import largest_remainder, to_units
from invoiceflow.revrec.model import Granularity

ZERO = Decimal(0)
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Row:
    """Revenue recognized over ``[start, end)``; `start` None means not scheduled yet (a pending milestone)."""

    start: date | None
    end: date | None
    amount: Decimal
    source: str = ""  # "catch_up" when the row collects periods served before a late first invoice

    def before(self, day: date) -> bool:
        """True when the row ends on or before `day`: already recognized when something happens on `day`."""
        return self.end is not None and self.end <= day


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A catch-up an event posted on `day` for rows already recognized (negative: contra-revenue)."""

    day: date
    amount: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class LineSchedule:
    rows: tuple[Row, ...]
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def value(self) -> Decimal:
        return sum((r.amount for r in self.rows), ZERO) + sum((a.amount for a in self.adjustments), ZERO)

    def recognized_before(self, day: date) -> Decimal:
        """What is on the books when an event happens on `day`: rows ended by then, and earlier adjustments."""
        return sum((r.amount for r in self.rows if r.before(day)), ZERO) + sum(
            (a.amount for a in self.adjustments if a.day <= day), ZERO
        )

    def remaining(self, day: date) -> Decimal:
        return self.value - self.recognized_before(day)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def recognition_periods(start: date, end: date, granularity: Granularity) -> list[tuple[date, date, int]]:
    """``(start, end, weight)`` per recognition period of ``[start, end)``.

    daily: one period per day, weight 1. monthly_even: one period per calendar month touched, weight 1.
    monthly_prorated: one period per calendar month touched, weighted by the days it covers.
    """
    if granularity is Granularity.daily:
        return [(start + ONE_DAY * i, start + ONE_DAY * (i + 1), 1) for i in range((end - start).days)]
    periods = []
    cursor = start
    while cursor < end:
        stop = min(next_month(cursor), end)
        periods.append((cursor, stop, (stop - cursor).days if granularity is Granularity.monthly_prorated else 1))
        cursor = stop
    return periods


def spread(value: Decimal, weights: list[int], currency: str) -> list[Decimal]:
    """Each period gets the rounded running total less what earlier periods got; the last takes what is left.

    Rounding the running total (half up) rather than each period alone carries every rounding difference
    forward, so no period is a minor unit or more away from its exact share, none goes negative, and the
    total is exact: the last period absorbs whatever rounding is left.
    """
    whole, running, before, amounts = sum(weights), 0, ZERO, []
    for weight in weights[:-1]:
        running += weight
        through = round_amount(prorate(value, running, whole), currency)
        amounts.append(through - before)
        before = through
    return amounts + [value - before]


def ratable(value: Decimal, start: date, end: date, granularity: Granularity, currency: str) -> list[Row]:
    periods = recognition_periods(start, end, granularity)
    amounts = spread(value, [w for _, _, w in periods], currency)
    return [Row(s, e, a) for (s, e, _), a in zip(periods, amounts)]


def point(value: Decimal, day: date | None) -> list[Row]:
    """All of `value` on one day; `day` None leaves it unscheduled until the obligation is satisfied."""
    return [Row(day, day + ONE_DAY if day else None, value)]


def caught_up(rows: list[Row], first_invoice: date) -> list[Row]:
    """Rows that ended before the first invoice collapse into one catch-up row on the invoice date."""
    late = [r for r in rows if r.before(first_invoice)]
    if not late:
        return rows
    lump = Row(first_invoice, first_invoice + ONE_DAY, sum((r.amount for r in late), ZERO), "catch_up")
    return [lump] + [r for r in rows if not r.before(first_invoice)]


def change(
    schedule: LineSchedule, day: date, delta: Decimal, currency: str, *, catch_up: bool, source: str
) -> tuple[LineSchedule, Decimal]:
    """Change the obligation's value by `delta` on `day`; return the new schedule and the catch-up posted.

    With `catch_up`, the part of `delta` that belongs to what is already recognized (in proportion) is
    posted at once as an adjustment; the rest, or all of `delta` without `catch_up`, is spread over the rows
    still to come in proportion to their amounts, so the schedule keeps its shape.
    """
    value = schedule.value
    posted = ZERO
    if catch_up and value != 0:
        posted = round_amount(div(mul(delta, schedule.recognized_before(day)), value), currency)
    rest = delta - posted
    future = [i for i, r in enumerate(schedule.rows) if not r.before(day)]
    if rest != 0 and not future:
        posted, rest = delta, ZERO
    rows = list(schedule.rows)
    if rest != 0:
        weights = [abs(to_units(rows[i].amount, currency)) for i in future]
        if not any(weights):
            weights = [1] * len(future)
        for i, shift in zip(future, largest_remainder(rest, weights, currency)):
            rows[i] = replace(rows[i], amount=rows[i].amount + shift)
    adjustments = schedule.adjustments + ((Adjustment(day, posted, source),) if posted != 0 else ())
    return LineSchedule(tuple(rows), adjustments), posted
