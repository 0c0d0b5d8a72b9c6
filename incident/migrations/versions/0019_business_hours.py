"""Business hours and on-call: working hours and closed dates on each department, on-call shifts, and the
on-call person an escalation told first.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

from incident.database import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    # Server defaults give existing departments the city's office hours (08:30–17:15, Monday to Friday).
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_start_minute', sa.Integer(), server_default='510', nullable=False))
        batch_op.add_column(sa.Column('work_end_minute', sa.Integer(), server_default='1035', nullable=False))
        batch_op.add_column(sa.Column('work_weekdays', sa.String(length=7), server_default='01234', nullable=False))
        batch_op.add_column(sa.Column('closed_dates', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_call_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_escalation_on_call_id_users'), 'users', ['on_call_id'], ['id'])
    op.create_table('on_call_shift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_on_call_shift_created_by_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_on_call_shift_department_id_department')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_on_call_shift_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_on_call_shift'))
    )
    op.create_index('ix_on_call_shift_department_time', 'on_call_shift', ['department_id', 'ends_at', 'starts_at'],
                    unique=False)
    op.create_index(op.f('ix_on_call_shift_user_id'), 'on_call_shift', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_on_call_shift_user_id'), table_name='on_call_shift')
    op.drop_index('ix_on_call_shift_department_time', table_name='on_call_shift')
    op.drop_table('on_call_shift')
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_escalation_on_call_id_users'), type_='foreignkey')
        batch_op.drop_column('on_call_id')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_column('closed_dates')
        batch_op.drop_column('work_weekdays')
        batch_op.drop_column('work_end_minute')
        batch_op.drop_column('work_start_minute')
