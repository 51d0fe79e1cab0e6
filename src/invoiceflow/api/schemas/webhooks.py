"""Inbound integrations (configuration, mapping, events, drift) and outbound webhook endpoints and deliveries.

Secrets are write-only: an integration's secret is set by the caller and never shown again (only its last
four characters), an endpoint's secret is generated and shown once, in the response that creates or
rotates it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from invoiceflow.api.schemas.common import ReadModel, Timestamp, WriteModel
from invoiceflow.webhooks.endpoints import MAX_ROTATION_GRACE, ROTATION_GRACE


class IntegrationIn(WriteModel):
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="The signing secret the sender uses (Stripe: the endpoint's whsec_...). "
                                           "A new secret keeps the previous one valid for 24 hours.")
    tolerance_seconds: int | None = Field(None, ge=1, le=3600, description="Allowed clock skew (default 300).")
    active: bool | None = Field(None, description="A disabled source refuses every delivery.")


class Integration(ReadModel):
    source: str
    title: str
    signature_header: str
    events_url: str = Field(description="Where the sender posts (append to this server's base URL).")
    has_secret: bool
    secret_hint: str | None = None
    previous_secret_valid_until: Timestamp | None = None
    tolerance_seconds: int
    active: bool
    mapping: dict[str, str] = {}
    mapping_version: int
    updated_at: Timestamp | None = None
    event_types: list[str]


class MappingIn(WriteModel):
    fields: dict[str, str] = Field(max_length=200, description="Source field -> schema field, both dotted paths "
                                                               "inside the event's record object.")


class Mapping(ReadModel):
    source: str
    fields: dict[str, str]
    version: int


class DriftField(ReadModel):
    schema_version: str
    field: str
    kind: str = Field(description="unknown | missing | renamed")
    suggestion: str | None = Field(None, description="renamed: the unknown field that probably replaced it.")
    first_seen: Timestamp
    last_seen: Timestamp
    count: int
    sample: str | None = None
    last_event_id: str | None = None


class DriftReport(ReadModel):
    source: str
    fields: list[DriftField]
    counts: dict[str, int]
    parked_events: int
    suggested_mapping: dict[str, str] = Field(description="The mapping the renames suggest (review it first).")


class InboundEvent(ReadModel):
    id: int
    event_id: str | None = None
    event_type: str | None = None
    received_at: Timestamp
    signature_ok: bool
    schema_version: str | None = None
    status: str = Field(description="accepted | parked | rejected | replayed")
    error: str | None = None
    errors: list[dict[str, Any]] | None = None
    unknown_fields: list[str] | None = None
    result: dict[str, Any] | None = None
    attempts: int
    processed_at: Timestamp | None = None


class InboundEventDetail(InboundEvent):
    payload: Any = None


class Receipt(ReadModel):
    status: str = Field(description="accepted | replayed | duplicate")
    detail: str
    id: int | None = None
    event_id: str | None = None
    event_type: str | None = None
    schema_version: str | None = None
    unknown_fields: list[str] = []
    result: dict[str, Any] | None = None


class EndpointIn(WriteModel):
    url: str = Field(max_length=2000, description="https:// (http only to localhost).")
    event_types: list[str] = Field(min_length=1, max_length=20, description='Event types, or ["*"] for all.')
    description: str | None = Field(None, max_length=200)
    active: bool = True


class EndpointPatch(WriteModel):
    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=20)
    description: str | None = Field(None, max_length=200)
    active: bool | None = None


class Endpoint(ReadModel):
    id: int
    url: str
    event_types: list[str]
    description: str | None = None
    active: bool
    created_at: Timestamp
    created_by: str
    updated_at: Timestamp
    previous_secret_valid_until: Timestamp | None = Field(
        None, description="After a rotation: deliveries are also signed with the previous secret until then.")


class EndpointCreated(Endpoint):
    secret: str = Field(description="Shown only now: keep it to verify Invoiceflow-Signature.")


class RotateSecretIn(WriteModel):
    grace_seconds: int = Field(int(ROTATION_GRACE.total_seconds()), ge=0, le=int(MAX_ROTATION_GRACE.total_seconds()),
                               description="How long the current secret keeps signing beside the new one "
                                           "(default 24 h; 0 retires it at once).")
    reason: str | None = Field(None, max_length=500, description="Why, for the audit log (a leak, a schedule).")


class DeliveryAttempt(ReadModel):
    attempt: int
    outcome: str = Field(description="succeeded | transient | permanent | lost | stale")
    status_code: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
    url: str | None = None
    started_at: Timestamp
    finished_at: Timestamp


class Delivery(ReadModel):
    id: int = Field(description="The id of the webhook.deliver effect (also under /v1/effects).")
    event_id: str | None = None
    event_type: str | None = None
    status: str = Field(description="pending | running | succeeded | dead")
    attempts: int
    max_attempts: int
    next_attempt_at: Timestamp
    last_error: str | None = None
    created_at: Timestamp
    succeeded_at: Timestamp | None = None
    event: dict[str, Any]
    attempt_log: list[DeliveryAttempt] = []
