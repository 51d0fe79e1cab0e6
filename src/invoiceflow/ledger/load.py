"""Reading what posting needs (adapter): a document's lines and tax rows, and its legal entity's GL chart.

Also the posting-readiness question a validation gate asks before release, `missing_mappings`: the same
resolution the ledger applies when it posts, so "ready" at validation means "postable" at issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import Connection, select

from invoiceflow.errors import NotFound, ValidationError
from invoiceflow.ledger.accounts import Account, Chart, MappingGap
from invoiceflow.ledger.posting_rules import Document, DocumentLine, DocumentTax, mapping_gaps
from invoiceflow.store.review_tables import gl_accounts, gl_mappings, invoice_taxes
from invoiceflow.store.tables import invoice_lines, invoices, legal_entities
from invoiceflow.store.tenancy import tenant_id as resolve_tenant

ZERO = Decimal(0)
ISSUED_STATUSES = frozenset({"issued", "posted", "partially_paid", "paid"})


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as posting sees it, with the stored figures posting must agree with."""

    document: Document
    status: str
    legal_entity_id: int
    total: Decimal  # stored total, tax included
    tax_total: Decimal
    tax_status: str
    void_on: date | None  # the day it was voided, when it is void

    @property
    def record(self) -> str:
        return f"{self.document.source_type.replace('_', ' ')} {self.document.id}"

    def check_postable(self) -> None:
        """Refuse a document that was never issued, whose tax is pending, or whose totals disagree."""
        doc = self.document
        if doc.issued_on is None:
            raise ValidationError(f"is {self.status.replace('_', ' ')}: only issued documents are posted to the "
                                  "ledger", record=self.record)
        if self.tax_status == "pending":
            raise ValidationError("tax is pending: it is posted once its tax is calculated", record=self.record,
                                  field="tax_status")
        taxes = sum((t.tax_amount for t in doc.taxes), ZERO)
        if taxes != self.tax_total:
            raise ValidationError(f"tax_total {self.tax_total} differs from its tax rows, which add up to {taxes}",
                                  record=self.record, field="tax_total")
        if doc.receivable != self.total:
            raise ValidationError(f"total {self.total} differs from its lines plus tax, which add up to "
                                  f"{doc.receivable}", record=self.record, field="total")


def tenant_of(conn: Connection, tenant: str | int) -> int:
    """A tenant id from an id or a code (codes must exist: posting never creates tenants)."""
    return tenant if isinstance(tenant, int) else resolve_tenant(conn, tenant, create=False)


def utc_day(at: datetime | None) -> date | None:
    """The UTC calendar day of a stored timestamp (SQLite returns them naive, already in UTC)."""
    if at is None:
        return None
    return (at.astimezone(timezone.utc) if at.tzinfo else at).date()


def load_document(conn: Connection, tenant_id: int, invoice_id: int) -> StoredDocument:
    row = conn.execute(
        select(invoices, legal_entities.c.code.label("legal_entity_code"))
        .join(legal_entities, legal_entities.c.id == invoices.c.legal_entity_id)
        .where(invoices.c.tenant_id == tenant_id, invoices.c.id == invoice_id)
    ).mappings().first()
    if row is None:
        raise NotFound(f"invoice {invoice_id} does not exist for tenant {tenant_id}")
    lines = conn.execute(
        select(invoice_lines.c.amount, invoice_lines.c.line_type, invoice_lines.c.product_code,
               invoice_lines.c.service_start)
        .where(invoice_lines.c.invoice_id == invoice_id).order_by(invoice_lines.c.position)
    ).all()
    taxes = conn.execute(
        select(invoice_taxes.c.category, invoice_taxes.c.rate, invoice_taxes.c.jurisdiction,
               invoice_taxes.c.tax_amount)
        .where(invoice_taxes.c.invoice_id == invoice_id).order_by(invoice_taxes.c.id)
    ).all()
    issued = row["status"] in ISSUED_STATUSES or (row["status"] == "void" and row["number"] is not None)
    document = Document(
        id=int(row["id"]), document_type=row["document_type"], legal_entity=row["legal_entity_code"],
        currency=row["currency"], billing_date=row["billing_date"], number=row["number"],
        issued_on=utc_day(row["issued_at"]) if issued else None,
        lines=tuple(DocumentLine(amount, line_type, product, start) for amount, line_type, product, start in lines),
        taxes=tuple(DocumentTax(category, rate, jurisdiction, tax) for category, rate, jurisdiction, tax in taxes),
    )
    return StoredDocument(
        document=document, status=row["status"], legal_entity_id=int(row["legal_entity_id"]), total=row["total"],
        tax_total=row["tax_total"], tax_status=row["tax_status"],
        void_on=utc_day(row["updated_at"] or row["issued_at"]) if row["status"] == "void" else None,
    )


def legal_entity_id(conn: Connection, tenant_id: int, code: str) -> int:
    found = conn.execute(select(legal_entities.c.id).where(
        legal_entities.c.tenant_id == tenant_id, legal_entities.c.code == code)).scalar()
    if found is None:
        raise ValidationError(f"legal entity {code!r} does not exist", record=f"legal entity {code}", field="code")
    return int(found)


def load_chart(conn: Connection, tenant_id: int, entity_id: int, entity_code: str) -> Chart:
    """The legal entity's accounts and role mappings."""
    accounts = {
        code: Account(code, name, kind) for code, name, kind in conn.execute(
            select(gl_accounts.c.code, gl_accounts.c.name, gl_accounts.c.type)
            .where(gl_accounts.c.tenant_id == tenant_id, gl_accounts.c.legal_entity_id == entity_id))
    }
    mappings = {
        (role, product or ""): account for role, product, account in conn.execute(
            select(gl_mappings.c.role, gl_mappings.c.product_code, gl_mappings.c.account_code)
            .where(gl_mappings.c.tenant_id == tenant_id, gl_mappings.c.legal_entity_id == entity_id))
    }
    return Chart(entity_code, accounts, mappings)


def missing_mappings(conn: Connection, tenant: str | int, invoice_id: int) -> list[MappingGap]:
    """What the GL mapping lacks to post this invoice or credit note; empty when it is ready to post.

    Works before issue too (a gate asks at validation): lines starting after the billing date then need
    both a revenue and a deferred-revenue account, since the issue day decides which one they post to.
    """
    tid = tenant_of(conn, tenant)
    stored = load_document(conn, tid, invoice_id)
    chart = load_chart(conn, tid, stored.legal_entity_id, stored.document.legal_entity)
    return mapping_gaps(stored.document, chart)
