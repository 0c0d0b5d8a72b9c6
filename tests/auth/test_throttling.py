"""Login throttling (issue 13): growing delays after LOGIN_DELAY_AFTER failures, a lock after
LOGIN_LOCK_AFTER, counted per account and per client address in the database; the PR office's login page,
unlocking, and the counts holding when many attempts arrive at once."""
from __future__ import annotations

import datetime as dt
import re
import threading
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from incident.audit.models import AuditLog
from incident.auth import service
from incident.auth.models import LoginAttempt, User
from incident.extensions import db

WRONG = "not-the-password-42"
GENERIC = "メールアドレスまたはパスワードが違います。"
WAIT = "ログインに続けて失敗したため、しばらくお待ちください"


@pytest.fixture
def clock(clock_of):
    """The login service's idea of now, moved by the test (no sleeping)."""
    return clock_of(service)


def attempt(client, email: str, password: str, address: str = "192.0.2.1"):
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def flash_of(response) -> str:
    found = re.search(r'<div class="flash flash-error"[^>]*>(.*?)</div>', response.text, re.S)
    assert found, response.text[:500]
    return found.group(1).strip()


def logged_in(client, address: str = "192.0.2.1") -> bool:
    """Whether the client is logged in (asked from the address it logged in from: the session is bound to it)."""
    return client.get("/cases", environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_delays_grow_after_five_failures_alike_for_unknown_addresses(make, client, clock, password):
    user = make.user()
    for email, address in ((user.email, "192.0.2.1"), ("ghost@example.jp", "192.0.2.2")):
        for _ in range(5):
            assert flash_of(attempt(client, email, WRONG, address)) == GENERIC
        messages = []
        for seconds in (1, 2, 4):
            refused = attempt(client, email, password, address)  # even the right password is not checked
            assert refused.status_code == 200
            messages.append(flash_of(refused))
            clock.advance(seconds)
            assert flash_of(attempt(client, email, WRONG, address)) == GENERIC  # checked once the wait is over
        assert messages == [f"{WAIT}（あと約 {s} 秒）。" for s in (1, 2, 4)]
        assert not logged_in(client)
        # refusals unchecked are audited but not counted: 8 checked failures
        assert db.session.scalar(select(func.count()).select_from(LoginAttempt)
                                 .where(LoginAttempt.email == email)) == 8
    throttled = db.session.scalars(select(AuditLog).where(AuditLog.action == "auth.login_failed")).all()
    assert sum(row.changes["reason"][1] == "throttled" for row in throttled) == 6
    assert all(WRONG not in str(row.changes) and password not in str(row.changes) for row in throttled)


def test_right_password_after_the_wait_logs_in_and_resets_the_count(make, client, clock, password):
    user = make.user()
    for _ in range(5):
        attempt(client, user.email, WRONG)
    clock.advance(1)
    assert flash_of(attempt(client, user.email, WRONG)) == GENERIC
    assert flash_of(attempt(client, user.email, password)) == f"{WAIT}（あと約 2 秒）。"
    clock.advance(2)
    assert attempt(client, user.email.upper(), password).status_code == 302
    assert logged_in(client)
    client.post("/logout")
    for _ in range(5):  # counting starts again: five more failures before any wait
        assert flash_of(attempt(client, user.email, WRONG)) == GENERIC
    assert WAIT in flash_of(attempt(client, user.email, WRONG))
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "auth.login")) == 1


def test_addresses_count_across_emails_and_accounts_across_addresses(make, client, clock, password):
    user = make.user()
    for n in range(5):  # one address trying five different accounts
        assert flash_of(attempt(client, f"guess{n}@example.jp", WRONG, "198.51.100.7")) == GENERIC
    assert WAIT in flash_of(attempt(client, user.email, password, "198.51.100.7"))
    assert attempt(client, user.email, password, "198.51.100.8").status_code == 302  # another address is not slowed
    client.post("/logout")
    other = make.user()
    for n in range(5):  # one account tried from five addresses
        assert flash_of(attempt(client, other.email, WRONG, f"203.0.113.{n}")) == GENERIC
    assert WAIT in flash_of(attempt(client, other.email, password, "203.0.113.99"))


def test_failures_are_forgotten_after_the_window_without_any(make, client, clock, password):
    user = make.user()
    for _ in range(5):
        attempt(client, user.email, WRONG)
    assert WAIT in flash_of(attempt(client, user.email, password))
    clock.advance(61 * 60)
    assert attempt(client, user.email, password).status_code == 302


def _fail_until_locked(app, client, email: str, times: int) -> None:
    for _ in range(times):
        assert flash_of(attempt(client, email, WRONG)) == GENERIC


def test_lock_after_twenty_refuses_the_right_password_like_a_wrong_one(app, make, client, clock, password):
    app.config["LOGIN_DELAY_AFTER"] = 1000  # only the lock here
    user = make.user()
    _fail_until_locked(app, client, user.email, 19)
    db.session.refresh(user)
    assert user.locked_until is None
    assert flash_of(attempt(client, user.email, WRONG)) == GENERIC  # the 20th
    db.session.refresh(user)
    assert user.locked_until == clock.now + dt.timedelta(minutes=60)
    right = attempt(client, user.email, password)
    unknown = attempt(client, "nobody@example.jp", password)
    assert flash_of(right) == flash_of(unknown) == GENERIC
    assert right.status_code == unknown.status_code == 200
    assert not logged_in(client)
    locked = db.session.scalars(select(AuditLog).where(AuditLog.action == "auth.locked")).all()
    assert [(row.object_id, row.changes["failures"][1]) for row in locked] == [(user.id, 20)]
    # the lock ends by itself after LOGIN_LOCK_MINUTES, and the old failures no longer count
    clock.advance(59 * 60)
    assert flash_of(attempt(client, user.email, password)) == GENERIC
    clock.advance(61)
    assert attempt(client, user.email, password).status_code == 302


def test_lock_with_the_default_delays_is_reached_by_a_patient_guesser(make, client, clock, password):
    user = make.user()
    for n in range(20):
        assert flash_of(attempt(client, user.email, WRONG)) == GENERIC
        clock.advance(min(2 ** max(n + 1 - 5, 0), 900) if n + 1 >= 5 else 0)
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > clock.now
    clock.advance(900)
    assert flash_of(attempt(client, user.email, password)) == GENERIC


def test_pr_office_unlocks_others_cannot(app, make, client, login, clock, password):
    app.config["LOGIN_DELAY_AFTER"] = 1000
    department = make.department()
    user = make.user("responder", department)
    _fail_until_locked(app, client, user.email, 20)
    supervisor = make.user("supervisor", department)
    for someone in (user_other := make.user("responder", department), supervisor):
        login(someone)
        assert client.get("/admin/logins").status_code == 404
        assert client.post("/admin/logins/unlock", data={"user_id": user.id}).status_code == 404
        assert "ログイン履歴" not in client.get("/cases").text
    assert user_other
    db.session.refresh(user)
    assert user.locked_until > clock.now
    admin = make.user("admin")
    login(admin)
    page = client.get("/admin/logins")
    assert page.status_code == 200
    assert user.email in page.text and "ロックを解除" in page.text
    assert "ログイン履歴" in client.get("/cases").text  # the nav link
    for bad in ("", "abc", "99999999999999999999", str(admin.id + 1000)):
        assert client.post("/admin/logins/unlock", data={"user_id": bad}).status_code == 404
    response = client.post("/admin/logins/unlock", data={"user_id": user.id}, follow_redirects=True)
    assert f"{user.email} のロックを解除しました。" in response.text
    again = client.post("/admin/logins/unlock", data={"user_id": user.id}, follow_redirects=True)
    assert f"{user.email} はロックされていません。" in again.text
    unlocked = db.session.scalars(select(AuditLog).where(AuditLog.action == "auth.unlocked")).all()
    assert [(row.actor_id, row.object_id) for row in unlocked] == [(admin.id, user.id)]
    client.post("/logout")
    assert attempt(client, user.email, password).status_code == 302  # earlier failures no longer count


def test_cli_unlock(app, make, client, runner, clock, password):
    app.config["LOGIN_DELAY_AFTER"] = 1000
    user = make.user()
    _fail_until_locked(app, client, user.email, 20)
    result = runner.invoke(args=["user", "unlock", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert f"user {user.email} unlocked" in result.output
    assert runner.invoke(args=["user", "unlock", user.email]).exit_code == 1  # not locked any more
    assert runner.invoke(args=["user", "unlock", "ghost@example.jp"]).exit_code == 1
    assert attempt(client, user.email, password).status_code == 302


def test_login_history_page_lists_and_filters(make, client, login, clock, password):
    user = make.user()
    attempt(client, user.email, WRONG, "192.0.2.50")
    attempt(client, "typo@example.jp", WRONG, "192.0.2.51")
    admin = make.user("admin")
    login(admin)
    page = client.get("/admin/logins").text
    assert "192.0.2.50" in page and "typo@example.jp" in page and "失敗" in page and "成功" in page
    filtered = client.get("/admin/logins", query_string={"email": user.email.upper()}).text
    history = filtered.split('id="history"')[1]
    assert user.email in history and "typo@example.jp" not in history
    for nonsense in ({"page": "x"}, {"page": "-4", "per_page": "0"}, {"email": "a" * 500}):
        assert client.get("/admin/logins", query_string=nonsense).status_code == 200
    assert client.get("/admin/logins", query_string={"email": "\x00"}).status_code == 400  # refused app-wide
    assert WRONG not in page


def test_every_login_event_is_audited_without_passwords(make, client, clock, password):
    user = make.user()
    attempt(client, user.email, WRONG)
    attempt(client, "ghost@example.jp", WRONG)
    attempt(client, user.email, password)
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action.like("auth.%")).order_by(AuditLog.id)).all()
    assert [(r.action, r.changes.get("reason", [None, None])[1]) for r in rows] == [
        ("auth.login_failed", "wrong_password"), ("auth.login_failed", "unknown_email"), ("auth.login", None)]
    assert rows[2].actor_id == user.id
    assert all(password not in str(r.changes) and WRONG not in str(r.changes) for r in rows)


def test_a_failed_attempt_is_kept_when_the_request_fails_afterwards(make, client, clock, monkeypatch):
    user = make.user()

    def broken(*args, **kwargs):
        raise RuntimeError("template broke")

    monkeypatch.setattr("incident.auth.views.render_template", broken)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    assert attempt(client, user.email, WRONG).status_code == 500
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 1


def test_concurrent_guesses_lock_at_exactly_the_configured_count(app, make):
    """Eight threads guess at once against a threaded server on the same database: exactly LOGIN_LOCK_AFTER
    guesses are checked and counted before the lock, and the lock is taken once."""
    app.config["LOGIN_DELAY_AFTER"] = 1000
    app.config["LOGIN_LOCK_AFTER"] = 20
    app.config["WTF_CSRF_ENABLED"] = False
    user = make.user()
    email, user_id = user.email, user.id
    db.session.remove()  # the test thread holds no transaction while the server writes
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{server.server_port}"
    statuses: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def guesser() -> None:
        try:
            start.wait(10)
            for _ in range(5):
                data = urllib.parse.urlencode({"email": email, "password": WRONG}).encode()
                with urllib.request.urlopen(urllib.request.Request(base + "/login", data=data), timeout=60) as r:
                    r.read()
                    statuses.append(r.status)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=guesser) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        server.shutdown()
        serving.join(10)
    assert not errors, errors
    assert statuses == [200] * 40
    reasons = [row.changes["reason"][1] for row in db.session.scalars(
        select(AuditLog).where(AuditLog.action == "auth.login_failed"))]
    assert reasons.count("wrong_password") == 20  # checked before the lock: exactly the configured count
    assert reasons.count("locked") == 20
    locked = db.session.scalars(select(AuditLog).where(AuditLog.action == "auth.locked")).all()
    assert [row.changes["failures"][1] for row in locked] == [20]
    assert db.session.get(User, user_id).locked_until is not None
