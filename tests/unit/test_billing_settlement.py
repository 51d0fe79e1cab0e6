"""Property tests of bill-run assembly, with no database: a subscription's whole life simulated run by run.

Whatever the interval, anchor, trial, mid-period amendment, cancellation and the sequence of bill-run dates,
after the last run every recurring fee has been billed for exactly the days it is owed (invoices minus
credit notes), never twice, and every document's lines add up to its total.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoiceflow.billing.assemble import assemble_point
from invoiceflow.billing.drafts import CHARGE_TYPES, INVOICE
from invoiceflow.billing.fees import BilledDays, owed_days
from invoiceflow.billing.schedule import due_work
from invoiceflow.billing.terms import ChargeTerms, SubscriptionTerms, VersionTerms, effective_end
from invoiceflow.rating.prices import parse_price

INTERVALS = ["weekly", "monthly", "quarterly", "semiannual", "annual"]


def _version(vid: int, start: date, fee: str, timing: str) -> VersionTerms:
    doc = {"model": "flat", "amount": fee}
    charge = ChargeTerms(code="base", product_code="platform", product_name="Platform", price_doc=doc,
                         price=parse_price(doc, currency="USD"), timing=timing)
    return VersionTerms(id=vid, number=vid, effective_from=start, plan_version_id=vid, plan_code="p",
                        plan_version=1, charges=(charge,))


def _sub(start, interval, anchor, trial, versions, end, cancel_mode) -> SubscriptionTerms:
    return SubscriptionTerms(
        id=1, code="s", customer_id=1, contract_id=1, legal_entity_id=1, currency="USD", timezone="UTC",
        interval=interval, anchor=anchor, start=start,
        end=effective_end(end, cancel_mode, start, interval, anchor), trial_end=trial, versions=tuple(versions),
    )


class Ledger:
    """What the database would hold: billed points and net billed days per key."""

    def __init__(self):
        self.points: set[date] = set()
        self.days: dict[tuple, int] = defaultdict(int)  # (key, ordinal) -> net times billed
        self.documents = []

    def billed(self) -> BilledDays:
        """Advance fees billed so far, as the bill run loads them (arrears fees are never re-settled)."""
        result = BilledDays()
        for ((code, vid, kind), day), n in self.days.items():
            if n > 0 and kind == "fee_advance":
                result.days[(code, vid)].add(day)
        return result

    def run(self, sub: SubscriptionTerms, as_of: date) -> None:
        work = due_work(sub, as_of, self.points)
        if not work:
            return
        billed = self.billed()
        lower = sub.nominal_period(work[0].point)[0]
        for item in work:
            result = assemble_point(sub, item, billed, lower, {}, {}, Decimal(0))
            for doc in (result.invoice, result.credit_note):
                if doc is None:
                    continue
                self.points.add(doc.billing_date)
                self.documents.append(doc)
                sign = 1 if doc.document_type == INVOICE else -1
                for line in doc.lines:
                    if line.line_type.startswith("fee_"):
                        key = (line.charge_code, line.contract_version_id, line.line_type.replace("_credit", ""))
                        for day in range(line.service_start.toordinal(), line.service_end.toordinal()):
                            self.days[(key, day)] += sign


lifecycles = st.fixed_dictionaries({
    "start": st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    "interval": st.sampled_from(INTERVALS),
    "anchor": st.sampled_from(["calendar", "anniversary"]),
    "timing": st.sampled_from(["advance", "arrears"]),
    "trial_days": st.one_of(st.none(), st.integers(1, 40)),
    "change_after": st.one_of(st.none(), st.integers(1, 300)),
    "end_after": st.one_of(st.none(), st.integers(1, 500)),
    "cancel_mode": st.sampled_from(["immediate", "period_end"]),
    "runs": st.lists(st.integers(1, 120), min_size=1, max_size=8),
    "late_change_run": st.integers(0, 8),
    "new_fee": st.sampled_from(["40.00", "250.00"]),  # downgrade or upgrade
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lifecycles)
def test_every_fee_is_billed_for_exactly_the_days_owed(case):
    start = case["start"]
    trial = start + timedelta(days=case["trial_days"]) if case["trial_days"] else None
    v1 = _version(1, start, "100.00", case["timing"])
    change = start + timedelta(days=case["change_after"]) if case["change_after"] else None
    end = start + timedelta(days=case["end_after"]) if case["end_after"] else None
    if change and end and change >= end:
        change = None
    ledger = Ledger()
    applied_change = applied_end = None  # what the database holds once known (never retroactive)
    as_of = start
    for index, step in enumerate([*case["runs"], None]):
        as_of = as_of + timedelta(days=step) if step else (end or as_of) + timedelta(days=400)
        if index >= case["late_change_run"] or step is None:
            last = max(ledger.points, default=None)
            if change and applied_change is None and (last is None or change > last):
                applied_change = change
            if end and applied_end is None and (last is None or end > last):
                applied_end = end
        versions = [v1] + ([_version(2, applied_change, case["new_fee"], case["timing"])] if applied_change else [])
        final = _sub(start, case["interval"], case["anchor"], trial, versions, applied_end, case["cancel_mode"])
        ledger.run(final, as_of)
    # Fees are billed through the end of the last due period; compare over that stretch.
    through = max((d.service_end for doc in ledger.documents for d in doc.lines if d.service_end), default=start)
    billed = {k: n for k, n in ledger.days.items() if n}
    assert all(n == 1 for n in billed.values()), "a day was billed twice or credited more than billed"
    owed = owed_days(final, case["timing"], start, through)
    expected = {((code, vid, f"fee_{case['timing']}"), day) for (code, vid), days in owed.items() for day in days}
    assert set(billed) == expected
    for doc in ledger.documents:
        assert doc.total == sum((line.amount for line in doc.lines), Decimal(0))
        if doc.document_type == INVOICE:
            assert doc.subtotal - doc.discount_total - doc.credits_applied == doc.total
            assert all(line.amount >= 0 for line in doc.lines if line.line_type in CHARGE_TYPES)
