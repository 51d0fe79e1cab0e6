"""Which billing points are due: table-driven over starts, amendments, ends and what is already billed."""

from __future__ import annotations

from datetime import date

import pytest

from invoiceflow.billing.schedule import due_work
from invoiceflow.billing.terms import SubscriptionTerms, VersionTerms, effective_end

D = date


def _sub(start, *, interval="monthly", anchor="calendar", end=None, cancel_mode=None, amendments=()):
    versions = [VersionTerms(1, 1, D(2026, 1, 1), 1, "p", 1, ())]
    versions += [VersionTerms(2 + i, 2 + i, day, 1, "p", 1, ()) for i, day in enumerate(amendments)]
    return SubscriptionTerms(
        id=1, code="s", customer_id=1, contract_id=1, legal_entity_id=1, currency="USD", timezone="UTC",
        interval=interval, anchor=anchor, start=start, end=effective_end(end, cancel_mode, start, interval, anchor),
        trial_end=None, versions=tuple(versions),
    )


@pytest.mark.parametrize(
    ("sub", "as_of", "billed", "points", "arrears"),
    [
        # calendar monthly from Jan 15: the first period is Jan 15 - Feb 1
        (_sub(D(2026, 1, 15)), D(2026, 3, 1), set(), [D(2026, 1, 15), D(2026, 2, 1), D(2026, 3, 1)],
         {D(2026, 2, 1): (D(2026, 1, 15), D(2026, 2, 1)), D(2026, 3, 1): (D(2026, 2, 1), D(2026, 3, 1))}),
        # what is billed is not due again
        (_sub(D(2026, 1, 15)), D(2026, 3, 1), {D(2026, 1, 15), D(2026, 2, 1)}, [D(2026, 3, 1)],
         {D(2026, 3, 1): (D(2026, 2, 1), D(2026, 3, 1))}),
        # an amendment mid-period is a point of its own
        (_sub(D(2026, 1, 1), amendments=(D(2026, 2, 10),)), D(2026, 2, 28), set(),
         [D(2026, 1, 1), D(2026, 2, 1), D(2026, 2, 10)], {D(2026, 2, 1): (D(2026, 1, 1), D(2026, 2, 1))}),
        # an immediate end closes the last period early; nothing after it is due
        (_sub(D(2026, 1, 1), end=D(2026, 2, 20), cancel_mode="immediate"), D(2026, 6, 1), set(),
         [D(2026, 1, 1), D(2026, 2, 1), D(2026, 2, 20)],
         {D(2026, 2, 1): (D(2026, 1, 1), D(2026, 2, 1)), D(2026, 2, 20): (D(2026, 2, 1), D(2026, 2, 20))}),
        # cancellation at period end runs to the boundary
        (_sub(D(2026, 1, 1), end=D(2026, 2, 20), cancel_mode="period_end"), D(2026, 6, 1), set(),
         [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)],
         {D(2026, 2, 1): (D(2026, 1, 1), D(2026, 2, 1)), D(2026, 3, 1): (D(2026, 2, 1), D(2026, 3, 1))}),
        # anniversary from Jan 31: Feb 28, then Mar 31
        (_sub(D(2026, 1, 31), anchor="anniversary"), D(2026, 3, 31), set(),
         [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)],
         {D(2026, 2, 28): (D(2026, 1, 31), D(2026, 2, 28)), D(2026, 3, 31): (D(2026, 2, 28), D(2026, 3, 31))}),
        # a subscription that has not started has nothing due
        (_sub(D(2026, 5, 1)), D(2026, 4, 30), set(), [], {}),
        # as-of is inclusive: a boundary on the as-of date is due
        (_sub(D(2026, 1, 1), interval="quarterly"), D(2026, 4, 1), set(), [D(2026, 1, 1), D(2026, 4, 1)],
         {D(2026, 4, 1): (D(2026, 1, 1), D(2026, 4, 1))}),
    ],
)
def test_due_points(sub, as_of, billed, points, arrears):
    work = due_work(sub, as_of, billed)
    assert [w.point for w in work] == points
    assert {w.point: (w.arrears.start, w.arrears.end) for w in work if w.arrears} == arrears
