"""Tables of governed release: policies, findings, review cases, approvals, team roles, GL mapping and
usage parked for unmapped account ids. Same metadata (and so the same migrations) as store/tables.py.

Idempotency and the controls live here as constraints: one policy version number per tenant, one open
case per root cause, one approval per level and per person in an approval round.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from invoiceflow.store.tables import Id, _id, _tenant, metadata
from invoiceflow.store.types import ExactDecimal, JSONText

policies = Table(
    "policies",
    metadata,
    _id(),
    _tenant(),
    Column("version", Integer, nullable=False),
    Column("document", JSONText, nullable=False),
    Column("source", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "version", name="uq_policies_version"),
)

members = Table(
    "members",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("roles", JSONText, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

review_cases = Table(
    "review_cases",
    metadata,
    _id(),
    _tenant(),
    Column("case_type", String(32), nullable=False),
    Column("root_cause", String(200), nullable=False),
    Column("title", String(300), nullable=False),
    Column("queue", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("status", String(24), nullable=False),  # open | override_pending | resolved
    Column("assignee", String(128)),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", String(128)),
    Column("resolution", String(24)),
    Column("reason", Text),
    Column("escalations", Integer, nullable=False, server_default="0"),
    Column("override_requested_by", String(128)),
    Column("override_reason", Text),
    Column("policy_version", Integer),
)
# One open case per root cause: a second invoice held for the same cause joins it.
Index("uq_review_cases_open_root", review_cases.c.tenant_id, review_cases.c.root_cause, unique=True,
      sqlite_where=review_cases.c.status != "resolved", postgresql_where=review_cases.c.status != "resolved")
Index("ix_review_cases_queue", review_cases.c.tenant_id, review_cases.c.queue, review_cases.c.status)

findings = Table(
    "findings",
    metadata,
    _id(),
    _tenant(),
    Column("invoice_id", Id, ForeignKey("invoices.id")),
    Column("case_id", Id, ForeignKey("review_cases.id")),
    Column("gate", String(32), nullable=False),
    Column("code", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("record", String(200), nullable=False),
    Column("field", String(200), nullable=False),
    Column("suggested_fix", Text, nullable=False),
    Column("root_cause", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved | overridden | void
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("policy_version", Integer),
)
Index("ix_findings_invoice", findings.c.invoice_id, findings.c.status)
Index("ix_findings_case", findings.c.case_id)

approvals = Table(
    "approvals",
    metadata,
    _id(),
    _tenant(),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("round", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("role", String(32), nullable=False),
    Column("approver", String(128), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("invoice_id", "round", "level", name="uq_approvals_level"),
    UniqueConstraint("invoice_id", "round", "approver", name="uq_approvals_person"),
)

# The tax of a document per (category, rate): taxable base and tax, rounded once per rate.
invoice_taxes = Table(
    "invoice_taxes",
    metadata,
    _id(),
    _tenant(),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("category", String(4), nullable=False),  # EN 16931 VAT category: S, Z, E, AE, K, G, O
    Column("rate", ExactDecimal, nullable=False),  # percent
    Column("jurisdiction", String(16), nullable=False),
    Column("taxable_amount", ExactDecimal, nullable=False),
    Column("tax_amount", ExactDecimal, nullable=False),
    Column("exemption_code", String(32)),
    Column("exemption_reason", Text),
    UniqueConstraint("invoice_id", "category", "rate", "jurisdiction", name="uq_invoice_taxes_rate"),
)

gl_accounts = Table(
    "gl_accounts",
    metadata,
    _id(),
    _tenant(),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False),  # asset | liability | equity | revenue | expense
    UniqueConstraint("tenant_id", "legal_entity_id", "code", name="uq_gl_accounts_code"),
)

gl_mappings = Table(
    "gl_mappings",
    metadata,
    _id(),
    _tenant(),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("role", String(32), nullable=False),  # receivable | tax | deferred_revenue | unbilled | revenue
    Column("product_code", String(64), nullable=False, server_default=""),  # "" = every product
    Column("account_code", String(32), nullable=False),
    UniqueConstraint("tenant_id", "legal_entity_id", "role", "product_code", name="uq_gl_mappings_role"),
)

unmapped_usage = Table(
    "unmapped_usage",
    metadata,
    _id(),
    _tenant(),
    Column("transaction_id", String(128), nullable=False),
    Column("external_account_id", String(128), nullable=False),
    Column("meter_id", Id, nullable=False),
    Column("ts", BigInteger, nullable=False),  # UTC epoch microseconds
    Column("event", JSONText, nullable=False),
    Column("payload_hash", String(32), nullable=False),
    Column("ingested_at", BigInteger, nullable=False),
    Column("attached_at", BigInteger),  # when a mapping attached it to a customer's usage
    Column("quantity", ExactDecimal),
    UniqueConstraint("tenant_id", "transaction_id", name="uq_unmapped_usage_transaction"),
)
Index("ix_unmapped_usage_account", unmapped_usage.c.tenant_id, unmapped_usage.c.external_account_id)
