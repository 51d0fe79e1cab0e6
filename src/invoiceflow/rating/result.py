"""The outcome of rating: `Rating` and its breakdown lines.

A Rating is built only through `Rating.of`, which sums the lines into the precise amount and rounds that once
with money.round_amount. So, by construction, the breakdown adds up to `precise_amount` and
`amount == round_amount(precise_amount)`: there is no second place where the figures could drift apart.
Line amounts are precise (unrounded); only the Rating's `amount` is in the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from typing import Any, ClassVar, Union

from invoiceflow.money import PRECISION, format_amount, round_amount


def plain(value: Decimal) -> str:
    """Fixed-point text without needless trailing zeros and never in exponent notation ("1E+3" -> "1000")."""
    if value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _encode(value: Any) -> Any:
    return plain(value) if isinstance(value, Decimal) else value


class _Line:
    """JSON form shared by every line type: {"kind": ..., field: plain decimal string, ...}."""

    __slots__ = ()
    kind: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{f.name: _encode(getattr(self, f.name)) for f in fields(self)}}


@dataclass(frozen=True, slots=True)
class UnitLine(_Line):
    """standard (unit_price per unit) and flat (the fee per unit of quantity, e.g. per seat)."""

    kind: ClassVar[str] = "units"
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TierLine(_Line):
    """One tier of a graduated or volume price; `quantity` is the units priced at this tier's unit_price."""

    kind: ClassVar[str] = "tier"
    tier: int
    lower: Decimal
    upper: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PercentTierLine(_Line):
    """One tier of a graduated percentage; `base` is the part of the total amount inside this tier."""

    kind: ClassVar[str] = "percentage_tier"
    tier: int
    lower: Decimal
    upper: Decimal | None
    base: Decimal
    rate: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PackageLine(_Line):
    kind: ClassVar[str] = "packages"
    quantity: Decimal
    free_units: Decimal
    billable_units: Decimal
    package_size: Decimal
    packages: Decimal
    package_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TransactionLine(_Line):
    """One transaction of a percentage price. `free` is the part covered by allowances; `limit` names the
    per-transaction bound ("min" or "max") that replaced the computed fee, if any."""

    kind: ClassVar[str] = "transaction"
    index: int
    transaction: Decimal
    free: Decimal
    chargeable: Decimal
    rate: Decimal
    fixed_fee: Decimal
    limit: str | None
    amount: Decimal


Line = Union[UnitLine, TierLine, PercentTierLine, PackageLine, TransactionLine]


@dataclass(frozen=True, slots=True)
class Rating:
    """What a price charges for a quantity: the rounded `amount`, the `precise_amount` and how it arose."""

    amount: Decimal
    precise_amount: Decimal
    currency: str
    quantity: Decimal
    breakdown: tuple[Line, ...]

    @classmethod
    def of(cls, currency: str, quantity: Decimal, breakdown: tuple[Line, ...]) -> "Rating":
        with localcontext() as ctx:
            ctx.prec = PRECISION
            precise = sum((line.amount for line in breakdown), Decimal(0))
        return cls(round_amount(precise, currency), precise, currency, quantity, tuple(breakdown))

    def as_dict(self) -> dict[str, Any]:
        return {
            "amount": format_amount(self.amount, self.currency),
            "precise_amount": plain(self.precise_amount),
            "currency": self.currency,
            "quantity": plain(self.quantity),
            "breakdown": [line.as_dict() for line in self.breakdown],
        }
