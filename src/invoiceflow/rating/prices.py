"""Price definitions: one frozen dataclass per charge model, and `parse_price` to build them from JSON.

Parsing is strict on purpose: a price decides what customers pay, so a typo must fail loudly. `parse_price`
collects every problem in the document before raising, so one run shows the finance user all the fixes.
Numbers are decimal strings ("0.05") or JSON integers; floats are refused because they cannot hold cents.
The document format is described in docs/pricing.md and mirrored by schemas/price.schema.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Union

from invoiceflow.errors import PricingError, Problem
from invoiceflow.money import is_currency
from invoiceflow.rating.result import plain

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# Unsigned plain decimal: what the JSON Schema accepts for a numeric string. No exponent, no sign, no spaces.
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
_COUNT_TEXT = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Tier:
    """A unit-priced tier covering (previous up_to, up_to]; `up_to` None means unbounded."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PercentTier:
    """A tier of a graduated percentage: `rate` percent of the amount within (previous up_to, up_to]."""

    up_to: Decimal | None
    rate: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class StandardPrice:
    model: ClassVar[str] = "standard"
    currency: str
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class GraduatedPrice:
    model: ClassVar[str] = "graduated"
    currency: str
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class VolumePrice:
    model: ClassVar[str] = "volume"
    currency: str
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class PackagePrice:
    model: ClassVar[str] = "package"
    currency: str
    package_size: Decimal
    package_price: Decimal
    free_units: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PercentagePrice:
    """`rate` is in percent. Allowances of 0 mean "none"; min/max of None mean "no limit"."""

    model: ClassVar[str] = "percentage"
    currency: str
    rate: Decimal
    fixed_fee: Decimal = ZERO
    free_transactions: int = 0
    free_amount: Decimal = ZERO
    min_per_transaction: Decimal | None = None
    max_per_transaction: Decimal | None = None


@dataclass(frozen=True, slots=True)
class GraduatedPercentagePrice:
    model: ClassVar[str] = "graduated_percentage"
    currency: str
    tiers: tuple[PercentTier, ...]


@dataclass(frozen=True, slots=True)
class FlatPrice:
    """A recurring fee; the quantity (default 1, e.g. seats) multiplies it."""

    model: ClassVar[str] = "flat"
    currency: str
    amount: Decimal


Price = Union[
    StandardPrice, GraduatedPrice, VolumePrice, PackagePrice, PercentagePrice, GraduatedPercentagePrice, FlatPrice
]

# model -> (class, required fields, optional fields). "model" and "currency" are allowed everywhere.
_MODELS: dict[str, tuple[type, tuple[str, ...], tuple[str, ...]]] = {
    "standard": (StandardPrice, ("unit_price",), ()),
    "graduated": (GraduatedPrice, ("tiers",), ()),
    "volume": (VolumePrice, ("tiers",), ()),
    "package": (PackagePrice, ("package_size", "package_price"), ("free_units",)),
    "percentage": (
        PercentagePrice,
        ("rate",),
        ("fixed_fee", "free_transactions", "free_amount", "min_per_transaction", "max_per_transaction"),
    ),
    "graduated_percentage": (GraduatedPercentagePrice, ("tiers",), ()),
    "flat": (FlatPrice, ("amount",), ()),
}
MODELS: tuple[str, ...] = tuple(_MODELS)

_MISSING = object()


class _Reader:
    """Reads fields of one price document, recording problems instead of stopping at the first."""

    def __init__(self, record: str) -> None:
        self.record = record
        self.problems: list[Problem] = []

    def problem(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.record, field, message))

    def check_keys(self, doc: dict, field_prefix: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
        for key in required:
            if key not in doc:
                self.problem(field_prefix + key, "required field is missing")
        allowed = (*required, *optional)
        for key in doc:
            if key not in allowed:
                self.problem(field_prefix + str(key), f"unknown field (allowed: {', '.join(allowed)})")

    def number(
        self,
        raw: Any,
        field: str,
        *,
        nullable: bool = False,
        positive: bool = False,
        percent: bool = False,
    ) -> Decimal | None:
        """A non-negative Decimal from a decimal string or int; None when absent/invalid (problem recorded)."""
        if raw is _MISSING:
            return None
        if raw is None:
            if not nullable:
                self.problem(field, "must not be null")
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            hint = f" {raw!r} (floats lose cents; quote the number: \"{raw!r}\")" if isinstance(raw, float) else ""
            self.problem(field, f"must be a decimal string or an integer, not {type(raw).__name__}{hint}")
            return None
        if isinstance(raw, str) and not _DECIMAL_TEXT.fullmatch(raw):
            try:
                negative = Decimal(raw.strip()) < 0
            except InvalidOperation:
                negative = False
            if negative:
                self.problem(field, f"must not be negative, got {raw}")
            else:
                self.problem(field, f"{raw!r} is not a plain decimal number (write e.g. \"12\" or \"0.05\")")
            return None
        value = Decimal(raw)
        if value < 0:
            self.problem(field, f"must not be negative, got {raw}")
            return None
        if positive and value == 0:
            self.problem(field, "must be above 0")
            return None
        if percent and value > HUNDRED:
            self.problem(field, f"is a percentage and must be between 0 and 100, got {raw}")
            return None
        return value

    def count(self, raw: Any, field: str) -> int:
        """A whole, non-negative count (int or digit string); null means 0."""
        if raw is _MISSING or raw is None:
            return 0
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw < 0:
                self.problem(field, f"must not be negative, got {raw}")
                return 0
            return raw
        if isinstance(raw, str) and _COUNT_TEXT.fullmatch(raw):
            return int(raw)
        self.problem(field, f"must be a whole number of transactions, got {raw!r}")
        return 0

    def tiers(self, raw: Any, unit_key: str) -> list[tuple[Decimal | None, Decimal, Decimal]]:
        """Validate a tier list: non-empty, strictly ascending, only the last tier unbounded."""
        if not isinstance(raw, list):
            if raw is not _MISSING:
                self.problem("tiers", "must be a list of tiers")
            return []
        if not raw:
            self.problem("tiers", "must have at least one tier")
            return []
        parsed = []
        previous: Decimal | None = None
        last = len(raw) - 1
        for i, tier in enumerate(raw):
            at = f"tiers[{i}]."
            if not isinstance(tier, dict):
                self.problem(f"tiers[{i}]", f"must be an object with up_to and {unit_key}")
                continue
            self.check_keys(tier, at, ("up_to", unit_key), ("flat_fee",))
            up_to = self.number(tier.get("up_to", _MISSING), at + "up_to", nullable=True, positive=True)
            if "up_to" in tier and tier["up_to"] is None and i != last:
                self.problem(at + "up_to", f"null (unbounded) is only allowed on the last tier (tiers[{last}])")
            if i == last and tier.get("up_to") is not None:
                self.problem(at + "up_to", "the last tier must be unbounded: set up_to to null")
            if up_to is not None and previous is not None and up_to <= previous:
                self.problem(at + "up_to", f"tiers must be ascending: {plain(up_to)} is not above {plain(previous)}")
            if up_to is not None:
                previous = up_to
            unit = self.number(tier.get(unit_key, _MISSING), at + unit_key, percent=unit_key == "rate")
            fee = self.number(tier.get("flat_fee", _MISSING), at + "flat_fee", nullable=True)
            parsed.append((up_to, unit if unit is not None else ZERO, fee if fee is not None else ZERO))
        return parsed


def _currency(reader: _Reader, doc: dict, default: str | None) -> str:
    given = doc.get("currency", _MISSING)
    if default is not None and not is_currency(default):
        reader.problem("currency", f"unknown currency {default!r} (expected an ISO 4217 code such as 'USD')")
        return ""
    if given is _MISSING:
        if default is None:
            reader.problem("currency", "no currency: set \"currency\" in the price or pass one")
            return ""
        return default
    if not is_currency(given):
        reader.problem("currency", f"unknown currency {given!r} (expected an upper-case ISO 4217 code such as 'USD')")
        return ""
    if default is not None and given != default:
        reader.problem("currency", f"price is in {given} but {default} was requested")
    return given


def parse_price(doc: Any, *, record: str = "price", currency: str | None = None) -> Price:
    """Validate a price document and build its dataclass, or raise PricingError listing every problem."""
    reader = _Reader(record)
    if not isinstance(doc, dict):
        raise PricingError(f"a price must be a JSON object, got {type(doc).__name__}", record=record)
    cur = _currency(reader, doc, currency)
    model = doc.get("model", _MISSING)
    if model is _MISSING:
        reader.problem("model", f"required field is missing (one of: {', '.join(MODELS)})")
        raise PricingError(reader.problems)
    if not isinstance(model, str) or model not in _MODELS:
        reader.problem("model", f"unknown model {model!r} (one of: {', '.join(MODELS)})")
        raise PricingError(reader.problems)
    cls, required, optional = _MODELS[model]
    reader.check_keys(doc, "", ("model", *required), ("currency", *optional))
    values = _model_values(reader, model, doc)
    if reader.problems:
        raise PricingError(reader.problems)
    return cls(currency=cur, **values)


def _model_values(reader: _Reader, model: str, doc: dict) -> dict[str, Any]:
    get = doc.get
    num = reader.number
    if model == "standard":
        return {"unit_price": num(get("unit_price", _MISSING), "unit_price")}
    if model == "flat":
        return {"amount": num(get("amount", _MISSING), "amount")}
    if model in ("graduated", "volume"):
        return {"tiers": tuple(Tier(*t) for t in reader.tiers(get("tiers", _MISSING), "unit_price"))}
    if model == "graduated_percentage":
        return {"tiers": tuple(PercentTier(*t) for t in reader.tiers(get("tiers", _MISSING), "rate"))}
    if model == "package":
        return {
            "package_size": num(get("package_size", _MISSING), "package_size", positive=True),
            "package_price": num(get("package_price", _MISSING), "package_price"),
            "free_units": num(get("free_units", _MISSING), "free_units", nullable=True) or ZERO,
        }
    low = num(get("min_per_transaction", _MISSING), "min_per_transaction", nullable=True)
    high = num(get("max_per_transaction", _MISSING), "max_per_transaction", nullable=True)
    if low is not None and high is not None and low > high:
        reader.problem(
            "min_per_transaction", f"min_per_transaction {plain(low)} is above max_per_transaction {plain(high)}"
        )
    return {
        "rate": num(get("rate", _MISSING), "rate", percent=True),
        "fixed_fee": num(get("fixed_fee", _MISSING), "fixed_fee", nullable=True) or ZERO,
        "free_transactions": reader.count(get("free_transactions", _MISSING), "free_transactions"),
        "free_amount": num(get("free_amount", _MISSING), "free_amount", nullable=True) or ZERO,
        "min_per_transaction": low,
        "max_per_transaction": high,
    }


def price_to_dict(price: Price) -> dict[str, Any]:
    """The canonical JSON document of a price (numbers as plain decimal strings); parse_price reads it back."""

    def encode(value: Any) -> Any:
        if isinstance(value, Decimal):
            return plain(value)
        if isinstance(value, tuple):
            return [{f.name: encode(getattr(t, f.name)) for f in fields(t)} for t in value]
        return value

    doc: dict[str, Any] = {"model": price.model}
    doc.update({f.name: encode(getattr(price, f.name)) for f in fields(price)})
    return doc
