"""Rate tables with effective dates: EU-27 and UK VAT, US state sales tax.

The figures live in `tax/data/*.csv` so that a rate change is one added row, reviewed as data, and never
rewrites history: every row carries `effective_from`, and a lookup takes the supply date and returns the
row in force on it (the latest row of that jurisdiction dated on or before it).

US figures are **state-level base rates only**: county, city and special-district rates are not included,
so the tax actually due at an address is usually higher. Whether a state taxes software as a service
differs by state and often by use (business or personal); `saas_taxable` is True or False only for states
whose rule is clear and None otherwise, and callers must treat None as "confirm before relying on it".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from invoiceflow.errors import NotFound

#: Rate classes a product tax code maps to in a VAT table.
RATE_CLASSES = ("standard", "reduced", "reduced_low", "super_reduced", "zero")


class RateNotFound(NotFound):
    """No rate is recorded for the jurisdiction, rate class or date asked for; `field` names the culprit."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class VatRates:
    """The VAT rates of one country in force from `effective_from`; `reduced` is highest first."""

    country: str
    effective_from: date
    standard: Decimal
    reduced: tuple[Decimal, ...] = ()
    super_reduced: Decimal | None = None

    def rate(self, rate_class: str) -> Decimal:
        """The rate of a class: `reduced` is the highest reduced rate, `reduced_low` the lowest one."""
        if rate_class == "standard":
            return self.standard
        if rate_class == "zero":
            return Decimal(0)
        if rate_class in ("reduced", "reduced_low"):
            if not self.reduced:
                raise RateNotFound(f"{self.country} has no reduced VAT rate; classify the product as standard "
                                   "or zero rated for this country",
                                   field="supply.tax_code")
            return self.reduced[0] if rate_class == "reduced" else self.reduced[-1]
        if rate_class == "super_reduced":
            if self.super_reduced is None:
                raise RateNotFound(f"{self.country} has no super-reduced VAT rate; classify the product "
                                   "with a rate class the country has (standard, reduced, reduced_low, zero)",
                                   field="supply.tax_code")
            return self.super_reduced
        raise RateNotFound(f"unknown VAT rate class {rate_class!r}; expected one of {', '.join(RATE_CLASSES)}",
                           field="supply.tax_code")


@dataclass(frozen=True, slots=True)
class StateSalesTax:
    """One US state's base sales tax rate from `effective_from`; `saas_taxable` None means unconfirmed."""

    state: str
    effective_from: date
    rate: Decimal
    saas_taxable: bool | None


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("invoiceflow.tax").joinpath("data", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{where}: {text!r} is not a decimal rate") from None
    if not value.is_finite() or value < 0 or value >= 100:
        raise ValueError(f"{where}: rate {text!r} must be a percentage in [0, 100)")
    return value


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{where}: effective_from {text!r} is not an ISO date (YYYY-MM-DD)") from None


@cache
def vat_tables() -> dict[str, tuple[VatRates, ...]]:
    """Every VAT row by country, oldest first. Read once; a malformed row fails loudly with its line."""
    tables: dict[str, list[VatRates]] = {}
    for number, row in enumerate(_rows("vat_rates.csv"), start=1):
        where = f"vat_rates.csv row {number} ({row['country']})"
        super_reduced = row["super_reduced"].strip()
        entry = VatRates(
            country=row["country"].strip(),
            effective_from=_date(row["effective_from"], where),
            standard=_decimal(row["standard"], where),
            reduced=tuple(sorted((_decimal(r, where) for r in row["reduced"].split()), reverse=True)),
            super_reduced=_decimal(super_reduced, where) if super_reduced else None,
        )
        tables.setdefault(entry.country, []).append(entry)
    return {country: tuple(sorted(rows, key=lambda r: r.effective_from)) for country, rows in tables.items()}


@cache
def us_state_tables() -> dict[str, tuple[StateSalesTax, ...]]:
    """Every US state row by two-letter state code, oldest first."""
    flags = {"yes": True, "no": False, "": None}
    tables: dict[str, list[StateSalesTax]] = {}
    for number, row in enumerate(_rows("us_sales_tax.csv"), start=1):
        where = f"us_sales_tax.csv row {number} ({row['state']})"
        flag = row["saas_taxable"].strip().lower()
        if flag not in flags:
            raise ValueError(f"{where}: saas_taxable must be yes, no or empty, got {flag!r}")
        entry = StateSalesTax(row["state"].strip(), _date(row["effective_from"], where),
                              _decimal(row["rate"], where), flags[flag])
        tables.setdefault(entry.state, []).append(entry)
    return {state: tuple(sorted(rows, key=lambda r: r.effective_from)) for state, rows in tables.items()}


def _in_force(rows: tuple, on: date, what: str):
    current = None
    for row in rows:
        if row.effective_from <= on:
            current = row
    if current is None:
        raise RateNotFound(f"no {what} recorded for {on:%Y-%m-%d}: the table starts on "
                           f"{rows[0].effective_from:%Y-%m-%d}",
                           field="supply_date")
    return current


def vat_rates(country: str, on: date) -> VatRates:
    """The VAT (JP: consumption tax) rates of an EU member state, GB or JP in force on `on`."""
    rows = vat_tables().get(country.upper())
    if rows is None:
        raise RateNotFound(f"no VAT rate table for country {country!r} (EU member states, GB and JP are built in)",
                           field="country")
    return _in_force(rows, on, f"VAT rates of {country.upper()}")


def vat_rate(country: str, rate_class: str, on: date) -> Decimal:
    """One VAT rate in percent, e.g. vat_rate("FR", "reduced", date(2026, 1, 1)) == Decimal("10")."""
    return vat_rates(country, on).rate(rate_class)


def us_state_sales_tax(state: str, on: date) -> StateSalesTax:
    """The state-level sales tax row (rate in percent, SaaS flag) in force on `on`; local rates excluded."""
    code = state.upper().removeprefix("US-")
    rows = us_state_tables().get(code)
    if rows is None:
        raise RateNotFound(f"no sales tax row for US state {state!r} (the 50 states and DC are built in)",
                           field="buyer.region")
    return _in_force(rows, on, f"sales tax rate of US-{code}")


def has_vat_table(country: str) -> bool:
    return country.upper() in vat_tables()
