"""Invoice-level adjustments: minimum-commitment true-up, discounts and prepaid-credit draw-down.

Pure helpers for billing. Each documented rounding point rounds exactly once here (true-up, discount) via
money.round_amount; credit draw-down only moves already-rounded amounts, so it never rounds. None of them can
push an invoice total below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

from invoiceflow.errors import PricingError
from invoiceflow.money import PRECISION, mul, round_amount

ZERO = Decimal(0)
PERCENT = Decimal("0.01")


def _money(value: object, field: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{field} must be Decimal, got {type(value).__name__}")
    return value


def minimum_commitment_true_up(charged: Decimal, minimum: Decimal, currency: str) -> Decimal:
    """What tops `charged` up to the committed `minimum`, rounded once; 0 when the minimum is already met."""
    charged, minimum = _money(charged, "charged"), _money(minimum, "minimum")
    if minimum < 0:
        raise PricingError(f"must not be negative, got {minimum}", record="commitment", field="minimum")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        shortfall = minimum - charged
    return round_amount(max(shortfall, ZERO), currency)


@dataclass(frozen=True, slots=True)
class Discount:
    """An invoice discount: `percent` of the subtotal (0..100) or a `fixed` amount in the invoice currency."""

    kind: Literal["percent", "fixed"]
    value: Decimal

    def __post_init__(self) -> None:
        if self.kind not in ("percent", "fixed"):
            raise PricingError(f"unknown kind {self.kind!r} (percent or fixed)", record="discount", field="kind")
        _money(self.value, "discount value")
        if self.value < 0:
            raise PricingError(f"must not be negative, got {self.value}", record="discount", field="value")
        if self.kind == "percent" and self.value > 100:
            raise PricingError(f"a percent discount is at most 100, got {self.value}", record="discount", field="value")


def apply_discount(subtotal: Decimal, discount: Discount, currency: str) -> Decimal:
    """The (positive) discount amount for `subtotal`, rounded once, never more than the subtotal itself."""
    subtotal = _money(subtotal, "subtotal")
    if subtotal <= 0:
        return round_amount(ZERO, currency)
    if discount.kind == "percent":
        return round_amount(mul(subtotal, discount.value, PERCENT), currency)
    return round_amount(min(discount.value, subtotal), currency)


def draw_down_credits(total: Decimal, balance: Decimal) -> Decimal:
    """Prepaid credit to apply to an invoice: min(total, balance), never negative."""
    total, balance = _money(total, "total"), _money(balance, "balance")
    return max(min(total, balance), ZERO)
