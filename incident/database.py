"""Engine settings (SQLite WAL, busy timeout, IMMEDIATE write transactions), shared column types, and the
append-only rules (triggers, the app role's grants)."""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import enum
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import DateTime, Enum, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from incident.dates import UTC
from incident.extensions import db

logger = logging.getLogger(__name__)

_READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}
T = TypeVar("T")

#: The largest id the app accepts anywhere (URL, form, JSON): ids are `integer` columns, which hold
#: 2^31 − 1 on PostgreSQL. A larger number is simply not found (404, or 422 for a JSON field),
#: never sent to the database, where it would fail the request.
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use incident.dates.as_utc")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum_class: type[enum.Enum]) -> Enum:
    """Store an enum by its value as a checked string, portable across SQLite and PostgreSQL."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
        name=enum_class.__name__.lower(),
    )


#: How transactions begun now start, whatever the request's method: as readers (False, see reads_first) or
#: with the write lock (True, the last try of in_own_transaction); None: as the request's method says.
_begin_writing: contextvars.ContextVar[bool | None] = contextvars.ContextVar("begin_writing", default=None)
#: Attempts of one item whose write SQLite refused because another writer committed first.
ITEM_ATTEMPTS = 5


def may_write() -> bool:
    """Whether this transaction may write: requests other than GET/HEAD/OPTIONS, and CLI commands.

    Those take SQLite's write lock at BEGIN; read requests never write, so they never wait for it."""
    forced = _begin_writing.get()
    if forced is not None:
        return forced
    if has_request_context():
        return request.method not in _READ_ONLY_METHODS
    return True


def configure_engine(app: Flask) -> None:
    """Install the SQLite connection settings on this app's engine."""
    engine: Engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT"] * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (SQLAlchemy's documented
        # recipe), so that write transactions can be BEGIN IMMEDIATE and never fail on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if may_write() else "BEGIN")


def write_briefly(statement: Executable, wait_ms: int) -> bool:
    """Run one small write (a "last seen" time, say) in a short transaction of its own that can never fail
    the request: on SQLite it waits at most `wait_ms` for another writer, not the usual busy timeout.
    False when it could not be written (busy or unreachable); the caller tries again next time.

    Written inside a read request's transaction it would need SQLite's write lock, which a read
    transaction cannot take while another request writes ("database is locked", a 500)."""
    try:
        with db.engine.begin() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait_ms)}")
            try:
                connection.execute(statement)
            finally:
                if sqlite:  # the connection goes back to the pool
                    busy_ms = int(current_app.config["SQLITE_BUSY_TIMEOUT"] * 1000)
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
    except SQLAlchemyError as exc:
        logger.warning("brief write not recorded (%s)", type(exc).__name__)
        return False
    return True


#: Rows per index that SQLite's ANALYZE reads: statistics close enough for the planner, and the write lock
#: ANALYZE takes is held for milliseconds even with millions of rows.
ANALYSIS_LIMIT = 1000


def refresh_statistics() -> str:
    """Refresh the query planner's statistics (SQLite's sqlite_stat1, which nothing else keeps: without
    them the planner guesses, and lists slow down with the data). PostgreSQL's autovacuum keeps its own;
    ANALYZE there refreshes them at once (tables the role does not own are skipped)."""
    db.session.commit()  # the caller's transaction ends first (as in_own_transaction)
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql("ANALYZE")
        db.session.commit()
        return "statistics refreshed (ANALYZE)"
    connection.exec_driver_sql(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
    try:
        connection.exec_driver_sql("ANALYZE")
        tables = connection.exec_driver_sql("SELECT count(DISTINCT tbl) FROM sqlite_stat1").scalar_one()
    finally:  # the connection goes back to the pool
        connection.exec_driver_sql("PRAGMA analysis_limit = 0")
    db.session.commit()
    return f"statistics refreshed (ANALYZE, {tables} tables)"


@contextlib.contextmanager
def reads_first() -> Iterator[None]:
    """Transactions begun inside start as readers (SQLite's BEGIN, not BEGIN IMMEDIATE).

    For long jobs such as the escalation sweep: their reading never holds the write lock, and they
    write in short items through in_own_transaction."""
    token = _begin_writing.set(False)
    try:
        yield
    finally:
        _begin_writing.reset(token)


def in_own_transaction(work: Callable[[], T]) -> T:
    """Run `work` in a transaction of its own and commit it at once (the caller's transaction ends first).

    On SQLite the transaction starts as a reader, so the write lock is held only from the item's first
    write to its commit. A reader whose snapshot is older than another writer's commit cannot start
    writing (SQLite answers "database is locked" at once), so the item is then run again on fresh data;
    the last of ITEM_ATTEMPTS tries (writers busy all the while) takes the write lock at BEGIN, which
    cannot go stale, so the item gets done either way: in a read request too, which otherwise begins as a
    reader and, its snapshot stale, would fail that try at once rather than wait for the lock."""
    db.session.commit()
    for attempt in range(1, ITEM_ATTEMPTS + 1):
        last = attempt == ITEM_ATTEMPTS
        token = _begin_writing.set(last)
        try:
            result = work()
            db.session.commit()
            return result
        except OperationalError as exc:
            db.session.rollback()
            if last or "database is locked" not in str(exc):
                raise
            time.sleep(0.02 * attempt)
        finally:
            _begin_writing.reset(token)
    raise AssertionError("unreachable")


#: Tables whose rows are never changed or removed once written (DESIGN principle 1).
APPEND_ONLY_TABLES = (
    "note", "timeline_event", "audit_log", "step_event", "playbook_version",
    "account_notice", "notice_receipt", "closure_task", "fake_account_event", "case_fake_account",
    "evidence", "evidence_withdrawal",
    "draft_revision", "draft_check", "draft_event", "publication", "escalation_notice",
    "case_review", "disclosure_request", "disclosure_mask", "disclosure_mask_withdrawal", "retention_event",
    "record_export", "redaction", "audit_seal",
)


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """SQL that makes the database itself refuse UPDATE and DELETE on `table` (for migrations)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION incident_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'restrict_violation'; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION incident_refuse_change()",
        ]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
        ]
    raise RuntimeError(f"append-only triggers are not written for {dialect}")


#: The columns of append-only tables that hold personal data, which one change alone may touch: the
#: redaction of a case whose retention ended (incident.reports.records, README "Redaction"). Text columns
#: may only be blanked; JSON columns are rewritten with the personal values removed (audit_log's rows are
#: then sealed: see incident/audit/chain.py).
REDACTABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "note": ("body",),
    "evidence": ("original_name", "note"),
    "timeline_event": ("data",),
    "audit_log": ("changes",),
    "disclosure_mask": ("passage",),
    "case_review": ("what_happened", "what_was_done", "cause"),
    "step_event": ("reason",),
}
#: How a row of a redactable table names its case (SQL over OLD; disclosure masks through their request).
_CASE_OF = {"disclosure_mask": "(SELECT case_id FROM disclosure_request WHERE id = OLD.request_id)"}


def redactable_ddl(dialect: str, table: str, kept: tuple[str, ...], text_columns: tuple[str, ...]) -> list[str]:
    """SQL (for migrations) that replaces `table`'s append-only triggers by ones that still refuse DELETE and
    every UPDATE except a redaction: the `kept` columns unchanged, the case's redaction recorded (table
    `redaction`), and each of `text_columns` either unchanged or blanked. Run after append_only_ddl."""
    redactable = REDACTABLE_COLUMNS[table]
    case_of = _CASE_OF.get(table, "OLD.case_id")
    if dialect == "postgresql":
        arguments = ", ".join(f"'{column}'" for column in ("request_id" if table in _CASE_OF else "case_id",
                                                          *redactable))
        return [
            "CREATE OR REPLACE FUNCTION incident_refuse_unless_redaction() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE redactable text[] := TG_ARGV[1:]; old_row jsonb := to_jsonb(OLD); "
            "new_row jsonb := to_jsonb(NEW); case_ref bigint; col text; "
            "BEGIN "
            "IF TG_OP = 'UPDATE' AND (old_row - redactable) = (new_row - redactable) THEN "
            "  IF TG_ARGV[0] = 'request_id' THEN "
            "    SELECT case_id INTO case_ref FROM disclosure_request WHERE id = (old_row->>'request_id')::bigint; "
            "  ELSE case_ref := (old_row->>'case_id')::bigint; END IF; "
            "  IF EXISTS (SELECT 1 FROM redaction WHERE case_id = case_ref) THEN "
            "    FOREACH col IN ARRAY redactable LOOP "
            "      IF jsonb_typeof(old_row->col) = 'string' AND new_row->>col <> '' "
            "         AND new_row->col IS DISTINCT FROM old_row->col THEN "
            "        RAISE EXCEPTION '% is append-only: a redaction may only blank %', TG_TABLE_NAME, col "
            "        USING ERRCODE = 'restrict_violation'; END IF; "
            "    END LOOP; "
            "    RETURN NEW; "
            "  END IF; "
            "END IF; "
            "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation'; "
            "END $$",
            f"DROP TRIGGER {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION incident_refuse_unless_redaction({arguments})",
        ]
    if dialect == "sqlite":
        unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in kept)
        blanked = "".join(f" AND (NEW.{column} IS OLD.{column} OR NEW.{column} = '')" for column in text_columns)
        return [
            f"DROP TRIGGER {table}_no_update",
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} WHEN NOT ({unchanged}{blanked} "
            f"AND EXISTS (SELECT 1 FROM redaction WHERE redaction.case_id = {case_of})) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
        ]
    raise RuntimeError(f"append-only triggers are not written for {dialect}")


class GrantError(Exception):
    """The app role cannot be limited by grants (missing, a superuser, or an owner)."""


def app_role_grants(connection: Any, role: str) -> list[str]:
    """The GRANT/REVOKE statements (PostgreSQL) that give the app's `role` only what the app needs.

    SELECT and INSERT on every table, UPDATE and DELETE only where rows may change (not on
    APPEND_ONLY_TABLES; there, UPDATE of the REDACTABLE_COLUMNS alone), USAGE and SELECT on sequences, USAGE on the schema; everything else it held is
    revoked first, so running them again after a migration is safe. No TRUNCATE, TRIGGER or REFERENCES,
    and no ownership: the role cannot disable or drop the append-only triggers. Run as the owner.
    """
    if connection.dialect.name != "postgresql":
        raise GrantError("database roles and grants are for PostgreSQL; SQLite has no roles")
    found = connection.execute(text(
        "SELECT rolsuper, rolname = current_user AS is_me FROM pg_roles WHERE rolname = :role"
    ), {"role": role}).first()
    if found is None:
        raise GrantError(f"role {role} does not exist (CREATE ROLE {role} LOGIN PASSWORD '...')")
    if found.rolsuper:
        raise GrantError(f"role {role} is a superuser: grants cannot limit it")
    if found.is_me:
        raise GrantError(f"role {role} is the role running this (the owner); give the app a role of its own")
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    tables = list(connection.execute(text(
        "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"
    ), {"schema": schema}))
    for table, owner in tables:
        if connection.execute(text("SELECT pg_has_role(:role, :owner, 'MEMBER')"),
                              {"role": role, "owner": owner}).scalar_one():
            raise GrantError(f"role {role} is (a member of) {owner}, the owner of table {table}")
    sequences = connection.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname = :schema ORDER BY c.relname"
    ), {"schema": schema}).scalars().all()
    database = connection.execute(text("SELECT current_database()")).scalar_one()

    quote = connection.dialect.identifier_preparer.quote
    who, where = quote(role), quote(schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}",
        f"REVOKE CREATE ON SCHEMA {where} FROM {who}",
        f"GRANT CONNECT ON DATABASE {quote(database)} TO {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
    ]
    for table, _owner in tables:
        if table == "alembic_version":
            privileges = "SELECT"
        elif table in APPEND_ONLY_TABLES:
            privileges = "SELECT, INSERT"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f"GRANT {privileges} ON TABLE {where}.{quote(table)} TO {who}")
        if table in REDACTABLE_COLUMNS:
            # Only the personal columns, for a redaction (the trigger refuses any other change).
            columns = ", ".join(quote(column) for column in REDACTABLE_COLUMNS[table])
            statements.append(f"GRANT UPDATE ({columns}) ON TABLE {where}.{quote(table)} TO {who}")
    statements += [f"GRANT USAGE, SELECT ON SEQUENCE {where}.{quote(s)} TO {who}" for s in sequences]
    return statements


def role_can_create(connection: Any, role: str) -> bool:
    """Whether `role` may still create objects in the current schema (e.g. through PUBLIC before PG 15)."""
    return bool(connection.execute(text("SELECT has_schema_privilege(:role, current_schema(), 'CREATE')"),
                                   {"role": role}).scalar_one())
