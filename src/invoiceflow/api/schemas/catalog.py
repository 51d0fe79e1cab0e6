"""Catalog resources as the API shows them, and the declarative document it accepts."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from invoiceflow.api.schemas.common import Money, ReadModel, WriteModel


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


class ApplyResult(ReadModel):
    changed: bool
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
