"""`rate`: the single entry point from a parsed price and a quantity (or transactions) to a Rating.

It validates the usage input, then dispatches to the charge model. Everything runs in a decimal context of
money.PRECISION digits, so additions are as exact as money.mul products; the only rounding is the one in
Rating.of. A zero quantity always rates to an empty breakdown and amount 0: nothing used, nothing charged,
not even a tier's flat fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from invoiceflow.errors import PricingError, Problem
from invoiceflow.money import PRECISION, ceil_div, mul, to_decimal
from invoiceflow.rating.percentage import percentage
from invoiceflow.rating.prices import (
    FlatPrice,
    GraduatedPercentagePrice,
    GraduatedPrice,
    PackagePrice,
    PercentagePrice,
    Price,
    StandardPrice,
    VolumePrice,
)
from invoiceflow.rating.result import Line, PackageLine, Rating, UnitLine
from invoiceflow.rating.tiered import graduated, graduated_percentage, volume

ZERO = Decimal(0)
_TRANSACTION_MODELS = (PercentagePrice, GraduatedPercentagePrice)


def _quantity(value: object, record: str) -> Decimal:
    return to_decimal(value, record=record, field="quantity", allow_negative=False)


def _transactions(values: Sequence[object], record: str) -> list[Decimal]:
    """Parse every transaction amount, reporting all bad ones (floats, text, refunds) by index at once."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise PricingError("must be a list of transaction amounts", record=record, field="transactions")
    if all(type(v) is Decimal and v.is_finite() and v >= 0 for v in values):
        return list(values)  # already exact amounts (the bill run's case): nothing to parse
    problems: list[Problem] = []
    parsed = []
    for index, value in enumerate(values):
        field = f"transactions[{index}]"
        try:
            amount = to_decimal(value, record=record, field=field)
        except PricingError as error:
            problems.extend(error.problems)
            continue
        if amount < 0:
            problems.append(Problem(record, field, f"refunds are not rated: amount must not be negative, got {value}"))
        parsed.append(amount)
    if problems:
        raise PricingError(problems)
    return parsed


def _package(price: PackagePrice, quantity: Decimal) -> tuple[PackageLine]:
    billable = max(quantity - price.free_units, ZERO)
    packages = ceil_div(billable, price.package_size)
    amount = mul(packages, price.package_price)
    line = PackageLine(quantity, price.free_units, billable, price.package_size, packages, price.package_price, amount)
    return (line,)


def _lines(price: Price, quantity: Decimal, transactions: list[Decimal] | None) -> tuple[Line, ...]:
    if isinstance(price, PercentagePrice):
        return percentage(price, transactions if transactions is not None else [quantity])
    if quantity == 0:
        return ()
    if isinstance(price, StandardPrice):
        return (UnitLine(quantity, price.unit_price, mul(quantity, price.unit_price)),)
    if isinstance(price, FlatPrice):
        return (UnitLine(quantity, price.amount, mul(quantity, price.amount)),)
    if isinstance(price, GraduatedPrice):
        return graduated(price, quantity)
    if isinstance(price, VolumePrice):
        return volume(price, quantity)
    if isinstance(price, PackagePrice):
        return _package(price, quantity)
    if isinstance(price, GraduatedPercentagePrice):
        return graduated_percentage(price, quantity)
    raise TypeError(f"not a price: {type(price).__name__}")


def rate(
    price: Price,
    quantity: Decimal | str | int | None = None,
    *,
    transactions: Sequence[Decimal | str | int] | None = None,
    record: str = "usage",
) -> Rating:
    """Rate `quantity` (or, for percentage models, `transactions`) against `price`.

    A flat price defaults to a quantity of 1. For percentage a quantity is one transaction of that amount and
    quantity 0 is no transaction; graduated_percentage rates the sum of the transactions. Bad usage raises
    PricingError located at `record`.quantity or `record`.transactions[i].
    """
    if quantity is not None and transactions is not None:
        raise PricingError("give either a quantity or transactions, not both", record=record, field="quantity")
    if transactions is not None and not isinstance(price, _TRANSACTION_MODELS):
        raise PricingError(
            f"transactions are rated only by percentage and graduated_percentage prices, not {price.model}; "
            "give a quantity",
            record=record,
            field="transactions",
        )
    with localcontext() as ctx:
        ctx.prec = PRECISION
        parsed: list[Decimal] | None = None
        if transactions is not None:
            parsed = _transactions(transactions, record)
            amount = sum(parsed, ZERO)
        elif quantity is not None:
            amount = _quantity(quantity, record)
            if isinstance(price, PercentagePrice) and amount == 0:
                parsed = []
        elif isinstance(price, FlatPrice):
            amount = Decimal(1)
        else:
            need = "a quantity or transactions" if isinstance(price, _TRANSACTION_MODELS) else "a quantity"
            raise PricingError(f"{need} is required to rate a {price.model} price", record=record, field="quantity")
        return Rating.of(price.currency, amount, _lines(price, amount, parsed))
