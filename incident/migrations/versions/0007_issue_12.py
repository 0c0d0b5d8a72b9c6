"""Issue 12: operator organisations, critical severity, the dormant-account kind, recovery requests,
per-channel drafts with a website rendition, one ledger row per place, notices linked to cases.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
import datetime

from alembic import op
import sqlalchemy as sa

from incident.database import UTCDateTime, append_only_ddl


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

#: The enum columns whose allowed values grow: (table, column, enum name, old values, new values).
ENUMS = [
    ('cases', 'kind', 'casekind',
     ['flaming', 'impersonation', 'false_information', 'account_takeover'],
     ['flaming', 'impersonation', 'false_information', 'account_takeover', 'dormant_account']),
    ('cases', 'severity', 'severity',
     ['high', 'medium', 'low'],
     ['critical', 'high', 'medium', 'low']),
    ('draft', 'type', 'drafttype',
     ['takedown', 'press', 'interim_notice', 'final_notice', 'correction', 'correct_info', 'citizen_warning'],
     ['takedown', 'press', 'interim_notice', 'final_notice', 'correction', 'correct_info', 'citizen_warning',
      'recovery']),
    ('draft', 'outcome', 'outcome',
     ['removed', 'refused', 'no_answer'],
     ['removed', 'recovered', 'refused', 'no_answer']),
]


def _enum(name, values):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _set_enums(dialect, which):
    """Replace the CHECK constraint of each enum column by one allowing `which` (old or new) values."""
    for table, column, name, old, new in ENUMS:
        values, previous = (new, old) if which == 'new' else (old, new)
        if dialect == 'postgresql':
            op.drop_constraint(op.f(f'ck_{table}_{name}'), table, type_='check')
            quoted = ', '.join(f"'{value}'" for value in values)
            op.create_check_constraint(op.f(f'ck_{table}_{name}'), table, f'{column} IN ({quoted})')
        else:
            # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table with the new one.
            with op.batch_alter_table(table, recreate='always') as batch_op:
                batch_op.alter_column(column, existing_type=_enum(name, previous), type_=_enum(name, values))


operators = sa.table(
    'operator_organisation',
    sa.column('id', sa.Integer()), sa.column('name', sa.String()), sa.column('kind', sa.String()),
    sa.column('created_at', UTCDateTime()),
)


def _move_operator_names():
    """Each distinct operator name of the accounts and users becomes one organisation, linked by id."""
    connection = op.get_bind()
    names = {}
    for name, kind in connection.execute(sa.text(
            "SELECT DISTINCT operator_name, operator_type FROM official_account "
            "WHERE operator_type <> 'city' AND operator_name IS NOT NULL AND operator_name <> ''")):
        names.setdefault(name.strip(), kind)
    for (name,) in connection.execute(sa.text(
            "SELECT DISTINCT organisation FROM users WHERE organisation IS NOT NULL AND organisation <> ''")):
        # A user's organisation runs no registered account yet: a contractor until the PR office says.
        names.setdefault(name.strip(), 'contractor')
    now = datetime.datetime.now(datetime.UTC)
    for name, kind in sorted(names.items()):
        connection.execute(operators.insert().values(name=name, kind=kind, created_at=now))
    connection.execute(sa.text(
        "UPDATE official_account SET operator_id = (SELECT o.id FROM operator_organisation o "
        "WHERE o.name = TRIM(official_account.operator_name)) WHERE operator_type <> 'city'"))
    connection.execute(sa.text(
        "UPDATE users SET operator_id = (SELECT o.id FROM operator_organisation o "
        "WHERE o.name = TRIM(users.organisation)) WHERE organisation IS NOT NULL"))


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table('operator_organisation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', _enum('operatortype', ['city', 'designated_manager', 'contractor']), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_organisation')),
    sa.UniqueConstraint('name', name=op.f('uq_operator_organisation_name'))
    )
    with op.batch_alter_table('official_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operator_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operator_id', sa.Integer(), nullable=True))
    _move_operator_names()
    with op.batch_alter_table('official_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_official_account_operator_id'), ['operator_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_official_account_operator_id_operator_organisation'),
                                    'operator_organisation', ['operator_id'], ['id'])
        batch_op.drop_column('operator_name')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_operator_id'), ['operator_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_users_operator_id_operator_organisation'),
                                    'operator_organisation', ['operator_id'], ['id'])
        batch_op.drop_column('organisation')

    # account_notice is append-only: on SQLite the rebuild that adds the foreign key drops its triggers,
    # so they are dropped first and made again after.
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS account_notice_no_update')
        op.execute('DROP TRIGGER IF EXISTS account_notice_no_delete')
    with op.batch_alter_table('account_notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_account_notice_case_id'), ['case_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_account_notice_case_id_cases'), 'cases', ['case_id'], ['id'])
    if dialect == 'sqlite':
        for statement in append_only_ddl(dialect, 'account_notice'):
            op.execute(statement)

    # Adding a column keeps the table (and its append-only triggers) on both databases.
    op.add_column('draft', sa.Column('channel', sa.String(length=20), nullable=True))
    op.add_column('draft_revision', sa.Column('web_body', sa.Text(), server_default='', nullable=False))
    op.add_column('publication', sa.Column('place', sa.String(length=20), server_default='', nullable=False))
    _set_enums(dialect, 'new')


def downgrade():
    dialect = op.get_bind().dialect.name
    _set_enums(dialect, 'old')
    op.drop_column('publication', 'place')
    op.drop_column('draft_revision', 'web_body')
    op.drop_column('draft', 'channel')
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS account_notice_no_update')
        op.execute('DROP TRIGGER IF EXISTS account_notice_no_delete')
    with op.batch_alter_table('account_notice', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_account_notice_case_id_cases'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_account_notice_case_id'))
        batch_op.drop_column('case_id')
    if dialect == 'sqlite':
        for statement in append_only_ddl(dialect, 'account_notice'):
            op.execute(statement)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation', sa.String(length=200), nullable=True))
    with op.batch_alter_table('official_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operator_name', sa.String(length=200), nullable=True))
    op.execute("UPDATE users SET organisation = (SELECT name FROM operator_organisation o "
               "WHERE o.id = users.operator_id)")
    op.execute("UPDATE official_account SET operator_name = (SELECT name FROM operator_organisation o "
               "WHERE o.id = official_account.operator_id)")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_operator_id_operator_organisation'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_operator_id'))
        batch_op.drop_column('operator_id')
    with op.batch_alter_table('official_account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_official_account_operator_id_operator_organisation'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_official_account_operator_id'))
        batch_op.drop_column('operator_id')
    op.drop_table('operator_organisation')
