"""credit notes raised against an issued invoice

Revision ID: 0011
Revises: 0006
Create Date: 2026-11-24 10:00:00.000000

Finance may credit one invoice several times, so "one document per subscription, billing date and type"
now holds for bill-run documents only: the unique constraint becomes a unique index on the same columns for
rows with a bill run. `invoice_lines.credits_line_id` links a credit-note line to the invoice line it
credits, and `credit_note_requests` records who raised each such credit note, why, and under which client
reference (unique per tenant, so a retried request finds the credit note it made).

SQLite cannot drop a table constraint, so there the table is rebuilt by SQLite's documented procedure:
foreign keys off, copy into a new table, swap the names, recreate the table's indexes and triggers as they
were, check the foreign keys. PRAGMA foreign_keys cannot change inside a transaction, so the rebuild commits
the migrations before it and runs in a transaction of its own. Branches from 0006; the sibling branches add
tables only.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_OLD = 'uq_invoices_subscription_date'
_OLD_COLUMNS = ['tenant_id', 'subscription_id', 'billing_date', 'document_type']
_OLD_CLAUSE = f"CONSTRAINT {_OLD} UNIQUE ({', '.join(_OLD_COLUMNS)})"
_NEW = 'uq_invoices_bill_run_point'
_BILL_RUN_ONLY = sa.text('bill_run_id IS NOT NULL')
_LINE_FK = 'fk_invoice_lines_credits_line_id_invoice_lines'


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_invoices(_without_old_constraint)
    else:
        op.drop_constraint(_OLD, 'invoices', type_='unique')
    op.create_index(_NEW, 'invoices', _OLD_COLUMNS, unique=True, sqlite_where=_BILL_RUN_ONLY,
                    postgresql_where=_BILL_RUN_ONLY)
    if op.get_bind().dialect.name == 'sqlite':  # SQLite adds a column with its reference only inline
        op.execute(f'ALTER TABLE invoice_lines ADD COLUMN credits_line_id INTEGER CONSTRAINT {_LINE_FK} '
                   'REFERENCES invoice_lines (id)')
    else:
        op.add_column('invoice_lines', sa.Column('credits_line_id', _ID, sa.ForeignKey('invoice_lines.id',
                                                                                       name=_LINE_FK)))
    op.create_table('credit_note_requests',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('tenant_id', _ID, nullable=False),
    sa.Column('credit_note_id', _ID, nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credit_note_id'], ['invoices.id'],
                            name=op.f('fk_credit_note_requests_credit_note_id_invoices')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_credit_note_requests_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note_requests')),
    sa.UniqueConstraint('credit_note_id', name=op.f('uq_credit_note_requests_credit_note_id')),
    sa.UniqueConstraint('tenant_id', 'reference', name='uq_credit_note_requests_reference')
    )


def downgrade() -> None:
    """Fails while hand-raised credit notes share a billing point: the old constraint cannot hold then."""
    op.drop_table('credit_note_requests')
    op.drop_index(_NEW, 'invoices')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE invoice_lines DROP COLUMN credits_line_id')
        _rebuild_sqlite_invoices(_with_old_constraint)
    else:
        op.drop_constraint(_LINE_FK, 'invoice_lines', type_='foreignkey')
        op.drop_column('invoice_lines', 'credits_line_id')
        op.create_unique_constraint(_OLD, 'invoices', _OLD_COLUMNS)


def _without_old_constraint(ddl: str) -> str:
    found = re.subn(rf",\s*{re.escape(_OLD_CLAUSE)}", "", ddl)
    if found[1] != 1:
        raise RuntimeError(f"invoices: expected the constraint {_OLD} once in its definition, found it {found[1]} "
                           "times; the table was changed outside the migrations")
    return found[0]


def _with_old_constraint(ddl: str) -> str:
    head, _, tail = ddl.rpartition(")")
    return f"{head.rstrip()}, \n\t{_OLD_CLAUSE}\n){tail}"


def _rebuild_sqlite_invoices(change) -> None:
    """Rebuild `invoices` with its definition passed through `change`, keeping rows, indexes and triggers."""
    raw = op.get_bind().connection.dbapi_connection
    raw.execute("COMMIT")
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        raw.execute("BEGIN IMMEDIATE")
        try:
            _swap_invoices(raw, change)
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
    finally:
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("BEGIN IMMEDIATE")  # the rest of the run continues in a transaction, as before


def _swap_invoices(raw, change) -> None:
    (ddl,) = raw.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'invoices'").fetchone()
    attached = [sql for (sql,) in raw.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'invoices' AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY type, name")]
    # A renamed table's definition names it in quotes: CREATE TABLE "invoices" (...).
    raw.execute(re.sub(r'^CREATE TABLE\s+"?invoices"?\s*\(', "CREATE TABLE invoices_rebuilt (", change(ddl), count=1))
    raw.execute("INSERT INTO invoices_rebuilt SELECT * FROM invoices")
    raw.execute("DROP TABLE invoices")
    raw.execute("PRAGMA legacy_alter_table=ON")  # other tables' triggers name invoices: keep them as written
    try:
        raw.execute("ALTER TABLE invoices_rebuilt RENAME TO invoices")
    finally:
        raw.execute("PRAGMA legacy_alter_table=OFF")
    for sql in attached:
        raw.execute(sql)
    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rebuilding invoices left rows without their referenced row: {broken[:5]}")
