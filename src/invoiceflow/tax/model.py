"""What the tax engine is asked and what it answers: immutable values, no behaviour beyond normalising.

A `TaxRequest` describes one supply (who sells, who buys, what, when). A `TaxDecision` is the treatment:
the EN 16931 VAT category (BT-151 / BT-118), the rate, the jurisdiction, the exemption reason the invoice
must state, and `requirements` — problems found on the way, as data. A decision with a *blocking*
requirement must not be invoiced; its category and rate (when present) are the treatment that will apply
once the problem is fixed, never a silent fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

#: EN 16931 VAT category codes (UNTDID 5305 subset) the engine decides, with the standard's wording.
CATEGORIES = {
    "S": "standard rated",
    "Z": "zero rated",
    "E": "exempt from tax",
    "AE": "reverse charge",
    "K": "intra-community supply of goods",
    "G": "export outside the EU",
    "O": "not subject to tax",
}

#: Product tax codes a catalog may put on a product. `saas` is an alias of `digital_service`.
TAX_CODES = ("standard", "reduced", "reduced_low", "super_reduced", "zero", "exempt", "digital_service")
_ALIASES = {"saas": "digital_service"}

#: The 27 EU member states by ISO 3166-1 code (Greece is GR here; its VAT ids use the prefix EL).
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

SERVICES = "services"
GOODS = "goods"


def normalize_country(code: str) -> str:
    """ISO 3166-1 alpha-2, upper case; the VAT prefix EL and the common UK are accepted for GR and GB."""
    value = (code or "").strip().upper()
    return {"EL": "GR", "UK": "GB"}.get(value, value)


def normalize_tax_code(code: str) -> str:
    value = (code or "").strip().lower()
    return _ALIASES.get(value, value)


@dataclass(frozen=True, slots=True)
class Seller:
    """The legal entity that issues the invoice and owes (or does not owe) the tax."""

    country: str
    tax_id: str | None = None
    legal_entity: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", normalize_country(self.country))


@dataclass(frozen=True, slots=True)
class Buyer:
    """The customer. `region` is the US state ("CA" or "US-CA"); `exempt` needs a `certificate` number."""

    country: str
    region: str | None = None
    tax_id: str | None = None
    is_business: bool = False
    exempt: bool = False
    certificate: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", normalize_country(self.country))
        if self.region is not None:
            region = self.region.strip().upper()
            object.__setattr__(self, "region", region.removeprefix(f"{self.country}-") or None)


@dataclass(frozen=True, slots=True)
class Supply:
    """What is sold: a product tax code and whether it is goods or services (place-of-supply rules differ).

    `exemption_code` / `exemption_reason` let an exempt product state its own legal ground (for example
    "VATEX-EU-132-1I" for education); without them the engine states a generic reason.
    """

    tax_code: str = "standard"
    kind: str = SERVICES
    exemption_code: str | None = None
    exemption_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tax_code", normalize_tax_code(self.tax_code))
        object.__setattr__(self, "kind", (self.kind or "").strip().lower())

    @property
    def is_digital(self) -> bool:
        return self.tax_code == "digital_service"


@dataclass(frozen=True, slots=True)
class TaxRequest:
    """One supply to decide. `supply_date` is the tax point: it selects the rates in force."""

    seller: Seller
    buyer: Buyer
    supply: Supply
    supply_date: date


@dataclass(frozen=True, slots=True)
class TaxRequirement:
    """A problem found while deciding: `field` names the request field at fault (e.g. "buyer.tax_id").

    `code` is stable and machine-readable for validation gates; `message` says what, where and why.
    Non-blocking requirements are warnings: the decision stands but someone should confirm it.
    """

    code: str
    field: str
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True, slots=True)
class TaxDecision:
    """The tax treatment of one supply.

    `rate` is a percentage (Decimal("19") for 19 %), 0 for every category but S. `category` and `rate` are
    None only when no treatment could be determined (the requirements say why).
    """

    category: str | None
    rate: Decimal | None
    jurisdiction: str
    rule: str
    exemption_code: str | None = None
    exemption_reason: str | None = None
    note: str | None = None
    requirements: tuple[TaxRequirement, ...] = ()

    @property
    def blocked(self) -> bool:
        """True when a blocking requirement means the supply must not be invoiced yet."""
        return any(r.blocking for r in self.requirements)

    @property
    def warnings(self) -> tuple[TaxRequirement, ...]:
        return tuple(r for r in self.requirements if not r.blocking)
