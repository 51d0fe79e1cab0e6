"""The invoice as EN 16931 sees it: immutable values named after the business terms (BT-n / BG-n).

The model is format-neutral: UBL and CII writers read it, `totals.compute_totals` derives every amount the
standard calculates, and `requirements.check` decides which optional terms a format makes mandatory. It
holds what the seller *states* (prices, quantities, allowance amounts); nothing derived is stored here, so
an invoice cannot carry totals that disagree with its lines.

Amounts, quantities and rates are `Decimal`; a float is refused at construction with a TypeError.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal

INVOICE = "380"
CREDIT_NOTE = "381"
DOCUMENT_TYPES = {INVOICE: "commercial invoice", CREDIT_NOTE: "credit note"}

#: EN 16931 VAT category codes (UNTDID 5305 subset) supported here, with the standard's wording.
VAT_CATEGORIES = {
    "S": "standard rated",
    "Z": "zero rated",
    "E": "exempt from VAT",
    "AE": "reverse charge",
    "K": "intra-community supply",
    "G": "export outside the EU",
    "O": "not subject to VAT",
}

#: Categories whose VAT breakdown must state why no VAT is charged (BR-E-10, BR-AE-10, BR-IC-10, BR-G-10,
#: BR-O-10), with the default code and text used when the invoice does not give its own.
EXEMPTION_DEFAULTS: dict[str, tuple[str | None, str | None]] = {
    "E": (None, None),
    "AE": ("VATEX-EU-AE", "Reverse charge"),
    "K": ("VATEX-EU-IC", "Intra-community supply"),
    "G": ("VATEX-EU-G", "Export outside the EU"),
    "O": ("VATEX-EU-O", "Not subject to VAT"),
}

#: Payment means codes (UNTDID 4461) supported: 30 credit transfer, 58 SEPA credit transfer.
PAYMENT_MEANS = {"30": "credit transfer", "58": "SEPA credit transfer"}


def _check_decimals(obj: object) -> None:
    """Refuse floats (and other non-Decimal numbers) in Decimal-typed fields: floats lose cents."""
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and "Decimal" in str(f.type)):
            raise TypeError(f"{type(obj).__name__}.{f.name} must be Decimal, got {type(value).__name__} {value!r}")


@dataclass(frozen=True, slots=True)
class Address:
    """Postal address (BG-5, BG-8, BG-15). `lines` are BT-35/36/162; `country` is ISO 3166-1 alpha-2."""

    country: str
    lines: tuple[str, ...] = ()
    city: str | None = None
    postcode: str | None = None
    subdivision: str | None = None


@dataclass(frozen=True, slots=True)
class ElectronicAddress:
    """Electronic address (BT-34 / BT-49) with its EAS scheme (e.g. 9930 German VAT, 0088 GLN, EM e-mail)."""

    identifier: str
    scheme: str


@dataclass(frozen=True, slots=True)
class Contact:
    """Contact point (BG-6 / BG-9): name, telephone and e-mail."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class LegalRegistration:
    """Legal registration identifier (BT-30 / BT-47), optionally with its ISO 6523 ICD scheme."""

    identifier: str
    scheme: str | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """Seller (BG-4) or buyer (BG-7). `tax_registration_id` (BT-32) is meaningful for the seller only."""

    name: str
    address: Address
    vat_id: str | None = None
    tax_registration_id: str | None = None
    legal_registration: LegalRegistration | None = None
    trading_name: str | None = None
    electronic_address: ElectronicAddress | None = None
    contact: Contact | None = None


@dataclass(frozen=True, slots=True)
class VatRate:
    """VAT category code and rate in percent; the rate is None only for category O (no rate is allowed)."""

    category: str
    rate: Decimal | None

    def __post_init__(self) -> None:
        _check_decimals(self)


@dataclass(frozen=True, slots=True)
class VatExemption:
    """Why a category carries no VAT (BT-120 text, BT-121 VATEX code), stated once per VAT breakdown."""

    category: str
    reason: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class AllowanceCharge:
    """An allowance (discount) or a charge on the document (BG-20/21) or on a line (BG-27/28).

    Either `amount` is given, or `percent` of `base_amount` (on a line the base defaults to quantity x
    price); the amount is then computed and rounded once. `vat` is required on the document level only.
    """

    charge: bool
    reason: str | None = None
    reason_code: str | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None
    base_amount: Decimal | None = None
    vat: VatRate | None = None

    def __post_init__(self) -> None:
        _check_decimals(self)


@dataclass(frozen=True, slots=True)
class Period:
    """Invoicing or line period (BG-14 / BG-26)."""

    start: date | None = None
    end: date | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """Invoice line (BG-25): quantity x net price / base quantity, adjusted by the line's allowances/charges."""

    id: str
    name: str
    quantity: Decimal
    unit_code: str
    net_price: Decimal
    vat: VatRate
    price_base_quantity: Decimal = Decimal(1)
    description: str | None = None
    note: str | None = None
    seller_item_id: str | None = None
    period: Period | None = None
    allowances_charges: tuple[AllowanceCharge, ...] = ()

    def __post_init__(self) -> None:
        _check_decimals(self)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Delivery information (BG-13): actual delivery date (BT-72), deliver-to name and address (BG-15)."""

    date: date | None = None
    name: str | None = None
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class PaymentMeans:
    """Payment instructions (BG-16); for SEPA (58) `account_id` is the payee IBAN (BT-84), `bic` BT-86."""

    code: str = "58"
    account_id: str | None = None
    bic: str | None = None
    account_name: str | None = None
    remittance_info: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentReference:
    """Preceding invoice reference (BG-3): number (BT-25) and issue date (BT-26)."""

    number: str
    issue_date: date | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice (380) or credit note (381) in EN 16931 terms. Totals are derived, never stored."""

    number: str
    issue_date: date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    type_code: str = INVOICE
    due_date: date | None = None
    payment_terms: str | None = None
    buyer_reference: str | None = None
    purchase_order: str | None = None
    preceding_invoice: DocumentReference | None = None
    period: Period | None = None
    delivery: Delivery | None = None
    allowances_charges: tuple[AllowanceCharge, ...] = ()
    exemptions: tuple[VatExemption, ...] = ()
    payment_means: PaymentMeans | None = None
    notes: tuple[str, ...] = ()
    prepaid_amount: Decimal = Decimal(0)
    rounding_amount: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        _check_decimals(self)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    def categories(self) -> list[str]:
        """VAT categories used by lines and document-level allowances/charges, in order of appearance."""
        seen: list[str] = []
        for vat in [line.vat for line in self.lines] + [ac.vat for ac in self.allowances_charges if ac.vat]:
            if vat.category not in seen:
                seen.append(vat.category)
        return seen

    def exemption_for(self, category: str) -> tuple[str | None, str | None]:
        """(code, text) stating why `category` carries no VAT: the invoice's own, else the standard default."""
        for exemption in self.exemptions:
            if exemption.category == category:
                return exemption.code, exemption.reason
        return EXEMPTION_DEFAULTS.get(category, (None, None))

    def outside_scope_only(self) -> bool:
        """True when every category is O: then VAT identifiers must be left out (BR-O-02..04)."""
        return self.categories() == ["O"]
