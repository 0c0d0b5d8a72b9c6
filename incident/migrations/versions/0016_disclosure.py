"""Disclosure requests (情報公開請求) for a case's record and the passages masked in the disclosed report
(disclosure_request, disclosure_mask, disclosure_mask_withdrawal), append-only.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

from incident.database import UTCDateTime, append_only_ddl

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TABLES = ('disclosure_request', 'disclosure_mask', 'disclosure_mask_withdrawal')


def upgrade():
    op.create_table('disclosure_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=50), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_disclosure_request_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_disclosure_request_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_request'))
    )
    with op.batch_alter_table('disclosure_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_request_case_id'), ['case_id'], unique=False)
    op.create_table('disclosure_mask',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('passage', sa.String(length=500), nullable=False),
    sa.Column('ground', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_disclosure_mask_created_by_id_users')),
    sa.ForeignKeyConstraint(['request_id'], ['disclosure_request.id'], name=op.f('fk_disclosure_mask_request_id_disclosure_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_mask'))
    )
    with op.batch_alter_table('disclosure_mask', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosure_mask_request_id'), ['request_id'], unique=False)
    op.create_table('disclosure_mask_withdrawal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mask_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_disclosure_mask_withdrawal_created_by_id_users')),
    sa.ForeignKeyConstraint(['mask_id'], ['disclosure_mask.id'], name=op.f('fk_disclosure_mask_withdrawal_mask_id_disclosure_mask')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_mask_withdrawal')),
    sa.UniqueConstraint('mask_id', name=op.f('uq_disclosure_mask_withdrawal_mask_id'))
    )
    for table in TABLES:
        for statement in append_only_ddl(op.get_bind().dialect.name, table):
            op.execute(statement)


def downgrade():
    op.drop_table('disclosure_mask_withdrawal')
    with op.batch_alter_table('disclosure_mask', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_mask_request_id'))
    op.drop_table('disclosure_mask')
    with op.batch_alter_table('disclosure_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosure_request_case_id'))
    op.drop_table('disclosure_request')
