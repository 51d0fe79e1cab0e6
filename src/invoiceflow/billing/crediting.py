"""What an issued invoice can still be credited, and the credit-note lines a request makes (pure).

A credit note gives back what the customer was charged. A charge line's *net* is its amount less its share
of the invoice's discounts: each discount is spread over the charges it was computed on (its contract
version's, before its end) in proportion to their amounts, and the largest takes the rounding residue, so
the shares add up to the discount exactly. Prepaid credit applied is a means of payment, not a price, and
changes no line's net. Credit notes carry no discount lines (their subtotal is all their lines), so a credit
line states the net it gives back.

What remains creditable on a line is its net less every earlier credit against it: the lines of credit
notes raised against it by name (`credits_line_id`), and the part of each bill-run credit of unused days
whose charge, contract version and days match the line (a credit spanning several lines is split by days).
A line also counts the quantity already credited by quantity.

The bill run's credits of unused days obey the same bound (`cap_unused_days`): a credit never gives back
more than remains of the line that billed the days, so finance crediting part of a prepaid fee by hand
before a downgrade or cancellation cannot make the two credits add up to more than the line's net.

A request names lines with a quantity or an amount, or nothing (the whole remainder). A quantity is
credited at the line's net unit price and rounded once (money.round_amount); crediting all the quantity
left credits exactly what remains, so a line's credits add up to its net to the minor unit. Nothing is
credited beyond what remains, and every problem of a request is reported at once, naming the line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from invoiceflow.billing.drafts import CHARGE_TYPES
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import div, format_amount, mul, round_amount

ZERO = Decimal(0)
CREDIT = "credit"  # the line type of a credit-note line raised against an invoice line
DISCOUNT, PREPAID_CREDIT, FEE_ADVANCE = "discount", "prepaid_credit", "fee_advance"


@dataclass(frozen=True, slots=True)
class BilledLine:
    """An issued invoice's line, as crediting needs it."""

    id: int
    position: int
    line_type: str
    description: str
    amount: Decimal
    quantity: Decimal | None = None
    charge_code: str | None = None
    contract_version_id: int | None = None
    service_start: date | None = None
    service_end: date | None = None
    applies_before: date | None = None  # a discount's end (first day it no longer applies); None: no end

    @property
    def label(self) -> str:
        return f"{self.description} (position {self.position})"


@dataclass(frozen=True, slots=True)
class EarlierCredit:
    """A line of an earlier credit note against the invoice (void credit notes give nothing back)."""

    amount: Decimal
    credits_line_id: int | None = None  # raised against this invoice line by name
    quantity: Decimal | None = None  # the quantity such a line credited, when it credited one
    charge_code: str | None = None  # a bill-run credit of unused days: matched by charge, version and days
    contract_version_id: int | None = None
    service_start: date | None = None
    service_end: date | None = None
    document: str | None = None  # the credit note as finance knows it, to name it when a later credit is capped


@dataclass(frozen=True, slots=True)
class Creditable:
    """A charge line with what it billed net of discounts and what earlier credits already gave back."""

    line: BilledLine
    net: Decimal
    credited: Decimal = ZERO
    credited_quantity: Decimal = ZERO
    credited_by: tuple[str, ...] = ()  # the credit notes that gave part of it back, oldest first

    @property
    def remaining(self) -> Decimal:
        return max(self.net - self.credited, ZERO)

    def after(self, amount: Decimal, document: str) -> Creditable:
        """The line once `document` credits `amount` more of it: later credits of the same run see it."""
        if amount <= 0:
            return self
        by = self.credited_by if document in self.credited_by else (*self.credited_by, document)
        return replace(self, credited=self.credited + amount, credited_by=by)

    @property
    def remaining_quantity(self) -> Decimal | None:
        """Units not yet credited by quantity; None for a line without a quantity to credit."""
        if not self.line.quantity or self.line.quantity <= 0:
            return None
        return max(self.line.quantity - self.credited_quantity, ZERO)


@dataclass(frozen=True, slots=True)
class LineRequest:
    """Credit `quantity` units or `amount` of one invoice line; neither: all that remains of it."""

    line_id: int
    quantity: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One line of the credit note: what it gives back for `source`."""

    source: Creditable
    amount: Decimal
    precise_amount: Decimal
    quantity: Decimal | None


def creditable_lines(lines: Sequence[BilledLine], earlier: Sequence[EarlierCredit],
                     currency: str) -> list[Creditable]:
    """Every charge line of the invoice with its net, and what earlier credits gave back of it."""
    charges = [line for line in lines if line.line_type in CHARGE_TYPES]
    shares = discount_shares(lines, currency)
    credited = credited_by_line(charges, earlier, currency)
    by = credit_notes_by_line(charges, earlier, currency)
    counted = {line.id: sum((c.quantity or ZERO for c in earlier if c.credits_line_id == line.id), ZERO)
               for line in charges}
    return [Creditable(line, line.amount + shares.get(line.id, ZERO), credited.get(line.id, ZERO), counted[line.id],
                       by.get(line.id, ())) for line in charges if line.amount > 0]


def discount_shares(lines: Sequence[BilledLine], currency: str) -> dict[int, Decimal]:
    """Each charge line's part of the invoice's discounts (negative), by line id."""
    charges = [line for line in lines if line.line_type in CHARGE_TYPES]
    shares: dict[int, Decimal] = {}
    for discount in (line for line in lines if line.line_type == DISCOUNT and line.amount):
        eligible = [c for c in charges if _discounted_by(c, discount)]
        parts = split(discount.amount, [(c.id, c.amount) for c in eligible], currency)
        for line_id, part in parts.items():
            shares[line_id] = shares.get(line_id, ZERO) + part
    return shares


def credited_by_line(charges: Sequence[BilledLine], earlier: Sequence[EarlierCredit],
                     currency: str) -> dict[int, Decimal]:
    """What earlier credit notes gave back of each charge line, by line id."""
    credited: dict[int, Decimal] = {}
    for _credit, line_id, part in _parts(charges, earlier, currency):
        credited[line_id] = credited.get(line_id, ZERO) + part
    return credited


def credit_notes_by_line(charges: Sequence[BilledLine], earlier: Sequence[EarlierCredit],
                         currency: str) -> dict[int, tuple[str, ...]]:
    """Which earlier credit notes gave back part of each charge line, in the order given, by line id."""
    by: dict[int, tuple[str, ...]] = {}
    for credit, line_id, part in _parts(charges, earlier, currency):
        named = by.get(line_id, ())
        if part and credit.document and credit.document not in named:
            by[line_id] = (*named, credit.document)
    return by


def _parts(charges: Sequence[BilledLine], earlier: Sequence[EarlierCredit],
           currency: str) -> Iterator[tuple[EarlierCredit, int, Decimal]]:
    """(credit, line id, part): what each earlier credit gave back of each charge line."""
    for credit in earlier:
        if credit.credits_line_id is not None:
            parts = {credit.credits_line_id: credit.amount}
        else:
            parts = _unused_days_parts(credit, charges, currency)
        for line_id, part in parts.items():
            yield credit, line_id, part


def cap_unused_days(amount: Decimal, source: Creditable) -> Decimal:
    """What a bill-run credit of unused days worth `amount` may give back of the line that billed the days.

    Never more than remains of it after earlier credit notes (hand-raised and bill-run alike): nothing when
    it is credited in full already. Both figures are rounded amounts, so the cap rounds nothing."""
    return max(min(amount, source.remaining), ZERO)


def cap_note(source: Creditable, currency: str) -> str:
    """Why a credit of unused days was capped, for the credit note line finance reads."""
    net = f"{format_amount(source.net, currency)} {currency}"
    if source.credited <= 0:
        return f"capped at the line's {net} net of discounts"
    by = ", ".join(source.credited_by) or "earlier credit notes"
    return f"capped: {format_amount(source.credited, currency)} {currency} of its {net} net already credited by {by}"


def split(total: Decimal, weights: Sequence[tuple[int, Decimal]], currency: str,
          covered: Decimal | None = None) -> dict[int, Decimal]:
    """`total` spread over keys in proportion to their weights, each part rounded once.

    `covered` is the weight `total` stands for (default: the weights' sum). When the weights cover it all,
    the largest weight takes the rounding residue, so the parts add up to `total` exactly; when they cover
    less (days credited that another invoice billed), only their share of `total` is spread."""
    weight = sum((w for _, w in weights), ZERO)
    if not weights or weight <= 0:
        return {}
    whole = max(covered, weight) if covered is not None else weight
    parts = {key: round_amount(div(mul(total, w), whole), currency) for key, w in weights}
    if weight == whole:
        largest = max(weights, key=lambda kw: kw[1])[0]
        parts[largest] += total - sum(parts.values(), ZERO)
    return parts


def plan_credit(creditable: Sequence[Creditable], requests: Sequence[LineRequest] | None, currency: str, *,
                record: str, lines: Sequence[BilledLine] = ()) -> list[CreditLine]:
    """The credit lines for `requests` (None: everything that remains), or a ValidationError naming every
    line at fault. `lines` are all of the invoice's lines, to say why a named line is not creditable."""
    if requests is None:
        planned = [_whole(c, currency) for c in creditable if c.remaining > 0]
        if not planned:
            raise ValidationError("has nothing left to credit: every line is credited in full already",
                                  record=record)
        return planned
    if not requests:
        raise ValidationError("name at least one line to credit, or none to credit the whole invoice",
                              record=record, field="lines")
    by_id = {c.line.id: c for c in creditable}
    known = {line.id: line for line in lines}
    problems: list[Problem] = []
    planned = []
    seen: set[int] = set()
    for request in requests:
        where = f"{record} line {request.line_id}"
        if request.line_id in seen:
            problems.append(Problem(where, "line_id", "is named more than once; name it once with all it credits"))
            continue
        seen.add(request.line_id)
        if request.line_id not in by_id:
            problems.append(Problem(where, "line_id", _not_creditable(request.line_id, known, by_id)))
            continue
        found = _one(by_id[request.line_id], request, currency, where)
        if isinstance(found, Problem):
            problems.append(found)
        else:
            planned.append(found)
    if problems:
        raise ValidationError(problems)
    return planned


def _one(c: Creditable, request: LineRequest, currency: str, where: str) -> CreditLine | Problem:
    if request.quantity is not None and request.amount is not None:
        return Problem(where, "quantity", "give a quantity or an amount to credit, not both")
    for field, value in (("quantity", request.quantity), ("amount", request.amount)):
        if value is not None and value <= 0:
            return Problem(where, field, f"must be greater than zero, got {value}")
    if c.remaining <= 0:
        return Problem(where, "line_id", f"{c.line.label} is credited in full already ({c.net} {currency} net)")
    if request.quantity is not None:
        return _by_quantity(c, request.quantity, currency, where)
    if request.amount is not None:
        return _by_amount(c, request.amount, currency, where)
    return _whole(c, currency)


def _whole(c: Creditable, currency: str) -> CreditLine:
    units = c.remaining_quantity
    if units is not None and (units <= 0 or _worth(c, units, currency) != c.remaining):
        units = None  # an amount was credited before: the rest is money, not units
    return CreditLine(c, c.remaining, c.remaining, units)


def _by_quantity(c: Creditable, quantity: Decimal, currency: str, where: str) -> CreditLine | Problem:
    left = c.remaining_quantity
    if left is None:
        return Problem(where, "quantity", f"{c.line.label} has no quantity; credit an amount instead")
    if quantity > left:
        return Problem(where, "quantity", f"cannot credit {plain_number(quantity)} of {c.line.label}: "
                                          f"{plain_number(left)} of its {plain_number(c.line.quantity)} remain "
                                          f"uncredited ({c.remaining} {currency})")
    if quantity == left:
        return CreditLine(c, c.remaining, c.remaining, quantity)
    precise = div(mul(c.net, quantity), c.line.quantity)
    amount = round_amount(precise, currency)
    if amount > c.remaining:
        return Problem(where, "quantity", f"cannot credit {plain_number(quantity)} of {c.line.label} ({amount} "
                                          f"{currency}): {_left(c, currency)}")
    if amount <= 0:
        return Problem(where, "quantity", f"{plain_number(quantity)} of {c.line.label} is worth less than the "
                                          f"smallest amount of {currency}; credit more")
    return CreditLine(c, amount, precise, quantity)


def _by_amount(c: Creditable, amount: Decimal, currency: str, where: str) -> CreditLine | Problem:
    if amount > c.remaining:  # first: rounding a number longer than the decimal context would fail
        return Problem(where, "amount", f"cannot credit {amount} {currency} of {c.line.label}: "
                                        f"{_left(c, currency)}")
    if amount != round_amount(amount, currency):
        return Problem(where, "amount", f"{amount} has more decimals than {currency} allows")
    return CreditLine(c, amount, amount, None)


def _left(c: Creditable, currency: str) -> str:
    return f"only {c.remaining} {currency} of its {c.net} {currency} net remains uncredited"


def _worth(c: Creditable, quantity: Decimal, currency: str) -> Decimal:
    return round_amount(div(mul(c.net, quantity), c.line.quantity), currency)


def _not_creditable(line_id: int, known: dict[int, BilledLine], by_id: dict[int, Creditable]) -> str:
    line = known.get(line_id)
    if line is None:
        return f"is not a line of this invoice (its creditable lines: {', '.join(map(str, by_id)) or 'none'})"
    if line.line_type == DISCOUNT:
        return (f"{line.label} is a discount: it is not credited on its own, the credits of the charges it "
                "applies to are net of it")
    if line.line_type == PREPAID_CREDIT:
        return f"{line.label} is prepaid credit applied, a means of payment: credit the charges instead"
    return f"{line.label} billed nothing to credit ({line.amount})"


def _discounted_by(charge: BilledLine, discount: BilledLine) -> bool:
    if discount.contract_version_id is not None and charge.contract_version_id != discount.contract_version_id:
        return False
    return discount.applies_before is None or (charge.service_start is not None
                                               and charge.service_start < discount.applies_before)


def _unused_days_parts(credit: EarlierCredit, charges: Sequence[BilledLine], currency: str) -> dict[int, Decimal]:
    """A bill-run credit of unused days, attributed to the advance-fee lines that billed those days."""
    start, end = credit.service_start, credit.service_end
    if start is None or end is None or end <= start:
        return {}
    overlaps = []
    for line in charges:
        if (line.line_type, line.charge_code, line.contract_version_id) != (
                FEE_ADVANCE, credit.charge_code, credit.contract_version_id):
            continue
        if line.service_start is None or line.service_end is None:
            continue
        days = (min(end, line.service_end) - max(start, line.service_start)).days
        if days > 0:
            overlaps.append((line.id, Decimal(days)))
    return split(credit.amount, overlaps, currency, covered=Decimal((end - start).days))


def plain_number(value: Decimal) -> str:
    """A number as people write it, exactly: 2, not 2.000000 or 2E+0 (normalize() would round long ones)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
