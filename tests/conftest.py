"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when INCIDENT_TEST_DATABASE_URL is
set), the app, clients, factories, and a query counter.

With INCIDENT_TEST_DATABASE_OWNER_URL set as well, the PostgreSQL schema is built, granted and emptied
as that owner, and the app under test connects as the limited role of INCIDENT_TEST_DATABASE_URL (the
deployment the README describes); tests needing the owner's powers use `owner_uri`."""
from __future__ import annotations

import os
import shutil
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, make_url, text
from werkzeug.security import generate_password_hash

from incident import create_app
from incident.extensions import db

PG_URL = os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()
#: Who builds the PostgreSQL schema: the owner when given, else the app's own role (as before).
OWNER_URL = (os.environ.get("INCIDENT_TEST_DATABASE_OWNER_URL", "").strip() or PG_URL) if PG_URL else ""
#: The app under test runs as a role limited by `flask db-grant-app` (PostgreSQL with an owner URL).
LIMITED_ROLE = bool(PG_URL) and make_url(OWNER_URL).username != make_url(PG_URL).username
PASSWORD = "correct-horse-battery"
# Hashing is deliberately slow; compute the factory users' hash once per run.
PASSWORD_HASH = generate_password_hash(PASSWORD)


def _base_config(uri: str, instance: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": uri,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
    }


def _upgrade(uri: str, instance: Path) -> None:
    """Build the schema through the real migrations, as `make run` does."""
    from flask_migrate import upgrade

    app = create_app(_base_config(uri, instance))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def schema_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a template SQLite file, or the PostgreSQL test database."""
    instance = tmp_path_factory.mktemp("instance")
    if PG_URL:
        engine = create_engine(OWNER_URL)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        except Exception as exc:  # pragma: no cover - a broken CI machine
            pytest.exit(f"PostgreSQL at INCIDENT_TEST_DATABASE_(OWNER_)URL is unreachable: {exc}", returncode=3)
        finally:
            engine.dispose()
        _upgrade(OWNER_URL, instance)
        if LIMITED_ROLE:
            _grant_app_role(OWNER_URL, make_url(PG_URL).username)
        return PG_URL
    template = instance / "template.sqlite3"
    _upgrade(f"sqlite:///{template}", instance)
    return str(template)


def _grant_app_role(owner_uri: str, role: str) -> None:
    """Give the app's role its grants, as `flask db-grant-app ROLE` does after a migration."""
    from incident.database import app_role_grants

    engine = create_engine(owner_uri)
    with engine.begin() as conn:
        for statement in app_role_grants(conn, role):
            conn.exec_driver_sql(statement)
    engine.dispose()


def _truncate_all(uri: str) -> None:
    """Empty every table on PostgreSQL (TRUNCATE is not UPDATE/DELETE: the triggers allow it)."""
    engine = create_engine(uri)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ))]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_uri(schema_source: str, tmp_path: Path) -> Iterator[str]:
    """A database with the migrated schema and no rows, private to this test."""
    if PG_URL:
        _truncate_all(OWNER_URL)
        yield PG_URL
        return
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(schema_source, target)
    yield f"sqlite:///{target}"


@pytest.fixture
def owner_uri(database_uri: str) -> str:
    """The same database as the schema's owner (on SQLite, and without an owner URL, the app's own)."""
    return OWNER_URL or database_uri


@pytest.fixture
def limited_role() -> bool:
    """Whether the app under test runs as a role limited by grants (PostgreSQL with an owner URL)."""
    return LIMITED_ROLE


@pytest.fixture
def owner_app(app: Flask, owner_uri: str, tmp_path: Path) -> Iterator[Flask]:
    """The application connected as the schema's owner (`app` itself when they are the same), for the
    owner's commands such as `flask db-grant-app`."""
    if owner_uri == app.config["SQLALCHEMY_DATABASE_URI"]:
        yield app
        return
    application = create_app(_base_config(owner_uri, tmp_path))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def app(database_uri: str, tmp_path: Path) -> Iterator[Flask]:
    """The application, with an app context pushed for direct service calls."""
    application = create_app(_base_config(database_uri, tmp_path))
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def built_apps():
    """Apps a test builds itself; their database connections are closed afterwards."""
    apps: list[Flask] = []
    yield apps
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


class Factory:
    """Creates rows with sensible defaults; every keyword can be overridden."""

    def __init__(self) -> None:
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def department(self, code: str | None = None, name: str | None = None):
        from incident.auth.models import Department

        n = self._next()
        department = Department(code=code or f"dept{n}", name=name or f"テスト課{n}")
        db.session.add(department)
        db.session.commit()
        return department

    def user(self, role: str = "responder", department=None, **overrides: Any):
        from incident.auth.models import Role, User

        n = self._next()
        department = department or self.department()
        user = User(
            email=overrides.pop("email", f"user{n}@example.jp"),
            name=overrides.pop("name", f"利用者{n}"),
            role=Role(role),
            department_id=department.id,
            password_hash=PASSWORD_HASH,
            **overrides,
        )
        db.session.add(user)
        db.session.commit()
        return user

    def account(self, department=None, **overrides: Any):
        from incident.accounts.models import OfficialAccount, OperatorType, Platform

        n = self._next()
        account = OfficialAccount(
            platform=Platform(overrides.pop("platform", "facebook")),
            name=overrides.pop("name", f"公式アカウント{n}"),
            url=overrides.pop("url", f"https://www.facebook.com/city{n}/"),
            department_id=(department or self.department()).id,
            operator_type=OperatorType(overrides.pop("operator_type", "city")),
            **overrides,
        )
        db.session.add(account)
        db.session.commit()
        return account

    def case(self, actor=None, **overrides: Any):
        """Open a case through the service, as a user would."""
        from incident.cases import service

        actor = actor or self.user()
        data = {"kind": "flaming", "severity": "medium", "title": "テスト案件"}
        department_id = overrides.pop("department_id", None)
        assignee_id = overrides.pop("assignee_id", None)
        data.update(overrides)
        case = service.open_case(actor, data, department_id=department_id, assignee_id=assignee_id)
        db.session.commit()
        return case


@pytest.fixture
def make(app: Flask) -> Factory:
    """Factories: make.department(), make.user(role, department), make.account(), make.case()."""
    return Factory()


@pytest.fixture
def password() -> str:
    """The password every factory-made user has."""
    return PASSWORD


@pytest.fixture
def login(client: FlaskClient):
    """Log a user in through the real login form."""

    def do_login(user, c: FlaskClient | None = None) -> FlaskClient:
        c = c or client
        c.post("/logout")  # switching users in one client, as on a shared office PC
        response = c.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.text
        return c

    return do_login


@pytest.fixture
def token_for(app: Flask):
    """A valid API token for a user, as Authorization headers."""
    from incident.auth.service import create_token

    def make_token(user) -> dict[str, str]:
        _token, plain = create_token(user, "test")
        db.session.commit()
        return {"Authorization": f"Bearer {plain}"}

    return make_token


class QueryCounter:
    """Counts SQL statements sent to the database while active."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.strip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.count += 1
            self.statements.append(statement)


@pytest.fixture
def count_queries(app: Flask):
    """Use as `with count_queries() as counter: ...; counter.count`."""
    from contextlib import contextmanager

    @contextmanager
    def counting():
        counter = QueryCounter()
        event.listen(db.engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", counter)

    return counting


# ---- JSON API helpers and a small city (used by tests/api and every other folder that calls the API) ----

_MISSING: Any = object()


@pytest.fixture
def api(client, token_for):
    """`api(method, url, user, json=...)`: one request with `user`'s token (none when user is None).

    Each user gets one token, created on first use, so repeated calls look like a real client.
    Tokens are kept by Python object, not `user.id`, so that a call sends no SQL of its own (an
    expired user would be reloaded) and query counts measure the request alone.
    """
    # id(user) -> (user, headers); holding the user keeps its id() from being reused.
    tokens: dict[int, tuple[Any, dict[str, str]]] = {}

    def call(method: str, url: str, user=None, *, json: Any = _MISSING, data: Any = None,
             content_type: str | None = None, headers: dict[str, str] | None = None):
        sent: dict[str, str] = {}
        if user is not None:
            if id(user) not in tokens:
                tokens[id(user)] = (user, token_for(user))
            sent.update(tokens[id(user)][1])
        sent.update(headers or {})
        kwargs: dict[str, Any] = {}
        if json is not _MISSING:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        if content_type is not None:
            kwargs["content_type"] = content_type
        return client.open(url, method=method.upper(), headers=sent, **kwargs)

    return call


@pytest.fixture
def city(make):
    """Department A (two responders, a supervisor), department B (a responder, a supervisor), and
    an admin of the PR office."""
    dept_a = make.department("dept-a", "防災課")
    dept_b = make.department("dept-b", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        dept_a=dept_a,
        dept_b=dept_b,
        pr=pr,
        responder_a=make.user("responder", dept_a, name="担当A"),
        responder_a2=make.user("responder", dept_a, name="担当A2"),
        supervisor_a=make.user("supervisor", dept_a, name="所属長A"),
        responder_b=make.user("responder", dept_b, name="担当B"),
        supervisor_b=make.user("supervisor", dept_b, name="所属長B"),
        admin=make.user("admin", pr, name="広報"),
    )


def assert_error(response, status: int, code: str, *fields: str) -> dict[str, Any]:
    """The response is a JSON API error with this status and code naming these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    for name in fields:
        assert name in error.get("fields", {}), error
    return error


@pytest.fixture
def expect_error():
    """`expect_error(response, status, code, *fields)`: check a JSON API error and return it."""
    return assert_error


#: Why the database refuses the app an UPDATE or DELETE on an append-only table: the missing grant
#: when the app runs as its limited role, else the trigger (tests/test_append_only.py checks the
#: triggers as the owner too).
APPEND_ONLY_REFUSAL = "permission denied" if LIMITED_ROLE else "append-only"


@pytest.fixture
def refuses_sql():
    """`refuses_sql(table, statement)`: the database refuses it to the app (as append-only, or for want
    of the grant) and the rows stay as they were."""
    from sqlalchemy.exc import DatabaseError

    def check(table: str, statement: str) -> None:
        before = db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        assert before > 0, f"{table} needs a row for the check to mean anything"
        with pytest.raises(DatabaseError) as info:
            db.session.execute(text(statement.format(table=table)))
            db.session.commit()
        db.session.rollback()
        assert APPEND_ONLY_REFUSAL in str(info.value)
        assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == before

    return check
