"""Tax determination, table-driven: one row per situation a biller meets, with the treatment it must get."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from invoiceflow.tax import Buyer, Seller, Supply, TaxRequest, determine
from invoiceflow.tax.rules import REVERSE_CHARGE_NOTE

ON = date(2026, 3, 1)
DE = Seller("DE", "DE136695976", "Example GmbH")
FR_SELLER = Seller("FR", "FR40303265045")
GB = Seller("GB", "GB980780684", "Example Ltd")
US = Seller("US", "04-2103594", "Example Inc")

FR_BUSINESS = Buyer("FR", tax_id="FR40303265045", is_business=True)
FR_BAD_ID = Buyer("FR", tax_id="FR40303265046", is_business=True)
FR_NO_ID = Buyer("FR", is_business=True)
FR_CONSUMER = Buyer("FR")
DE_CONSUMER = Buyer("DE")
US_BUSINESS = Buyer("US", region="NY", is_business=True)
SAAS = Supply("saas")
GOODS = Supply(kind="goods")

# name: seller, buyer, supply -> category, rate, jurisdiction, exemption code, rule, requirement codes
CASES = {
    "domestic DE": (DE, DE_CONSUMER, Supply(), "S", "19", "DE", None, "eu.domestic", ()),
    "domestic DE business": (DE, Buyer("DE", tax_id="DE136695976", is_business=True), Supply(),
                             "S", "19", "DE", None, "eu.domestic", ()),
    "domestic DE reduced": (DE, DE_CONSUMER, Supply("reduced"), "S", "7", "DE", None, "eu.domestic", ()),
    "FR reduced": (FR_SELLER, FR_CONSUMER, Supply("reduced"), "S", "10", "FR", None, "eu.domestic", ()),
    "FR reduced low": (FR_SELLER, FR_CONSUMER, Supply("reduced_low"), "S", "5.5", "FR", None, "eu.domestic", ()),
    "FR super-reduced": (FR_SELLER, FR_CONSUMER, Supply("super_reduced"), "S", "2.1", "FR", None,
                         "eu.domestic", ()),
    "DE zero-rated product": (DE, DE_CONSUMER, Supply("zero"), "Z", "0", "DE", None, "eu.domestic", ()),
    "DE exempt product": (DE, DE_CONSUMER, Supply("exempt"), "E", "0", "DE", None, "eu.exempt_supply", ()),
    "DE->FR B2B reverse charge": (DE, FR_BUSINESS, Supply(), "AE", "0", "FR", "VATEX-EU-AE",
                                  "eu.reverse_charge", ()),
    "DE->FR B2B invalid id": (DE, FR_BAD_ID, Supply(), "AE", "0", "FR", "VATEX-EU-AE", "eu.reverse_charge",
                              ("buyer_vat_id_invalid",)),
    "DE->FR B2B no id": (DE, FR_NO_ID, Supply(), "AE", "0", "FR", "VATEX-EU-AE", "eu.reverse_charge",
                         ("buyer_vat_id_invalid",)),
    "DE->FR B2B goods": (DE, FR_BUSINESS, GOODS, "K", "0", "FR", "VATEX-EU-IC", "eu.intra_community_goods", ()),
    "DE->FR consumer digital at FR rate": (DE, FR_CONSUMER, SAAS, "S", "20", "FR", None, "eu.oss_destination", ()),
    "DE->FR consumer other services at DE rate": (DE, FR_CONSUMER, Supply(), "S", "19", "DE", None,
                                                  "eu.consumer_origin", ()),
    "DE->US business services outside scope": (DE, US_BUSINESS, Supply(), "O", "0", "DE", "VATEX-EU-O",
                                               "eu.services_business_abroad", ()),
    "DE->US goods export": (DE, US_BUSINESS, GOODS, "G", "0", "DE", "VATEX-EU-G", "eu.export_goods", ()),
    "DE->CH consumer services at origin": (DE, Buyer("CH"), Supply(), "S", "19", "DE", None,
                                           "eu.services_consumer_abroad", ()),
    "DE->CH consumer digital flagged": (DE, Buyer("CH"), SAAS, "O", "0", "DE", "VATEX-EU-O",
                                        "eu.digital_consumer_abroad", ("destination_rules_unknown",)),
    "DE->GB consumer digital at UK VAT": (DE, Buyer("GB"), SAAS, "S", "20", "GB", None,
                                          "gb.digital_to_consumer", ()),
    "UK domestic": (GB, Buyer("GB"), Supply(), "S", "20", "GB", None, "gb.domestic", ()),
    "UK domestic reduced": (GB, Buyer("GB"), Supply("reduced"), "S", "5", "GB", None, "gb.domestic", ()),
    "UK domestic zero": (GB, Buyer("GB"), Supply("zero"), "Z", "0", "GB", None, "gb.domestic", ()),
    "UK->DE business": (GB, Buyer("DE", tax_id="DE136695976", is_business=True), Supply(), "O", "0", "GB",
                        "VATEX-EU-O", "gb.services_business_abroad", ()),
    "UK->DE consumer digital at DE rate": (GB, DE_CONSUMER, SAAS, "S", "19", "DE", None, "eu.non_union_oss", ()),
    "UK->US goods zero-rated export": (GB, US_BUSINESS, GOODS, "Z", "0", "GB", None, "gb.export_goods", ()),
    "US-CA taxable": (US, Buyer("US", region="CA"), Supply(), "S", "7.25", "US-CA", None,
                      "us.state_sales_tax", ()),
    "US-OR no sales tax": (US, Buyer("US", region="OR"), Supply(), "O", "0", "US-OR", None,
                           "us.no_state_sales_tax", ()),
    "US-NY SaaS taxable": (US, Buyer("US", region="US-NY"), SAAS, "S", "4", "US-NY", None,
                           "us.state_sales_tax", ()),
    "US-CA SaaS not taxable": (US, Buyer("US", region="CA"), SAAS, "E", "0", "US-CA", None,
                               "us.saas_not_taxable", ()),
    "US-OH SaaS unconfirmed": (US, Buyer("US", region="OH"), SAAS, "S", "5.75", "US-OH", None,
                               "us.state_sales_tax", ("taxability_unconfirmed",)),
    "US exempt customer": (US, Buyer("US", region="NY", exempt=True, certificate="NY-ST-119.1-0042"), Supply(),
                           "E", "0", "US-NY", None, "us.exempt_customer", ()),
    "US exempt customer without certificate": (US, Buyer("US", region="NY", exempt=True), Supply(), "E", "0",
                                               "US-NY", None, "us.exempt_customer",
                                               ("exemption_certificate_missing",)),
    "US->DE business": (US, Buyer("DE", is_business=True), Supply(), "O", "0", "US", None, "us.outside_us", ()),
    "US->JP consumer digital at JP rate": (US, Buyer("JP"), SAAS, "S", "10", "JP", None, "jp.digital_to_consumer",
                                           ()),
    "US->BR consumer digital flagged": (US, Buyer("BR"), SAAS, "O", "0", "US", None, "us.digital_consumer_abroad",
                                        ("destination_rules_unknown",)),
    "JP domestic consumption tax": (Seller("JP", "8700110005901"), Buyer("JP", is_business=True), SAAS, "S", "10",
                                    "JP", None, "jp.domestic", ()),
    "US->FR consumer digital at FR rate": (US, FR_CONSUMER, SAAS, "S", "20", "FR", None, "eu.non_union_oss", ()),
    "unknown US state": (US, Buyer("US", region="ZZ"), Supply(), None, None, "US-ZZ", None, "unresolvable",
                         ("jurisdiction_unresolvable",)),
    "US buyer without state": (US, Buyer("US"), Supply(), None, None, "US", None, "unresolvable",
                               ("jurisdiction_unresolvable",)),
    "seller outside built-in rules": (Seller("CN"), Buyer("CN"), Supply(), None, None, "CN", None,
                                      "unresolvable", ("jurisdiction_unresolvable",)),
    "malformed buyer country": (DE, Buyer("Germany"), Supply(), None, None, "DE", None, "unresolvable",
                                ("jurisdiction_unresolvable",)),
    "reduced product in the US": (US, Buyer("US", region="CA"), Supply("reduced"), None, None, "US-CA", None,
                                  "us.state_sales_tax", ("rate_not_found",)),
    "super-reduced where none exists": (DE, DE_CONSUMER, Supply("super_reduced"), None, None, "DE", None,
                                        "eu.domestic", ("rate_not_found",)),
    "unknown tax code": (DE, DE_CONSUMER, Supply("luxury"), None, None, "DE", None, "invalid",
                         ("unknown_tax_code",)),
    "seller without VAT id": (Seller("DE"), DE_CONSUMER, Supply(), "S", "19", "DE", None, "eu.domestic",
                              ("seller_tax_id_invalid",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_determination(name):
    seller, buyer, supply, category, rate, jurisdiction, code, rule, requirement_codes = CASES[name]
    decision = determine(TaxRequest(seller, buyer, supply, ON))
    assert decision.category == category
    assert decision.rate == (None if rate is None else Decimal(rate))
    assert decision.jurisdiction == jurisdiction
    assert decision.exemption_code == code
    assert decision.rule == rule
    assert tuple(r.code for r in decision.requirements) == requirement_codes
    blocking = any(r.code not in ("destination_rules_unknown", "taxability_unconfirmed") for r in decision.requirements)
    assert decision.blocked is blocking


def test_reverse_charge_states_the_legal_note_and_reason():
    decision = determine(TaxRequest(DE, FR_BUSINESS, Supply(), ON))
    assert decision.note == REVERSE_CHARGE_NOTE
    assert "Article 196" in decision.note and "2006/112/EC" in decision.note
    assert decision.exemption_reason == "Reverse charge"


def test_reverse_charge_with_a_bad_id_blocks_instead_of_charging_vat():
    decision = determine(TaxRequest(DE, FR_BAD_ID, Supply(), ON))
    assert decision.blocked
    [problem] = decision.requirements
    assert problem.field == "buyer.tax_id"
    assert "'FR40303265046'" in problem.message and "check-digit" in problem.message
    assert decision.rate == 0  # never silently the seller's 19 %


def test_greek_buyer_with_el_prefix_gets_reverse_charge():
    decision = determine(TaxRequest(DE, Buyer("EL", tax_id="EL094259216", is_business=True), Supply(), ON))
    assert (decision.category, decision.jurisdiction, decision.blocked) == ("AE", "GR", False)


def test_a_buyer_vat_id_of_another_country_is_not_accepted():
    decision = determine(TaxRequest(DE, Buyer("FR", tax_id="DE136695976", is_business=True), Supply(), ON))
    assert decision.blocked
    assert "VAT id of DE, but the party is in FR" in decision.requirements[0].message


def test_rates_follow_the_supply_date():
    seller = Seller("FI", "FI20774740")
    before = determine(TaxRequest(seller, Buyer("FI"), Supply(), date(2024, 8, 31)))
    after = determine(TaxRequest(seller, Buyer("FI"), Supply(), date(2024, 9, 1)))
    assert (before.rate, after.rate) == (Decimal("24"), Decimal("25.5"))


def test_a_date_before_the_tables_is_a_blocking_problem():
    decision = determine(TaxRequest(DE, DE_CONSUMER, Supply(), date(2020, 1, 1)))
    assert decision.blocked and decision.requirements[0].field == "supply_date"


def test_exempt_supply_carries_its_own_legal_ground():
    supply = Supply("exempt", exemption_code="VATEX-EU-132-1I", exemption_reason="Education, Article 132(1)(i)")
    decision = determine(TaxRequest(DE, DE_CONSUMER, supply, ON))
    assert (decision.category, decision.exemption_code) == ("E", "VATEX-EU-132-1I")
    assert decision.exemption_reason == "Education, Article 132(1)(i)"


def test_exempt_customer_reason_names_the_certificate():
    buyer = Buyer("US", region="NY", exempt=True, certificate="NY-ST-119.1-0042")
    decision = determine(TaxRequest(US, buyer, Supply(), ON))
    assert "NY-ST-119.1-0042" in decision.exemption_reason


def test_seller_problems_come_with_the_decision():
    decision = determine(TaxRequest(Seller("DE", "DE136695977"), FR_BAD_ID, Supply(), ON))
    assert [r.field for r in decision.requirements] == ["seller.tax_id", "buyer.tax_id"]


def test_a_datetime_for_the_supply_date_is_a_programming_error():
    with pytest.raises(TypeError, match="supply_date"):
        determine(TaxRequest(DE, DE_CONSUMER, Supply(), datetime(2026, 3, 1, 12, 0)))


def test_the_example_in_docs_runs_and_says_what_it_does():
    from pathlib import Path

    from docpages import blocks, read_page

    page = Path(__file__).resolve().parents[2] / "docs" / "tax.md"
    example = blocks(read_page(page), "python")[0]
    scope: dict = {}
    exec(example, scope)  # noqa: S102 - the page's own example
    decision = scope["decision"]
    assert (decision.category, decision.rate, decision.jurisdiction) == ("AE", Decimal("0"), "FR")
    assert decision.exemption_code == "VATEX-EU-AE" and "Article 196" in decision.note
    assert decision.requirements == ()
    assert scope["breakdown"].tax_total == Decimal("0.00")
