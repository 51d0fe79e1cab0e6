"""Catalog resources as the API shows them, the declarative document it accepts, and one item of it.

The `*In` models are the items of the catalog document's sections (the published catalog schema), so a
`PUT /v1/<kind>/{code}` body is exactly what that record would be in a document, and its content hash is
the same. Types mirror the published schema: decimals stay the string or integer that was sent and dates
stay `YYYY-MM-DD` text, because apply hashes and stores the item as given. An optional field sent as null
counts as not sent (as in every write model of the API; the PUT drops it, so the hash is the document's),
and text is capped at the stored column's length, so an over-long value is a 422 naming the field rather
than a refusal by the database.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator, StrictBool, StringConstraints, WithJsonSchema

from invoiceflow.api.schemas.common import Money, ReadModel, WriteModel

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _decimal_text(value: Any) -> str | int:
    """A decimal as the document allows it: a string like "12.50" or an integer, never a float."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not _DECIMAL.fullmatch(str(value)):
        raise ValueError('must be a decimal string ("12.50") or an integer; floats lose cents')
    return value


def _calendar_date(value: str) -> str:
    date.fromisoformat(value)  # ValueError names the day or month that does not exist
    return value


Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
DecimalText = Annotated[str | int, PlainValidator(_decimal_text), WithJsonSchema({"anyOf": [
    {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}, {"type": "integer"}], "examples": ["12.50"]})]
DateText = Annotated[str, StringConstraints(pattern=_DATE), AfterValidator(_calendar_date),
                     WithJsonSchema({"type": "string", "format": "date", "pattern": _DATE})]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
UniqueCodes = Annotated[list[Code], Field(json_schema_extra={"uniqueItems": True})]
UniqueNames = Annotated[list[str], Field(json_schema_extra={"uniqueItems": True})]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class LegalEntity(ReadModel):
    id: int
    code: str
    name: str
    country: str
    currency: str
    tax_id: str | None = None
    address: dict[str, Any] | None = None


class Customer(ReadModel):
    id: int
    code: str
    name: str
    email: str | None = None
    timezone: str
    currency: str
    legal_entity: str
    billing_address: dict[str, Any] | None = None
    tax_ids: list[dict[str, Any]] | None = None
    segment: str | None = None
    crm_id: str | None = None
    po_required: bool
    tax_exempt: bool
    account_ids: list[str] = []


class Product(ReadModel):
    id: int
    code: str
    name: str
    description: str | None = None
    tax_code: str


class Meter(ReadModel):
    id: int
    code: str
    name: str
    aggregation: str
    field: str | None = None
    group_by: list[str] = []
    unit: str | None = None


class PlanVersion(ReadModel):
    version: int
    charges: list[dict[str, Any]]


class Plan(ReadModel):
    id: int
    code: str
    name: str
    currency: str
    versions: list[PlanVersion] = []


class ContractVersion(ReadModel):
    version: int
    effective_from: date
    plan: str
    plan_version: int
    terms: dict[str, Any]


class Contract(ReadModel):
    id: int
    code: str
    customer: str
    currency: str
    po_number: str | None = None
    versions: list[ContractVersion] = []


class Subscription(ReadModel):
    id: int
    code: str
    customer: str
    contract: str
    interval: str
    anchor: str
    start_date: date
    end_date: date | None = None
    trial_end: date | None = None
    cancel_mode: str | None = None


class PrepaidCredit(ReadModel):
    code: str
    customer: str
    currency: str
    amount: Money
    granted_on: date


Section = list[dict[str, Any]]


class CatalogDocument(WriteModel):
    """The declarative document of `invoiceflow apply` (docs/catalog.md); each section is checked in depth
    against the published JSON Schema, so problems name the record and field."""

    tenant: str | None = Field(None, description="Optional; must be the caller's tenant when given.")
    legal_entities: Section = Field(default_factory=list)
    products: Section = Field(default_factory=list)
    meters: Section = Field(default_factory=list)
    customers: Section = Field(default_factory=list)
    plans: Section = Field(default_factory=list)
    contracts: Section = Field(default_factory=list)
    subscriptions: Section = Field(default_factory=list)
    prepaid_credits: Section = Field(default_factory=list)
    gl: Section = Field(default_factory=list)


class AddressIn(WriteModel):
    line1: str | None = Field(None)
    line2: str | None = Field(None)
    city: str | None = Field(None)
    postal_code: str | None = Field(None)
    region: str | None = Field(None)
    country: Country | None = Field(None)


class LegalEntityIn(WriteModel):
    """A selling company (catalog section `legal_entities`)."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    name: str = Field(min_length=1, max_length=200)
    country: Country
    currency: Currency
    tax_id: str | None = Field(None, max_length=64)
    address: AddressIn | None = Field(None)


class TaxIdIn(WriteModel):
    type: str = Field(description="vat, eu_vat, gb_vat, tax_id, exemption_certificate, ...")
    value: str


class CustomerIn(WriteModel):
    """A customer (catalog section `customers`); `account_ids` are only ever added, never removed."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    timezone: str | None = Field(None, max_length=64, description="IANA zone of the billing periods (default UTC).")
    currency: Currency
    legal_entity: Code
    billing_address: AddressIn | None = Field(None)
    tax_ids: list[TaxIdIn] | None = Field(None)
    segment: str | None = Field(None, max_length=64)
    crm_id: str | None = Field(None, max_length=128)
    account_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] | None = Field(None)
    po_required: StrictBool | None = Field(None, description="Invoices need a purchase order number on the contract.")
    tax_exempt: StrictBool | None = Field(None, description="Exempt from sales tax (certificate as a tax id).")


class ProductIn(WriteModel):
    """A product (catalog section `products`)."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    name: str = Field(max_length=200)
    description: str | None = Field(None)
    tax_code: Literal["standard", "reduced", "reduced_low", "super_reduced", "zero", "exempt", "digital_service",
                      "saas"] | None = Field(None, description="The product's tax class (default standard).")


class MeterIn(WriteModel):
    """A meter (catalog section `meters`); aggregation, field and group_by are fixed once it has events."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    name: str = Field(max_length=200)
    aggregation: Literal["count", "sum", "max", "unique_count", "latest", "weighted_sum"]
    field: str | None = Field(None, max_length=64)
    unit: str | None = Field(None, max_length=32)
    group_by: UniqueNames | None = Field(None)


class ChargeIn(WriteModel):
    code: Code
    product: Code
    meter: Code | None = Field(None, description="The meter a usage charge rates.")
    price: dict[str, Any] = Field(description="A price document (docs/pricing.md).")
    timing: Literal["advance", "arrears"] | None = Field(None)
    quantity: DecimalText | None = Field(None)
    description: str | None = Field(None)


class PlanIn(WriteModel):
    """A plan (catalog section `plans`); changed charges become a new plan version."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    name: str = Field(max_length=200)
    currency: Currency
    charges: list[ChargeIn] = Field(min_length=1)


class DiscountIn(WriteModel):
    code: Code
    kind: Literal["percent", "fixed"]
    value: DecimalText
    duration: Literal["once", "periods", "forever"] | None = Field(None)
    periods: int | None = Field(None, ge=1, le=2**31 - 1)


class ContractVersionIn(WriteModel):
    effective_from: DateText
    effective_to: DateText | None = Field(None)
    plan: Code
    plan_version: int | None = Field(None, ge=1, le=2**31 - 1)
    price_overrides: dict[str, dict[str, Any]] | None = Field(None, description="Per charge code: a price document.")
    quantity_overrides: dict[str, DecimalText] | None = Field(None)
    minimum_commitment: DecimalText | None = Field(None)
    discounts: list[DiscountIn] | None = Field(None)
    ceiling: DecimalText | None = Field(None, description="Not-to-exceed amount per billing period, before tax.")
    entitlements: UniqueCodes | None = Field(None)


class ContractIn(WriteModel):
    """A contract with every dated version (catalog section `contracts`): versions are never removed."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    customer: Code
    currency: Currency
    po_number: str | None = Field(None, max_length=64)
    versions: list[ContractVersionIn] = Field(min_length=1)


class SubscriptionIn(WriteModel):
    """A subscription (catalog section `subscriptions`)."""

    code: Code | None = Field(None, description="Optional: the path's code; if given it must be the same.")
    contract: Code
    interval: Literal["weekly", "monthly", "quarterly", "semiannual", "annual"]
    anchor: Literal["calendar", "anniversary"] | None = Field(None)
    start_date: DateText
    end_date: DateText | None = Field(None)
    trial_end: DateText | None = Field(None)
    cancel_mode: Literal["immediate", "period_end"] | None = Field(None)


class ApplyResult(ReadModel):
    changed: bool
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
