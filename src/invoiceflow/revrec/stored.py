"""Revenue schedules for stored invoice and credit-note lines (pure): what each month recognizes, and what
the ledger needs at each month end to show it.

Stored billing data already says what was sold and when: each line names its product, amount and service
period, and the ledger says when its document was issued (and voided). So one line is one performance
obligation, scheduled with the contract engine's own functions: `schedule.ratable` for fees and usage over
their service period, `schedule.point` for lines without one, `schedule.change` for a void (contra-revenue
for what was recognized, the rest cleared, as revrec/events.py does for a void). A credit note's line is an
obligation of its own with a negative value over the days it credits, which mirrors exactly the days the
customer no longer gets. Allocation: each line its own billed amount, unless SSPs are known for every
product of an invoice, in which case `allocation.allocate` splits the invoice by relative SSP.

Closed months are facts. A schedule keeps what its closed months booked and carries any difference into
the first open month (the catch-up), so nothing dated in a closed month is ever recomputed. The ledger's
issue entry already posts revenue for lines whose service has started and deferred revenue for the rest
(ledger/posting_rules.py); `needed` therefore compares *cumulative targets* with what the documents and
earlier recognition entries posted, so revenue is never counted twice and each line's revenue adds up to
its value exactly. See docs/revenue-recognition.md, "Stored schedules".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from invoiceflow.revrec.allocation import Item, allocate
from invoiceflow.revrec.journal import period_of, periods_between
from invoiceflow.revrec.model import SSP, Granularity
from invoiceflow.revrec.schedule import LineSchedule, change, next_month, point, ratable

ZERO = Decimal(0)
SUBSCRIPTION, USAGE, POINT_IN_TIME = "subscription", "usage", "point_in_time"
USAGE_TYPES = frozenset({"usage", "commitment"})
NOT_REVENUE = frozenset({"prepaid_credit"})  # a prepayment used up: the ledger takes it off deferred revenue
GRANULARITY = Granularity.monthly_prorated
POLICY = {"allocation": "billed_amount", "granularity": GRANULARITY.value, "usage": "over_service_period",
          "closed_months": "catch_up_in_first_open_month", "void": "contra_revenue_then_clear_deferred"}


@dataclass(frozen=True, slots=True)
class StoredLine:
    """An issued document's line as recognition needs it; dates are the ledger's (issue and void entries)."""

    line_id: int
    invoice_id: int
    document_type: str  # invoice | credit_note
    line_type: str
    product: str | None
    amount: Decimal  # as on the document: a credit note's lines are positive
    currency: str
    service_start: date | None
    service_end: date | None
    issued_on: date
    void_on: date | None = None
    label: str = ""  # "invoice INV-2026-000001 line 1 (platform)", for messages

    @property
    def value(self) -> Decimal:
        """Signed: what the line adds to revenue over its life (a credit note takes it off)."""
        return -self.amount if self.document_type == "credit_note" else self.amount


@dataclass(frozen=True, slots=True)
class Booking:
    """What is (or must be) booked for one line: revenue and deferred revenue count credits positive, unbilled
    receivable counts debits, so a balanced booking has revenue + deferred == unbilled."""

    revenue: Decimal = ZERO
    deferred: Decimal = ZERO
    unbilled: Decimal = ZERO

    def __add__(self, other: "Booking") -> "Booking":
        return Booking(self.revenue + other.revenue, self.deferred + other.deferred, self.unbilled + other.unbilled)

    def __sub__(self, other: "Booking") -> "Booking":
        return Booking(self.revenue - other.revenue, self.deferred - other.deferred, self.unbilled - other.unbilled)

    @property
    def is_zero(self) -> bool:
        return not (self.revenue or self.deferred or self.unbilled)

    @property
    def billed(self) -> Decimal:
        """For a document's own entry: what it billed (revenue plus deferred revenue it credited)."""
        return self.revenue + self.deferred


def carries_revenue(line: StoredLine) -> bool:
    return line.line_type not in NOT_REVENUE and line.amount != 0


def obligation_of(line: StoredLine) -> str:
    """Fees are subscriptions, usage and commitments usage; a line without a service period is a point."""
    if line.service_start is None or line.service_end is None or line.service_end <= line.service_start:
        return POINT_IN_TIME
    return USAGE if line.line_type in USAGE_TYPES else SUBSCRIPTION


def allocated_values(lines: Sequence[StoredLine], ssp: Mapping[str, SSP] | None = None) -> dict[int, Decimal]:
    """Each line's allocated value, by line id: its own billed amount, or by relative SSP within an invoice.

    Relative SSP applies to an invoice whose every product line has an SSP in `ssp`; lines without a
    product (discounts) then have an SSP of zero, so their price reduces what the others are allocated.
    """
    values = {line.line_id: line.value for line in lines}
    if not ssp:
        return values
    by_invoice: dict[int, list[StoredLine]] = defaultdict(list)
    for line in lines:
        if line.document_type == "invoice":
            by_invoice[line.invoice_id].append(line)
    for members in by_invoice.values():
        products = [line.product for line in members if line.product is not None]
        if not products or any(product not in ssp for product in products):
            continue
        items = [Item(str(line.line_id), line.value, ssp[line.product] if line.product else SSP(ZERO, ZERO),
                      record=line.label) for line in members]
        for allocation in allocate(items, members[0].currency):
            values[int(allocation.key)] = allocation.allocated
    return values


def at_issue(line: StoredLine) -> Booking:
    """What the ledger's issue entry posted for the line: revenue once its service has started, else
    deferred revenue (the same rule as ledger/posting_rules.py, applied to the billed amount)."""
    billed = line.value
    started = line.service_start is None or line.service_start <= line.issued_on
    return Booking(revenue=billed) if started else Booking(deferred=billed)


def document_moves(line: StoredLine) -> dict[str, Booking]:
    """What the line's document entries posted, by month: the issue entry, and its exact reversal on void."""
    issued = at_issue(line)
    moves: dict[str, Booking] = defaultdict(Booking)
    moves[period_of(line.issued_on)] += issued
    if line.void_on is not None:
        moves[period_of(line.void_on)] -= issued
    return dict(moves)


def ideal_months(line: StoredLine, value: Decimal) -> dict[str, Decimal]:
    """Revenue per month as the service earns it, before closed months are considered (zeros left out)."""
    if obligation_of(line) == POINT_IN_TIME:
        rows = point(value, line.issued_on)
    else:
        rows = ratable(value, line.service_start, line.service_end, GRANULARITY, line.currency)
    schedule = LineSchedule(tuple(rows))
    if line.void_on is not None:
        schedule, _ = change(schedule, line.void_on, -schedule.value, line.currency, catch_up=True, source="void")
    months: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in schedule.rows:
        months[period_of(row.start)] += row.amount
    for adjustment in schedule.adjustments:
        months[period_of(adjustment.day)] += adjustment.amount
    return {month: amount for month, amount in sorted(months.items()) if amount}


def next_period(period: str) -> str:
    return period_of(next_month(date(int(period[:4]), int(period[5:]), 1)))


def plan(ideal: Mapping[str, Decimal], closed_through: str | None, booked: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Revenue per month with closed months as `booked` and their difference caught up in the first open month.

    Months up to `closed_through` are closed: they keep what they booked, and whatever the ideal schedule
    says differently for them (a credit note for a closed month, say) lands in the first open month.
    """
    if closed_through is None:
        return dict(ideal)
    first_open = next_period(closed_through)
    out = {m: a for m, a in booked.items() if m <= closed_through and a}
    carry = sum((a for m, a in ideal.items() if m <= closed_through), ZERO) - sum(out.values(), ZERO)
    out.update({m: a for m, a in ideal.items() if m > closed_through})
    if carry:
        out[first_open] = out.get(first_open, ZERO) + carry
    return {m: a for m, a in sorted(out.items()) if a}


def _through(by_month: Mapping[str, Booking], month: str) -> Booking:
    return sum((m for p, m in by_month.items() if p <= month), Booking())


def targets(months: Mapping[str, Decimal], billed: Mapping[str, Decimal], month: str, *,
            credit: bool = False) -> Booking:
    """The line's balances at the end of `month`: revenue recognized so far, and billed minus recognized as
    deferred revenue (billed ahead of the service) or unbilled receivable (served ahead of the bill).

    A `credit` line (a credit note's, negative) keeps its whole position in deferred revenue, signed: what it
    credits ahead of the days it takes back reduces the deferred revenue of the line it corrects, and what it
    takes back before it is issued is owed to the customer. So a cancelled contract nets to nothing instead of
    showing the same amount as both an asset and a liability.
    """
    revenue = sum((a for m, a in months.items() if m <= month), ZERO)
    position = sum((b for m, b in billed.items() if m <= month), ZERO) - revenue
    if credit:
        return Booking(revenue, position, ZERO)
    return Booking(revenue, max(position, ZERO), max(-position, ZERO))


def needed(months: Mapping[str, Decimal], documents: Mapping[str, Booking], posted: Mapping[str, Booking],
           month: str, *, credit: bool = False) -> Booking:
    """What a recognition entry at the end of `month` must post so the line's books match its targets.

    Targets are cumulative, so a month that needs nothing posts nothing, and any earlier difference (a
    catch-up) is taken in the first open month run. The result always balances: revenue plus deferred
    revenue credited equals unbilled receivable debited.
    """
    billed = {m: move.billed for m, move in documents.items()}
    return targets(months, billed, month, credit=credit) - _through(documents, month) - _through(posted, month)


def journal_lines(move: Booking) -> list[tuple[str, Decimal]]:
    """(role, signed amount: debit positive) for a recognition entry; zero amounts are left out."""
    lines = [("revenue", -move.revenue), ("deferred_revenue", -move.deferred), ("unbilled", move.unbilled)]
    return [(role, amount) for role, amount in lines if amount]


def balances(months: Mapping[str, Decimal], billed: Mapping[str, Decimal], periods: Iterable[str], *,
             credit: bool = False) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Per period: (revenue of the month, deferred revenue at its end, unbilled receivable at its end)."""
    out = {}
    for period in periods:
        balance = targets(months, billed, period, credit=credit)
        out[period] = (months.get(period, ZERO), balance.deferred, balance.unbilled)
    return out


def months_from(first: str, count: int) -> list[str]:
    """`count` consecutive "YYYY-MM" periods starting with `first`."""
    out = [first]
    while len(out) < count:
        out.append(next_period(out[-1]))
    return out


def open_months(first: str, through: str, closed_through: str | None) -> list[str]:
    """The months from `first` to `through` that are still open."""
    start = max(first, next_period(closed_through)) if closed_through else first
    return periods_between(start, through) if start <= through else []
