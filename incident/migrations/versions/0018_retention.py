"""Retention of closed cases' records (公文書の保存期間): the class and last day on the case, each one given
in retention_event (append-only); closed cases get the shipped default of their kind.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01

"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

from incident.config import RETENTION_DEFAULTS
from incident.database import UTCDateTime, append_only_ddl

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

TOKYO = dt.timezone(dt.timedelta(hours=9))
REASON = "移行時に、種別の既定の保存期間を設定"


def _until(closed_at, retention_class):
    if retention_class == "permanent":
        return None
    if isinstance(closed_at, str):
        closed_at = dt.datetime.fromisoformat(closed_at)
    if closed_at.tzinfo is None:
        closed_at = closed_at.replace(tzinfo=dt.timezone.utc)
    day = closed_at.astimezone(TOKYO).date()
    fiscal = day.year if day.month >= 4 else day.year - 1
    return dt.date(fiscal + 1 + int(retention_class), 3, 31)


def upgrade():
    op.add_column('cases', sa.Column('retention_class', sa.String(length=20), nullable=True))
    op.add_column('cases', sa.Column('retention_until', sa.Date(), nullable=True))
    op.create_index('ix_cases_retention_until', 'cases', ['retention_until'], unique=False)
    op.create_table('retention_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('retention_class', sa.String(length=20), nullable=False),
    sa.Column('retention_until', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_retention_event_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_retention_event_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_event'))
    )
    op.create_index(op.f('ix_retention_event_case_id'), 'retention_event', ['case_id'], unique=False)
    bind = op.get_bind()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('kind', sa.String), sa.column('status', sa.String),
                     sa.column('closed_at', UTCDateTime(timezone=True)),
                     sa.column('retention_class', sa.String), sa.column('retention_until', sa.Date))
    events = sa.table('retention_event', sa.column('case_id', sa.Integer), sa.column('retention_class', sa.String),
                      sa.column('retention_until', sa.Date), sa.column('reason', sa.String),
                      sa.column('created_at', UTCDateTime(timezone=True)))
    now = dt.datetime.now(dt.timezone.utc)
    rows = bind.execute(sa.select(cases.c.id, cases.c.kind, cases.c.closed_at)
                        .where(cases.c.status == 'closed', cases.c.closed_at.is_not(None))).all()
    given = [{"case_id": row.id, "retention_class": RETENTION_DEFAULTS.get(row.kind, "permanent"),
              "retention_until": _until(row.closed_at, RETENTION_DEFAULTS.get(row.kind, "permanent")),
              "reason": REASON, "created_at": now} for row in rows]
    for start in range(0, len(given), 5000):
        chunk = given[start:start + 5000]
        bind.execute(sa.update(cases).where(cases.c.id == sa.bindparam('case_id'))
                     .values(retention_class=sa.bindparam('retention_class'),
                             retention_until=sa.bindparam('retention_until')), chunk)
        bind.execute(sa.insert(events), chunk)
    for statement in append_only_ddl(bind.dialect.name, 'retention_event'):
        op.execute(statement)


def downgrade():
    op.drop_index(op.f('ix_retention_event_case_id'), table_name='retention_event')
    op.drop_table('retention_event')
    op.drop_index('ix_cases_retention_until', table_name='cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('retention_until')
        batch_op.drop_column('retention_class')
