"""The due times of open cases' pending steps (case_step_due), so the home page finds due steps with one
indexed query; filled here from every open case's checklist (incident.playbooks.due keeps it afterwards).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

"""
import sqlalchemy as sa
from alembic import op

from incident.database import UTCDateTime
from incident.playbooks import due

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_step_due',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('step_key', sa.String(length=60), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('due_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_step_due_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', 'step_key', name=op.f('pk_case_step_due'))
    )
    with op.batch_alter_table('case_step_due', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_step_due_due_at'), ['due_at'], unique=False)
    # Backfill: every open case's pending steps with a deadline, as its checklist says now.
    due.refresh(op.get_bind())


def downgrade():
    with op.batch_alter_table('case_step_due', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_step_due_due_at'))
    op.drop_table('case_step_due')
