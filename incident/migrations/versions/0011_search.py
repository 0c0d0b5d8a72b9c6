"""The search index: search_entry, filled by triggers on every searchable table, indexed by FTS5 trigram
(SQLite) or pg_trgm and character pairs (PostgreSQL); existing texts are indexed here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

"""
from alembic import op
import sqlalchemy as sa

from incident.search.index import SOURCES, fill_statements, search_ddl


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('search_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_search_entry_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_entry')),
    sa.UniqueConstraint('source', 'source_id', name='uq_search_entry_source')
    )
    with op.batch_alter_table('search_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_entry_case_id'), ['case_id'], unique=False)

    for statement in search_ddl(op.get_bind()) + fill_statements():
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for source in SOURCES:
        if dialect == 'postgresql':
            op.execute(f'DROP TRIGGER IF EXISTS search_{source.name}_entry ON {source.table}')
            op.execute(f'DROP FUNCTION IF EXISTS search_{source.name}_entry()')
        else:
            op.execute(f'DROP TRIGGER IF EXISTS search_{source.name}_ai')
            op.execute(f'DROP TRIGGER IF EXISTS search_{source.name}_au')
    if dialect == 'sqlite':
        op.execute('DROP TABLE IF EXISTS search_vocab')
        op.execute('DROP TABLE IF EXISTS search_fts')
    op.drop_table('search_entry')
    if dialect == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS incident_pairs(text)')
