"""Built-in tax determination: which category, rate and jurisdiction apply to one supply.

`determine(request)` never raises for bad or incomplete business data: problems come back as
`TaxDecision.requirements` so validation gates can show them. A blocking requirement means "do not invoice";
there is no silent fallback (a B2B sale to another member state without a valid VAT id is *not* quietly
charged VAT — the decision stays reverse charge and is blocked until the id is fixed or the buyer is
re-classified as a consumer). Programming errors (a datetime for a date) raise TypeError.

Rules, in order (docs/tax.md explains each and what is simplified):

* VAT sellers (EU member states, GB): exempt product → E; exempt customer → E with its certificate;
  domestic sale → the seller country's rate for the product's rate class; digital service to a consumer
  abroad → the consumer country's VAT (EU One-Stop Shop, non-Union OSS, UK registration) where built in;
  EU → EU business → reverse charge AE (services) or intra-community supply K (goods), valid VAT id required;
  EU → EU consumer otherwise → origin VAT; outside the seller's VAT area → goods G (EU) or Z (GB export),
  services to businesses O, other services to consumers origin VAT (general rule).
* US sellers: US buyers pay the state-level rate of their state (`rates.py`); buyers abroad are outside US
  sales tax (O), except digital services to EU/UK consumers, which carry that country's VAT.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from invoiceflow.tax.ids import check_tax_id
from invoiceflow.tax.model import (
    EU_MEMBER_STATES,
    GOODS,
    SERVICES,
    TAX_CODES,
    TaxDecision,
    TaxRequest,
    TaxRequirement,
)
from invoiceflow.tax.rates import RateNotFound, has_vat_table, us_state_sales_tax, vat_rate

DIRECTIVE = "Council Directive 2006/112/EC"
REVERSE_CHARGE_NOTE = f"Reverse charge: VAT to be accounted for by the recipient, Article 196 {DIRECTIVE}"
INTRA_COMMUNITY_NOTE = f"Intra-community supply of goods, exempt from VAT under Article 138 {DIRECTIVE}"
EXPORT_NOTE = f"Export of goods outside the EU, exempt from VAT under Article 146 {DIRECTIVE}"

_RATE_CLASS = {"standard": "standard", "digital_service": "standard", "reduced": "reduced",
               "reduced_low": "reduced_low", "super_reduced": "super_reduced", "zero": "zero"}
_COUNTRY = re.compile(r"[A-Z]{2}")
_ZERO = Decimal(0)


def determine(request: TaxRequest) -> TaxDecision:
    """The tax treatment of one supply, with every problem found as a requirement (see module docstring)."""
    if not isinstance(request.supply_date, date) or isinstance(request.supply_date, datetime):
        raise TypeError(f"TaxRequest.supply_date must be a datetime.date, got {type(request.supply_date).__name__}")
    invalid = _invalid_request(request)
    if invalid is not None:
        return invalid
    seller_problems = _seller_requirements(request)
    decision = _us_regime(request) if request.seller.country == "US" else _vat_regime(request)
    return replace(decision, requirements=seller_problems + decision.requirements)


# -- shapes of a decision ---------------------------------------------------------------------------------


def _undetermined(jurisdiction: str, rule: str, code: str, field: str, message: str) -> TaxDecision:
    return TaxDecision(None, None, jurisdiction, rule, requirements=(TaxRequirement(code, field, message),))


def _unresolvable(jurisdiction: str, field: str, why: str) -> TaxDecision:
    return _undetermined(jurisdiction, "unresolvable", "jurisdiction_unresolvable", field,
                         f"jurisdiction not resolvable: {why}")


def _no_tax(category: str, jurisdiction: str, rule: str, code: str | None, reason: str,
            note: str | None = None, requirements: tuple[TaxRequirement, ...] = ()) -> TaxDecision:
    return TaxDecision(category, _ZERO, jurisdiction, rule, code, reason, note, requirements)


def _rated(country: str, request: TaxRequest, rule: str, note: str | None = None) -> TaxDecision:
    """The VAT rate of `country` for the product's rate class: S, or Z for zero-rated products."""
    try:
        rate = vat_rate(country, _RATE_CLASS[request.supply.tax_code], request.supply_date)
    except RateNotFound as exc:
        return _undetermined(country, rule, "rate_not_found", exc.field or "supply.tax_code", str(exc))
    category = "Z" if request.supply.tax_code == "zero" else "S"
    return TaxDecision(category, rate, country, rule, note=note)


# -- checks before any rule -------------------------------------------------------------------------------


def _invalid_request(request: TaxRequest) -> TaxDecision | None:
    seller, buyer, supply = request.seller, request.buyer, request.supply
    if supply.tax_code not in TAX_CODES:
        return _undetermined(seller.country, "invalid", "unknown_tax_code", "supply.tax_code",
                             f"unknown product tax code {supply.tax_code!r}; expected one of "
                             f"{', '.join(TAX_CODES)} (or saas)")
    if supply.kind not in (SERVICES, GOODS):
        return _undetermined(seller.country, "invalid", "unknown_supply_kind", "supply.kind",
                             f"supply kind must be {SERVICES!r} or {GOODS!r}, got {supply.kind!r}")
    if seller.country not in EU_MEMBER_STATES | {"GB", "JP", "US"}:
        return _unresolvable(seller.country, "seller.country",
                             f"no built-in tax rules for sellers in {seller.country!r} (EU member states, GB, "
                             "JP and US are built in); use an external tax engine")
    if not _COUNTRY.fullmatch(buyer.country):
        return _unresolvable(seller.country, "buyer.country",
                             f"buyer country {buyer.country!r} is not an ISO 3166-1 alpha-2 code")
    return None


def _seller_requirements(request: TaxRequest) -> tuple[TaxRequirement, ...]:
    """A VAT seller's id is printed on every VAT invoice; a US seller's EIN is optional but must be valid."""
    seller = request.seller
    if seller.country == "US" and not seller.tax_id:
        return ()
    problem = check_tax_id(seller.country, seller.tax_id)
    if problem is None:
        return ()
    return (TaxRequirement("seller_tax_id_invalid", "seller.tax_id",
                           f"the seller's tax id must be valid to issue a tax invoice: {problem}"),)


def _exempt_customer(request: TaxRequest, jurisdiction: str, rule: str) -> TaxDecision:
    certificate = (request.buyer.certificate or "").strip()
    if not certificate:
        problem = TaxRequirement("exemption_certificate_missing", "buyer.certificate",
                                 "the buyer is marked exempt but no exemption certificate number is recorded; "
                                 "record the certificate, or clear the exempt flag to charge tax")
        return _no_tax("E", jurisdiction, rule, None, "Exempt customer", requirements=(problem,))
    return _no_tax("E", jurisdiction, rule, None, f"Exempt customer: exemption certificate {certificate}")


def _exempt_supply(request: TaxRequest, jurisdiction: str, rule: str, default_reason: str) -> TaxDecision:
    supply = request.supply
    return _no_tax("E", jurisdiction, rule, supply.exemption_code, supply.exemption_reason or default_reason)


# -- VAT sellers (EU member states and GB) ----------------------------------------------------------------


def _vat_regime(request: TaxRequest) -> TaxDecision:
    seller, buyer, supply = request.seller, request.buyer, request.supply
    eu_seller = seller.country in EU_MEMBER_STATES
    regime = _regime(seller.country)
    if supply.tax_code == "exempt":
        return _exempt_supply(request, seller.country, f"{regime}.exempt_supply", "Exempt from VAT")
    if buyer.exempt:
        return _exempt_customer(request, seller.country, f"{regime}.exempt_customer")
    if buyer.country == seller.country:
        return _rated(seller.country, request, f"{regime}.domestic")
    if supply.is_digital and not buyer.is_business:
        return _digital_to_consumer(request)
    if eu_seller and buyer.country in EU_MEMBER_STATES:
        if buyer.is_business:
            return _intra_eu_business(request)
        return _rated(seller.country, request, "eu.consumer_origin")
    return _outside_vat_area(request, eu_seller)


def _intra_eu_business(request: TaxRequest) -> TaxDecision:
    """B2B across EU borders: the buyer accounts for the VAT, which needs its valid VAT id (BR-AE-02)."""
    buyer = request.buyer
    goods = request.supply.kind == GOODS
    problem = check_tax_id(buyer.country, buyer.tax_id)
    requirements: tuple[TaxRequirement, ...] = ()
    if problem is not None:
        what = "an intra-community supply of goods" if goods else "reverse charge"
        requirements = (TaxRequirement(
            "buyer_vat_id_invalid", "buyer.tax_id",
            f"{what} to a business in {buyer.country} needs the buyer's valid VAT id: {problem}; correct the "
            "id, or mark the buyer as a consumer (is_business false) to charge VAT"),)
    if goods:
        return _no_tax("K", buyer.country, "eu.intra_community_goods", "VATEX-EU-IC", "Intra-community supply",
                       INTRA_COMMUNITY_NOTE, requirements)
    return _no_tax("AE", buyer.country, "eu.reverse_charge", "VATEX-EU-AE", "Reverse charge",
                   REVERSE_CHARGE_NOTE, requirements)


def _digital_to_consumer(request: TaxRequest) -> TaxDecision:
    """Digital services to consumers are taxed where the consumer lives, from the first sale.

    Simplified: the EU's EUR 10,000 micro-business threshold is not applied (the seller is taken to be over
    it or to have opted in), and countries without a built-in VAT table are only flagged.
    """
    seller, buyer = request.seller, request.buyer
    if has_vat_table(buyer.country):
        if buyer.country == "GB":
            rule, note = "gb.digital_to_consumer", "UK VAT on digital services to a UK consumer"
        elif buyer.country == "JP":
            rule, note = "jp.digital_to_consumer", "Japanese consumption tax on digital services to a consumer in Japan"
        elif seller.country in EU_MEMBER_STATES:
            rule, note = "eu.oss_destination", "VAT of the consumer's member state, declared through the OSS"
        else:
            rule, note = "eu.non_union_oss", "VAT of the consumer's member state, declared through the non-Union OSS"
        return _rated(buyer.country, request, rule, note)
    warning = TaxRequirement(
        "destination_rules_unknown", "buyer.country",
        f"digital services to consumers in {buyer.country} may be taxed there (many countries tax them from "
        f"the first sale); the built-in rules do not cover {buyer.country}, so confirm registration duties",
        blocking=False)
    rule = f"{_regime(seller.country)}.digital_consumer_abroad"
    if seller.country == "US":
        return _no_tax("O", "US", rule, None, f"Not subject to US sales tax: the customer is in {buyer.country}",
                       requirements=(warning,))
    return _no_tax("O", seller.country, rule, "VATEX-EU-O", "Not subject to VAT",
                   f"Outside the scope of {_area(seller.country)} VAT: the consumer is in {buyer.country}",
                   (warning,))


def _outside_vat_area(request: TaxRequest, eu_seller: bool) -> TaxDecision:
    """Buyer outside the seller's VAT area: goods leave it zero-taxed; B2B services are out of scope."""
    seller, buyer, supply = request.seller, request.buyer, request.supply
    if supply.kind == GOODS:
        if eu_seller:
            return _no_tax("G", seller.country, "eu.export_goods", "VATEX-EU-G", "Export outside the EU",
                           EXPORT_NOTE)
        return TaxDecision("Z", _ZERO, seller.country, "gb.export_goods",
                           note="Zero-rated export of goods: keep evidence that the goods left the UK")
    if buyer.is_business:
        article = f", Article 44 {DIRECTIVE}" if eu_seller else ""
        return _no_tax("O", seller.country, f"{_regime(seller.country)}.services_business_abroad",
                       "VATEX-EU-O", "Not subject to VAT",
                       f"Outside the scope of {_area(seller.country)} VAT: the place of supply is the "
                       f"customer's country{article}")
    article = f" (Article 45 {DIRECTIVE})" if eu_seller else ""
    return _rated(seller.country, request, f"{_regime(seller.country)}.services_consumer_abroad",
                  f"Services to a consumer are taxed where the supplier is established{article}")


def _area(country: str) -> str:
    return "EU" if country in EU_MEMBER_STATES else {"GB": "UK", "JP": "Japanese"}.get(country, country)


def _regime(country: str) -> str:
    """Prefix of rule names: eu, gb, jp or us."""
    return "eu" if country in EU_MEMBER_STATES else country.lower()


# -- US sellers -------------------------------------------------------------------------------------------


def _us_regime(request: TaxRequest) -> TaxDecision:
    buyer, supply = request.buyer, request.supply
    if buyer.country != "US":
        if supply.is_digital and not buyer.is_business:
            return _digital_to_consumer(request)
        return _no_tax("O", "US", "us.outside_us", None,
                       f"Not subject to US sales tax: the customer is in {buyer.country}")
    if not buyer.region:
        return _unresolvable("US", "buyer.region",
                             "a US buyer needs its state (buyer.region, e.g. 'CA') to decide sales tax")
    try:
        state = us_state_sales_tax(buyer.region, request.supply_date)
    except RateNotFound as exc:
        if exc.field == "buyer.region":
            return _unresolvable(f"US-{buyer.region}", "buyer.region", str(exc))
        return _undetermined(f"US-{buyer.region}", "us.state_sales_tax", "rate_not_found", exc.field, str(exc))
    where = f"US-{state.state}"
    if supply.tax_code == "exempt":
        return _exempt_supply(request, where, "us.exempt_supply", f"Exempt from sales tax in {where}")
    if buyer.exempt:
        return _exempt_customer(request, where, "us.exempt_customer")
    if state.rate == 0:
        return _no_tax("O", where, "us.no_state_sales_tax", None, f"No state sales tax in {where}")
    if supply.tax_code == "zero":
        return TaxDecision("Z", _ZERO, where, "us.zero_rated")
    if supply.tax_code in ("reduced", "reduced_low", "super_reduced"):
        return _undetermined(where, "us.state_sales_tax", "rate_not_found", "supply.tax_code",
                             f"the built-in US table holds state base rates only; a {supply.tax_code} product "
                             f"in {where} needs an external tax engine")
    if supply.is_digital and state.saas_taxable is False:
        return _no_tax("E", where, "us.saas_not_taxable", None, f"Software as a service is not taxable in {where}")
    decision = TaxDecision("S", state.rate, where, "us.state_sales_tax")
    if supply.is_digital and state.saas_taxable is None:
        warning = TaxRequirement(
            "taxability_unconfirmed", "supply.tax_code",
            f"whether {where} taxes software as a service depends on its use or is not recorded in the "
            "built-in table; charged as taxable, confirm with an adviser or an external tax engine",
            blocking=False)
        return replace(decision, requirements=(warning,))
    return decision

