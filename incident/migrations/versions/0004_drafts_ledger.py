"""Drafts of outgoing texts (revisions, section-4 checks, events), the published ledger, evidence purpose,
department contact.

Revisions, checks, draft events and the ledger are append-only: triggers refuse UPDATE and DELETE.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

from incident.database import append_only_ddl


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    dialect = op.get_bind().dialect.name
    # draft <-> draft_revision and draft <-> publication refer to each other: on PostgreSQL the draft's two
    # foreign keys are added once the other tables exist; SQLite does not check the target at CREATE time.
    late = []
    if dialect == "sqlite":
        late = [
            sa.ForeignKeyConstraint(['approved_revision_id'], ['draft_revision.id'], name=op.f('fk_draft_approved_revision_id_draft_revision')),
            sa.ForeignKeyConstraint(['supersedes_id'], ['publication.id'], name=op.f('fk_draft_supersedes_id_publication')),
        ]
    op.create_table('draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('takedown', 'press', 'interim_notice', 'final_notice', 'correction', 'correct_info', 'citizen_warning', name='drafttype', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=True),
    sa.Column('lang', sa.String(length=5), nullable=False),
    sa.Column('status', sa.Enum('editing', 'submitted', 'approved', 'sent', name='draftstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('route', sa.Enum('supervisor', 'pre_approved', name='route', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('scope', sa.String(length=1), nullable=True),
    sa.Column('scope_source', sa.String(length=500), nullable=False),
    sa.Column('approved_revision_id', sa.Integer(), nullable=True),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('corrects_item_id', sa.Integer(), nullable=True),
    sa.Column('link', sa.String(length=500), nullable=False),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('outcome', sa.Enum('removed', 'refused', 'no_answer', name='outcome', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_draft_case_id_cases')),
    sa.ForeignKeyConstraint(['corrects_item_id'], ['offending_item.id'], name=op.f('fk_draft_corrects_item_id_offending_item')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_draft_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft')),
    *late,
    )
    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_draft_follow_up', ['follow_up_on', 'outcome'], unique=False)
        batch_op.create_index(batch_op.f('ix_draft_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_draft_type'), ['type'], unique=False)

    op.create_table('draft_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_draft_revision_author_id_users')),
    sa.ForeignKeyConstraint(['draft_id'], ['draft.id'], name=op.f('fk_draft_revision_draft_id_draft')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_revision')),
    sa.UniqueConstraint('draft_id', 'number', name='uq_draft_revision_number')
    )
    with op.batch_alter_table('draft_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_revision_draft_id'), ['draft_id'], unique=False)

    op.create_table('draft_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=False),
    sa.Column('check_key', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_draft_check_actor_id_users')),
    sa.ForeignKeyConstraint(['revision_id'], ['draft_revision.id'], name=op.f('fk_draft_check_revision_id_draft_revision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_check')),
    sa.UniqueConstraint('revision_id', 'check_key', name='uq_draft_check_revision_key')
    )
    with op.batch_alter_table('draft_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_check_revision_id'), ['revision_id'], unique=False)

    op.create_table('draft_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_draft_event_actor_id_users')),
    sa.ForeignKeyConstraint(['draft_id'], ['draft.id'], name=op.f('fk_draft_event_draft_id_draft')),
    sa.ForeignKeyConstraint(['revision_id'], ['draft_revision.id'], name=op.f('fk_draft_event_revision_id_draft_revision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_event'))
    )
    with op.batch_alter_table('draft_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_event_draft_id'), ['draft_id'], unique=False)

    op.create_table('publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=True),
    sa.Column('revision_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('corrects_item_id', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_publication_case_id_cases')),
    sa.ForeignKeyConstraint(['corrects_item_id'], ['offending_item.id'], name=op.f('fk_publication_corrects_item_id_offending_item')),
    sa.ForeignKeyConstraint(['draft_id'], ['draft.id'], name=op.f('fk_publication_draft_id_draft')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_publication_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['revision_id'], ['draft_revision.id'], name=op.f('fk_publication_revision_id_draft_revision')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['publication.id'], name=op.f('fk_publication_supersedes_id_publication')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publication'))
    )
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.create_index('ix_publication_case', ['case_id', 'published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_publication_draft_id'), ['draft_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_publication_supersedes_id'), ['supersedes_id'], unique=False)

    if dialect == "postgresql":
        op.create_foreign_key(op.f('fk_draft_approved_revision_id_draft_revision'), 'draft', 'draft_revision',
                              ['approved_revision_id'], ['id'])
        op.create_foreign_key(op.f('fk_draft_supersedes_id_publication'), 'draft', 'publication',
                              ['supersedes_id'], ['id'])

    # Plain ADD COLUMN: a batch rebuild would drop tables that others reference (and evidence's triggers).
    op.add_column('department', sa.Column('contact', sa.String(length=300), server_default='', nullable=False))
    op.add_column('evidence', sa.Column('purpose', sa.String(length=20), server_default='capture', nullable=False))
    # ### end Alembic commands ###

    for table in ("draft_revision", "draft_check", "draft_event", "publication"):
        for statement in append_only_ddl(dialect, table):
            op.execute(statement)


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_column('evidence', 'purpose')
    op.drop_column('department', 'contact')
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f('fk_draft_supersedes_id_publication'), 'draft', type_='foreignkey')
        op.drop_constraint(op.f('fk_draft_approved_revision_id_draft_revision'), 'draft', type_='foreignkey')

    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publication_supersedes_id'))
        batch_op.drop_index(batch_op.f('ix_publication_draft_id'))
        batch_op.drop_index('ix_publication_case')

    op.drop_table('publication')
    with op.batch_alter_table('draft_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_event_draft_id'))

    op.drop_table('draft_event')
    with op.batch_alter_table('draft_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_check_revision_id'))

    op.drop_table('draft_check')
    with op.batch_alter_table('draft_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_revision_draft_id'))

    op.drop_table('draft_revision')
    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_type'))
        batch_op.drop_index(batch_op.f('ix_draft_status'))
        batch_op.drop_index('ix_draft_follow_up')
        batch_op.drop_index(batch_op.f('ix_draft_case_id'))

    op.drop_table('draft')
    # ### end Alembic commands ###
