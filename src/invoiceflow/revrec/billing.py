"""What is billed when: the invoice side of each line, which decides deferred revenue versus unbilled receivable.

Revenue follows the service; billing follows the contract's billing terms. The engine needs both, dated,
to know at each period end whether the customer was billed ahead of the service (deferred revenue) or
served ahead of the bill (unbilled receivable). An invoice is everything billed on one date and is named
by that date, so events can point at it without invoice numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from invoiceflow.rating.periods import Timing, billed_on, billing_periods
from invoiceflow.revrec.allocation import largest_remainder
from invoiceflow.revrec.model import ContractLine, Kind

ZERO = Decimal(0)
#: Billing kinds that reduce what was billed; every other bill is an invoice.
REDUCTIONS = ("credit_note", "refund", "void", "uncollectible")


@dataclass(frozen=True, slots=True)
class Bill:
    """An amount billed (or, negative, taken back) for one line on one invoice."""

    day: date
    line: str
    amount: Decimal
    invoice: date
    kind: str = "invoice"
    source: str = ""


def bills_for(line: ContractLine, currency: str) -> list[Bill]:
    """The invoices of a line as its billing terms describe them (zero amounts are not billed)."""
    billing = line.billing
    if billing.invoices is not None:
        dated = list(billing.invoices)
    elif line.kind is Kind.usage:
        dated = _usage_bills(line)
    elif line.start is None or line.end is None:  # a point-in-time line without a service period
        dated = [(line.delivered_on, line.price)]
    elif line.kind is Kind.milestone and billing.timing is Timing.arrears:
        dated = [(line.completed_on, line.price)] if line.completed_on else []
    elif billing.interval == "once":
        dated = [(line.start if billing.timing is Timing.advance else line.end, line.price)]
    else:
        periods = list(billing_periods(start=line.start, end=line.end, interval=billing.interval,
                                       anchor="anniversary", until=line.end))
        amounts = largest_remainder(line.price, [Fraction(p.days, p.full_days) for p in periods], currency)
        dated = [(billed_on(p, billing.timing), a) for p, a in zip(periods, amounts)]
    return [Bill(day, line.id, amount, day) for day, amount in dated if amount != 0]


def _usage_bills(line: ContractLine) -> list[tuple[date, Decimal]]:
    """Usage is billed in arrears: each billing period's consumption at the period's end."""
    if line.billing.interval == "once":
        return [(line.end, sum((a for _, a in line.usage), ZERO))]
    periods = billing_periods(start=line.start, end=line.end, interval=line.billing.interval,
                              anchor="anniversary", until=line.end)
    return [(p.end, sum((a for d, a in line.usage if p.start <= d < p.end), ZERO)) for p in periods]


def first_invoice(bills: list[Bill]) -> date | None:
    invoices = [b.day for b in bills if b.kind == "invoice"]
    return min(invoices) if invoices else None
