"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when INCIDENT_TEST_DATABASE_URL is
set), the app, clients, factories, and a query counter.

Building an app costs more than most tests, so `app` is one application per run (SharedApp): every test
still gets an empty database (the SQLite file is replaced by a copy of the migrated template, or
PostgreSQL's tables are emptied), and the app's config and extensions are put back after each test; a test
that changes anything else of the app (routes, hooks, template globals) gets it rebuilt for the next one.
Tests needing an app of their own (other settings, CLI start-up, a second connection) build it with
`create_app` and list it in `built_apps`.

With INCIDENT_TEST_DATABASE_OWNER_URL set as well, the PostgreSQL schema is built, granted and emptied
as that owner, and the app under test connects as the limited role of INCIDENT_TEST_DATABASE_URL (the
deployment the README describes); tests needing the owner's powers use `owner_uri`."""
from __future__ import annotations

import atexit
import copy
import dataclasses
import os
import re
import shutil
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from werkzeug.security import generate_password_hash

from incident import create_app
from incident.extensions import db

# Every app the suite builds (its own, the CLI's, a gunicorn child's) keeps its files in a temporary
# instance folder, never in the developer's ./instance (demo logins, uploads, the development database).
os.environ["INCIDENT_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="incident-test-instance-")
atexit.register(shutil.rmtree, os.environ["INCIDENT_INSTANCE_PATH"], ignore_errors=True)

PG_URL = os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()
#: Who builds the PostgreSQL schema: the owner when given, else the app's own role (as before).
OWNER_URL = (os.environ.get("INCIDENT_TEST_DATABASE_OWNER_URL", "").strip() or PG_URL) if PG_URL else ""
#: The app under test runs as a role limited by `flask db-grant-app` (PostgreSQL with an owner URL).
LIMITED_ROLE = bool(PG_URL) and make_url(OWNER_URL).username != make_url(PG_URL).username
PASSWORD = "correct-horse-battery"
# Hashing is deliberately slow (scrypt, ~0.2 s per login); the factory users' hash is computed once per run,
# with cheap parameters since logging in checks it each time: the login still verifies a real hash, and
# the app's own hashing (set_password, the unknown-user dummy) keeps its defaults.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


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


def _empty_postgresql(engine: Engine) -> None:
    """Empty every table on PostgreSQL and restart its sequences, as the schema's owner.

    TRUNCATE of every table takes about a second (new files for each table and index); deleting the rows
    of the tables that have any takes milliseconds. One statement deletes them all, so the foreign keys
    (NO ACTION, checked at its end) allow any order, and the append-only triggers are switched off only
    inside this transaction (other connections never see them off)."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '60s'"))  # a leaked transaction fails the test, not hangs
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
        )).scalars().all()
        filled = conn.execute(text(" UNION ALL ".join(
            f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM \"{table}\")" for table in tables))).scalars().all()
        if filled:
            triggers = conn.execute(text(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND c.relname = ANY(:filled) "
                "AND c.relnamespace = current_schema()::regnamespace"), {"filled": list(filled)}).all()
            for table, trigger in triggers:
                conn.exec_driver_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')
            conn.exec_driver_sql("WITH " + ", ".join(f'd{n} AS (DELETE FROM "{table}")'
                                                     for n, table in enumerate(filled)) + " SELECT 1")
            for table, trigger in triggers:
                conn.exec_driver_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}"')
        used = conn.execute(text(
            "SELECT sequencename, start_value FROM pg_sequences WHERE schemaname = current_schema() "
            "AND last_value IS NOT NULL")).all()
        for name, start in used:  # as TRUNCATE ... RESTART IDENTITY did: ids start at 1 again
            conn.execute(text("SELECT setval(:name, :start, false)"), {"name": f'"{name}"', "start": start})


def _fresh_sqlite(template: str, target: Path) -> None:
    """Put an empty migrated database at `target`, whose connections are closed: a copy of the template
    renamed over it, after removing the old file's WAL and shared-memory files (SQLite would apply a
    leftover WAL to the new file)."""
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    scratch = target.with_name(target.name + ".new")
    shutil.copyfile(template, scratch)
    os.replace(scratch, target)


#: Extensions holding data loaded from files, compared by value after each test (see SharedApp).
_LOADED_EXTENSIONS = ("playbooks", "wording", "escalation")


def _data(value: Any) -> Any:
    """A plain snapshot of loaded data (dataclasses, dicts, lists) to compare by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), {f.name: _data(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {key: _data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_data(item) for item in value]
    return value


class SharedApp:
    """The application the `app` fixture gives every test, built on first use.

    After each test, `reset` puts back its config and extensions and checks that nothing else was changed
    (routes, request hooks, error handlers, template globals and filters, the loaded playbooks, wording and
    escalation rules); if something was, the app is dropped and the next test gets a new one."""

    def __init__(self, uri: str, instance: Path) -> None:
        self.uri = uri
        self.instance = instance
        self.app: Flask | None = None
        self.built = 0

    def get(self) -> Flask:
        """The shared app, built when there is none yet."""
        if self.app is None:
            self.app = create_app(_base_config(self.uri, self.instance))
            self.built += 1
            self._config = copy.deepcopy(dict(self.app.config))
            self._extensions = dict(self.app.extensions)
            self._objects, self._values = self.shape(self.app)
        return self.app

    def dispose(self) -> None:
        """Close the app's database connections (before its database is replaced)."""
        if self.app is not None:
            with self.app.app_context():
                db.session.remove()
                db.engine.dispose()

    @staticmethod
    def shape(app: Flask) -> tuple[list[tuple[Any, ...]], list[Any]]:
        """What a test must leave as it was: (where, object) pairs compared by identity, and plain values
        (the routes, the data loaded from files) compared by equality."""
        objects: list[tuple[Any, ...]] = [("view", name, view) for name, view in app.view_functions.items()]
        for hook in ("before_request_funcs", "after_request_funcs", "teardown_request_funcs",
                     "url_value_preprocessors", "url_default_functions", "template_context_processors"):
            objects += [(hook, key, n, f) for key, funcs in getattr(app, hook).items() for n, f in enumerate(funcs)]
        objects += [("teardown_appcontext", n, f) for n, f in enumerate(app.teardown_appcontext_funcs)]
        objects += [("errorhandler", key, code, exc, handler) for key, spec in app.error_handler_spec.items()
                    for code, handlers in spec.items() for exc, handler in handlers.items()]
        for name, names in (("global", app.jinja_env.globals), ("filter", app.jinja_env.filters),
                            ("test", app.jinja_env.tests)):
            objects += [(name, key, value) for key, value in names.items()]
        objects += [("extension", key, value) for key, value in app.extensions.items()
                    if key not in _LOADED_EXTENSIONS]
        objects += [("app", "wsgi_app", vars(app).get("wsgi_app")), ("app", "json", app.json),
                    ("app", "session_interface", app.session_interface),
                    ("jinja", "finalize", app.jinja_env.finalize)]
        values = [sorted((r.rule, r.endpoint, tuple(sorted(r.methods or ()))) for r in app.url_map.iter_rules()),
                  {key: _data(app.extensions.get(key)) for key in _LOADED_EXTENSIONS}]
        return objects, values

    def reset(self) -> None:
        """Put back the config and extensions; drop the app if a test changed anything else of it."""
        app = self.app
        if app is None:
            return
        app.config.clear()
        app.config.update(copy.deepcopy(self._config))
        app.extensions.clear()
        app.extensions.update(self._extensions)
        objects, values = self.shape(app)
        unchanged = values == self._values and len(objects) == len(self._objects) and all(
            now[:-1] == before[:-1] and now[-1] is before[-1] for now, before in zip(objects, self._objects, strict=True))
        if not unchanged:
            self.dispose()
            self.app = None


@pytest.fixture(scope="session")
def shared_app(schema_source: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedApp]:
    """The holder of the app most tests share, on the run's one test database."""
    instance = tmp_path_factory.mktemp("shared")
    shared = SharedApp(PG_URL or f"sqlite:///{instance / 'test.sqlite3'}", instance)
    shared.get()  # now, before any test's own fixtures (a monkeypatch, say) could be in effect
    yield shared
    shared.dispose()


@pytest.fixture(scope="session")
def _owner_engine() -> Iterator[Engine | None]:
    """The schema owner's connections, kept for emptying the PostgreSQL tables before each test."""
    if not PG_URL:
        yield None
        return
    engine = create_engine(OWNER_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def database_uri(schema_source: str, shared_app: SharedApp, _owner_engine: Engine | None) -> Iterator[str]:
    """A database with the migrated schema and no rows, private to this test (the shared app's URI)."""
    from incident.reports import kept

    shared_app.dispose()
    kept.clear()  # figures kept from the previous test's database
    if _owner_engine is not None:
        _empty_postgresql(_owner_engine)
        yield PG_URL
        return
    _fresh_sqlite(schema_source, Path(make_url(shared_app.uri).database or ""))
    yield shared_app.uri


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
def app(database_uri: str, shared_app: SharedApp) -> Iterator[Flask]:
    """The application (shared by the tests, on this test's fresh database), with an app context pushed
    for direct service calls."""
    application = shared_app.get()
    try:
        with application.app_context():
            yield application
            db.session.remove()
            db.engine.dispose()
    finally:
        shared_app.reset()


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

    def operator(self, name: str, kind: str = "contractor"):
        """The outside operator (委託業者・指定管理者) of that name, made on first use."""
        from incident.auth.models import OperatorType
        from incident.auth.service import operator_named

        operator = operator_named(name, OperatorType(kind))
        db.session.commit()
        return operator

    def user(self, role: str = "responder", department=None, **overrides: Any):
        from incident.auth.models import Role, User

        n = self._next()
        department = department or self.department()
        if overrides.get("organisation"):
            overrides["operator"] = self.operator(overrides.pop("organisation"))
        overrides.pop("organisation", None)
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
        operator_name = overrides.pop("operator_name", None)
        if operator_name:
            overrides["operator"] = self.operator(operator_name, overrides.get("operator_type", "contractor"))
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
    from incident.auth.tokens import create_token

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
        #: (statement, parameters) of each counted statement, e.g. to EXPLAIN it afterwards.
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.strip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.count += 1
            self.statements.append(statement)
            self.sent.append((statement, parameters))


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
#: triggers as the owner too). The role may UPDATE the personal columns a redaction blanks
#: (incident.database.REDACTABLE_COLUMNS): there, without a redaction, the trigger refuses it.
APPEND_ONLY_REFUSAL = "permission denied|append-only" if LIMITED_ROLE else "append-only"


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
        assert re.search(APPEND_ONLY_REFUSAL, str(info.value)), info.value
        assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == before

    return check
