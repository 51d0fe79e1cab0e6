"""Per-period balances and journal-entry lines, as data for a ledger to post later.

Everything that moves a contract's position (billed minus recognized) is a *movement*: an invoice, a
reduction (credit note, refund, void, write-off) with the contra-revenue it caused, a modification's
catch-up, or a month's recognition. A positive position is deferred revenue (billed before service), a
negative one unbilled receivable (served before billing). Each movement becomes one balanced entry whose
position side first clears the opposite balance (an invoice reclassifies unbilled receivable before it
defers anything; recognition releases deferred revenue before it accrues unbilled receivable).
Lines carry account *roles*, not account numbers; the ledger maps roles to its chart of accounts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from invoiceflow.revrec.billing import REDUCTIONS
from invoiceflow.revrec.obligations import Book
from invoiceflow.revrec.schedule import next_month

ZERO = Decimal(0)
ROLES = ("accounts_receivable", "cash", "deferred_revenue", "unbilled_receivable", "revenue", "contra_revenue")
_ORDER = {"invoice": 0, "recognition": 2}


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_end(period: str) -> date:
    """The last day of a "YYYY-MM" period."""
    return date.fromordinal(next_month(date(int(period[:4]), int(period[5:]), 1)).toordinal() - 1)


def periods_between(first: str, last: str) -> list[str]:
    day, stop, out = date(int(first[:4]), int(first[5:]), 1), date(int(last[:4]), int(last[5:]), 1), []
    while day <= stop:
        out.append(period_of(day))
        day = next_month(day)
    return out


@dataclass(frozen=True, slots=True)
class Movement:
    """One dated change to a contract's position; `revenue` by product, negative for contra-revenue."""

    day: date
    kind: str
    contract: str
    source: str
    receivable: Decimal  # billed (+) or taken back (-)
    revenue: tuple[tuple[str, Decimal], ...]
    catch_up: Decimal = ZERO

    @property
    def period(self) -> str:
        return period_of(self.day)

    @property
    def recognized(self) -> Decimal:
        return sum((amount for _, amount in self.revenue), ZERO)

    @property
    def position(self) -> Decimal:
        return self.receivable - self.recognized


def movements(book: Book) -> list[Movement]:
    """All movements of the book in posting order: by date, invoices first and a month's recognition last."""
    contract_of = {line: ob.contract for line, ob in book.obligations.items()}
    product_of = {line: ob.product for line, ob in book.obligations.items()}
    billed: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for bill in book.bills:
        billed[(bill.day, bill.kind, contract_of[bill.line], bill.source)] += bill.amount
    caught: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    recognized: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    late: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for line, ob in book.obligations.items():
        for adj in ob.schedule.adjustments:
            caught[(adj.day, contract_of[line], adj.source)][product_of[line]] += adj.amount
        for row in ob.schedule.rows:
            if row.start is not None:
                key = (period_of(row.start), contract_of[line])
                recognized[key][product_of[line]] += row.amount
                if row.source == "catch_up":
                    late[key] += row.amount
    out = []
    for (day, kind, contract, source), amount in billed.items():
        revenue = caught.pop((day, contract, source), {}) if kind in REDUCTIONS else {}
        out.append(Movement(day, kind, contract, source, amount, _by_product(revenue), sum(revenue.values(), ZERO)))
    for (day, contract, source), revenue in caught.items():
        caught_up = sum(revenue.values(), ZERO)
        out.append(Movement(day, "modification", contract, source, ZERO, _by_product(revenue), caught_up))
    for (period, contract), revenue in recognized.items():
        if any(revenue.values()):
            day = period_end(period)
            out.append(Movement(day, "recognition", contract, "", ZERO, _by_product(revenue), late[(period, contract)]))
    return sorted(out, key=lambda m: (m.day, _ORDER.get(m.kind, 1), m.contract, m.source))


def _by_product(revenue: dict[str, Decimal]) -> tuple[tuple[str, Decimal], ...]:
    return tuple(sorted((product, amount) for product, amount in revenue.items() if amount != 0))


def _line(role: str, amount: Decimal, *, debit: bool, product: str | None = None) -> dict:
    """A journal line; a negative amount flips to the other side so no line carries a negative figure."""
    if amount < 0:
        amount, debit = -amount, not debit
    line: dict = {"role": role}
    if product is not None:
        line["product"] = product
    return {**line, "debit": amount if debit else ZERO, "credit": ZERO if debit else amount}


def position_lines(balance: Decimal, delta: Decimal) -> list[dict]:
    """Lines moving the position by `delta` from `balance`, clearing the opposite balance first."""
    if delta > 0:
        reclass = min(delta, max(-balance, ZERO))
        parts = [("unbilled_receivable", reclass), ("deferred_revenue", delta - reclass)]
        return [_line(role, amount, debit=False) for role, amount in parts if amount]
    release = min(-delta, max(balance, ZERO))
    parts = [("deferred_revenue", release), ("unbilled_receivable", -delta - release)]
    return [_line(role, amount, debit=True) for role, amount in parts if amount]


def journal(book: Book) -> list[dict]:
    """Balanced journal entries, one per movement, in posting order."""
    position: dict[str, Decimal] = defaultdict(lambda: ZERO)
    entries = []
    for m in movements(book):
        lines = []
        if m.receivable:
            lines.append(_line("cash" if m.kind == "refund" else "accounts_receivable", m.receivable, debit=True))
        for product, amount in m.revenue:
            lines.append(_line("revenue" if amount > 0 else "contra_revenue", amount, debit=False, product=product))
        lines += position_lines(position[m.contract], m.position)
        position[m.contract] += m.position
        if lines:
            entries.append({"period": m.period, "date": m.day, "entry": "billing" if m.kind == "invoice" else m.kind,
                            "contract": m.contract, "source": m.source, "lines": lines})
    return entries


def schedule(book: Book) -> list[dict]:
    """Per accounting period (calendar month): recognized, billed and the closing balances."""
    moves = movements(book)
    if not moves:
        return []
    position: dict[str, Decimal] = defaultdict(lambda: ZERO)
    by_period: dict[str, list[Movement]] = defaultdict(list)
    for m in moves:
        by_period[m.period].append(m)
    rows, cumulative = [], ZERO
    for period in periods_between(moves[0].period, moves[-1].period):
        here = by_period.get(period, [])
        for m in here:
            position[m.contract] += m.position
        recognized = sum((m.recognized for m in here), ZERO)
        cumulative += recognized
        rows.append({
            "period": period,
            "recognized": recognized,
            "catch_up": sum((m.catch_up for m in here), ZERO),
            "cumulative_recognized": cumulative,
            "billed": sum((m.receivable for m in here if m.kind == "invoice"), ZERO),
            "credited": -sum((m.receivable for m in here if m.kind in REDUCTIONS), ZERO),
            "deferred_revenue": sum((p for p in position.values() if p > 0), ZERO),
            "unbilled_receivable": -sum((p for p in position.values() if p < 0), ZERO),
        })
    return rows


def positions_at(book: Book, period: str) -> dict[str, Decimal]:
    """Each contract's position (billed minus recognized) at the end of `period`."""
    position: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for m in movements(book):
        if m.period <= period:
            position[m.contract] += m.position
    return dict(position)
