"""Reading a contract document: the published JSON Schema first (shape), then meaning, then typed objects.

Every problem is reported with its record (`lines[1] (support)`, `events[0] (credit_note)`) and field, all
at once, so one run shows the finance user every fix. A document with any problem is refused whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import is_currency, round_amount, to_decimal
from invoiceflow.rating.periods import Timing
from invoiceflow.revrec.model import (
    PATTERNS, SSP, Billing, Contract, ContractLine, Event, Granularity, Kind, Modification, Pattern, Policy,
    PriceChange, Reduction, Treatment,
)

SCHEMA_FILE = "revrec-contract.schema.json"


def schema() -> dict[str, Any]:
    return json.loads(resources.files("invoiceflow.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


_VALIDATOR = Draft202012Validator(schema())


def load_contract(path: str | Path) -> Contract:
    """Read and check a contract file; raise ValidationError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValidationError(f"cannot read {path}: {error.strerror or error}", record=str(path)) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(f"not valid JSON: {error}", record=str(path)) from None
    return parse_contract(doc)


def parse_contract(doc: Any) -> Contract:
    """Check `doc` against the schema, then its meaning; return the typed contract."""
    problems = schema_problems(doc)
    # A float where money belongs is the one shape problem the meaning checks handle themselves (they refuse
    # it by name), so the rest of the document is still checked and every problem is reported in one run.
    if any(not _is_float_money(p) for p in problems):
        raise ValidationError(problems)
    reader = _Reader(doc)
    contract = reader.contract()
    if reader.problems:
        raise ValidationError(reader.problems)
    return contract


def _record(doc: Any, path: list) -> tuple[str, list]:
    """Split a schema error path into the record (line or event) and the rest (the field)."""
    record, rest = "contract", list(path)
    while len(rest) >= 2 and rest[0] in ("lines", "events", "add_lines") and isinstance(rest[1], int):
        item = doc[rest[0]][rest[1]] if isinstance(doc, dict) else None
        name = item.get("id") or item.get("type") if isinstance(item, dict) else None
        base = f"{rest[0]}[{rest[1]}]"
        record = base if record == "contract" else f"{record.split(' (')[0]}.{base}"
        record += f" ({name})" if isinstance(name, str) else ""
        doc, rest = item, rest[2:]
    return record, rest


def _field(rest: list) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")


_FLOAT = "must be a decimal string or an integer, not float"
_MONEY_SCHEMAS = [_VALIDATOR.schema["$defs"]["money"], _VALIDATOR.schema["$defs"]["ssp"]]


def _is_float_money(problem: Problem) -> bool:
    return problem.message.startswith(_FLOAT)


def schema_problems(doc: Any) -> list[Problem]:
    """Schema errors as problems located by record and field, with messages a finance user can act on."""
    problems = []
    for error in sorted(_VALIDATOR.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        record, rest = _record(doc, list(error.absolute_path))
        message = error.message
        money = error.validator == "anyOf" and error.schema in _MONEY_SCHEMAS
        if money and isinstance(error.instance, float):
            message = f"{_FLOAT} {error.instance!r} (floats lose cents; quote the number)"
        elif money:
            message = f"{error.instance!r} is not an amount: write a decimal string such as \"12.50\" or an integer"
        elif error.validator == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            rest, message = rest + missing[:1], "is required"
        elif error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            unknown = [key for key in error.instance if key not in known]
            problems += [Problem(record, _field(rest + [key]), "is not a known key") for key in unknown]
            continue
        problems.append(Problem(record, _field(rest), message))
    return problems


class _Reader:
    """Meaning checks on a schema-valid document, collecting problems while building typed objects."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.currency = doc["currency"]

    def add(self, record: str, field: str, message: str) -> None:
        self.problems.append(Problem(record, field, message))

    def money(self, value: Any, record: str, field: str) -> Decimal:
        try:
            amount = to_decimal(value, record=record, field=field, allow_negative=False)
        except ValidationError as error:
            self.problems.extend(error.problems)
            return Decimal(0)
        if is_currency(self.currency) and amount != round_amount(amount, self.currency):
            self.add(record, field, f"{value} has more decimals than {self.currency} allows")
        return amount

    def day(self, value: str, record: str, field: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.add(record, field, f"{value!r} is not a date (YYYY-MM-DD)")
            return date.min

    def contract(self) -> Contract:
        doc = self.doc
        if not is_currency(self.currency):
            self.add("contract", "currency", f"{self.currency!r} is not an ISO 4217 currency code")
        library = {
            product: self.ssp(value, "ssp_library", product) for product, value in doc.get("ssp_library", {}).items()
        }
        policy = self.policy(doc.get("policy", {}))
        lines = [self.line(item, f"lines[{i}] ({item['id']})", library, policy) for i, item in enumerate(doc["lines"])]
        self.check_lines(lines, policy)
        events = tuple(self.event(item, i, library, policy) for i, item in enumerate(doc.get("events", [])))
        self.check_ids(lines, events)
        return Contract(doc.get("contract", ""), self.currency, tuple(lines), policy, events,
                        doc.get("closed_through"), doc.get("as_of"))

    def ssp(self, value: Any, record: str, field: str) -> SSP:
        if isinstance(value, dict):
            low = self.money(value["low"], record, f"{field}.low")
            high = self.money(value["high"], record, f"{field}.high")
            if low > high:
                self.add(record, field, f"the range is inverted: low {low} is above high {high}")
            return SSP(low, high)
        point = self.money(value, record, field)
        return SSP(point, point)

    def policy(self, doc: dict) -> Policy:
        target = doc.get("discount_target")
        return Policy(
            catch_up=doc.get("catch_up", True),
            modification_treatment=Treatment(doc.get("modification_treatment", "prospective")),
            discount_target=tuple(target) if target else None,
            residual_allowed=doc.get("residual_allowed", False),
            one_off_recognition=Pattern(doc.get("one_off_recognition", "point_in_time")),
            granularity=Granularity(doc.get("granularity", "monthly_prorated")),
        )

    def line(self, item: dict, record: str, library: dict[str, SSP], policy: Policy) -> ContractLine:
        kind = Kind(item["obligation"])
        default = policy.one_off_recognition if kind is Kind.one_off else PATTERNS[kind][0]
        pattern = Pattern(item.get("recognition", default.value))
        if pattern not in PATTERNS[kind]:
            allowed = " or ".join(p.value for p in PATTERNS[kind])
            self.add(record, "recognition", f"a {kind.value} line is recognized {allowed}, not {pattern.value}")
        start = end = None
        if "service_period" in item:
            start = self.day(item["service_period"]["start"], record, "service_period.start")
            end = self.day(item["service_period"]["end"], record, "service_period.end")
            if end <= start:
                self.add(record, "service_period",
                         f"inverted: end {end} is not after start {start} (the end is the first day no longer served)")
        elif pattern is Pattern.ratable:
            self.add(record, "service_period", "is required to recognize a line ratably")
        usage = tuple(
            (self.day(u["date"], record, f"usage[{j}].date"), self.money(u["amount"], record, f"usage[{j}].amount"))
            for j, u in enumerate(item.get("usage", []))
        )
        for j, (day, _) in enumerate(usage):
            if start and end and not start <= day < end:
                self.add(record, f"usage[{j}].date", f"{day} is outside the service period {start} to {end}")
        if kind is Kind.usage:
            price = sum((amount for _, amount in usage), Decimal(0))
        else:
            price = self.money(item["price"], record, "price")
        line = ContractLine(
            id=item["id"], product=item["product"], kind=kind, pattern=pattern, price=price,
            ssp=self.line_ssp(item, record, kind, library),
            billing=self.billing(item["billing"], record, kind, price, start),
            start=start, end=end, granularity=self.granularity(item, record, pattern, policy),
            delivered_on=self.optional_day(item, "delivered_on", record),
            completed_on=self.optional_day(item, "completed_on", record),
            residual=item.get("residual", False), usage=usage, record=record,
        )
        self.check_dates(line, item, record)
        return line

    def optional_day(self, item: dict, field: str, record: str) -> date | None:
        return self.day(item[field], record, field) if item.get(field) is not None else None

    def granularity(self, item: dict, record: str, pattern: Pattern, policy: Policy) -> Granularity:
        if "granularity" in item and pattern is not Pattern.ratable:
            self.add(record, "granularity", f"applies to ratable lines only; this line is recognized {pattern.value}")
        return Granularity(item.get("granularity", policy.granularity.value))

    def line_ssp(self, item: dict, record: str, kind: Kind, library: dict[str, SSP]) -> SSP | None:
        if kind is Kind.usage:
            return None
        ssp = self.ssp(item["ssp"], record, "ssp") if "ssp" in item else library.get(item["product"])
        if item.get("residual"):
            if ssp is not None and not ssp.is_range:
                self.add(record, "ssp",
                         "a residual line takes an SSP range (to check the residual against) or none, not a point")
        elif ssp is None:
            self.add(record, "ssp",
                     f"no SSP for product {item['product']!r}: give the line an ssp or add the product to ssp_library")
        return ssp

    def billing(self, doc: dict, record: str, kind: Kind, price: Decimal, start: date | None) -> Billing:
        timing, interval = Timing(doc["timing"]), doc.get("interval", "once")
        if kind is Kind.usage and timing is Timing.advance:
            self.add(record, "billing.timing", "usage is billed in arrears")
        if interval != "once" and start is None:
            self.add(record, "billing.interval", "billing on an interval needs a service period")
        invoices = None
        if "invoices" in doc:
            invoices = tuple((self.day(inv["date"], record, f"billing.invoices[{j}].date"),
                              self.money(inv["amount"], record, f"billing.invoices[{j}].amount"))
                             for j, inv in enumerate(doc["invoices"]))
            total = sum((a for _, a in invoices), Decimal(0))
            if total != price:
                self.add(record, "billing.invoices", f"the invoices add up to {total}, not to the line's price {price}")
        return Billing(timing, interval, invoices)

    def check_dates(self, line: ContractLine, item: dict, record: str) -> None:
        if line.pattern is Pattern.point_in_time and line.delivered_on is None and line.start is None:
            self.add(record, "delivered_on", "is required for a point-in-time line without a service period")
        if "delivered_on" in item and line.pattern is not Pattern.point_in_time:
            self.add(record, "delivered_on", "applies to point-in-time lines only")
        if "completed_on" in item and line.kind is not Kind.milestone:
            self.add(record, "completed_on", "applies to milestone lines only")
        if line.completed_on and line.start and line.completed_on < line.start:
            self.add(record, "completed_on", f"{line.completed_on} is before the service period starts ({line.start})")
        if item.get("residual") and line.kind is Kind.usage:
            self.add(record, "residual", "usage is allocated its own amount, never a residual")

    def check_lines(self, lines: list[ContractLine], policy: Policy) -> None:
        """Subscriptions to one product must follow one another; the discount target must name lines."""
        subscriptions = [line for line in lines if line.kind is Kind.subscription and line.start and line.end]
        for i, line in enumerate(subscriptions):
            for other in subscriptions[:i]:
                if other.product == line.product and line.start < other.end and other.start < line.end:
                    self.add(line.record, "service_period",
                             f"{line.start} to {line.end} overlaps line {other.id!r} ({other.start} to {other.end}) "
                             f"for the same product {line.product!r}: "
                             "a product's subscription periods must not overlap")
        allocated = {line.id for line in lines if line.kind is not Kind.usage}
        for j, key in enumerate(policy.discount_target or ()):
            if key not in allocated:
                self.add("policy", f"discount_target[{j}]",
                         f"{key!r} is not a line of the contract that takes part in allocation")

    def check_ids(self, lines: list[ContractLine], events: tuple[Event, ...]) -> None:
        seen: set[str] = set()
        added = [line for event in events if isinstance(event, Modification) for line in event.add_lines]
        for line in [*lines, *added]:
            if line.id in seen:
                self.add(line.record, "id", f"line id {line.id!r} appears twice in the contract")
            seen.add(line.id)

    def event(self, item: dict, i: int, library: dict[str, SSP], policy: Policy) -> Event:
        record, kind = f"events[{i}] ({item['type']})", item["type"]
        day = self.day(item["date"], record, "date")
        closed = self.doc.get("closed_through")
        if closed and f"{day.year:04d}-{day.month:02d}" <= closed:
            self.add(record, "date",
                     f"{day} falls in a closed period (closed through {closed}): date the {kind} in an open period")
        if kind == "modification":
            return self.modification(item, i, record, day, library, policy)
        if kind in ("upgrade", "downgrade"):
            return PriceChange(i, kind, day, item["line"], self.money(item["price"], record, "price"))
        return self.reduction(item, i, record, day)

    def reduction(self, item: dict, i: int, record: str, day: date) -> Reduction:
        kind = item["type"]
        positive: Callable[[Any, str], Decimal] = lambda value, field: self._positive(value, record, field)
        amount = positive(item["amount"], "amount") if "amount" in item else None
        lines = None
        if "lines" in item:
            lines = tuple((c["line"], positive(c["amount"], f"lines[{j}].amount")) for j, c in enumerate(item["lines"]))
        if kind in ("credit_note", "refund") and (amount is None) == (lines is None):
            self.add(record, "amount",
                     "give either an amount (spread over the invoice's lines) or lines, not both or neither")
        return Reduction(i, kind, day, self.day(item["invoice"], record, "invoice"), amount, lines)

    def _positive(self, value: Any, record: str, field: str) -> Decimal:
        amount = self.money(value, record, field)
        if amount == 0 and not any(p.record == record and p.field == field for p in self.problems):
            self.add(record, field, "must be more than zero")
        return amount

    def modification(
        self, item: dict, i: int, record: str, day: date, library: dict[str, SSP], policy: Policy
    ) -> Modification:
        treatment = Treatment(item.get("treatment", policy.modification_treatment.value))
        added = []
        for j, doc in enumerate(item["add_lines"]):
            where = f"events[{i}].add_lines[{j}] ({doc['id']})"
            line = self.line(doc, where, library, policy)
            first = line.start or line.delivered_on
            if first is not None and first < day:
                self.add(where, "service_period",
                         f"an added line starts on or after the modification date {day}, not {first}")
            if line.residual:
                self.add(where, "residual", "the residual approach applies at inception only, not to added lines")
            added.append(line)
        return Modification(i, day, tuple(added), treatment)
