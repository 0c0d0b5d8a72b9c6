"""Redaction of a case's personal data once its retention ended: record exports, redactions and audit seals
(append-only), cases.redacted_at, and the append-only triggers of the tables holding personal data replaced
by ones that let a recorded redaction blank those columns and nothing else (incident.database.redactable_ddl).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

from incident.database import UTCDateTime, append_only_ddl, redactable_ddl

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

#: The columns each redactable table keeps unchanged, and its text columns (blanked, never rewritten), as
#: the schema stands at this revision.
KEPT = {
    "note": (("id", "case_id", "author_id", "corrects_id", "created_at"), ("body",)),
    "evidence": (("id", "case_id", "offending_item_id", "stored_name", "content_type", "size", "sha256",
                  "captured_at", "purpose", "uploaded_by_id", "uploaded_at"), ("original_name", "note")),
    "timeline_event": (("id", "case_id", "actor_id", "event", "note_id", "created_at"), ()),
    "audit_log": (("id", "actor_id", "action", "object_type", "object_id", "case_id", "request_id", "created_at",
                   "prev_hash", "row_hash"), ()),
    "disclosure_mask": (("id", "request_id", "ground", "reason", "created_by_id", "created_at"), ("passage",)),
    "case_review": (("id", "case_id", "changes", "author_id", "created_at"),
                    ("what_happened", "what_was_done", "cause")),
    "step_event": (("id", "case_id", "playbook_version", "step_key", "action", "answer", "data", "actor_id",
                    "created_at"), ("reason",)),
}


def upgrade():
    op.add_column('cases', sa.Column('redacted_at', UTCDateTime(timezone=True), nullable=True))
    op.create_table('record_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('last_audit_id', sa.Integer(), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('archive_sha256', sa.String(length=64), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_record_export_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_record_export_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_export'))
    )
    op.create_index(op.f('ix_record_export_case_id'), 'record_export', ['case_id'], unique=False)
    op.create_table('redaction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('export_id', sa.Integer(), nullable=False),
    sa.Column('removed', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_redaction_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_redaction_case_id_cases')),
    sa.ForeignKeyConstraint(['export_id'], ['record_export.id'], name=op.f('fk_redaction_export_id_record_export')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redaction')),
    sa.UniqueConstraint('case_id', name=op.f('uq_redaction_case_id'))
    )
    op.create_table('audit_seal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('audit_id', sa.Integer(), nullable=False),
    sa.Column('redaction_id', sa.Integer(), nullable=False),
    sa.Column('sealed_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['audit_id'], ['audit_log.id'], name=op.f('fk_audit_seal_audit_id_audit_log')),
    sa.ForeignKeyConstraint(['redaction_id'], ['redaction.id'], name=op.f('fk_audit_seal_redaction_id_redaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_seal')),
    sa.UniqueConstraint('audit_id', name=op.f('uq_audit_seal_audit_id'))
    )
    op.create_index(op.f('ix_audit_seal_redaction_id'), 'audit_seal', ['redaction_id'], unique=False)
    dialect = op.get_bind().dialect.name
    for table in ('record_export', 'redaction', 'audit_seal'):
        for statement in append_only_ddl(dialect, table):
            op.execute(statement)
    for table, (kept, text_columns) in KEPT.items():
        for statement in redactable_ddl(dialect, table, kept, text_columns):
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in KEPT:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
        for statement in append_only_ddl(dialect, table):
            op.execute(statement)
    op.drop_index(op.f('ix_audit_seal_redaction_id'), table_name='audit_seal')
    op.drop_table('audit_seal')
    op.drop_table('redaction')
    op.drop_index(op.f('ix_record_export_case_id'), table_name='record_export')
    op.drop_table('record_export')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('redacted_at')
