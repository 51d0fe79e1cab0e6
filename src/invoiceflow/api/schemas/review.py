"""Review cases, their resolutions, release KPIs and policy versions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from invoiceflow.api.schemas.billing import Finding
from invoiceflow.api.schemas.common import Money, ReadModel, Timestamp, WriteModel

Queue = Literal["finance", "revops", "tax", "collections", "support"]


class CaseSummary(ReadModel):
    id: int
    case_type: str
    root_cause: str
    title: str
    queue: str
    priority: str
    status: str
    assignee: str | None = None
    opened_at: Timestamp
    due_at: Timestamp
    resolved_at: Timestamp | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    reason: str | None = None
    escalations: int
    override_requested_by: str | None = None
    invoices: int = Field(description="Invoices the case holds.")
    age_hours: Decimal
    sla_breached: bool


class HeldInvoice(ReadModel):
    id: int
    status: str
    total: Money
    currency: str
    number: str | None = None
    customer: str


class Case(CaseSummary):
    invoices: int = 0
    findings: list[Finding]
    held_invoices: list[HeldInvoice]


class AssignIn(WriteModel):
    to: str = Field(min_length=1, max_length=128, description="The member to assign the case to.")


class ResolveIn(WriteModel):
    action: Literal["revalidate", "override", "void", "escalate"]
    reason: str = Field(min_length=1, max_length=2000)
    to_queue: Queue | None = Field(None, description="With escalate: move the case to this queue.")


class ApproveOverrideIn(WriteModel):
    reason: str | None = Field(None, max_length=2000)


class CaseOutcome(ReadModel):
    case_id: int
    action: str
    status: str
    message: str
    invoices: dict[str, str]
    remaining: list[str] = []


class PolicyIn(WriteModel):
    source: str = Field(min_length=1, max_length=200_000, description="The policy as YAML text.")
    name: str | None = Field(None, max_length=200, description="A label for the audit log (e.g. the file name).")


class PolicyCheck(ReadModel):
    valid: bool
    errors: list[dict[str, str]] = []
    gates: int | None = None
    routes: int | None = None
    approval_rules: int | None = None


class PolicyVersion(ReadModel):
    version: int
    name: str | None = None
    created_by: str
    created_at: Timestamp
    content_hash: str


class PolicyDetail(ReadModel):
    version: int
    source: str
    document: dict[str, Any]


class PolicyApplied(ReadModel):
    version: int
    created: bool
    warnings: list[str] = []


