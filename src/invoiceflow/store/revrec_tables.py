"""Tables of revenue recognition over stored billing data: schedules, their months, and period close.
Same metadata (and so the same migrations) as store/tables.py.

One schedule per invoice or credit-note line that carries revenue; one row per month of it with the revenue
that month recognizes and the ledger entry that put it on the books. `revenue_periods` records which months
of a legal entity are closed. Migration 0007 adds the triggers that keep closed months immutable: no row of
`revenue_schedule_periods` is inserted, changed or deleted in a closed month, and a closed period is never
reopened or removed. Idempotency lives here as unique constraints: one schedule per line, one row per month.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Date, DateTime, ForeignKey, Index, String, Table, UniqueConstraint

from invoiceflow.store.tables import Id, _id, _tenant, metadata
from invoiceflow.store.types import ExactDecimal, JSONText

revenue_schedules = Table(
    "revenue_schedules",
    metadata,
    _id(),
    _tenant(),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("line_id", Id, ForeignKey("invoice_lines.id"), nullable=False),
    Column("contract_id", Id, ForeignKey("contracts.id"), nullable=False),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("product_code", String(64)),  # None: a line without a product (a discount)
    Column("currency", String(3), nullable=False),
    Column("obligation", String(16), nullable=False),  # subscription | usage | point_in_time
    Column("service_start", Date),
    Column("service_end", Date),  # half-open: the first day no longer served
    Column("allocated", ExactDecimal, nullable=False),  # signed: a credit note's line is negative
    Column("granularity", String(24)),  # ratable obligations only
    Column("policy", JSONText, nullable=False),  # the conventions the schedule was built with
    Column("issued_on", Date, nullable=False),  # the document's issue day (its ledger entry's date)
    Column("void_on", Date),  # the day the document was voided, once the void is posted
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "line_id", name="uq_revenue_schedules_line"),
)
Index("ix_revenue_schedules_entity", revenue_schedules.c.tenant_id, revenue_schedules.c.legal_entity_id)

revenue_schedule_periods = Table(
    "revenue_schedule_periods",
    metadata,
    _id(),
    _tenant(),
    Column("schedule_id", Id, ForeignKey("revenue_schedules.id"), nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("amount", ExactDecimal, nullable=False),  # revenue of the line in that month (negative: contra)
    Column("recognized_entry_key", String(128)),  # the ledger entry that put it on the books; None: not yet
    UniqueConstraint("schedule_id", "period", name="uq_revenue_schedule_periods_period"),
)
Index("ix_revenue_schedule_periods_period", revenue_schedule_periods.c.tenant_id, revenue_schedule_periods.c.period)

revenue_periods = Table(
    "revenue_periods",
    metadata,
    _id(),
    _tenant(),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("status", String(8), nullable=False),  # open | closed
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(128)),
    UniqueConstraint("tenant_id", "legal_entity_id", "period", name="uq_revenue_periods_period"),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
)
