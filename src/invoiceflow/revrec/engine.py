"""`recognize`: a validated contract in, its allocation, schedules, balances, journal lines and waterfall out.

A pure function of the contract: no clock, no database. The waterfall is taken from the book as it stood at
its period end (events dated later are left out), because deferred revenue at a date can only be explained
by the schedule known at that date.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from invoiceflow.errors import ValidationError
from invoiceflow.revrec.allocation import Allocation
from invoiceflow.revrec.events import apply_events
from invoiceflow.revrec.journal import journal, period_end, schedule
from invoiceflow.revrec.model import Contract
from invoiceflow.revrec.obligations import Book, open_book
from invoiceflow.revrec.waterfall import waterfall


@dataclass(frozen=True)
class Recognition:
    """Everything the engine worked out for one contract (money as Decimal, dates as date)."""

    contract: Contract
    book: Book
    schedule: list[dict]
    journal: list[dict]
    waterfall: dict

    @property
    def allocations(self) -> list[Allocation]:
        return self.book.allocations

    @property
    def events(self) -> list[dict]:
        return self.book.events


def _booked(contract: Contract) -> Book:
    book = apply_events(open_book(contract), contract.events)
    if book.problems:
        raise ValidationError(book.problems)
    return book


def recognize(contract: Contract) -> Recognition:
    """Allocate, schedule and apply every event; raise ValidationError listing each event that cannot apply."""
    book = _booked(contract)
    periods = schedule(book)
    as_of = contract.as_of or contract.closed_through or (periods[0]["period"] if periods else None)
    fall = {"as_of": None, "deferred_revenue": Decimal(0), "rows": []}
    if as_of is not None:
        known = tuple(e for e in contract.events if e.day <= period_end(as_of))
        then = book if len(known) == len(contract.events) else _booked(replace(contract, events=known))
        fall = waterfall(then, as_of)
    return Recognition(contract, book, periods, journal(book), fall)
