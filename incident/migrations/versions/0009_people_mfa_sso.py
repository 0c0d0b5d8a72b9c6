"""People, MFA and single sign-on: postings (who was where when) and reshuffles, TOTP and recovery codes,
OIDC subject and pending users, API token expiry and read-only scope.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

"""
import datetime as dt

from alembic import op
import sqlalchemy as sa

from incident.database import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_code_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)

    op.create_table('reshuffle',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('applied_by_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['applied_by_id'], ['users.id'], name=op.f('fk_reshuffle_applied_by_id_users')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_reshuffle_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reshuffle'))
    )
    op.create_table('posting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('responder', 'supervisor', 'admin', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('reshuffle_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['users.id'], name=op.f('fk_posting_changed_by_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_posting_department_id_department')),
    sa.ForeignKeyConstraint(['operator_id'], ['operator_organisation.id'], name=op.f('fk_posting_operator_id_operator_organisation')),
    sa.ForeignKeyConstraint(['reshuffle_id'], ['reshuffle.id'], name=op.f('fk_posting_reshuffle_id_reshuffle')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_posting_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posting'))
    )
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posting_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_posting_reshuffle_id'), ['reshuffle_id'], unique=False)
        batch_op.create_index('ix_posting_user_started', ['user_id', 'started_at'], unique=False)

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('read_only', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('revoked_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_token_revoked_by_id_users'), 'users', ['revoked_by_id'], ['id'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('mfa_enabled_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('pending_since', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_pending_since'), ['pending_since'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_oidc_subject'), ['oidc_subject'])

    # Plain CREATE INDEX (not a batch, which could rebuild the table and drop its append-only triggers).
    op.create_index('ix_audit_log_object', 'audit_log', ['object_type', 'object_id', 'id'], unique=False)

    # Every existing person starts their history with their current posting; existing tokens expire 90
    # days after they were made (there were no tokens without an expiry before).
    op.execute("INSERT INTO posting (user_id, department_id, role, operator_id, started_at) "
               "SELECT id, department_id, role, operator_id, created_at FROM users")
    token = sa.table("api_token", sa.column("id", sa.Integer), sa.column("created_at", UTCDateTime),
                     sa.column("expires_at", UTCDateTime))
    bind = op.get_bind()
    for token_id, created_at in bind.execute(sa.select(token.c.id, token.c.created_at)).all():
        bind.execute(token.update().where(token.c.id == token_id)
                     .values(expires_at=created_at + dt.timedelta(days=90)))


def downgrade():
    op.drop_index('ix_audit_log_object', table_name='audit_log')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_oidc_subject'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_users_pending_since'))
        batch_op.drop_column('pending_since')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('mfa_enabled_at')
        batch_op.drop_column('totp_secret')

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_token_revoked_by_id_users'), type_='foreignkey')
        batch_op.drop_column('revoked_by_id')
        batch_op.drop_column('read_only')
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.drop_index('ix_posting_user_started')
        batch_op.drop_index(batch_op.f('ix_posting_reshuffle_id'))
        batch_op.drop_index(batch_op.f('ix_posting_department_id'))

    op.drop_table('posting')
    op.drop_table('reshuffle')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))

    op.drop_table('recovery_code')
