"""The tax engine interface: one invoice in, decisions per line and a tax breakdown out.

The built-in engine and adapters over external tax services implement the same `TaxEngine` protocol, so a
bill run does not care which one answers. A quote is requested per invoice (not per line) because external
services price whole documents and commit them under one reference.

Business problems come back as data (`TaxQuote.requirements`); only a failure to answer at all raises
`TaxUnavailable`, which callers treat as "hold the invoice and retry through the effects table".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from invoiceflow.errors import InvoiceflowError, Problem
from invoiceflow.tax.calculate import TaxBreakdown, TaxLine, calculate_tax
from invoiceflow.tax.model import Buyer, Seller, Supply, TaxDecision, TaxRequest, TaxRequirement
from invoiceflow.tax.rules import determine


class TaxUnavailable(InvoiceflowError):
    """The tax engine could not answer now (timeout, outage, rate limit); nothing is wrong with the invoice.

    Raised by adapters over external services, never by the built-in engine. `retry_after_seconds` is the
    service's hint when it gave one.
    """

    def __init__(self, message: str, *, engine: str = "", retry_after_seconds: int | None = None) -> None:
        super().__init__(f"{engine}: {message}" if engine else message)
        self.engine = engine
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One invoice line to tax: its id, its net amount (rounded per line) and what it sells."""

    line_id: str
    net_amount: Decimal
    supply: Supply


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """One invoice to tax. `reference` is the document's idempotency key for engines that commit quotes."""

    seller: Seller
    buyer: Buyer
    supply_date: date
    currency: str
    lines: tuple[QuoteLine, ...]
    reference: str = ""


@dataclass(frozen=True, slots=True)
class TaxQuote:
    """The engine's answer: one decision per request line (same order) and the invoice's breakdown.

    `breakdown` is None when any decision is blocked: a partial breakdown would understate the tax.
    """

    engine: str
    line_ids: tuple[str, ...]
    decisions: tuple[TaxDecision, ...]
    breakdown: TaxBreakdown | None

    @property
    def blocked(self) -> bool:
        return any(d.blocked for d in self.decisions)

    @property
    def requirements(self) -> tuple[tuple[str, TaxRequirement], ...]:
        """Every requirement with the id of the line it came from."""
        return tuple((line_id, r) for line_id, d in zip(self.line_ids, self.decisions) for r in d.requirements)

    def problems(self, *, blocking_only: bool = True) -> list[Problem]:
        """Requirements as `errors.Problem` (record "line <id>"), the shape validation findings use."""
        return [Problem(f"line {line_id}", r.field, r.message)
                for line_id, r in self.requirements if r.blocking or not blocking_only]


@runtime_checkable
class TaxEngine(Protocol):
    """What a bill run needs from a tax engine. Implementations must be safe to call again with the same
    request (same reference) and must raise only `TaxUnavailable` for faults they cannot resolve."""

    name: str

    def quote(self, request: QuoteRequest) -> TaxQuote: ...


class BuiltinTaxEngine:
    """The rule tables in this package: pure, offline, deterministic."""

    name = "builtin"

    def quote(self, request: QuoteRequest) -> TaxQuote:
        decisions = tuple(
            determine(TaxRequest(request.seller, request.buyer, line.supply, request.supply_date))
            for line in request.lines
        )
        breakdown = None
        if not any(d.blocked for d in decisions):
            breakdown = calculate_tax(
                (TaxLine.of(line.net_amount, d, line.line_id) for line, d in zip(request.lines, decisions)),
                request.currency,
            )
        return TaxQuote(self.name, tuple(line.line_id for line in request.lines), decisions, breakdown)
