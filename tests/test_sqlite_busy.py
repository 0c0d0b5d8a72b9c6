"""A write a read request must make (ending an idle session, a sign-in from the identity provider) waits
for another writer's lock like any write, instead of failing: on SQLite a GET begins as a reader, and a
reader whose snapshot went stale gets "database is locked" at once, with no wait."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from incident.audit.models import AuditLog
from incident.auth.models import User, UserSession
from incident.auth.sessions import IDLE
from incident.database import in_own_transaction
from incident.dates import utcnow
from incident.extensions import db

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()),
    reason="SQLite's database-wide write lock is what these tests are about; the PostgreSQL pass has none",
)

#: Longer than in_own_transaction's retries on fresh snapshots (0.2 s in all), far shorter than the busy timeout.
HOLD_S = 1.0


class _OtherWriter:
    """Another process's write transaction on the same file, holding SQLite's write lock for HOLD_S."""

    def __init__(self, path: Path) -> None:
        self.path, self.holding = path, threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            self.holding.set()
            threading.Event().wait(HOLD_S)
            connection.execute("COMMIT")
        finally:
            connection.close()

    def __enter__(self) -> _OtherWriter:
        self._thread.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(30)


def _path() -> Path:
    return Path(db.engine.url.database or "")


def test_a_read_requests_own_transaction_waits_for_the_lock_and_writes(app, make):
    user = make.user("responder", name="元の名前")
    db.session.commit()
    user_id = user.id

    def rename() -> str:
        name = db.session.scalar(select(User.name).where(User.id == user_id))  # read first...
        db.session.execute(update(User).where(User.id == user_id).values(name=f"{name}（更新）"))
        return name  # ...then write: the lock is taken only now

    with app.test_request_context("/cases", method="GET"):
        db.session.remove()
        with _OtherWriter(_path()):
            assert in_own_transaction(rename) == "元の名前"
    db.session.expire_all()
    assert db.session.get(User, user_id).name == "元の名前（更新）"


def test_an_idle_session_met_by_a_read_request_is_ended_while_another_writer_holds_the_lock(app, make, login,
                                                                                           client):
    user = make.user("responder")
    login(user)
    user_id = user.id
    db.session.execute(update(UserSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    db.session.commit()
    db.session.remove()

    with _OtherWriter(_path()):
        response = client.get("/cases")

    assert response.status_code == 302 and "/login" in response.headers["Location"]
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == user_id)).one()
    assert row.end_reason == IDLE and row.ended_at is not None
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "session.end", AuditLog.object_id == row.id)) == 1
