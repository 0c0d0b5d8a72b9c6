"""Engine settings (SQLite WAL, busy timeout, IMMEDIATE write transactions) and shared column types."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask import Flask, has_request_context, request
from sqlalchemy import DateTime, Enum, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from incident.dates import UTC
from incident.extensions import db

_READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}


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


def _wants_write_lock() -> bool:
    """Requests that may write, and CLI commands, take SQLite's write lock at BEGIN."""
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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _wants_write_lock() else "BEGIN")


#: Tables whose rows are never changed or removed once written (DESIGN principle 1).
APPEND_ONLY_TABLES = (
    "note", "timeline_event", "audit_log", "step_event", "playbook_version",
    "account_notice", "notice_receipt", "closure_task", "fake_account_event", "case_fake_account",
    "evidence", "evidence_withdrawal",
    "draft_revision", "draft_check", "draft_event", "publication", "escalation_notice",
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
