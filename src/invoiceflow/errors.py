"""Exceptions raised by invoiceflow.

Validation of user data produces *errors with a location*: every one names the record, the field and the
reason, so a finance user can fix the source file without reading a stack trace.

    InvoiceflowError
    ├── ValidationError        bad input: carries a list of Problem(record, field, message)
    │   ├── PricingError       a price definition or a quantity that cannot be rated
    │   ├── ApplyError         a catalog/contract document that cannot be applied (nothing was written)
    │   └── IngestError        usage events that cannot be ingested (nothing was written)
    ├── NotFound               a referenced object does not exist
    └── ConflictError          a request that contradicts stored state (e.g. same id, different payload)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of one record."""

    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = self.record if not self.field else f"{self.record}.{self.field}" if self.record else self.field
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, str]:
        return {"record": self.record, "field": self.field, "message": self.message}


class InvoiceflowError(Exception):
    """Base of every error the product raises on purpose."""


class ValidationError(InvoiceflowError):
    """Input that cannot be accepted; `problems` lists each record/field at fault."""

    def __init__(self, problems: list[Problem] | Problem | str, *, record: str = "", field: str = ""):
        if isinstance(problems, str):
            problems = [Problem(record, field, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self._summary())

    def _summary(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        head = f"{len(self.problems)} problems"
        shown = "\n".join(f"  - {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        return f"{head}:\n{shown}{more}"


class PricingError(ValidationError):
    """A price definition or quantity that cannot be rated."""


class ApplyError(ValidationError):
    """A declarative document that cannot be applied; nothing was written."""


class IngestError(ValidationError):
    """Usage events that cannot be ingested; nothing was written."""


class NotFound(InvoiceflowError):
    """A referenced object does not exist."""


class ConflictError(InvoiceflowError):
    """The request contradicts stored state."""
