"""The contract as the revenue engine sees it: typed, validated, immutable.

`contract_input` builds these from JSON after every check has passed, so the engine never re-validates
shapes: it can trust that dates are ordered, money has the currency's digits and references resolve.
Service periods are half-open ``[start, end)`` like billing periods (docs/periods.md): `end` is the first
day no longer served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

from invoiceflow.rating.periods import Timing


class Kind(str, Enum):
    """What a contract line sells; it decides the default recognition pattern."""

    subscription = "subscription"
    usage = "usage"
    one_off = "one_off"
    milestone = "milestone"


class Pattern(str, Enum):
    """How an obligation is satisfied: over time (ratable, as consumed) or at a point in time."""

    ratable = "ratable"
    point_in_time = "point_in_time"
    as_consumed = "as_consumed"
    at_completion = "at_completion"


class Granularity(str, Enum):
    """How a ratable amount is cut into recognition periods (see docs/revenue-recognition.md)."""

    daily = "daily"
    monthly_even = "monthly_even"
    monthly_prorated = "monthly_prorated"


class Treatment(str, Enum):
    """ASC 606-10-25-12/13 ways to account for a contract modification."""

    separate_contract = "separate_contract"
    prospective = "prospective"
    cumulative_catch_up = "cumulative_catch_up"


#: Patterns each kind of line may use; the first is the default (one-off fees default by policy).
PATTERNS: dict[Kind, tuple[Pattern, ...]] = {
    Kind.subscription: (Pattern.ratable,),
    Kind.usage: (Pattern.as_consumed,),
    Kind.one_off: (Pattern.point_in_time, Pattern.ratable),
    Kind.milestone: (Pattern.at_completion,),
}

#: Billing intervals a line may be invoiced on; "once" bills the whole price in one invoice.
INTERVALS = ("once", "monthly", "quarterly", "semiannual", "annual")


@dataclass(frozen=True, slots=True)
class SSP:
    """A standalone selling price: a point, or an observable range {low, high}."""

    low: Decimal
    high: Decimal

    @property
    def is_range(self) -> bool:
        return self.low != self.high

    def effective(self, price: Decimal) -> Decimal:
        """The SSP used for allocation: the point, or the line's price clamped into the range."""
        return min(max(price, self.low), self.high)


@dataclass(frozen=True, slots=True)
class Billing:
    """When a line is invoiced: `invoices` (explicit dates and amounts) or derived from timing and interval."""

    timing: Timing
    interval: str = "once"
    invoices: tuple[tuple[date, Decimal], ...] | None = None


@dataclass(frozen=True, slots=True)
class ContractLine:
    """One line of the contract and the performance obligation it creates (one obligation per line)."""

    id: str
    product: str
    kind: Kind
    pattern: Pattern
    price: Decimal  # what the customer is billed for the line (for usage: the sum of the usage records)
    ssp: SSP | None
    billing: Billing
    start: date | None = None
    end: date | None = None
    granularity: Granularity = Granularity.monthly_prorated
    delivered_on: date | None = None
    completed_on: date | None = None
    residual: bool = False
    usage: tuple[tuple[date, Decimal], ...] = ()
    record: str = ""  # where the line was written in the input, for error messages


@dataclass(frozen=True, slots=True)
class Policy:
    """Contract-wide accounting choices, echoed in the output so every result says how it was reached."""

    catch_up: bool = True
    modification_treatment: Treatment = Treatment.prospective
    discount_target: tuple[str, ...] | None = None
    residual_allowed: bool = False
    one_off_recognition: Pattern = Pattern.point_in_time
    granularity: Granularity = Granularity.monthly_prorated


@dataclass(frozen=True, slots=True)
class Reduction:
    """A credit note, refund, void or uncollectible write-off against one invoice (named by its date)."""

    index: int
    type: str
    day: date
    invoice: date
    amount: Decimal | None = None
    lines: tuple[tuple[str, Decimal], ...] | None = None


@dataclass(frozen=True, slots=True)
class PriceChange:
    """A mid-period upgrade or downgrade of one ratable line to a new price for its whole service period."""

    index: int
    type: str
    day: date
    line: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Modification:
    """New lines added to the contract on `day`, accounted for by `treatment`."""

    index: int
    day: date
    add_lines: tuple[ContractLine, ...]
    treatment: Treatment
    type: str = "modification"


Event = Reduction | PriceChange | Modification


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    currency: str
    lines: tuple[ContractLine, ...]
    policy: Policy = field(default_factory=Policy)
    events: tuple[Event, ...] = ()
    closed_through: str | None = None  # "YYYY-MM": the last closed accounting period
    as_of: str | None = None  # "YYYY-MM": the period the waterfall is taken at


def event_label(event: Event) -> str:
    return f"events[{event.index}]"
