"""What processing a checked inbound event means, per source, and how a refusal is reported.

A processor turns an event (already mapped and valid against its schema) into the business change through
the same services every other path uses: the catalog's `apply_document` for contracts, `ingest_events` for
usage, the ledger's `post_payment` and the lifecycle for payments. It runs inside the caller's transaction
(in a savepoint), so an event either changes everything it means or nothing. It raises `ProcessingError`
(or any product error) when the event cannot be applied as it is; the event is then parked with that
error, to be replayed once the cause (an unknown customer, a missing meter) is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Mapping

from sqlalchemy import Connection

from invoiceflow.errors import InvoiceflowError, Problem, ValidationError


class ProcessingError(InvoiceflowError):
    """The event is valid but cannot be applied now; `field` is its dotted path in the payload."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True, slots=True)
class Context:
    """Who processes an event, for whom, and when."""

    tenant_id: int
    tenant: str
    source: str
    at: datetime

    @property
    def actor(self) -> str:
        return f"integration:{self.source}"


@dataclass(frozen=True, slots=True)
class Processed:
    """What an event did: `result` is stored on the event; payments also name the invoice and amount."""

    result: Mapping[str, Any] = field(default_factory=dict)
    invoice_id: int | None = None
    amount: Decimal | None = None


Processor = Callable[[Connection, Context, Mapping[str, Any]], Processed]


def errors_of(exc: Exception) -> tuple[str, list[dict[str, Any]]]:
    """(message, field errors) of a processing refusal, for the event row and the problem document."""
    if isinstance(exc, ProcessingError):
        return exc.message, ([_error(exc.field, exc.message)] if exc.field else [])
    if isinstance(exc, ValidationError):
        problems: list[Problem] = list(exc.problems)
        message = "; ".join(f"{p.record}: {p.field + ' ' if p.field else ''}{p.message}".strip(": ") for p in problems)
        return message or str(exc), [_error(".".join(x for x in (p.record, p.field) if x), p.message)
                                     for p in problems]
    return str(exc), []


def processor_for(source: str) -> Processor:
    from invoiceflow.webhooks import crm, payments, psa

    return {"crm": crm.process, "psa": psa.process, "payments": payments.process}[source]


def _error(path: str, message: str) -> dict[str, Any]:
    pointer = "/" + path.replace("[", ".").replace("]", "").replace(".", "/") if path else ""
    return {"field": path, "pointer": pointer, "in": "body", "detail": message}
