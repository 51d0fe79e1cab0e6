"""webhook endpoint secret rotation

Revision ID: 0012
Revises: 0006
Depends on: 0010
Create Date: 2026-11-22 20:30:00.000000

`webhook_endpoints.previous_secret` and `previous_valid_until`: after a rotation, deliveries are signed
with the new and the previous secret until then, so a receiver can switch at any moment of the grace
period. Branches from 0006 like its siblings, but alters a table 0010 creates, hence the dependency.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0006'
branch_labels = None
depends_on = '0010'


def upgrade() -> None:
    op.add_column('webhook_endpoints', sa.Column('previous_secret', sa.String(length=200), nullable=True))
    op.add_column('webhook_endpoints', sa.Column('previous_valid_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.drop_column('previous_valid_until')
        batch.drop_column('previous_secret')
