"""Indexes for the case list in its order (newest first) within a department, an assignee's cases and a
severity, so that a responder's list (own department OR assigned to them) and the most-urgent-first order
read each part from an index instead of sorting every visible case; and the detection and closing times, by
which the metrics choose a period's cases.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_department_created', ['department_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_assignee_created', ['assignee_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_severity_created', ['severity', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_detected_at', ['detected_at'], unique=False)
        batch_op.create_index('ix_cases_closed_at', ['closed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_closed_at')
        batch_op.drop_index('ix_cases_detected_at')
        batch_op.drop_index('ix_cases_severity_created')
        batch_op.drop_index('ix_cases_assignee_created')
        batch_op.drop_index('ix_cases_department_created')
