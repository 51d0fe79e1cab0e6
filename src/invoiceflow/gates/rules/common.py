"""The one helper every rule shares: a finding factory that stamps the gate's name and configured severity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from invoiceflow.gates.model import BLOCK, Finding

CHARGE_TYPES = frozenset({"fee_advance", "fee_arrears", "usage", "commitment"})


@dataclass(frozen=True, slots=True)
class Emit:
    """Builds findings for one gate at the severity the policy gives it."""

    gate: str
    severity: str = BLOCK

    @classmethod
    def of(cls, gate: str, settings: Mapping[str, Any]) -> "Emit":
        return cls(gate, settings.get("severity", BLOCK))

    def __call__(self, code: str, message: str, *, record: str, field: str, fix: str, root_cause: str,
                 case_type: str) -> Finding:
        return Finding(self.gate, code, self.severity, message, record, field, fix, root_cause, case_type)


def span(start: date | None, end: date | None) -> str:
    """A half-open service period as people read it: 2026-10-01 to 2026-10-31 (inclusive)."""
    if start is None:
        return "no service period"
    if end is None:
        return f"from {start}"
    return f"{start} to {end - timedelta(days=1)}"


def line_record(invoice_record: str, position: int) -> str:
    return f"{invoice_record} line {position}"
