"""Usage charges and minimum commitments for one period billed in arrears.

The period is cut where a contract version takes effect; each piece is its own usage window (local midnight
to local midnight in the customer's time zone, as UTC microseconds) rated with that version's price, so every
line names the version it was rated with. Tiers apply per window. A meter with group-by keys yields one line
per group. A minimum commitment is prorated to each piece and topped up against that piece's usage charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Sequence

from invoiceflow.billing.drafts import LineDraft
from invoiceflow.billing.terms import ChargeTerms, SubscriptionTerms, VersionTerms
from invoiceflow.money import format_amount
from invoiceflow.rating.adjustments import minimum_commitment_true_up
from invoiceflow.rating.charge_models import rate
from invoiceflow.rating.periods import Period, local_midnight_utc, prorate, to_epoch_micros
from invoiceflow.rating.prices import GraduatedPercentagePrice, PercentagePrice
from invoiceflow.rating.result import Rating, TransactionLine, plain

ZERO = Decimal(0)
TRANSACTION_PRICES = (PercentagePrice, GraduatedPercentagePrice)
MAX_BREAKDOWN = 20  # per-transaction entries kept on a line; beyond that, one summary entry


@dataclass(frozen=True, slots=True)
class UsageWindow:
    subscription_id: int
    customer_id: int
    meter_id: int
    aggregation: str
    start: date
    end: date
    start_micros: int
    end_micros: int
    needs_transactions: bool

    @property
    def key(self) -> tuple[int, int, date, date]:
        return (self.subscription_id, self.meter_id, self.start, self.end)


def usage_windows(sub: SubscriptionTerms, period: Period) -> list[UsageWindow]:
    windows: dict[tuple, UsageWindow] = {}
    for start, end, version in sub.segments(period.start, period.end):
        lo, hi = (to_epoch_micros(local_midnight_utc(d, sub.timezone)) for d in (start, end))
        for charge in version.charges:
            if not charge.metered:
                continue
            needs = isinstance(charge.price, TRANSACTION_PRICES)
            window = UsageWindow(sub.id, sub.customer_id, charge.meter_id, charge.aggregation, start, end, lo, hi, needs)
            previous = windows.get(window.key)
            if previous is None or (needs and not previous.needs_transactions):
                windows[window.key] = window
    return list(windows.values())


def usage_lines(
    sub: SubscriptionTerms,
    period: Period,
    aggregates: Mapping[tuple, Sequence[Any]],
    transactions: Mapping[tuple, Sequence[Decimal]],
) -> list[LineDraft]:
    """Usage and true-up lines for `period`; aggregates/transactions are keyed by UsageWindow.key."""
    lines: list[LineDraft] = []
    for start, end, version in sub.segments(period.start, period.end):
        segment_lines = []
        for charge in version.charges:
            if not charge.metered:
                continue
            key = (sub.id, charge.meter_id, start, end)
            if isinstance(charge.price, TRANSACTION_PRICES):
                segment_lines.append(_line(sub, version, charge, start, end, None, None, transactions.get(key, [])))
                continue
            groups = aggregates.get(key) or []
            if not groups:
                segment_lines.append(_line(sub, version, charge, start, end, None, ZERO, None))
            for group in sorted(groups, key=lambda g: _dims_text(g.dims)):
                segment_lines.append(_line(sub, version, charge, start, end, group.dims, group.quantity, None))
        lines += segment_lines
        true_up = _commitment(sub, period, version, start, end, segment_lines)
        if true_up is not None:
            lines.append(true_up)
    return lines


def _dims_text(dims: dict | None) -> str:
    return "" if not dims else ",".join(f"{k}={dims[k]}" for k in sorted(dims))


def _line(
    sub: SubscriptionTerms,
    version: VersionTerms,
    charge: ChargeTerms,
    start: date,
    end: date,
    dims: dict | None,
    quantity: Decimal | None,
    transactions: Sequence[Decimal] | None,
) -> LineDraft:
    record = f"subscription {sub.code}.{charge.code}"
    if transactions is not None:
        rating = rate(charge.price, transactions=list(transactions), record=record)
        quantity = sum(transactions, ZERO)
    else:
        rating = rate(charge.price, quantity, record=record)
    suffix = f" [{_dims_text(dims)}]" if dims else ""
    return LineDraft(
        line_type="usage",
        description=f"{charge.product_name}: {charge.meter_code}{suffix}",
        amount=rating.amount,
        precise_amount=rating.precise_amount,
        product_code=charge.product_code,
        charge_code=charge.code,
        meter_code=charge.meter_code,
        dims=dims,
        quantity=quantity,
        service_start=start,
        service_end=end,
        contract_version_id=version.id,
        plan_version_id=version.plan_version_id,
        price=charge.price_doc,
        breakdown=breakdown_of(rating),
        trace={**version.trace(), "usage_window": [start.isoformat(), end.isoformat()], "timezone": sub.timezone,
               "transactions": len(transactions) if transactions is not None else None},
    )


def breakdown_of(rating: Rating) -> list[dict[str, Any]]:
    """The rating's breakdown for an invoice line; thousands of per-transaction entries become one summary."""
    lines = rating.breakdown
    if len(lines) <= MAX_BREAKDOWN or any(not isinstance(line, TransactionLine) for line in lines):
        return [line.as_dict() for line in lines]
    return [{
        "kind": "transactions", "count": len(lines),
        "free": sum(1 for line in lines if line.chargeable == 0),
        "transaction_total": plain(sum((line.transaction for line in lines), ZERO)),
        "chargeable_total": plain(sum((line.chargeable for line in lines), ZERO)),
        "rate": plain(lines[0].rate),
        "fixed_fees": plain(sum((line.fixed_fee for line in lines), ZERO)),
        "min_applied": sum(1 for line in lines if line.limit == "min"),
        "max_applied": sum(1 for line in lines if line.limit == "max"),
        "amount": plain(rating.precise_amount),
    }]


def _commitment(
    sub: SubscriptionTerms, period: Period, version: VersionTerms, start: date, end: date, lines: list[LineDraft]
) -> LineDraft | None:
    if version.minimum_commitment <= 0:
        return None
    minimum = prorate(version.minimum_commitment, (end - start).days, period.full_days)
    charged = sum((line.amount for line in lines), ZERO)
    true_up = minimum_commitment_true_up(charged, minimum, sub.currency)
    if true_up <= 0:
        return None
    return LineDraft(
        line_type="commitment",
        description=f"Minimum commitment true-up ({charged} of {format_amount(minimum, sub.currency)} committed)",
        amount=true_up,
        precise_amount=minimum - charged,
        service_start=start,
        service_end=end,
        contract_version_id=version.id,
        plan_version_id=version.plan_version_id,
        trace={**version.trace(), "minimum_commitment": str(version.minimum_commitment),
               "prorated_minimum": str(minimum), "usage_charged": str(charged)},
    )
