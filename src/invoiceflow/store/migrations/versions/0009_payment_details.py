"""documents: per legal entity payment instructions, invoice contact and legal registration

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-23 10:00:00.000000

One optional row per legal entity (store/document_tables.py), set with `invoiceflow einvoice
payment-details`. A table of its own so that re-applying the catalog never touches it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('legal_entity_payment',
    sa.Column('tenant_id', _ID, nullable=False),
    sa.Column('legal_entity_id', _ID, nullable=False),
    sa.Column('means_code', sa.String(length=4), nullable=True),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('bic', sa.String(length=11), nullable=True),
    sa.Column('account_name', sa.String(length=200), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('contact_phone', sa.String(length=64), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('legal_registration_id', sa.String(length=64), nullable=True),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['legal_entity_id'], ['legal_entities.id'],
                            name=op.f('fk_legal_entity_payment_legal_entity_id_legal_entities')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_legal_entity_payment_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'legal_entity_id', name=op.f('pk_legal_entity_payment')),
    )


def downgrade() -> None:
    op.drop_table('legal_entity_payment')
