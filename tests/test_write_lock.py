"""Reads never fail because someone else writes, and no long job holds SQLite's write lock.

Against gunicorn with several worker processes on one SQLite file: API readers (each token used for
the first time, so each read records a token use), API writers and the escalation worker run at once
for a bounded time, and not one request may answer 5xx. The worker's jobs (the sweep, mail delivery)
are checked to let another writer in while they run. SQLite only: PostgreSQL has row locks and MVCC
and no database-wide write lock."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from incident import create_app
from incident.extensions import db
from incident.loopback import HOST, free_port, gunicorn

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()),
    reason="SQLite's database-wide write lock is what these tests are about; the PostgreSQL pass has none",
)

BIN = Path(sys.executable).parent
#: How long the mixed load runs (bounded, and it stops by itself).
LOAD_SECONDS = 8
#: A writer from outside must get the write lock within this while a long job runs.
OUTSIDE_WAIT_S = 1.0


def _outside_write(path: Path) -> float:
    """Take and release the write lock from another connection; seconds it took (raises when locked)."""
    started = time.perf_counter()
    connection = sqlite3.connect(path, timeout=OUTSIDE_WAIT_S, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("COMMIT")
    finally:
        connection.close()
    return time.perf_counter() - started


class _Prober:
    """Tries an outside write every 50 ms on another thread and keeps every failure."""

    def __init__(self, path: Path) -> None:
        self.path, self.failures, self.tries = path, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                _outside_write(self.path)
            except sqlite3.OperationalError as exc:
                self.failures.append(str(exc))
            self.tries += 1
            self._stop.wait(0.05)

    def __enter__(self) -> _Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def _db_path(app) -> Path:
    return Path(db.engine.url.database)


def test_the_sweep_lets_other_writers_in_between_cases(app, make, runner, monkeypatch):
    from incident.escalation import sweeping as escalation

    supervisor = make.user("supervisor")
    for n in range(12):
        make.case(supervisor, title=f"放置された案件{n}", severity="high")
    real_raise = escalation._raise

    def slow_raise(*args, **kwargs):
        time.sleep(0.3)  # a slow disk or a big case: the sweep now takes ~4 s in all
        return real_raise(*args, **kwargs)

    monkeypatch.setattr(escalation, "_raise", slow_raise)
    # Each batch is a transaction of its own: two slow cases hold the lock ~0.6 s, less than a writer waits.
    monkeypatch.setattr(escalation, "SWEEP_BATCH", 2)
    db.session.remove()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    with _Prober(_db_path(app)) as prober:
        result = runner.invoke(args=["escalate", "--now", later])
    assert result.exit_code == 0, result.output
    # One per case: while a case is unacknowledged, that escalation stands for its overdue steps too (issue 12).
    assert "escalations raised 12," in result.output
    assert prober.tries >= 3, (prober.tries, result.output)
    assert prober.failures == []


class _SlowSMTP:
    """An SMTP receiver that takes its time over every message, as a loaded mail server does."""

    def __init__(self) -> None:
        self.receiving = threading.Event()
        self.received = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.receiving.set()
        await asyncio.sleep(1.5)
        self.received += 1
        return "250 Message accepted"


def test_mail_delivery_does_not_hold_the_write_lock_while_sending(app, make):
    from incident.notifications import mailer
    from incident.notifications.models import OutboxMail

    port = free_port()
    handler = _SlowSMTP()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        app.config.update(MAIL_HOST=HOST, MAIL_PORT=port, MAIL_SECURITY="none", MAIL_TIMEOUT=10)
        department = make.department()
        make.user("supervisor", department)
        make.user("supervisor", department)
        make.case(make.user("responder", department), title="メールの出る案件")  # both supervisors are told
        pending = db.session.scalar(select(func.count(OutboxMail.id)).where(OutboxMail.sent_at.is_(None)))
        assert pending == 2
        db.session.remove()
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                with app.app_context():
                    mailer.deliver_due()
                    db.session.remove()
            except BaseException as exc:  # reported to the test thread
                errors.append(exc)

        worker = threading.Thread(target=deliver)
        worker.start()
        assert handler.receiving.wait(10)
        assert _outside_write(_db_path(app)) < OUTSIDE_WAIT_S  # while the server is still receiving
        worker.join(30)
        assert not errors
        assert handler.received == pending
    finally:
        controller.stop()


@pytest.fixture
def served(schema_source: str, tmp_path: Path):
    """gunicorn with four worker processes on a private SQLite file with a city in it; yields its base URL
    and the data the load needs."""
    database = tmp_path / "served.sqlite3"
    shutil.copyfile(schema_source, database)
    uri = f"sqlite:///{database}"
    env = {**os.environ, "DATABASE_URL": uri, "INCIDENT_SECRET_KEY": "load-test-secret",
           "INCIDENT_UPLOAD_DIR": str(tmp_path / "uploads"), "INCIDENT_ENV": "development"}
    env.pop("INCIDENT_TEST_DATABASE_URL", None)
    seed_app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "x", "TESTING": True})
    with seed_app.app_context():
        from incident.auth.models import Department, Role, User
        from incident.auth.tokens import create_token
        from incident.cases import service as cases

        department = Department(code="bousai", name="防災課")
        db.session.add(department)
        db.session.flush()
        users = [User(email=f"load{n}@example.jp", name=f"負荷{n}", role=Role.SUPERVISOR if n == 0 else Role.RESPONDER,
                      department_id=department.id, password_hash="x") for n in range(4)]
        db.session.add_all(users)
        db.session.flush()
        case_ids = [cases.open_case(users[0], {"kind": "flaming", "severity": "high", "title": f"負荷{n}"}).id
                    for n in range(5)]
        tokens = [create_token(users[n % 4], f"load-{n}")[1] for n in range(120)]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        try:
            with gunicorn(env, log, start_within=30) as base:
                yield {"base": base, "tokens": tokens, "case_ids": case_ids, "env": env, "database": database}
        except RuntimeError as failure:
            raise AssertionError(f"{failure}:\n{log_path.read_text()}") from None


def _call(base: str, method: str, path: str, token: str, body: dict | None = None) -> int:
    request = urllib.request.Request(
        base + path, method=method, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_mixed_load_on_several_workers_answers_no_5xx(served):
    base, tokens, case_ids = served["base"], served["tokens"], served["case_ids"]
    statuses: list[tuple[str, int]] = []
    notes_written = [0]
    sweep_errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS
    fresh_tokens = iter(tokens[8:])  # each used once: every one of these reads records a token use

    def record(kind: str, status: int) -> None:
        with lock:
            statuses.append((kind, status))

    def reader() -> None:
        n = 0
        while time.monotonic() < stop_at:
            with lock:
                token = next(fresh_tokens, None) or tokens[n % 8]
            n += 1
            path = "/api/v1/cases" if n % 2 else f"/api/v1/cases/{case_ids[n % len(case_ids)]}"
            record("read", _call(base, "GET", path, token))

    def writer(index: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            case_id = case_ids[(index + n) % len(case_ids)]
            status = _call(base, "POST", f"/api/v1/cases/{case_id}/notes", tokens[index],
                           {"body": f"書き込み {index}-{n}"})
            record("write", status)
            if status == 201:
                with lock:
                    notes_written[0] += 1

    def sweeper() -> None:
        # The escalation worker's job, run as the CLI runs it, against the same file.
        while time.monotonic() < stop_at:
            later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
            result = subprocess.run([str(BIN / "flask"), "--app", "incident", "escalate", "--now", later],
                                    env=served["env"], capture_output=True, text=True, timeout=60)
            record("sweep", 200 if result.returncode == 0 else 500)
            if result.returncode:
                sweep_errors.append(result.stdout + result.stderr)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads += [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=sweeper))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LOAD_SECONDS + 120)

    failures = [(kind, status) for kind, status in statuses if status >= 500]
    reads = sum(1 for kind, _ in statuses if kind == "read")
    assert reads > 30 and notes_written[0] > 10, statuses[:20]
    assert sum(1 for kind, _ in statuses if kind == "sweep") >= 1
    assert failures == [], sweep_errors
    assert all(status in (200, 201) for kind, status in statuses if kind != "sweep")
    # Every note answered 201 is there, and nothing else.
    connection = sqlite3.connect(served["database"])
    try:
        stored = connection.execute("SELECT count(*) FROM note").fetchone()[0]
        used = connection.execute("SELECT count(*) FROM api_token WHERE last_used_at IS NOT NULL").fetchone()[0]
    finally:
        connection.close()
    assert stored == notes_written[0]
    assert used > 8  # token uses were recorded, not skipped


def test_two_item_by_item_sweeps_at_once_raise_each_escalation_once(app, make):
    """Now that sweeps write item by item, two workers' sweeps interleave on SQLite too: each cause
    still escalates once (the insert skips a duplicate key; the climb is a conditional update)."""
    from incident.database import in_own_transaction, reads_first
    from incident.escalation import service as escalation
    from incident.escalation.models import Escalation

    department = make.department()
    make.user("supervisor", department)
    opened = [make.case(make.user("responder", department), severity="high", title=f"同時{n}") for n in range(8)]
    now = max(case.created_at for case in opened) + dt.timedelta(minutes=16)
    db.session.remove()
    start = threading.Barrier(2, timeout=30)
    reports, errors = [], []

    def run() -> None:
        try:
            with app.app_context():
                start.wait()
                with reads_first():
                    reports.append(escalation.sweep(now, run_item=in_own_transaction))
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sum(report.raised for report in reports) == 8
    keys = list(db.session.scalars(select(Escalation.dedupe_key)))
    assert len(keys) == len(set(keys)) == 8
