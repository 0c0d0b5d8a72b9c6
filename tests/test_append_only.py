"""The database itself refuses UPDATE and DELETE on notes, the timeline and the audit log."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from incident.cases import service
from incident.extensions import db


@pytest.fixture
def written(make):
    responder = make.user()
    case = make.case(responder)
    service.add_note(responder, case, "証拠を保存した")
    db.session.commit()
    return case


@pytest.mark.parametrize("table", ["note", "timeline_event", "audit_log"])
@pytest.mark.parametrize("statement", [
    "UPDATE {table} SET created_at = created_at",
    "DELETE FROM {table}",
])
def test_direct_sql_is_refused(written, refuses_sql, table, statement):
    refuses_sql(table, statement)


def test_every_append_only_table_has_its_triggers(app):
    """A table added to APPEND_ONLY_TABLES without triggers in its migration is caught here."""
    from incident.database import APPEND_ONLY_TABLES

    if db.engine.dialect.name == "postgresql":
        rows = db.session.execute(text(
            "SELECT event_object_table, event_manipulation FROM information_schema.triggers "
            "WHERE trigger_name LIKE '%_append_only'")).all()
    else:
        rows = [(table, "UPDATE" if name.endswith("_no_update") else "DELETE") for name, table in db.session.execute(
            text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")).all()]
    guarded = {(table, operation) for table, operation in rows}
    for table in APPEND_ONLY_TABLES:
        assert (table, "UPDATE") in guarded and (table, "DELETE") in guarded, table


def test_orm_edit_of_a_note_is_refused(written):
    note = written.notes[0]
    note.body = "書き換え"
    with pytest.raises(DatabaseError):
        db.session.commit()
    db.session.rollback()
    assert db.session.execute(text("SELECT body FROM note")).scalar_one() == "証拠を保存した"


def test_inserting_still_works(written, make):
    responder = written.reporter
    service.add_note(responder, written, "追記")
    db.session.commit()
    assert db.session.execute(text("SELECT count(*) FROM note")).scalar_one() == 2
