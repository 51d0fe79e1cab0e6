"""The JSON shape of a recognition: money as strings with the currency's digits, dates as ISO text.

Strings, not numbers, so no JSON reader turns 33.33 into a float; shares are ratios (not money) and are
shown to six decimals for reading only, the allocation itself being exact.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from invoiceflow.money import format_amount
from invoiceflow.revrec.engine import Recognition
from invoiceflow.revrec.model import ContractLine

SHARE_DIGITS = Decimal("0.000001")


def share(value: Fraction | None) -> str | None:
    if value is None:
        return None
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(SHARE_DIGITS, rounding=ROUND_HALF_UP))


def plain(value: Any, currency: str) -> Any:
    """Decimals to money strings and dates to ISO text, recursively."""
    if isinstance(value, Decimal):
        return format_amount(value, currency)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v, currency) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, currency) for v in value]
    return value


def _line(line: ContractLine) -> dict[str, Any]:
    out: dict[str, Any] = {"line": line.id, "product": line.product, "obligation": line.kind.value,
                           "recognition": line.pattern.value}
    if line.start is not None:
        out["service_period"] = {"start": line.start, "end": line.end}
    if line.pattern.value == "ratable":
        out["granularity"] = line.granularity.value
    return out


def as_document(result: Recognition) -> dict[str, Any]:
    """Everything `invoiceflow revrec schedule` prints, in a stable order."""
    contract, book = result.contract, result.book
    currency = contract.currency
    allocation = [
        {**_line(book.obligations[a.key].line), "group": a.group, "method": a.method, "price": a.price, "ssp": a.ssp,
         "relative_share": share(a.relative_share), "allocated": a.allocated, "discount_share": a.discount_share}
        for a in result.allocations
    ]
    lines = [
        {"line": ob.line.id, "product": ob.product, "value": ob.schedule.value,
         "rows": [{"start": r.start, "end": r.end, "amount": r.amount, **({"source": r.source} if r.source else {})}
                  for r in ob.schedule.rows],
         "adjustments": [{"date": a.day, "amount": a.amount, "source": a.source} for a in ob.schedule.adjustments]}
        for ob in book.obligations.values()
    ]
    policy = contract.policy
    doc = {
        "contract": contract.id,
        "currency": currency,
        "policy": {
            "catch_up": policy.catch_up, "modification_treatment": policy.modification_treatment.value,
            "discount_target": list(policy.discount_target) if policy.discount_target else None,
            "residual_allowed": policy.residual_allowed, "one_off_recognition": policy.one_off_recognition.value,
            "granularity": policy.granularity.value,
        },
        "allocation": allocation,
        "lines": lines,
        "schedule": result.schedule,
        "events": result.events,
        "journal": result.journal,
        "waterfall": result.waterfall,
    }
    return plain(doc, currency)
