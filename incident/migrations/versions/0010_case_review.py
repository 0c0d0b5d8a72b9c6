"""The closing review of a case (case_review), append-only like notes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa

from incident.database import UTCDateTime, append_only_ddl


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('what_happened', sa.Text(), nullable=False),
    sa.Column('what_was_done', sa.Text(), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_case_review_author_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_review_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_review'))
    )
    with op.batch_alter_table('case_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_review_case_id'), ['case_id'], unique=False)

    for statement in append_only_ddl(op.get_bind().dialect.name, 'case_review'):
        op.execute(statement)


def downgrade():
    with op.batch_alter_table('case_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_review_case_id'))

    op.drop_table('case_review')
