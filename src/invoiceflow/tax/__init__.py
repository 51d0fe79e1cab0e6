"""Tax: determination (category, rate, jurisdiction) and calculation (breakdown per rate) for invoices.

    decision = determine(TaxRequest(seller, buyer, supply, supply_date))  # problems: decision.requirements
    breakdown = calculate_tax([TaxLine.of(net, decision)], "EUR")         # tax rounded once per rate
    quote = BuiltinTaxEngine().quote(QuoteRequest(...))                  # the TaxEngine protocol, per invoice

Pure: no database, HTTP, clock or `time` (an import-linter contract keeps it so). See docs/tax.md.
"""

from invoiceflow.tax.calculate import TaxBreakdown, TaxLine, TaxSubtotal, calculate_tax
from invoiceflow.tax.engine import BuiltinTaxEngine, QuoteLine, QuoteRequest, TaxEngine, TaxQuote, TaxUnavailable
from invoiceflow.tax.ids import check_tax_id, normalize_tax_id
from invoiceflow.tax.model import (
    CATEGORIES,
    EU_MEMBER_STATES,
    TAX_CODES,
    Buyer,
    Seller,
    Supply,
    TaxDecision,
    TaxRequest,
    TaxRequirement,
)
from invoiceflow.tax.rates import RateNotFound, StateSalesTax, VatRates, us_state_sales_tax, vat_rate, vat_rates
from invoiceflow.tax.rules import determine

__all__ = [
    "BuiltinTaxEngine",
    "Buyer",
    "CATEGORIES",
    "EU_MEMBER_STATES",
    "QuoteLine",
    "QuoteRequest",
    "RateNotFound",
    "Seller",
    "StateSalesTax",
    "Supply",
    "TAX_CODES",
    "TaxBreakdown",
    "TaxDecision",
    "TaxEngine",
    "TaxLine",
    "TaxQuote",
    "TaxRequest",
    "TaxRequirement",
    "TaxSubtotal",
    "TaxUnavailable",
    "VatRates",
    "calculate_tax",
    "check_tax_id",
    "determine",
    "normalize_tax_id",
    "us_state_sales_tax",
    "vat_rate",
    "vat_rates",
]
