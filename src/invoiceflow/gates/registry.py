"""The gates by name, in the order they run, with the settings each accepts and their defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Mapping

from invoiceflow.gates.model import Finding, InvoiceFacts
from invoiceflow.gates.rules import (
    arithmetic,
    contract_ceiling,
    duplicate_risk,
    entitlement,
    master_data,
    posting_readiness,
    pricing,
    purchase_order,
    tax_data,
    usage_completeness,
)

Rule = Callable[[InvoiceFacts, Mapping[str, Any]], list[Finding]]

GATES: dict[str, Rule] = {
    "arithmetic": arithmetic.check,
    "pricing": pricing.check,
    "entitlement": entitlement.check,
    "usage_completeness": usage_completeness.check,
    "master_data": master_data.check,
    "tax_data": tax_data.check,
    "purchase_order": purchase_order.check,
    "contract_ceiling": contract_ceiling.check,
    "posting_readiness": posting_readiness.check,
    "duplicate_risk": duplicate_risk.check,
}

# The case types each gate's findings open: a policy must route every one of an enabled gate.
CASES_OF: dict[str, tuple[str, ...]] = {
    "arithmetic": ("arithmetic",),
    "pricing": ("pricing_discrepancy",),
    "entitlement": ("entitlement",),
    "usage_completeness": ("usage_mismatch", "anomaly"),
    "master_data": ("master_data",),
    "tax_data": ("tax_inconsistency",),
    "purchase_order": ("purchase_order",),
    "contract_ceiling": ("contract_ceiling",),
    "posting_readiness": ("posting_readiness",),
    "duplicate_risk": ("duplicate_risk",),
}


def _positive_decimal(minimum: Decimal) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            return f"{value!r} is not a number"
        return None if number > minimum else f"must be greater than {minimum} (got {value})"
    return check


def _count(minimum: int, maximum: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if type(value) is not int or not minimum <= value <= maximum:
            return f"must be a whole number from {minimum} to {maximum} (got {value!r})"
        return None
    return check


# Settings a gate accepts besides `severity`, each with a check that explains an impossible value.
SETTINGS: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "usage_completeness": {"anomaly_factor": _positive_decimal(Decimal(1)), "trailing_periods": _count(1, 24),
                           "min_trailing": _count(1, 24), "anomaly_min_events": _count(0, 10_000_000)},
}


def run_gates(invoice: InvoiceFacts, gates: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    """Every enabled gate's findings for one invoice; `gates` maps gate name to its policy settings."""
    found: list[Finding] = []
    for name, rule in GATES.items():
        settings = gates.get(name, {"severity": "block"})
        if settings.get("severity", "block") == "off":
            continue
        found.extend(rule(invoice, settings))
    return found
