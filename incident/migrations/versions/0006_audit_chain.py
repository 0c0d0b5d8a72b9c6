"""Audit log hash chain: prev_hash and row_hash on every row, computed for the rows already there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from incident.audit.chain import CONTENT_COLUMNS, GENESIS, canonical_content, chain_hash
from incident.database import UTCDateTime, append_only_ddl


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

#: audit_log as this migration sees it, with the types that read values back as the app does.
audit_log = sa.table(
    'audit_log',
    sa.column('id', sa.Integer()),
    sa.column('actor_id', sa.Integer()),
    sa.column('action', sa.String()),
    sa.column('object_type', sa.String()),
    sa.column('object_id', sa.Integer()),
    sa.column('case_id', sa.Integer()),
    sa.column('changes', sa.JSON()),
    sa.column('request_id', sa.String()),
    sa.column('created_at', UTCDateTime()),
    sa.column('prev_hash', sa.String()),
    sa.column('row_hash', sa.String()),
)
BATCH = 1000


def _drop_triggers(dialect):
    """The append-only triggers refuse the UPDATEs below; they come back at the end."""
    if dialect == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_update')
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_delete')


def _create_triggers(dialect):
    for statement in append_only_ddl(dialect, 'audit_log'):
        op.execute(statement)


def _fill_chain():
    """Link the existing rows in id order, a batch at a time."""
    connection = op.get_bind()
    prev_hash, after = GENESIS, 0
    while True:
        rows = connection.execute(
            sa.select(*[audit_log.c[name] for name in CONTENT_COLUMNS])
            .where(audit_log.c.id > after).order_by(audit_log.c.id).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        links = []
        for row in rows:
            row_hash = chain_hash(prev_hash, canonical_content(row))
            links.append({'row_id': row['id'], 'prev': prev_hash, 'hash': row_hash})
            prev_hash = row_hash
        connection.execute(
            audit_log.update().where(audit_log.c.id == sa.bindparam('row_id'))
            .values(prev_hash=sa.bindparam('prev'), row_hash=sa.bindparam('hash')),
            links,
        )
        after = rows[-1]['id']


def upgrade():
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))
    _fill_chain()
    # On SQLite this rebuilds the table (indexes included); the triggers went with the old one.
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('row_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_prev_hash'), ['prev_hash'])
    _create_triggers(dialect)


def downgrade():
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_log_prev_hash'), type_='unique')
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
    _create_triggers(dialect)
