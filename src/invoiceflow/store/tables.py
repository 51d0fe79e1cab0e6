"""The relational schema (SQLAlchemy Core). Every row carries its tenant.

Idempotency lives here as unique constraints: one event per (tenant, transaction_id), one bill-run document
per (subscription, billing date, document type), one prepaid top-up per (tenant, code), one credit note per
client reference.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from invoiceflow.store.types import ExactDecimal, JSONText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

Id = BigInteger().with_variant(Integer, "sqlite")


def _id() -> Column:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _tenant() -> Column:
    return Column("tenant_id", Id, ForeignKey("tenants.id"), nullable=False)


tenants = Table(
    "tenants",
    metadata,
    _id(),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
)

legal_entities = Table(
    "legal_entities",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tax_id", String(64)),
    Column("address", JSONText),
    Column("content_hash", String(32), nullable=False),
    UniqueConstraint("tenant_id", "code", name="uq_legal_entities_code"),
)

customers = Table(
    "customers",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(254)),
    Column("timezone", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("billing_address", JSONText),
    Column("tax_ids", JSONText),
    Column("segment", String(64)),
    Column("crm_id", String(128)),
    Column("content_hash", String(32), nullable=False),
    Column("po_required", SmallInteger, nullable=False, server_default="0"),
    Column("tax_exempt", SmallInteger, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "code", name="uq_customers_code"),
)

customer_accounts = Table(
    "customer_accounts",
    metadata,
    _id(),
    _tenant(),
    Column("external_id", String(128), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("source", String(32), nullable=False),
    UniqueConstraint("tenant_id", "external_id", name="uq_customer_accounts_external_id"),
)

products = Table(
    "products",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("content_hash", String(32), nullable=False),
    Column("tax_code", String(24), nullable=False, server_default="standard"),
    UniqueConstraint("tenant_id", "code", name="uq_products_code"),
)

meters = Table(
    "meters",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("aggregation", String(16), nullable=False),
    Column("field", String(64)),
    Column("group_by", JSONText, nullable=False),
    Column("unit", String(32)),
    Column("content_hash", String(32), nullable=False),
    UniqueConstraint("tenant_id", "code", name="uq_meters_code"),
)

plans = Table(
    "plans",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    UniqueConstraint("tenant_id", "code", name="uq_plans_code"),
)

plan_versions = Table(
    "plan_versions",
    metadata,
    _id(),
    _tenant(),
    Column("plan_id", Id, ForeignKey("plans.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("charges", JSONText, nullable=False),
    Column("content_hash", String(32), nullable=False),
    UniqueConstraint("plan_id", "version", name="uq_plan_versions_plan_version"),
)

contracts = Table(
    "contracts",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("po_number", String(64)),
    UniqueConstraint("tenant_id", "code", name="uq_contracts_code"),
)

contract_versions = Table(
    "contract_versions",
    metadata,
    _id(),
    _tenant(),
    Column("contract_id", Id, ForeignKey("contracts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("plan_version_id", Id, ForeignKey("plan_versions.id"), nullable=False),
    Column("terms", JSONText, nullable=False),
    Column("content_hash", String(32), nullable=False),
    UniqueConstraint("contract_id", "version", name="uq_contract_versions_version"),
    UniqueConstraint("contract_id", "effective_from", name="uq_contract_versions_effective_from"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("contract_id", Id, ForeignKey("contracts.id"), nullable=False),
    Column("interval", String(16), nullable=False),
    Column("anchor", String(16), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    Column("trial_end", Date),
    Column("cancel_mode", String(16)),
    Column("content_hash", String(32), nullable=False),
    UniqueConstraint("tenant_id", "code", name="uq_subscriptions_code"),
)
Index("ix_subscriptions_customer", subscriptions.c.tenant_id, subscriptions.c.customer_id)

prepaid_credits = Table(
    "prepaid_credits",
    metadata,
    _id(),
    _tenant(),
    Column("code", String(64), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("granted_on", Date, nullable=False),
    UniqueConstraint("tenant_id", "code", name="uq_prepaid_credits_code"),
)

usage_events = Table(
    "usage_events",
    metadata,
    _id(),
    _tenant(),
    Column("transaction_id", String(128), nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("meter_id", Id, nullable=False),
    Column("ts", BigInteger, nullable=False),  # UTC epoch microseconds
    Column("quantity", BigInteger, nullable=False),  # value x 10**6 (metering.QUANTITY_SCALE)
    Column("distinct_value", String(256)),
    Column("dims", String(512), nullable=False, server_default=""),
    Column("properties", Text),
    Column("payload_hash", String(32), nullable=False),
    Column("late", SmallInteger, nullable=False, server_default="0"),
    Column("ingested_at", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "transaction_id", name="uq_usage_events_transaction"),
)
Index("ix_usage_events_window", usage_events.c.customer_id, usage_events.c.meter_id, usage_events.c.ts)

usage_cursors = Table(
    "usage_cursors",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id"), primary_key=True),
    Column("customer_id", Id, primary_key=True),
    Column("meter_id", Id, primary_key=True),
    Column("billed_through", BigInteger, nullable=False),  # UTC epoch micros; earlier events are late
)

bill_runs = Table(
    "bill_runs",
    metadata,
    _id(),
    _tenant(),
    Column("as_of", Date, nullable=False),
    Column("label", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("stats", JSONText),
)

invoices = Table(
    "invoices",
    metadata,
    _id(),
    _tenant(),
    Column("document_type", String(16), nullable=False),  # invoice | credit_note
    Column("status", String(24), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("subscription_id", Id, ForeignKey("subscriptions.id"), nullable=False),
    Column("contract_id", Id, ForeignKey("contracts.id"), nullable=False),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("billing_date", Date, nullable=False),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("currency", String(3), nullable=False),
    Column("subtotal", ExactDecimal, nullable=False),
    Column("discount_total", ExactDecimal, nullable=False),
    Column("credits_applied", ExactDecimal, nullable=False),
    Column("total", ExactDecimal, nullable=False),
    Column("corrects_invoice_id", Id, ForeignKey("invoices.id")),
    Column("bill_run_id", Id, ForeignKey("bill_runs.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Lifecycle (invoiceflow.lifecycle): who made and last changed the document, who approved it, and the
    # number assigned at issue. Documents made by a bill run are created by "system".
    Column("created_by", String(128), nullable=False, server_default="system"),
    Column("updated_by", String(128)),
    Column("updated_at", DateTime(timezone=True)),
    Column("approved_by", String(128)),
    Column("number_series", String(16)),
    Column("number_year", Integer),
    Column("number_seq", BigInteger),
    Column("number", String(40)),
    Column("issued_at", DateTime(timezone=True)),
    Column("policy_version", Integer),
    Column("tax_total", ExactDecimal, nullable=False, server_default="0"),
    Column("tax_status", String(16), nullable=False, server_default="none"),  # none | calculated | pending
    Column("validation_runs", Integer, nullable=False, server_default="0"),
    Column("approval_round", Integer, nullable=False, server_default="0"),
    Column("approval_levels", JSONText),  # [{rule, role}] the policy asked for at the last submit
)
# One document per (subscription, billing date, type) from bill runs. Credit notes a person raises against an
# invoice (bill_run_id NULL) are not billing points: an invoice may be credited several times.
Index("uq_invoices_bill_run_point", invoices.c.tenant_id, invoices.c.subscription_id, invoices.c.billing_date,
      invoices.c.document_type, unique=True, sqlite_where=invoices.c.bill_run_id.is_not(None),
      postgresql_where=invoices.c.bill_run_id.is_not(None))
Index("ix_invoices_customer", invoices.c.tenant_id, invoices.c.customer_id)
# The bill run reads each batch's billing history by subscription: without this it scans every invoice.
Index("ix_invoices_subscription", invoices.c.subscription_id, invoices.c.billing_date)
# A unique index rather than a constraint: SQLite adds it without rebuilding the table.
Index("uq_invoices_number", invoices.c.tenant_id, invoices.c.legal_entity_id, invoices.c.number_series,
      invoices.c.number, unique=True)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    _id(),
    _tenant(),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("line_type", String(24), nullable=False),
    Column("description", String(300), nullable=False),
    Column("product_code", String(64)),
    Column("charge_code", String(64)),
    Column("meter_code", String(64)),
    Column("dims", JSONText),
    Column("quantity", ExactDecimal),
    Column("amount", ExactDecimal, nullable=False),
    Column("precise_amount", ExactDecimal, nullable=False),
    Column("service_start", Date),
    Column("service_end", Date),
    Column("contract_version_id", Id, ForeignKey("contract_versions.id")),
    Column("plan_version_id", Id, ForeignKey("plan_versions.id")),
    Column("price", JSONText),
    Column("breakdown", JSONText),
    Column("trace", JSONText),
    Column("tax_category", String(4)),  # EN 16931 VAT category of the line, set by the tax step
    Column("tax_rate", ExactDecimal),
    # On a credit note raised against an invoice: the invoice line this line credits.
    Column("credits_line_id", Id, ForeignKey("invoice_lines.id")),
    UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_position"),
)

credit_applications = Table(
    "credit_applications",
    metadata,
    _id(),
    _tenant(),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    Column("amount", ExactDecimal, nullable=False),
)

invoice_transitions = Table(
    "invoice_transitions",
    metadata,
    _id(),
    _tenant(),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(24), nullable=False),
    Column("to_status", String(24), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSONText),
)
Index("ix_invoice_transitions_invoice", invoice_transitions.c.invoice_id, invoice_transitions.c.id)

# Who raised each credit note against an issued invoice, why, and the caller's reference for the request:
# unique per tenant, so a retried request finds the credit note it made instead of making another.
credit_note_requests = Table(
    "credit_note_requests",
    metadata,
    _id(),
    _tenant(),
    Column("credit_note_id", Id, ForeignKey("invoices.id"), nullable=False, unique=True),
    Column("reference", String(128)),
    Column("request_hash", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "reference", name="uq_credit_note_requests_reference"),
)

# Gapless invoice numbers: one counter row per (tenant, legal entity, series, year), incremented in the
# issuing transaction, so a rolled-back issue gives its number back and a committed one never repeats.
number_series = Table(
    "number_series",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id"), primary_key=True),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), primary_key=True),
    Column("series", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_number", BigInteger, nullable=False),
)

# The hash-chained audit log (invoiceflow.audit): one chain per tenant, append-only.
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    _tenant(),
    Column("sequence", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("payload", JSONText, nullable=False),
    UniqueConstraint("tenant_id", "sequence", name="uq_audit_log_sequence"),
)
Index("ix_audit_log_object", audit_log.c.tenant_id, audit_log.c.object_type, audit_log.c.object_id)

# The head of each tenant's chain: the row appends lock (serialising them) and the record that catches
# entries deleted from, or added to, the end of the log behind the writer's back.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id"), primary_key=True),
    Column("sequence", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
