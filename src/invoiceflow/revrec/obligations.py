"""Performance obligations derived from contract lines, and the book that tracks them through events.

One line is one obligation. Its *group* is the set of obligations a price is allocated across: the
contract's lines together; each usage line alone (variable consideration that relates to that usage only,
ASC 606-10-32-40); each proration line alone (priced by the change that created it); the lines of a
modification treated as a separate contract together. Its *contract* is the unit whose billed and
recognized amounts net into one deferred revenue or unbilled receivable balance (ASC 606-10-45-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from invoiceflow.errors import Problem
from invoiceflow.rating.periods import Timing
from invoiceflow.revrec.allocation import Allocation, Item, allocate
from invoiceflow.revrec.billing import Bill, bills_for, first_invoice
from invoiceflow.revrec.model import Contract, ContractLine, Kind, Pattern, Policy
from invoiceflow.revrec.schedule import LineSchedule, Row, caught_up, point, ratable

MAIN = "contract"


@dataclass(slots=True)
class Obligation:
    line: ContractLine
    group: str
    contract: str
    ssp: Decimal | None  # the SSP used at allocation, reused when a modification reallocates
    schedule: LineSchedule
    price: Decimal  # the current price, which upgrades and downgrades change

    @property
    def product(self) -> str:
        return self.line.product


@dataclass(slots=True)
class Book:
    """Everything known about a contract at one point of its event history."""

    currency: str
    policy: Policy
    obligations: dict[str, Obligation] = field(default_factory=dict)
    bills: list[Bill] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def in_group(self, group: str) -> list[Obligation]:
        return [ob for ob in self.obligations.values() if ob.group == group]


def rows_for(line: ContractLine, value: Decimal, bills: list[Bill], currency: str, catch_up: bool) -> list[Row]:
    """The recognition rows of an obligation worth `value`, before any event."""
    if line.pattern is Pattern.as_consumed:
        days = sorted({d for d, _ in line.usage})
        if not days:
            return []
        per_day = [sum((a for d, a in line.usage if d == day), Decimal(0)) for day in days]
        # Allocated usage value equals the usage amounts, so the records are the rows.
        return [row for day, amount in zip(days, per_day) for row in point(amount, day)]
    if line.pattern is Pattern.point_in_time:
        return point(value, line.delivered_on or line.start)
    if line.pattern is Pattern.at_completion:
        return point(value, line.completed_on)
    invoiced = first_invoice(bills)
    late = line.billing.timing is Timing.advance and invoiced is not None and invoiced > line.start
    if late and not catch_up:
        # Without catch-up the value is spread over what is left of the service from the first invoice on.
        if invoiced >= line.end:
            return point(value, invoiced)
        return ratable(value, invoiced, line.end, line.granularity, currency)
    rows = ratable(value, line.start, line.end, line.granularity, currency)
    return caught_up(rows, invoiced) if late else rows


def add_obligations(
    book: Book,
    lines: Sequence[ContractLine],
    allocations: Sequence[Allocation],
    group: str,
    contract: str,
    own_method: str = "variable_consideration",
) -> None:
    """Open obligations for `lines` at their allocated values, with their schedules and bills.

    Lines without an allocation (usage, proration) form a group of their own at their own price.
    """
    by_key = {a.key: a for a in allocations}
    for line in lines:
        own = Allocation(line.id, line.price, None, None, line.price, None, own_method)
        allocation = by_key.get(line.id, own)
        line_group = group if line.id in by_key else line.id
        bills = bills_for(line, book.currency)
        rows = rows_for(line, allocation.allocated, bills, book.currency, book.policy.catch_up)
        book.obligations[line.id] = Obligation(
            line, line_group, contract, allocation.ssp, LineSchedule(tuple(rows)), line.price
        )
        book.bills.extend(bills)
        book.allocations.append(replace(allocation, group=line_group))


def allocation_items(lines: Sequence[ContractLine]) -> list[Item]:
    """Usage lines are left out: their price is variable and belongs to the usage alone."""
    return [
        Item(line.id, line.price, line.ssp, line.residual, line.record) for line in lines if line.kind is not Kind.usage
    ]


def open_book(contract: Contract) -> Book:
    """The contract at inception: allocated, scheduled and billed, before any event."""
    book = Book(contract.currency, contract.policy)
    items = allocation_items(contract.lines)
    allocations = (
        allocate(
            items,
            contract.currency,
            discount_target=contract.policy.discount_target,
            residual_allowed=contract.policy.residual_allowed,
        )
        if items
        else []
    )
    add_obligations(book, contract.lines, allocations, MAIN, MAIN)
    return book
