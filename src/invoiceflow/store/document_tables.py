"""Tables of the documents stage: what a seller states on its invoices that the catalog does not carry.

`legal_entity_payment` holds, per legal entity, the payment instructions printed on every invoice (BG-16:
IBAN or account number, BIC, account holder), the contact for questions about an invoice (BG-6) and an
optional legal registration id (BT-30). A separate table, not new columns on `legal_entities`, because the
catalog document owns that table and re-applying it must not wipe what finance set here. Same metadata (and
so the same migrations) as store/tables.py.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, String, Table

from invoiceflow.store.tables import Id, metadata

legal_entity_payment = Table(
    "legal_entity_payment",
    metadata,
    Column("tenant_id", Id, ForeignKey("tenants.id"), primary_key=True),
    Column("legal_entity_id", Id, ForeignKey("legal_entities.id"), primary_key=True),
    Column("means_code", String(4)),  # UNTDID 4461: 58 SEPA credit transfer (IBAN), 30 credit transfer
    Column("account_id", String(64)),  # BT-84: the IBAN for 58, the account number for 30
    Column("bic", String(11)),  # BT-86
    Column("account_name", String(200)),  # BT-85
    Column("contact_name", String(200)),  # BT-41
    Column("contact_phone", String(64)),  # BT-42
    Column("contact_email", String(254)),  # BT-43
    Column("legal_registration_id", String(64)),  # BT-30
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
