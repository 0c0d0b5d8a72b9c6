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
def test_direct_sql_is_refused(written, table, statement):
    before = db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert before > 0
    with pytest.raises(DatabaseError) as info:
        db.session.execute(text(statement.format(table=table)))
        db.session.commit()
    db.session.rollback()
    assert "append-only" in str(info.value)
    assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == before


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
