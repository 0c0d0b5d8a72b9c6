"""Chat channels (Teams, Slack, LINE WORKS, a signed webhook) per department or person, delivered from the
outbox like mail: the outbox gets the channel a message goes to and the link its button opens.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

from incident.database import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('chat_channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('service', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('kinds', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_chat_channel_created_by_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_chat_channel_department_id_department')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_chat_channel_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_channel'))
    )
    with op.batch_alter_table('chat_channel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_channel_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_channel_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('link', sa.String(length=500), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_outbox_mail_channel_id'), ['channel_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_mail_channel_id_chat_channel'), 'chat_channel',
                                    ['channel_id'], ['id'])


def downgrade():
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_mail_channel_id_chat_channel'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_mail_channel_id'))
        batch_op.drop_column('link')
        batch_op.drop_column('channel_id')
    with op.batch_alter_table('chat_channel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_channel_user_id'))
        batch_op.drop_index(batch_op.f('ix_chat_channel_department_id'))
    op.drop_table('chat_channel')
