"""The database itself refuses UPDATE and DELETE on notes, the timeline and the audit log: by triggers
that hold even for the owner, and (PostgreSQL) by the app role's grants, which also leave it no way
round the triggers."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, make_url, text
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


# ---- both layers: the owner's triggers, and the app role's missing grants ----

@pytest.mark.parametrize("table", ["note", "timeline_event", "audit_log"])
@pytest.mark.parametrize("statement", [
    "UPDATE {table} SET created_at = created_at",
    "DELETE FROM {table}",
])
def test_triggers_refuse_even_the_owner(written, owner_uri, table, statement):
    """The triggers hold for a role that has every grant (the owner), not only for the app's role."""
    engine = create_engine(owner_uri)
    try:
        with engine.connect() as conn:
            before = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert before > 0
            with pytest.raises(DatabaseError, match="append-only"):
                conn.execute(text(statement.format(table=table)))
            conn.rollback()
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == before
    finally:
        engine.dispose()


@pytest.mark.parametrize(("statement", "refusal"), [
    ("TRUNCATE {table}", "permission denied"),
    ("TRUNCATE {table} CASCADE", "permission denied"),
    ("ALTER TABLE {table} DISABLE TRIGGER ALL", "must be owner"),
    ("ALTER TABLE {table} DISABLE TRIGGER {table}_append_only", "must be owner"),
    ("DROP TRIGGER {table}_append_only ON {table}", "must be owner"),
    ("DROP TABLE {table}", "must be owner"),
    ("CREATE TRIGGER {table}_noop BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION incident_refuse_change()",
     "permission denied"),
])
def test_app_role_cannot_get_round_the_triggers(written, limited_role, statement, refusal):
    """As the app's role, no append-only table can be emptied, nor its triggers disabled or dropped."""
    from incident.database import APPEND_ONLY_TABLES

    if not limited_role:
        pytest.skip("needs the app's own PostgreSQL role: set INCIDENT_TEST_DATABASE_OWNER_URL as well")
    for table in APPEND_ONLY_TABLES:
        with pytest.raises(DatabaseError, match=refusal):
            db.session.execute(text(statement.format(table=table)))
        db.session.rollback()
    assert db.session.execute(text("SELECT count(*) FROM note")).scalar_one() == 1
    assert db.session.execute(text(
        "SELECT count(*) FROM information_schema.triggers WHERE trigger_name LIKE '%\\_append\\_only'"
    )).scalar_one() == 2 * len(APPEND_ONLY_TABLES)  # one row per event: UPDATE and DELETE


def test_app_role_cannot_create_tables(app, limited_role):
    if not limited_role:
        pytest.skip("needs the app's own PostgreSQL role: set INCIDENT_TEST_DATABASE_OWNER_URL as well")
    with pytest.raises(DatabaseError, match="permission denied for schema"):
        db.session.execute(text("CREATE TABLE scratch (id integer)"))
    db.session.rollback()


def test_grants_follow_the_append_only_list(app, owner_uri, limited_role):
    """Exactly the non-append-only tables may be updated and deleted from; nothing may be truncated."""
    from incident.database import APPEND_ONLY_TABLES

    if not limited_role:
        pytest.skip("needs the app's own PostgreSQL role: set INCIDENT_TEST_DATABASE_OWNER_URL as well")
    role = db.engine.url.username
    engine = create_engine(owner_uri)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            assert len(tables) > len(APPEND_ONLY_TABLES)
            for table in tables:
                can = {privilege: conn.execute(text("SELECT has_table_privilege(:r, :t, :p)"),
                                               {"r": role, "t": table, "p": privilege}).scalar_one()
                       for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER")}
                changeable = table not in APPEND_ONLY_TABLES and table != "alembic_version"
                assert can == {"SELECT": True, "INSERT": table != "alembic_version", "UPDATE": changeable,
                               "DELETE": changeable, "TRUNCATE": False, "TRIGGER": False}, table
    finally:
        engine.dispose()


def test_grant_command_is_idempotent_and_prints_its_statements(owner_app, limited_role):
    if not limited_role:
        pytest.skip("needs the app's own PostgreSQL role: set INCIDENT_TEST_DATABASE_OWNER_URL as well")
    role = db.engine.url.username  # the app's role: `app`'s context is the one pushed here
    runner = owner_app.test_cli_runner()
    for _ in range(2):
        with owner_app.app_context():  # the command runs in the context already pushed
            result = runner.invoke(args=["db-grant-app", role])
        assert result.exit_code == 0, result.output
        assert f'GRANT SELECT, INSERT ON TABLE public.audit_log TO {role};' in result.output
        assert "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.cases" in result.output
        assert "TRUNCATE" not in result.output
    db.session.execute(text("UPDATE cases SET title = title"))  # still allowed where rows may change
    db.session.rollback()


def test_grant_command_refuses_what_grants_cannot_limit(owner_app, owner_uri):
    runner = owner_app.test_cli_runner()
    with owner_app.app_context():
        if make_url(owner_uri).get_backend_name() != "postgresql":
            result = runner.invoke(args=["db-grant-app", "incident_app"])
            assert result.exit_code == 1
            assert "PostgreSQL" in result.output and "SQLite has no roles" in result.output
            return
        result = runner.invoke(args=["db-grant-app", make_url(owner_uri).username])
        assert result.exit_code == 1
        assert "superuser" in result.output or "is the role running this" in result.output
        result = runner.invoke(args=["db-grant-app", "no_such_role_for_incident"])
        assert result.exit_code == 1 and "does not exist" in result.output
