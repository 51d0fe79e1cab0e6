"""Tax amounts of one invoice: a breakdown per (category, rate), rounded once per invoice per rate.

Why once per rate and not per line: EN 16931 (BR-CO-17) states the VAT of each breakdown as base x rate,
and tax authorities expect the invoice's VAT to match that product. Rounding each line and summing would
drift by up to half a minor unit per line. Line net amounts arrive already rounded (per line, in rating),
so each taxable base is exact; the only rounding here is `money.round_amount` on each breakdown's tax,
which also gives JPY 0 and KWD 3 decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from invoiceflow.errors import Problem, ValidationError
from invoiceflow.money import div, exponent, mul, round_amount
from invoiceflow.tax.model import CATEGORIES, TaxDecision

_HUNDRED = Decimal(100)
_ORDER = {code: index for index, code in enumerate(CATEGORIES)}


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One invoice line as tax sees it: its net amount (with the currency's digits), category and rate."""

    net_amount: Decimal
    category: str
    rate: Decimal
    exemption_code: str | None = None
    exemption_reason: str | None = None
    line_id: str = ""

    @classmethod
    def of(cls, net_amount: Decimal, decision: TaxDecision, line_id: str = "") -> "TaxLine":
        """A line taxed as `decision` says; a blocked or undetermined decision cannot be calculated."""
        if decision.blocked or decision.category is None or decision.rate is None:
            reasons = "; ".join(str(r) for r in decision.requirements if r.blocking) or "no category decided"
            raise ValidationError(f"tax decision is blocked: {reasons}", record=f"line {line_id}".strip(),
                                  field="tax")
        return cls(net_amount, decision.category, decision.rate, decision.exemption_code,
                   decision.exemption_reason, line_id)


@dataclass(frozen=True, slots=True)
class TaxSubtotal:
    """One VAT breakdown (BG-23): BT-116 taxable amount, BT-117 tax, BT-118 category, BT-119 rate.

    `tax_precise` is base x rate / 100 before rounding, kept so that the one rounding can be audited.
    """

    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal
    tax_precise: Decimal
    exemption_code: str | None
    exemption_reason: str | None
    line_count: int


@dataclass(frozen=True, slots=True)
class TaxBreakdown:
    """All subtotals of one invoice (category order S Z E AE K G O, higher rates first) and their sums."""

    currency: str
    subtotals: tuple[TaxSubtotal, ...]
    taxable_total: Decimal
    tax_total: Decimal

    @property
    def gross_total(self) -> Decimal:
        return self.taxable_total + self.tax_total


def _line_problems(index: int, line: TaxLine, currency: str) -> list[Problem]:
    record = f"line {line.line_id or index + 1}"
    for name in ("net_amount", "rate"):
        value = getattr(line, name)
        if not isinstance(value, Decimal) or isinstance(value, bool):
            raise TypeError(f"{record}: TaxLine.{name} must be Decimal, got {type(value).__name__} {value!r}")
    problems = []
    if not line.net_amount.is_finite():
        problems.append(Problem(record, "net_amount", f"{line.net_amount} is not a finite amount"))
    elif line.net_amount != round_amount(line.net_amount, currency):
        problems.append(Problem(record, "net_amount",
                                f"{line.net_amount} has more digits than {currency} allows ({exponent(currency)}); "
                                "round each line with money.round_amount before calculating tax"))
    if line.category not in CATEGORIES:
        problems.append(Problem(record, "category",
                                f"unknown VAT category {line.category!r}; expected one of {', '.join(CATEGORIES)}"))
    if not line.rate.is_finite() or not Decimal(0) <= line.rate < _HUNDRED:
        problems.append(Problem(record, "rate", f"rate {line.rate} must be a percentage in [0, 100)"))
    elif line.category == "S" and line.rate == 0:
        problems.append(Problem(record, "rate", "category S (standard rated) needs a rate above 0; use Z for 0 %"))
    elif line.category in CATEGORIES and line.category != "S" and line.rate != 0:
        problems.append(Problem(record, "rate", f"category {line.category} carries no tax, so its rate must be 0, "
                                                f"got {line.rate}"))
    return problems


def calculate_tax(lines: Iterable[TaxLine], currency: str) -> TaxBreakdown:
    """Group lines by (category, rate), sum their nets, and round each group's tax once.

    Raises ValidationError listing every bad line (nothing is computed from partly valid input) and
    PricingError for an unknown currency.
    """
    exponent(currency)
    lines = list(lines)
    problems: list[Problem] = []
    for index, line in enumerate(lines):
        problems.extend(_line_problems(index, line, currency))
    if problems:
        raise ValidationError(problems)
    groups: dict[tuple[str, Decimal], list[TaxLine]] = {}
    numbers: dict[tuple[str, Decimal], list[str]] = {}
    for index, line in enumerate(lines):
        groups.setdefault((line.category, line.rate), []).append(line)
        numbers.setdefault((line.category, line.rate), []).append(line.line_id or str(index + 1))
    for (category, rate), members in groups.items():
        reasons = {(m.exemption_code, m.exemption_reason) for m in members}
        if len(reasons) > 1:
            ids = ", ".join(numbers[(category, rate)])
            problems.append(Problem(f"lines {ids}", "exemption_reason",
                                    f"one breakdown ({category} {rate} %) states one exemption reason, but its "
                                    f"lines give {len(reasons)} different ones; align them or split the invoice"))
    if problems:
        raise ValidationError(problems)
    subtotals = []
    for (category, rate), members in sorted(groups.items(), key=lambda item: (_ORDER[item[0][0]], -item[0][1])):
        base = round_amount(sum((m.net_amount for m in members), Decimal(0)), currency)  # exact: adds digits only
        precise = div(mul(base, rate), _HUNDRED)
        subtotals.append(TaxSubtotal(category, rate, base, round_amount(precise, currency), precise,
                                     members[0].exemption_code, members[0].exemption_reason, len(members)))
    zero = round_amount(Decimal(0), currency)
    return TaxBreakdown(
        currency=currency,
        subtotals=tuple(subtotals),
        taxable_total=sum((s.taxable_amount for s in subtotals), zero),
        tax_total=sum((s.tax_amount for s in subtotals), zero),
    )
