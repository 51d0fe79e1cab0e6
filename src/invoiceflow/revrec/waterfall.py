"""The deferred revenue waterfall: when the deferred balance at a period end will become revenue, by product.

Deferred revenue is billed but not yet earned. It is earned by the recognition still scheduled, earliest
first, so the waterfall takes the future schedule month by month until the balance is used up (first in,
first out). A month that only partly fits is split across its products by the largest-remainder method.
Recognition not yet scheduled (a milestone still to be completed) comes last, as "unscheduled".
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from invoiceflow.revrec.allocation import largest_remainder, to_units
from invoiceflow.revrec.journal import period_of, positions_at
from invoiceflow.revrec.obligations import Book

ZERO = Decimal(0)
UNSCHEDULED = "unscheduled"


def waterfall(book: Book, as_of: str) -> dict:
    """Deferred revenue at the end of `as_of` ("YYYY-MM") by the future period and product that will earn it."""
    positions = positions_at(book, as_of)
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for contract, position in positions.items():
        if position > 0:
            for key, amount in _release(book, contract, as_of, position):
                totals[key] += amount
    rows = [{"period": period, "product": product, "amount": amount}
            for (period, product), amount in sorted(totals.items(), key=lambda kv: _order(kv[0])) if amount]
    return {"as_of": as_of, "deferred_revenue": sum((p for p in positions.values() if p > 0), ZERO), "rows": rows}


def _order(key: tuple[str, str]) -> tuple[int, str, str]:
    period, product = key
    return (1 if period == UNSCHEDULED else 0, period, product)


def _release(book: Book, contract: str, as_of: str, balance: Decimal) -> list[tuple[tuple[str, str], Decimal]]:
    future: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for ob in book.obligations.values():
        if ob.contract != contract:
            continue
        for row in ob.schedule.rows:
            period = UNSCHEDULED if row.start is None else period_of(row.start)
            if period == UNSCHEDULED or period > as_of:
                future[period][ob.product] += row.amount
    out, left = [], balance
    for period in sorted(future, key=lambda p: (p == UNSCHEDULED, p)):
        products = {product: amount for product, amount in sorted(future[period].items()) if amount > 0}
        month = sum(products.values(), ZERO)
        if left <= 0 or month <= 0:
            continue
        take = min(left, month)
        parts = products.values() if take == month else largest_remainder(
            take, [to_units(a, book.currency) for a in products.values()], book.currency)
        out += [((period, product), part) for product, part in zip(products, parts)]
        left -= take
    return out
