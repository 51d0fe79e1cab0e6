"""The JSON contract of an external tax service: a QuoteRequest out, a TaxQuote back, checked field by field.

Why so strict: a tax answer that is half understood would be issued on an invoice. Every amount and rate is
a decimal string (never a JSON number: floats lose cents), every field the contract names must be present
with its type, the answer must cover exactly the lines that were sent, and its breakdown must add up, carry
no more digits than the currency has, and tax exactly the net amounts that were sent. Anything else is a
`ValidationError` listing every fault as `Problem(record, "lines[2].rate", why)`. See docs/tax.md.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import round_amount
from invoiceflow.tax.calculate import TaxBreakdown, TaxSubtotal
from invoiceflow.tax.engine import QuoteRequest, TaxQuote
from invoiceflow.tax.model import CATEGORIES, TaxDecision, TaxRequirement

ZERO = Decimal(0)


def request_body(request: QuoteRequest) -> dict[str, Any]:
    """The request as the contract's JSON object (amounts as decimal strings)."""
    seller, buyer = request.seller, request.buyer
    return {
        "reference": request.reference, "currency": request.currency,
        "supply_date": request.supply_date.isoformat(),
        "seller": {"country": seller.country, "tax_id": seller.tax_id, "legal_entity": seller.legal_entity},
        "buyer": {"country": buyer.country, "region": buyer.region, "tax_id": buyer.tax_id,
                  "is_business": buyer.is_business, "exempt": buyer.exempt, "certificate": buyer.certificate},
        "lines": [{"line_id": line.line_id, "net_amount": format(line.net_amount, "f"),
                   "tax_code": line.supply.tax_code, "kind": line.supply.kind,
                   "exemption_code": line.supply.exemption_code, "exemption_reason": line.supply.exemption_reason}
                  for line in request.lines],
    }


class _Reader:
    """Reads fields of the answer, collecting a Problem for each one that is missing or of the wrong type."""

    def __init__(self, record: str) -> None:
        self.record, self.problems = record, []

    def fail(self, where: str, why: str) -> None:
        self.problems.append(Problem(self.record, where, why))

    def get(self, obj: dict, name: str, where: str, kind: type | tuple, *, optional: bool = False) -> Any:
        if name not in obj:
            if not optional:
                self.fail(f"{where}{name}", "is missing")
            return None
        value = obj[name]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(f"{where}{name}", f"must be {names}, got {type(value).__name__} {value!r}")
            return None
        return value

    def decimal(self, obj: dict, name: str, where: str, *, optional: bool = False) -> Decimal | None:
        text = self.get(obj, name, where, (str, Decimal, int), optional=optional)
        if text is None:
            return None
        if not isinstance(text, str):
            self.fail(f"{where}{name}", f"must be a decimal string such as \"{text}\", not the JSON number {text} "
                                        "(a JSON number may pass through a float and lose digits)")
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            self.fail(f"{where}{name}", f"{text!r} is not a decimal")
            return None
        return value


def parse_quote(request: QuoteRequest, data: Any, *, engine: str, record: str) -> TaxQuote:
    """The service's answer as a TaxQuote, or a ValidationError naming every field at fault."""
    read = _Reader(record)
    if not isinstance(data, dict):
        raise ValidationError(f"the answer must be a JSON object, got {type(data).__name__}", record=record)
    by_id: dict[str, TaxDecision] = {}
    answered: set[str] = set()
    for n, line in enumerate(read.get(data, "lines", "", list) or [], start=1):
        where = f"lines[{n}]."
        if not isinstance(line, dict):
            read.fail(f"lines[{n}]", "must be an object")
            continue
        line_id = read.get(line, "line_id", where, str)
        decision = _decision(read, line, where)
        if line_id in answered:
            read.fail(f"{where}line_id", f"line {line_id!r} is answered twice")
        if line_id is not None:
            answered.add(line_id)
            if decision is not None:
                by_id[line_id] = decision
    sent = [line.line_id for line in request.lines]
    for line_id in sent:
        if line_id not in answered and "lines" in data:
            read.fail("lines", f"line {line_id!r} was sent but is not answered")
    for line_id in sorted(answered - set(sent)):
        read.fail("lines", f"line {line_id!r} is answered but was not sent")
    if "breakdown" not in data:
        read.fail("breakdown", "is missing (it is null when a line is blocked)")
    raw = data.get("breakdown")
    blocked = [line_id for line_id, d in by_id.items() if d.blocked]
    breakdown = None
    if raw is not None and blocked:
        read.fail("breakdown", f"must be null while lines {', '.join(blocked)} are blocked")
    elif raw is None and "breakdown" in data and not blocked and by_id:
        read.fail("breakdown", "is null although no line is blocked")
    elif raw is not None:
        breakdown = _breakdown(read, raw, request)
    if read.problems:
        raise ValidationError(read.problems)
    return TaxQuote(engine, tuple(sent), tuple(by_id[line_id] for line_id in sent), breakdown)


def _decision(read: _Reader, line: dict, where: str) -> TaxDecision | None:
    start = len(read.problems)
    category = read.get(line, "category", where, str, optional=True)
    if category is not None and category not in CATEGORIES:
        read.fail(f"{where}category", f"{category!r} is not one of {', '.join(CATEGORIES)}")
    rate = read.decimal(line, "rate", where, optional=True)
    if rate is not None and not ZERO <= rate < 100:
        read.fail(f"{where}rate", f"{rate} is not a percentage in [0, 100)")
    requirements = []
    for n, item in enumerate(read.get(line, "requirements", where, list) or [], start=1):
        at = f"{where}requirements[{n}]."
        if not isinstance(item, dict):
            read.fail(at[:-1], "must be an object")
            continue
        fields = [read.get(item, name, at, str) for name in ("code", "field", "message")]
        blocking = read.get(item, "blocking", at, bool)
        if None not in fields and blocking is not None:
            requirements.append(TaxRequirement(*fields, blocking=blocking))
    decision = TaxDecision(
        category=category, rate=rate, jurisdiction=read.get(line, "jurisdiction", where, str),
        rule=read.get(line, "rule", where, str),
        exemption_code=read.get(line, "exemption_code", where, str, optional=True),
        exemption_reason=read.get(line, "exemption_reason", where, str, optional=True),
        note=read.get(line, "note", where, str, optional=True), requirements=tuple(requirements))
    if (category is None or rate is None) and not decision.blocked and len(read.problems) == start:
        read.fail(f"{where}category", "category and rate are null, but no blocking requirement says why")
    return decision if len(read.problems) == start else None


def _breakdown(read: _Reader, raw: Any, request: QuoteRequest) -> TaxBreakdown | None:
    if not isinstance(raw, dict):
        read.fail("breakdown", f"must be an object or null, got {type(raw).__name__}")
        return None
    start, currency = len(read.problems), request.currency
    subtotals = []
    for n, item in enumerate(read.get(raw, "subtotals", "breakdown.", list) or [], start=1):
        at = f"breakdown.subtotals[{n}]."
        if not isinstance(item, dict):
            read.fail(at[:-1], "must be an object")
            continue
        values = {name: read.decimal(item, name, at) for name in ("rate", "taxable_amount", "tax_amount",
                                                                   "tax_precise")}
        category = read.get(item, "category", at, str)
        count = read.get(item, "line_count", at, int)
        for name in ("taxable_amount", "tax_amount"):
            if values[name] is not None and values[name] != round_amount(values[name], currency):
                read.fail(f"{at}{name}", f"{values[name]} has more digits than {currency} allows")
        if None in values.values() or category is None or count is None:
            continue
        subtotals.append(TaxSubtotal(category, values["rate"], values["taxable_amount"], values["tax_amount"],
                                     values["tax_precise"], read.get(item, "exemption_code", at, str, optional=True),
                                     read.get(item, "exemption_reason", at, str, optional=True), count))
    taxable, tax = (read.decimal(raw, name, "breakdown.") for name in ("taxable_total", "tax_total"))
    if len(read.problems) > start or taxable is None or tax is None:
        return None
    for name, total, parts in (("taxable_total", taxable, [s.taxable_amount for s in subtotals]),
                               ("tax_total", tax, [s.tax_amount for s in subtotals])):
        if total != sum(parts, ZERO):
            read.fail(f"breakdown.{name}", f"{total} differs from its subtotals, which add up to {sum(parts, ZERO)}")
    sent = sum((line.net_amount for line in request.lines), ZERO)
    if taxable != sent:
        read.fail("breakdown.taxable_total", f"{taxable} differs from the net amounts sent, which add up to {sent}")
    return TaxBreakdown(currency, tuple(subtotals), taxable, tax)
