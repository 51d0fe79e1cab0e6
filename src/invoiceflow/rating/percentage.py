"""The percentage charge model: a rate on each transaction, with allowances and per-transaction limits.

Transactions are rated in the order given, because allowances are consumed in that order. A transaction is
free while every configured allowance has room (its index is below free_transactions and the running total
including it stays within free_amount). The one that crosses free_amount pays on its part above the
allowance; once an allowance is used up, every later transaction pays in full. Fees are not rounded per
transaction: rounding happens once, on the sum (see Rating.of). Callers run inside a PRECISION context.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from invoiceflow.rating.prices import PercentagePrice
from invoiceflow.rating.result import TransactionLine

PERCENT = Decimal("0.01")
ZERO = Decimal(0)


def _fee(price: PercentagePrice, chargeable: Decimal) -> tuple[Decimal, str | None]:
    """rate% of the chargeable part plus the fixed fee, clamped to [min, max] per transaction when set."""
    fee = chargeable * price.rate * PERCENT + price.fixed_fee  # the caller's PRECISION context applies
    if price.min_per_transaction is not None and fee < price.min_per_transaction:
        return price.min_per_transaction, "min"
    if price.max_per_transaction is not None and fee > price.max_per_transaction:
        return price.max_per_transaction, "max"
    return fee, None


def percentage(price: PercentagePrice, transactions: Sequence[Decimal]) -> tuple[TransactionLine, ...]:
    count_allowance = price.free_transactions
    amount_allowance = price.free_amount
    exhausted = count_allowance == 0 and amount_allowance == 0
    used = ZERO
    lines = []
    for index, transaction in enumerate(transactions):
        free = ZERO
        if not exhausted:
            within_count = count_allowance == 0 or index < count_allowance
            within_amount = amount_allowance == 0 or used + transaction <= amount_allowance
            if within_count and within_amount:
                used += transaction
                lines.append(TransactionLine(index, transaction, transaction, ZERO, price.rate, ZERO, None, ZERO))
                continue
            exhausted = True
            if within_count:
                free = amount_allowance - used
        chargeable = transaction - free
        fee, limit = _fee(price, chargeable)
        lines.append(TransactionLine(index, transaction, free, chargeable, price.rate, price.fixed_fee, limit, fee))
    return tuple(lines)
