"""The follow-up index leads with the outcome: the takedown and recovery requests due for a follow-up are
read among those still unanswered, not among every request ever sent (which grows with the years).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.drop_index('ix_draft_follow_up')
        batch_op.create_index('ix_draft_follow_up', ['outcome', 'follow_up_on'], unique=False)


def downgrade():
    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.drop_index('ix_draft_follow_up')
        batch_op.create_index('ix_draft_follow_up', ['follow_up_on', 'outcome'], unique=False)
