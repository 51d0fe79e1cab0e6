"""Recurring fees, settled by day.

A recurring fee is owed for each served day (outside any trial) at the rate of the contract version in
force that day. Billing compares the days owed with the days already billed, per (charge, contract version):
days owed but not billed are charged, days billed but no longer owed (a downgrade, an immediate
cancellation) are credited. That one rule covers first periods, upgrades, downgrades and cancellations, and
never edits an issued document: corrections are always new lines on new documents.

Amounts: each run of consecutive days inside one nominal period is one line, prorated by day against the
full period (`periods.prorate`) and rounded once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping, Sequence

from invoiceflow.billing.drafts import LineDraft
from invoiceflow.billing.schedule import periods
from invoiceflow.billing.terms import ChargeTerms, SubscriptionTerms, VersionTerms
from invoiceflow.money import round_amount
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.periods import Period, prorate

Key = tuple[str, int]  # (charge code, contract version id)


@dataclass(slots=True)
class BilledDays:
    """Days already billed per key (invoices add days, credit notes remove them), with the invoice and the
    invoice line that billed each (a credit of unused days is capped by what remains of that line)."""

    days: dict[Key, set[int]] = field(default_factory=lambda: defaultdict(set))
    invoice_of: dict[tuple[Key, int], int] = field(default_factory=dict)
    line_of: dict[tuple[Key, int], int] = field(default_factory=dict)

    def add(self, key: Key, start: date, end: date, invoice_id: int | None = None, line_id: int | None = None) -> None:
        span = range(start.toordinal(), end.toordinal())
        self.days[key].update(span)
        if invoice_id is not None:
            self.invoice_of.update(((key, day), invoice_id) for day in span)
        if line_id is not None:
            self.line_of.update(((key, day), line_id) for day in span)

    @property
    def invoices(self) -> set[int]:
        return set(self.invoice_of.values())

    def remove(self, key: Key, start: date, end: date) -> None:
        span = range(start.toordinal(), end.toordinal())
        self.days[key].difference_update(span)
        for day in span:  # credited days billed again later are owed to the line that bills them then
            self.line_of.pop((key, day), None)


def owed_days(
    sub: SubscriptionTerms, timing: str, lower: date, upper: date, served: Sequence[Period] | None = None
) -> dict[Key, set[int]]:
    """Days in [lower, upper) on which each recurring fee with `timing` is owed (within `served`, if given)."""
    owed: dict[Key, set[int]] = defaultdict(set)
    floor = max(lower, sub.trial_end or lower)
    if served is None:
        served = periods(sub, upper)
    for period in served:
        start, end = max(period.start, floor), min(period.end, upper)
        if start >= end:
            continue
        for seg_start, seg_end, version in sub.segments(start, end):
            span = range(seg_start.toordinal(), seg_end.toordinal())
            for charge in version.charges:
                if not charge.metered and charge.timing == timing:
                    owed[(charge.code, version.id)].update(span)
    return owed


def fee_lines(
    sub: SubscriptionTerms, days_by_key: dict[Key, set[int]], line_type: str,
    sources: Mapping[tuple[Key, int], int] | None = None,
) -> list[tuple[Key, LineDraft]]:
    """One line per run of consecutive days within one nominal period, for every key.

    With `sources` (the invoice line that billed each day) a run also ends where its source changes, so
    every credit of unused days is against one invoice line and can be capped by what remains of it.
    """
    versions = {v.id: v for v in sub.versions}
    lines = []
    for key in sorted(days_by_key, key=lambda k: (versions[k[1]].effective_from, k[0])):
        version = versions[key[1]]
        charge = next(c for c in version.charges if c.code == key[0])
        source = {day: sources.get((key, day)) for day in days_by_key[key]} if sources else {}
        for start, end in _runs(sub, sorted(days_by_key[key]), source):
            lines.append((key, _fee_line(sub, version, charge, start, end, line_type)))
    return lines


def _runs(sub: SubscriptionTerms, ordinals: list[int], source: Mapping[int, int | None]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    i = 0
    while i < len(ordinals):
        first = date.fromordinal(ordinals[i])
        period_end = sub.nominal_period(first)[1].toordinal()
        j = i
        while (j + 1 < len(ordinals) and ordinals[j + 1] == ordinals[j] + 1 and ordinals[j + 1] < period_end
               and source.get(ordinals[j + 1]) == source.get(ordinals[i])):
            j += 1
        runs.append((first, date.fromordinal(ordinals[j] + 1)))
        i = j + 1
    return runs


def _fee_line(
    sub: SubscriptionTerms, version: VersionTerms, charge: ChargeTerms, start: date, end: date, line_type: str
) -> LineDraft:
    full_start, full_end = sub.nominal_period(start)
    full_days, days = (full_end - full_start).days, (end - start).days
    rating = rate(charge.price, charge.quantity, record=f"subscription {sub.code}.{charge.code}")
    precise = prorate(rating.precise_amount, days, full_days)
    prorated = days != full_days
    label = charge.product_name + (f" ({days}/{full_days} days)" if prorated else "")
    if line_type.endswith("_credit"):
        label = f"Unused time: {label}"
    return LineDraft(
        line_type=line_type,
        description=label,
        amount=round_amount(precise, sub.currency),
        precise_amount=precise,
        product_code=charge.product_code,
        charge_code=charge.code,
        quantity=charge.quantity,
        service_start=start,
        service_end=end,
        contract_version_id=version.id,
        plan_version_id=version.plan_version_id,
        price=charge.price_doc,
        breakdown=[line.as_dict() for line in rating.breakdown],
        trace={**version.trace(), "days": days, "full_days": full_days, "full_period_amount": str(rating.precise_amount),
               "nominal_period": [full_start.isoformat(), full_end.isoformat()]},
    )


def settle_advance(
    sub: SubscriptionTerms, billed: BilledDays, lower: date, charge_until: date
) -> tuple[list[tuple[Key, LineDraft]], list[tuple[Key, LineDraft]]]:
    """(charges, credits) that bring advance fees from `lower` on in line with what is owed.

    Days before `charge_until` that are owed and unbilled are charged; billed days no longer owed are credited.
    """
    floor, limit = lower.toordinal(), charge_until.toordinal()
    last_billed = max((max(d) for d in billed.days.values() if d), default=limit - 1)
    owed = owed_days(sub, "advance", lower, date.fromordinal(max(limit, last_billed + 1)))
    to_charge = {k: {day for day in d if day < limit} - billed.days.get(k, set()) for k, d in owed.items()}
    to_credit = {k: {day for day in d if day >= floor} - owed.get(k, set()) for k, d in billed.days.items()}
    charges = fee_lines(sub, {k: d for k, d in to_charge.items() if d}, "fee_advance")
    credits = fee_lines(sub, {k: d for k, d in to_credit.items() if d}, "fee_advance_credit", billed.line_of)
    return charges, credits
