"""An index on unsent mail by attempts, so that the PR office's header (shown on every page) counts the
mail being retried from an index instead of reading every waiting mail when the mail server has been down.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_mail_attempts', ['sent_at', 'failed_at', 'attempts'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_mail_attempts')
