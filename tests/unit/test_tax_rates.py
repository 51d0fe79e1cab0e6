"""Rate tables: every jurisdiction present, the published figures, effective dates and clear lookup errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from invoiceflow.tax import EU_MEMBER_STATES, RateNotFound, us_state_sales_tax, vat_rate, vat_rates
from invoiceflow.tax.rates import us_state_tables, vat_tables

ON = date(2026, 1, 15)

# country: standard, reduced (highest first), super-reduced
PUBLISHED = {
    "DE": ("19", ("7",), None),
    "FR": ("20", ("10", "5.5"), "2.1"),
    "NL": ("21", ("9",), None),
    "BE": ("21", ("12", "6"), None),
    "IT": ("22", ("10", "5"), "4"),
    "ES": ("21", ("10",), "4"),
    "AT": ("20", ("13", "10"), None),
    "IE": ("23", ("13.5", "9"), "4.8"),
    "PL": ("23", ("8", "5"), None),
    "SE": ("25", ("12", "6"), None),
    "DK": ("25", (), None),
    "FI": ("25.5", ("14", "10"), None),
    "PT": ("23", ("13", "6"), None),
    "LU": ("17", ("14", "8"), "3"),
    "HU": ("27", ("18", "5"), None),
    "CZ": ("21", ("12",), None),
    "SK": ("23", ("19", "5"), None),
    "RO": ("21", ("11",), None),
    "EE": ("24", ("13", "9"), None),
    "GR": ("24", ("13", "6"), None),
    "GB": ("20", ("5",), None),
    "JP": ("10", ("8",), None),
}


def test_every_member_state_gb_and_jp_has_a_table():
    assert set(vat_tables()) == EU_MEMBER_STATES | {"GB", "JP"}
    assert len(EU_MEMBER_STATES) == 27


@pytest.mark.parametrize("country", sorted(PUBLISHED))
def test_published_rates_in_force_in_2026(country):
    standard, reduced, super_reduced = PUBLISHED[country]
    rates = vat_rates(country, ON)
    assert rates.standard == Decimal(standard)
    assert rates.reduced == tuple(Decimal(r) for r in reduced)
    assert rates.super_reduced == (None if super_reduced is None else Decimal(super_reduced))


@pytest.mark.parametrize("country", sorted(EU_MEMBER_STATES))
def test_rates_respect_the_directive_bounds(country):
    """Article 97/98: standard at least 15 %, reduced at least 5 %; super-reduced rates sit below 5 %."""
    for rates in vat_tables()[country]:
        assert isinstance(rates.standard, Decimal)
        assert Decimal(15) <= rates.standard < Decimal(30)
        assert all(Decimal(5) <= r < rates.standard for r in rates.reduced)
        assert list(rates.reduced) == sorted(rates.reduced, reverse=True)
        assert rates.super_reduced is None or rates.super_reduced < Decimal(5)


def test_rate_classes():
    assert vat_rate("FR", "standard", ON) == Decimal("20")
    assert vat_rate("FR", "reduced", ON) == Decimal("10")
    assert vat_rate("FR", "reduced_low", ON) == Decimal("5.5")
    assert vat_rate("FR", "super_reduced", ON) == Decimal("2.1")
    assert vat_rate("DE", "reduced_low", ON) == Decimal("7")  # one reduced rate serves both classes
    assert vat_rate("DE", "zero", ON) == Decimal(0)


@pytest.mark.parametrize(("country", "rate_class"), [("DK", "reduced"), ("DE", "super_reduced"), ("DE", "parking")])
def test_a_missing_rate_class_is_refused_with_the_country(country, rate_class):
    with pytest.raises(RateNotFound) as caught:
        vat_rate(country, rate_class, ON)
    assert country in str(caught.value) or rate_class in str(caught.value)
    assert caught.value.field == "supply.tax_code"


@pytest.mark.parametrize(("country", "before", "after", "changed_on"), [
    ("FI", "24", "25.5", date(2024, 9, 1)),
    ("SK", "20", "23", date(2025, 1, 1)),
    ("EE", "22", "24", date(2025, 7, 1)),
    ("RO", "19", "21", date(2025, 8, 1)),
])
def test_a_rate_change_applies_from_its_effective_date_and_keeps_history(country, before, after, changed_on):
    assert vat_rate(country, "standard", date.fromordinal(changed_on.toordinal() - 1)) == Decimal(before)
    assert vat_rate(country, "standard", changed_on) == Decimal(after)


def test_romania_merged_its_reduced_rates_in_august_2025():
    assert vat_rates("RO", date(2025, 7, 31)).reduced == (Decimal(9), Decimal(5))
    assert vat_rates("RO", date(2025, 8, 1)).reduced == (Decimal(11),)


def test_dates_before_the_table_are_refused_not_guessed():
    with pytest.raises(RateNotFound) as caught:
        vat_rate("DE", "standard", date(2023, 12, 31))
    assert "2024-01-01" in str(caught.value)
    assert caught.value.field == "supply_date"


def test_unknown_country_is_refused():
    with pytest.raises(RateNotFound, match="'CH'"):
        vat_rates("CH", ON)


def test_us_table_covers_50_states_and_dc():
    assert len(us_state_tables()) == 51
    assert "DC" in us_state_tables() and "PR" not in us_state_tables()


@pytest.mark.parametrize("state", ["AK", "DE", "MT", "NH", "OR"])
def test_states_without_sales_tax_are_zero(state):
    assert us_state_sales_tax(state, ON).rate == Decimal(0)


@pytest.mark.parametrize(("state", "rate", "saas"), [
    ("CA", "7.25", False), ("TX", "6.25", None), ("NY", "4", True), ("WA", "6.5", True), ("FL", "6", False),
    ("CO", "2.9", False), ("TN", "7", True), ("OH", "5.75", None), ("US-CA", "7.25", False),
])
def test_us_state_rates_and_saas_flags(state, rate, saas):
    row = us_state_sales_tax(state, ON)
    assert row.rate == Decimal(rate)
    assert row.saas_taxable is saas


def test_us_rate_changes_by_date():
    assert us_state_sales_tax("LA", date(2024, 12, 31)).rate == Decimal("4.45")
    assert us_state_sales_tax("LA", date(2025, 1, 1)).rate == Decimal("5")


def test_unknown_us_state_is_refused_naming_the_field():
    with pytest.raises(RateNotFound) as caught:
        us_state_sales_tax("ZZ", ON)
    assert caught.value.field == "buyer.region"
    assert "'ZZ'" in str(caught.value)


def test_tables_have_one_row_per_jurisdiction_and_date():
    for rows in list(vat_tables().values()) + list(us_state_tables().values()):
        dates = [r.effective_from for r in rows]
        assert dates == sorted(set(dates))


def test_the_tables_in_docs_match_the_data_files():
    from pathlib import Path

    from docpages import read_page

    page = Path(__file__).resolve().parents[2] / "docs" / "tax.md"
    tables = {next(iter(rows[0])): rows for kind, rows in read_page(page) if kind == "table" and rows}
    documented_vat = {(r["country"], r["effective from"]): (r["standard"], r["reduced"], r["super-reduced"])
                      for r in tables["country"]}
    actual_vat = {(c, str(r.effective_from)): (str(r.standard), " / ".join(map(str, r.reduced)) or "–",
                                               "–" if r.super_reduced is None else str(r.super_reduced))
                  for c, rows in vat_tables().items() for r in rows}
    assert documented_vat == actual_vat
    flags = {True: "yes", False: "no", None: "unconfirmed"}
    documented_us = {(r["state"], r["effective from"]): (r["rate"], r["SaaS taxable"]) for r in tables["state"]}
    actual_us = {(s, str(r.effective_from)): (str(r.rate), flags[r.saas_taxable])
                 for s, rows in us_state_tables().items() for r in rows}
    assert documented_us == actual_us
