"""Tiered charge models: graduated, volume and graduated percentage.

Tier i covers the half-open range (previous up_to, up_to]: upper bounds are inclusive, the first tier starts
at 0 and a null up_to is unbounded. A tier is *entered* when the quantity is above its lower bound; only
entered tiers charge their flat fee, so zero usage costs nothing. Callers run inside a PRECISION context.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

from invoiceflow.money import mul
from invoiceflow.rating.prices import GraduatedPercentagePrice, GraduatedPrice, PercentTier, Tier, VolumePrice
from invoiceflow.rating.result import PercentTierLine, TierLine

PERCENT = Decimal("0.01")


def tier_ranges(tiers: Sequence[Tier] | Sequence[PercentTier]) -> Iterator[tuple[int, Decimal, Decimal | None]]:
    """(index, lower, upper) for each tier; lower is the previous tier's up_to (0 for the first)."""
    lower = Decimal(0)
    for index, tier in enumerate(tiers):
        yield index, lower, tier.up_to
        if tier.up_to is not None:
            lower = tier.up_to


def _part_within(quantity: Decimal, lower: Decimal, upper: Decimal | None) -> Decimal:
    top = quantity if upper is None else min(quantity, upper)
    return top - lower


def graduated(price: GraduatedPrice, quantity: Decimal) -> tuple[TierLine, ...]:
    """Each tier prices only the units inside it, plus its flat fee once when the quantity enters it."""
    lines = []
    for index, lower, upper in tier_ranges(price.tiers):
        if quantity <= lower:
            break
        tier = price.tiers[index]
        units = _part_within(quantity, lower, upper)
        amount = mul(units, tier.unit_price) + tier.flat_fee
        lines.append(TierLine(index, lower, upper, units, tier.unit_price, tier.flat_fee, amount))
    return tuple(lines)


def volume(price: VolumePrice, quantity: Decimal) -> tuple[TierLine, ...]:
    """The one tier whose range holds the quantity prices every unit (quantity == up_to stays in that tier)."""
    if quantity == 0:
        return ()
    for index, lower, upper in tier_ranges(price.tiers):
        if upper is None or quantity <= upper:
            tier = price.tiers[index]
            amount = mul(quantity, tier.unit_price) + tier.flat_fee
            return (TierLine(index, lower, upper, quantity, tier.unit_price, tier.flat_fee, amount),)
    raise AssertionError("parse_price guarantees an unbounded last tier")


def graduated_percentage(price: GraduatedPercentagePrice, total: Decimal) -> tuple[PercentTierLine, ...]:
    """Like graduated, over an amount of money: rate% of the part of the total inside each entered tier."""
    lines = []
    for index, lower, upper in tier_ranges(price.tiers):
        if total <= lower:
            break
        tier = price.tiers[index]
        base = _part_within(total, lower, upper)
        amount = mul(base, tier.rate, PERCENT) + tier.flat_fee
        lines.append(PercentTierLine(index, lower, upper, base, tier.rate, tier.flat_fee, amount))
    return tuple(lines)
