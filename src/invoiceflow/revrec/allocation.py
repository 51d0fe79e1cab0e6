"""Allocating a transaction price to performance obligations (ASC 606-10-32-28 to 41, IFRS 15.73-86).

Allocation must add up to the price to the minor unit, whatever the SSPs. So the arithmetic runs in whole
minor units with exact fractions and splits by the *largest remainder* method: every obligation gets the
floor of its exact share, and the units left over go one each to the largest remainders (the earlier line
first on ties). No rounding function is involved, so nothing can drift.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import exponent, format_amount, round_amount
from invoiceflow.revrec.model import SSP


def to_units(amount: Decimal, currency: str) -> int:
    """`amount` in minor units (cents, yen); the amount must be a whole number of them."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more digits than {currency} allows")
    return int(scaled)


def from_units(units: int, currency: str) -> Decimal:
    """Minor units back to an amount written with exactly the currency's digits (no rounding happens)."""
    return round_amount(Decimal(units).scaleb(-exponent(currency)), currency)


def exact(amount: Decimal, currency: str) -> Decimal:
    """`amount` written with the currency's digits (it must already be a whole number of minor units)."""
    return from_units(to_units(amount, currency), currency)


def largest_remainder(total: Decimal, weights: Sequence[Fraction | Decimal | int], currency: str) -> list[Decimal]:
    """Split `total` in proportion to non-negative `weights` so the parts sum to `total` exactly."""
    exact_weights = [Fraction(w) for w in weights]
    if any(w < 0 for w in exact_weights):
        raise ValueError("weights must not be negative")
    whole = sum(exact_weights, Fraction(0))
    if whole == 0:
        raise ValueError("weights add up to zero")
    units = to_units(total, currency)
    magnitude = abs(units)
    exact = [magnitude * w / whole for w in exact_weights]
    parts = [math.floor(x) for x in exact]
    left = magnitude - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    sign = -1 if units < 0 else 1
    return [from_units(sign * p, currency) for p in parts]


@dataclass(frozen=True, slots=True)
class Item:
    """One obligation to allocate to: its billed price, its SSP and where it was written (for errors)."""

    key: str
    price: Decimal
    ssp: SSP | None
    residual: bool = False
    record: str = ""


@dataclass(frozen=True, slots=True)
class Allocation:
    """The allocation of one line. `ssp` is the SSP used (for a residual line: the residual itself)."""

    key: str
    price: Decimal
    ssp: Decimal | None
    relative_share: Fraction | None
    allocated: Decimal
    discount_share: Decimal | None
    method: str
    group: str = "contract"


def allocate(
    items: Sequence[Item],
    currency: str,
    *,
    discount_target: Collection[str] | None = None,
    residual_allowed: bool = False,
) -> list[Allocation]:
    """Allocate the sum of the items' prices by relative SSP, to a discount target, or by the residual approach."""
    total = sum((item.price for item in items), Decimal(0))
    residual = [item for item in items if item.residual]
    problems: list[Problem] = []
    if residual:
        if not residual_allowed:
            problems += [
                Problem(item.record, "residual",
                        "the residual approach is not allowed: set policy.residual_allowed to true")
                for item in residual
            ]
        if len(residual) > 1:
            message = "only one line of a contract may take the residual"
            problems += [Problem(item.record, "residual", message) for item in residual[1:]]
        if discount_target:
            problems.append(Problem("policy", "discount_target", "cannot be combined with a residual line"))
        if problems:
            raise ValidationError(problems)
        return _residual(items, residual[0], total, currency)
    if discount_target:
        return _to_target(items, set(discount_target), total, currency)
    return _relative(items, [item.ssp.effective(item.price) for item in items], total, currency, "relative_ssp")


def _allocation(item: Item, ssp: Decimal, ssp_total: Decimal, allocated: Decimal, method: str) -> Allocation:
    share = Fraction(ssp) / Fraction(ssp_total) if ssp_total else Fraction(0)
    return Allocation(item.key, item.price, ssp, share, allocated, ssp - allocated, method)


def _relative(
    items: Sequence[Item], ssps: list[Decimal], total: Decimal, currency: str, method: str
) -> list[Allocation]:
    ssp_total = sum(ssps, Decimal(0))
    if ssp_total == 0:
        record = items[0].record if items else "contract"
        message = "the SSPs add up to zero: relative allocation needs a positive SSP"
        raise ValidationError(Problem(record, "ssp", message))
    allocated = largest_remainder(total, ssps, currency)
    return [_allocation(item, ssp, ssp_total, a, method) for item, ssp, a in zip(items, ssps, allocated)]


def _to_target(items: Sequence[Item], target: set[str], total: Decimal, currency: str) -> list[Allocation]:
    """The discount goes to the target lines only; every other line is allocated exactly its SSP."""
    ssps = [item.ssp.effective(item.price) for item in items]
    ssp_total = sum(ssps, Decimal(0))
    fixed = sum((s for item, s in zip(items, ssps) if item.key not in target), Decimal(0))
    target_ssp = ssp_total - fixed
    rest = total - fixed
    if rest < 0 or target_ssp == 0:
        raise ValidationError(
            Problem(
                "policy",
                "discount_target",
                f"the discount {format_amount(ssp_total - total, currency)} cannot be absorbed by the target lines, "
                f"whose SSPs total {format_amount(target_ssp, currency)}",
            )
        )
    in_target = [i for i, item in enumerate(items) if item.key in target]
    shares = dict(zip(in_target, largest_remainder(rest, [ssps[i] for i in in_target], currency)))
    return [
        _allocation(item, ssp, ssp_total, shares[i], "discount_target")
        if i in shares
        else _allocation(item, ssp, ssp_total, exact(ssp, currency), "ssp")
        for i, (item, ssp) in enumerate(zip(items, ssps))
    ]


def _residual(items: Sequence[Item], residual: Item, total: Decimal, currency: str) -> list[Allocation]:
    """Every other line gets its SSP; the residual line gets what is left, which must fit its SSP range."""
    def money(amount: Decimal) -> str:
        return format_amount(amount, currency)

    others = [item for item in items if item is not residual]
    fixed = sum((item.ssp.effective(item.price) for item in others), Decimal(0))
    left = total - fixed
    if left <= 0:
        raise ValidationError(
            Problem(residual.record, "residual", f"the residual {money(left)} is not positive: the other lines' SSPs "
                    f"({money(fixed)}) use up the transaction price {money(total)}")
        )
    if residual.ssp is not None and not residual.ssp.low <= left <= residual.ssp.high:
        raise ValidationError(
            Problem(residual.record, "ssp", f"the residual {money(left)} falls outside the SSP range "
                    f"{money(residual.ssp.low)} to {money(residual.ssp.high)}: "
                    "the residual approach cannot be used here; "
                    "allocate by relative SSP")
        )
    result = []
    for item in items:
        ssp = exact(left if item is residual else item.ssp.effective(item.price), currency)
        result.append(_allocation(item, ssp, total, ssp, "residual" if item is residual else "ssp"))
    return result
