"""What the validation gates look at and what they return: plain facts in, findings out.

Gates are pure: `gates/load.py` gathers these facts from the database once per batch of invoices, and every
rule is a function `(InvoiceFacts, settings) -> list[Finding]`. A finding is data, never an exception, so a
held invoice can show all its problems at once and a case can group invoices by the cause they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

BLOCK, WARN, OFF = "block", "warn", "off"
SEVERITIES = (BLOCK, WARN, OFF)

# The taxonomy of exception cases; routing policies map each to a queue.
CASE_TYPES = (
    "usage_mismatch", "anomaly", "pricing_discrepancy", "entitlement", "master_data", "tax_inconsistency",
    "purchase_order", "contract_ceiling", "posting_readiness", "arithmetic", "duplicate_risk",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found on one invoice, with where it comes from and how to fix it.

    `root_cause` names the upstream fact at fault (a contract version, an account mapping, a customer's
    master data): invoices held for the same root cause join one case, so one fix releases them all.
    """

    gate: str
    code: str
    severity: str
    message: str
    record: str
    field: str
    suggested_fix: str
    root_cause: str
    case_type: str

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class LineFacts:
    position: int
    line_type: str
    description: str
    amount: Decimal
    precise_amount: Decimal
    product_code: str | None = None
    meter_code: str | None = None
    quantity: Decimal | None = None
    service_start: date | None = None
    service_end: date | None = None
    contract_version_id: int | None = None
    plan_version_id: int | None = None


@dataclass(frozen=True, slots=True)
class ContractVersionFacts:
    id: int
    version: int
    effective_from: date
    effective_to: date | None  # exclusive; None = open-ended (or until the next version)
    plan_version_id: int
    meters: frozenset[str]  # meters the version's plan prices (what the contract entitles)
    entitled_meters: frozenset[str] | None  # an explicit entitlement list, when the contract has one
    ceiling: Decimal | None  # not-to-exceed amount per billing period, in the contract currency
    non_standard: bool  # price or quantity overrides, discounts or a commitment


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    code: str
    name: str
    email: str | None
    billing_address: Mapping[str, Any] | None
    currency: str
    tax_ids: tuple[tuple[str, str], ...]  # (type, value)
    segment: str | None
    po_required: bool
    tax_exempt: bool
    account_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LegalEntityFacts:
    code: str
    name: str
    country: str | None
    currency: str | None
    tax_id: str | None
    address: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class MeterUsageFacts:
    """One metered charge of the invoice's period: what arrived, what arrived late, what came before."""

    meter: str
    events: int  # events of this customer and meter in the invoice's service period
    late_events: int  # of those, events that arrived after the period was billed
    trailing: tuple[Decimal, ...]  # billed quantities of the same meter on earlier invoices, oldest first
    billed: Decimal  # quantity billed on this invoice
    feed_events: int  # events of this meter from every customer in the period (a whole feed missing?)
    aggregation: str = "count"  # gauges (max, latest, weighted_sum) may go quiet while their level holds


@dataclass(frozen=True, slots=True)
class UnmappedAccountFacts:
    """Usage parked under an external account id no customer maps, attributed to this customer by name."""

    account_id: str
    events: int
    resembles: str  # the mapped account id (or customer code) it was matched to


@dataclass(frozen=True, slots=True)
class OtherInvoiceFacts:
    id: int
    document_type: str
    status: str
    subscription_id: int
    period_start: date | None
    period_end: date | None
    total: Decimal
    fee_spans: tuple[tuple[str, int, date, date], ...] = ()  # (product, contract version, start, end) of fees


@dataclass(frozen=True, slots=True)
class TaxRowFacts:
    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """Everything the gates may look at for one invoice."""

    id: int
    document_type: str
    status: str
    currency: str
    billing_date: date
    period_start: date | None
    period_end: date | None
    subtotal: Decimal
    discount_total: Decimal
    credits_applied: Decimal
    tax_total: Decimal
    total: Decimal
    subscription_code: str
    subscription_id: int
    contract_code: str
    po_number: str | None
    customer: CustomerFacts
    legal_entity: LegalEntityFacts
    lines: tuple[LineFacts, ...]
    contract_versions: tuple[ContractVersionFacts, ...]
    taxes: tuple[TaxRowFacts, ...] = ()
    usage: tuple[MeterUsageFacts, ...] = ()
    unmapped: tuple[UnmappedAccountFacts, ...] = ()
    others: tuple[OtherInvoiceFacts, ...] = ()  # the customer's other open (not void) documents
    product_tax_codes: Mapping[str, str] = field(default_factory=dict)
    tax_status: str = "calculated"  # none | calculated | blocked | pending (the tax engine could not answer)
    gl_roles: frozenset[tuple[str, str]] = frozenset()  # (role, product code or "") mapped to a known account

    @property
    def record(self) -> str:
        kind = "credit note" if self.document_type == "credit_note" else "invoice"
        return f"{kind} {self.id}"

    def version_for(self, version_id: int | None) -> ContractVersionFacts | None:
        return next((v for v in self.contract_versions if v.id == version_id), None)
