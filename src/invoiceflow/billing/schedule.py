"""When a subscription is due: billing points, and what each point bills.

A *billing point* is a local date on which a document may be produced: every period start (fees billed in
advance), every period end (fees in arrears, usage, commitments), every date a new contract version takes
effect and the effective end (where fees billed in advance are re-settled). A point is due when it is on or
before the run's as-of date and no document exists for it yet; documents for one point are written in one
transaction, so a point is either fully billed or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import date, timedelta

from invoiceflow.billing.terms import SubscriptionTerms
from invoiceflow.rating.periods import Period, billing_periods


@dataclass(frozen=True, slots=True)
class PointWork:
    point: date
    arrears: Period | None  # the period ending at this point, billed in arrears
    advance_horizon: date | None  # advance fees are settled for every day before this date


def periods(sub: SubscriptionTerms, until: date) -> tuple[Period, ...]:
    """The subscription's served periods that start before `until` (memoised: asked for at every point)."""
    return _periods(sub.start, sub.end, sub.interval, sub.anchor, until)


@lru_cache(maxsize=4096)
def _periods(start: date, end: date | None, interval: str, anchor: str, until: date) -> tuple[Period, ...]:
    return tuple(billing_periods(start=start, end=end, interval=interval, anchor=anchor, until=until))


def due_work(sub: SubscriptionTerms, as_of: date, billed_points: set[date]) -> list[PointWork]:
    """Every due, not yet billed point of `sub`, oldest first."""
    if sub.start > as_of:
        return []
    served = periods(sub, as_of + timedelta(days=1))
    ends = {p.end: p for p in served if p.end <= as_of}
    points = {p.start for p in served} | set(ends)
    points |= {v.effective_from for v in sub.versions if sub.start < v.effective_from <= as_of}
    if sub.end is not None and sub.end <= as_of:
        points.add(sub.end)
    work = []
    for point in sorted(p for p in points if p <= as_of and p not in billed_points):
        current = next((p for p in served if p.start <= point < p.end), None)
        work.append(PointWork(point, ends.get(point), current.end if current else None))
    return work
