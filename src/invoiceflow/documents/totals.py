"""Line, VAT and document totals so the EN 16931 calculation rules hold exactly, not within tolerance.

Rounding happens once, through `money.round_amount`, at these points: each line's quantity x net price,
each percentage allowance/charge, and each VAT breakdown's tax (one rounding per category and rate, never
per line). Every other figure is a sum or difference of already-rounded amounts, so BR-CO-10..BR-CO-16 and
BR-S-08 / BR-AE-08 / ... are equalities by construction.

EN 16931 allows at most two decimals in amounts (BR-DEC-*). Amounts therefore carry the currency's ISO 4217
digits capped at 2: JPY 0, EUR 2, KWD 2 (prices and quantities keep their own precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoiceflow.documents.model import AllowanceCharge, Invoice, Line, VatRate
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import div, exponent, mul, round_amount

#: Most decimals an EN 16931 amount may carry (BR-DEC-01 .. BR-DEC-28).
MAX_AMOUNT_DIGITS = 2


def amount_digits(currency: str) -> int:
    """Decimals of an amount in `currency` inside an EN 16931 document."""
    return min(exponent(currency), MAX_AMOUNT_DIGITS)


def round_document_amount(precise: Decimal, currency: str) -> Decimal:
    """Round half away from zero to `amount_digits(currency)` with the one rounding function.

    For currencies with more minor digits than EN 16931 allows (KWD, BHD, ...) the value is scaled so that
    `round_amount`'s quantum lands on the second decimal; scaling by a power of ten is exact.
    """
    shift = exponent(currency) - amount_digits(currency)
    if shift == 0:
        return round_amount(precise, currency)
    return round_amount(precise.scaleb(-shift), currency).scaleb(shift)


def zero(currency: str) -> Decimal:
    """Zero with the document's amount digits (sums started from it keep the right exponent)."""
    return Decimal(0).scaleb(-amount_digits(currency))


def fits(value: Decimal, currency: str) -> bool:
    """True when `value` needs no rounding to be an amount in `currency`."""
    if not value.is_finite():
        return False
    return value == 0 or -value.normalize().as_tuple().exponent <= amount_digits(currency)


@dataclass(frozen=True, slots=True)
class AllowanceChargeAmount:
    """A stated allowance/charge with its amount resolved (given, or percent x base rounded once)."""

    spec: AllowanceCharge
    amount: Decimal
    base_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class LineTotal:
    """BT-131 line net amount = rounded quantity x price / base quantity + charges - allowances."""

    line: Line
    price_amount: Decimal
    allowances_charges: tuple[AllowanceChargeAmount, ...]
    net_amount: Decimal


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """One VAT breakdown (BG-23) per category and rate: BT-116 taxable, BT-117 tax, BT-118..BT-121."""

    category: str
    rate: Decimal | None
    taxable_amount: Decimal
    tax_amount: Decimal
    exemption_code: str | None
    exemption_reason: str | None


@dataclass(frozen=True, slots=True)
class Totals:
    """Document totals BG-22 (BT-106 .. BT-115) and the VAT breakdown, all at the document's digits."""

    currency: str
    lines: tuple[LineTotal, ...]
    allowances_charges: tuple[AllowanceChargeAmount, ...]
    breakdown: tuple[VatBreakdown, ...]
    line_total: Decimal  # BT-106
    allowance_total: Decimal  # BT-107
    charge_total: Decimal  # BT-108
    tax_exclusive: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    tax_inclusive: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    rounding: Decimal  # BT-114
    payable: Decimal  # BT-115


def _vat_key(vat: VatRate) -> tuple[str, Decimal | None]:
    return vat.category, None if vat.rate is None else vat.rate.normalize()


def _resolve(spec: AllowanceCharge, currency: str, default_base: Decimal | None, where: str) -> AllowanceChargeAmount:
    base = spec.base_amount if spec.base_amount is not None else default_base
    for given in (spec.amount, spec.base_amount):
        if given is not None and not fits(given, currency):
            raise ValidationError(f"{given} has more decimals than a {currency} amount may carry", field=where)
    if spec.amount is not None:
        return AllowanceChargeAmount(spec, spec.amount + zero(currency), spec.base_amount)
    if spec.percent is None or base is None:
        raise ValidationError("needs an amount, or a percent and a base amount", field=where)
    return AllowanceChargeAmount(spec, round_document_amount(div(mul(base, spec.percent), Decimal(100)), currency), base)


def line_total(line: Line, currency: str, where: str = "") -> LineTotal:
    """Net amount of one line; quantity x price is rounded once, adjustments are added as rounded amounts."""
    if line.price_base_quantity <= 0:
        raise ValidationError(f"item price base quantity of line {line.id} must be above zero", field="BT-149")
    price_amount = round_document_amount(div(mul(line.quantity, line.net_price), line.price_base_quantity), currency)
    resolved = tuple(
        _resolve(ac, currency, price_amount, f"{where}allowances_charges[{i}]")
        for i, ac in enumerate(line.allowances_charges)
    )
    net = price_amount
    for item in resolved:
        net = net + item.amount if item.spec.charge else net - item.amount
    return LineTotal(line, price_amount, resolved, net)


def compute_totals(invoice: Invoice) -> Totals:
    """All derived amounts of `invoice`; raises ValidationError for amounts finer than the currency allows."""
    currency = invoice.currency
    nought = zero(currency)
    lines = tuple(line_total(line, currency, f"lines[{i}].") for i, line in enumerate(invoice.lines))
    doc_acs = tuple(_resolve(ac, currency, None, f"allowances_charges[{i}]") for i, ac in enumerate(invoice.allowances_charges))
    problems = [
        Problem("", field, f"{value} has more decimals than a {currency} amount may carry")
        for field, value in (("prepaid_amount", invoice.prepaid_amount), ("rounding_amount", invoice.rounding_amount))
        if not fits(value, currency)
    ]
    if problems:
        raise ValidationError(problems)

    taxable: dict[tuple[str, Decimal | None], Decimal] = {}
    for item in lines:
        key = _vat_key(item.line.vat)
        taxable[key] = taxable.get(key, nought) + item.net_amount
    for item in doc_acs:
        if item.spec.vat is None:
            raise ValidationError("a document-level allowance or charge needs a VAT category", field="allowances_charges")
        key = _vat_key(item.spec.vat)
        taxable[key] = taxable.get(key, nought) + (item.amount if item.spec.charge else -item.amount)

    breakdown = []
    for (category, rate), basis in taxable.items():
        tax = nought if not rate else round_document_amount(div(mul(basis, rate), Decimal(100)), currency)
        code, reason = invoice.exemption_for(category) if category not in ("S", "Z") else (None, None)
        breakdown.append(VatBreakdown(category, rate, basis, tax, code, reason))

    line_sum = sum((item.net_amount for item in lines), nought)
    allowances = sum((item.amount for item in doc_acs if not item.spec.charge), nought)
    charges = sum((item.amount for item in doc_acs if item.spec.charge), nought)
    tax_exclusive = line_sum - allowances + charges
    tax_total = sum((entry.tax_amount for entry in breakdown), nought)
    tax_inclusive = tax_exclusive + tax_total
    prepaid = invoice.prepaid_amount + nought
    rounding = invoice.rounding_amount + nought
    return Totals(
        currency=currency,
        lines=lines,
        allowances_charges=doc_acs,
        breakdown=tuple(breakdown),
        line_total=line_sum,
        allowance_total=allowances,
        charge_total=charges,
        tax_exclusive=tax_exclusive,
        tax_total=tax_total,
        tax_inclusive=tax_inclusive,
        prepaid=prepaid,
        rounding=rounding,
        payable=tax_inclusive - prepaid + rounding,
    )
