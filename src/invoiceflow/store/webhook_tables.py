"""Tables of the inbound and outbound webhooks. Same metadata (and so the same migrations) as store/tables.py.

Inbound: `integration_sources` holds a tenant's configuration per source (crm, psa, payments): the signing
secret, the timestamp tolerance and the field mapping. `inbound_events` keeps every signed delivery with
its payload and status; the unique (tenant, source, event id) is what makes a redelivered event a no-op.
`drift_records` counts each field that drifted from the source's schema (unknown, missing, renamed).

Outbound: `webhook_endpoints` are a tenant's receivers. A delivery is an effect of kind "webhook.deliver"
(its attempts are logged in `effect_attempts`); `webhook_attempts` adds what only the HTTP call knows
(status code, duration, the start of the response), joined to the effect's attempt log by (effect, worker).

Secrets are stored as given: both sides of an HMAC need the secret itself, so a hash cannot verify a
signature. They never leave the database through the API (docs/webhooks.md, "Secrets").
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from invoiceflow.store.effects_tables import effects
from invoiceflow.store.tables import Id, _id, _tenant, metadata
from invoiceflow.store.types import ExactDecimal, JSONText

integration_sources = Table(
    "integration_sources",
    metadata,
    _id(),
    _tenant(),
    Column("source", String(16), nullable=False),  # crm | psa | payments
    Column("secret", String(200)),  # the current signing secret (NULL until configured)
    Column("previous_secret", String(200)),  # still accepted until previous_valid_until (rotation)
    Column("previous_valid_until", DateTime(timezone=True)),
    Column("tolerance_seconds", Integer, nullable=False, server_default="300"),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("mapping", JSONText, nullable=False),  # {"Plan__c": "PlanCode"}: source field -> schema field
    Column("mapping_version", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(128), nullable=False),
    UniqueConstraint("tenant_id", "source", name="uq_integration_sources_source"),
)

inbound_events = Table(
    "inbound_events",
    metadata,
    _id(),
    _tenant(),
    Column("source", String(16), nullable=False),
    Column("event_id", String(200)),  # the sender's id; NULL when the delivery was refused before parsing
    Column("event_type", String(64)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("signature_ok", Boolean, nullable=False),
    Column("schema_version", String(64)),  # the schema it was checked against: "crm-opportunity-v1"
    Column("payload", JSONText),  # as received (before the mapping); NULL for refused signatures
    Column("status", String(16), nullable=False),  # accepted | parked | rejected | replayed
    Column("error", Text),
    Column("errors", JSONText),  # field errors of the last processing
    Column("unknown_fields", JSONText),
    Column("result", JSONText),  # what processing did (contract applied, usage ingested, payment posted)
    Column("attempts", Integer, nullable=False, server_default="0"),  # processing runs (delivery + replays)
    Column("processed_at", DateTime(timezone=True)),
    Column("invoice_id", Id),  # payments: the invoice the event paid
    Column("amount", ExactDecimal),  # payments: the amount applied to it
    UniqueConstraint("tenant_id", "source", "event_id", name="uq_inbound_events_event"),
)
Index("ix_inbound_events_status", inbound_events.c.tenant_id, inbound_events.c.source, inbound_events.c.status,
      inbound_events.c.id)
Index("ix_inbound_events_invoice", inbound_events.c.tenant_id, inbound_events.c.invoice_id)

drift_records = Table(
    "drift_records",
    metadata,
    _id(),
    _tenant(),
    Column("source", String(16), nullable=False),
    Column("schema_version", String(64), nullable=False),
    Column("field_path", String(300), nullable=False),  # dotted, from the payload root: "opportunity.Plan__c"
    Column("kind", String(16), nullable=False),  # unknown | missing | renamed
    Column("suggestion", String(300)),  # renamed: the unknown field that probably replaced it
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("sample", Text),  # a short JSON excerpt of a value seen (unknown fields)
    Column("last_event_id", String(200)),
    UniqueConstraint("tenant_id", "source", "schema_version", "field_path", "kind", name="uq_drift_records_field"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(),
    _tenant(),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("previous_secret", String(200)),  # also signs deliveries until previous_valid_until (rotation)
    Column("previous_valid_until", DateTime(timezone=True)),
    Column("event_types", JSONText, nullable=False),  # ["invoice.issued", ...] or ["*"]
    Column("description", String(200)),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)
Index("ix_webhook_endpoints_tenant", webhook_endpoints.c.tenant_id, webhook_endpoints.c.active)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _id(),
    _tenant(),
    Column("effect_id", Id, ForeignKey(effects.c.id), nullable=False),
    Column("endpoint_id", Id, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(200), nullable=False),  # the run's claim token, as in effect_attempts
    Column("url", String(2000), nullable=False),
    Column("status_code", Integer),  # NULL when no response came (timeout, refused connection)
    Column("duration_ms", Integer, nullable=False),
    Column("response_excerpt", Text),
    Column("error", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_webhook_attempts_effect", webhook_attempts.c.effect_id, webhook_attempts.c.worker)
