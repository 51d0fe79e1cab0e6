"""What a subscription is billed on: its schedule and the contract versions in force, as plain data.

Adapters load these from the database; everything downstream (schedule, assembly) is pure.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from invoiceflow.rating.adjustments import Discount
from invoiceflow.rating.periods import next_boundary, period_start_on_or_before
from invoiceflow.rating.prices import Price


@dataclass(frozen=True, slots=True)
class ChargeTerms:
    code: str
    product_code: str
    product_name: str
    price_doc: dict[str, Any]
    price: Price
    timing: str  # advance | arrears for recurring fees; usage charges are always arrears
    quantity: Decimal = Decimal(1)
    meter_code: str | None = None
    meter_id: int | None = None
    aggregation: str | None = None

    @property
    def metered(self) -> bool:
        return self.meter_id is not None


@dataclass(frozen=True, slots=True)
class DiscountTerms:
    code: str
    discount: Discount
    duration: str  # once | periods | forever
    periods: int | None = None

    @property
    def period_count(self) -> int | None:
        return 1 if self.duration == "once" else self.periods if self.duration == "periods" else None


@dataclass(frozen=True, slots=True)
class VersionTerms:
    id: int
    number: int
    effective_from: date
    plan_version_id: int
    plan_code: str
    plan_version: int
    charges: tuple[ChargeTerms, ...]
    minimum_commitment: Decimal = Decimal(0)
    discounts: tuple[DiscountTerms, ...] = ()

    def trace(self) -> dict[str, Any]:
        return {"contract_version": self.number, "plan": self.plan_code, "plan_version": self.plan_version}


@dataclass(frozen=True, slots=True)
class SubscriptionTerms:
    id: int
    code: str
    customer_id: int
    contract_id: int
    legal_entity_id: int
    currency: str
    timezone: str
    interval: str
    anchor: str
    start: date
    end: date | None  # the effective (exclusive) end, after cancel_mode is applied
    trial_end: date | None
    versions: tuple[VersionTerms, ...]
    _starts: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(v.effective_from for v in self.versions))

    @property
    def anchor_date(self) -> date | None:
        return self.start if self.anchor == "anniversary" else None

    def version_at(self, day: date) -> VersionTerms:
        index = bisect.bisect_right(self._starts, day) - 1
        return self.versions[max(index, 0)]

    def segments(self, start: date, end: date) -> list[tuple[date, date, VersionTerms]]:
        """[start, end) cut where a new contract version takes effect."""
        cuts = [d for d in self._starts if start < d < end]
        bounds = [start, *cuts, end]
        return [(a, b, self.version_at(a)) for a, b in zip(bounds, bounds[1:])]

    def nominal_period(self, day: date) -> tuple[date, date]:
        """The full (unclipped) billing period containing `day`."""
        return (
            period_start_on_or_before(day, self.interval, self.anchor, self.anchor_date),
            next_boundary(day, self.interval, self.anchor, self.anchor_date),
        )


def effective_end(
    end_date: date | None, cancel_mode: str | None, start: date, interval: str, anchor: str
) -> date | None:
    """Cancellation at period end runs to the boundary on or after the requested date."""
    if end_date is None or cancel_mode != "period_end":
        return end_date
    anchor_date = start if anchor == "anniversary" else None
    if period_start_on_or_before(end_date, interval, anchor, anchor_date) == end_date:
        return end_date
    return next_boundary(end_date, interval, anchor, anchor_date)
