"""Sessions that really end (issue 13): logout, timeouts, password change, deactivation and "sign out
everywhere" end the server-side session, so a copied session or "remember me" cookie is refused."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time

import pytest
from sqlalchemy import event, select, update

from incident.audit.models import AuditLog
from incident.auth import service, sessions
from incident.auth.models import ApiToken, UserSession
from incident.dates import utcnow
from incident.errors import PermissionDenied
from incident.extensions import db

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")


def _sign_in(app, user, password, *, remember=False, agent=WINDOWS):
    """A fresh browser (its own cookies) signed in as `user`."""
    browser = app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = agent
    data = {"email": user.email, "password": password}
    if remember:
        data["remember"] = "y"
    response = browser.post("/login", data=data)
    assert response.status_code == 302, response.text
    browser.login_id = _login_id(browser)  # type: ignore[attr-defined]  # kept for _row after sign-out
    return browser


def _login_id(browser) -> str:
    with browser.session_transaction() as stored:
        return stored["_user_id"]


def _row(browser) -> UserSession:
    """The browser's session row as stored now (detached: the test's transaction ends here, so it holds no
    lock while the next request runs)."""
    token = browser.login_id.split(":", 1)[1]
    db.session.expire_all()
    row = db.session.scalars(select(UserSession).where(UserSession.token_hash == sessions._hash(token))).one()
    db.session.expunge(row)
    db.session.rollback()
    return row


def _signed_in(browser) -> bool:
    response = browser.get("/settings")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _backdate(row: UserSession, **fields: dt.datetime) -> None:
    db.session.execute(update(UserSession).where(UserSession.id == row.id).values(**fields))
    db.session.commit()


def _with_cookies(app, **cookies: str):
    """Another browser given copies of these cookies (same User-Agent, as a thief would send)."""
    thief = app.test_client()
    thief.environ_base["HTTP_USER_AGENT"] = WINDOWS
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


# --- logout ends the session on the server ----------------------------------------------------------


def test_login_stores_only_the_hash_of_the_session_token(app, make, password):
    user = make.user()
    browser = _sign_in(app, user, password)
    login_id = _login_id(browser)
    user_part, token = login_id.split(":", 1)
    assert user_part == str(user.id) and len(token) >= 40
    row = _row(browser)
    assert row.user_id == user.id and row.ended_at is None
    assert token not in row.token_hash and row.user_agent == WINDOWS


def test_a_copied_session_cookie_is_refused_after_logout(app, make, password):
    user = make.user()
    browser = _sign_in(app, user, password)
    copied = browser.get_cookie("session").value
    assert _signed_in(_with_cookies(app, session=copied))  # the copy works while the session lasts
    browser.post("/logout")
    assert not _signed_in(_with_cookies(app, session=copied))
    assert not _signed_in(browser)
    row = _row(browser)
    assert row.ended_at is not None and row.end_reason == "logout"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "session.end",
                                                    AuditLog.object_id == row.id)) is not None


def test_a_copied_remember_cookie_is_refused_after_logout(app, make, password):
    user = make.user()
    browser = _sign_in(app, user, password, remember=True)
    remembered = browser.get_cookie("remember_token").value
    assert _signed_in(_with_cookies(app, remember_token=remembered))  # it signs a fresh browser in...
    browser.post("/logout")
    replay = _with_cookies(app, remember_token=remembered)
    response = replay.get("/settings")
    assert response.status_code == 302  # ...but not once the session it names has ended
    dropped = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    assert dropped and "Expires=Thu, 01 Jan 1970" in dropped[0]  # and the refused cookie is deleted


def test_a_forged_or_old_style_user_id_is_refused(app, make, password):
    user = make.user()
    browser = _sign_in(app, user, password)
    for forged in (str(user.id), f"{user.id}:", f"{user.id}:not-a-token", "x:y", ""):
        with browser.session_transaction() as stored:
            stored["_user_id"] = forged
        assert not _signed_in(browser)
    # Someone else's token under one's own id is no session either.
    other = _sign_in(app, make.user(), password)
    with browser.session_transaction() as stored:
        stored["_user_id"] = f"{user.id}:{_login_id(other).split(':', 1)[1]}"
    assert not _signed_in(browser)


# --- idle and absolute timeouts -----------------------------------------------------------------------


def test_idle_session_is_ended_and_the_login_page_says_why(app, make, password):
    user = make.user()
    browser = _sign_in(app, user, password)
    _backdate(_row(browser), last_seen_at=utcnow() - dt.timedelta(minutes=31))
    response = browser.get("/cases")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = browser.get(response.headers["Location"]).text
    assert 'role="status" id="signed-out">一定時間操作がなかったため、ログアウトしました。' in page
    assert "一定時間操作がなかった" not in browser.get("/login").text  # said once
    row = _row(browser)
    assert row.end_reason == "idle" and row.ended_at is not None
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "session.end",
                                                    AuditLog.object_id == row.id)).changes["ended"][1] == "idle"


def test_a_session_used_within_the_idle_limit_goes_on(app, make, password):
    browser = _sign_in(app, make.user(), password)
    _backdate(_row(browser), last_seen_at=utcnow() - dt.timedelta(minutes=29))
    assert _signed_in(browser)
    assert _row(browser).ended_at is None


def test_idle_limit_is_configurable(app, make, password, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 5)
    browser = _sign_in(app, make.user(), password)
    _backdate(_row(browser), last_seen_at=utcnow() - dt.timedelta(minutes=6))
    assert not _signed_in(browser)
    assert _row(browser).end_reason == "idle"


def test_absolute_timeout_ends_even_an_active_session(app, make, password, monkeypatch):
    user = make.user()
    browser = _sign_in(app, user, password, remember=True)
    _backdate(_row(browser), created_at=utcnow() - dt.timedelta(hours=12, minutes=1))
    response = browser.get("/cases")
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).text
    assert "ログインから 12 時間が過ぎたため、ログアウトしました。" in page
    assert _row(browser).end_reason == "expired"
    # The "remember me" cookie of that session does not outlive it.
    monkeypatch.setitem(app.config, "SESSION_MAX_HOURS", 24)
    assert not _signed_in(browser)


def test_the_expired_message_uses_the_configured_hours(app, make, password, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_MAX_HOURS", 8)
    browser = _sign_in(app, make.user(), password)
    _backdate(_row(browser), created_at=utcnow() - dt.timedelta(hours=8, minutes=1))
    browser.get("/cases")
    assert "ログインから 8 時間が過ぎたため" in browser.get("/login").text


# --- last seen: at most once a minute, never through a read request's transaction ------------------


def test_last_seen_is_written_at_most_once_a_minute(app, make, password):
    browser = _sign_in(app, make.user(), password)
    recent = utcnow() - dt.timedelta(seconds=30)
    _backdate(_row(browser), last_seen_at=recent)
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert _signed_in(browser)
        assert _signed_in(browser)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert not any("UPDATE user_session" in s for s in statements)
    assert abs((_row(browser).last_seen_at - recent).total_seconds()) < 1  # unchanged
    stale = utcnow() - dt.timedelta(minutes=2)
    _backdate(_row(browser), last_seen_at=stale)
    assert _signed_in(browser)
    assert utcnow() - _row(browser).last_seen_at < dt.timedelta(seconds=30)


@pytest.mark.skipif(bool(os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()),
                    reason="SQLite's database-wide write lock; PostgreSQL has none")
def test_a_read_request_does_not_need_the_write_lock_to_note_last_seen(app, make, password):
    browser = _sign_in(app, make.user(), password)
    stale = utcnow() - dt.timedelta(minutes=5)
    _backdate(_row(browser), last_seen_at=stale)
    db.session.remove()
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another request is writing
        started = time.perf_counter()
        response = browser.get("/settings")
        took = time.perf_counter() - started
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert response.status_code == 200  # the page answers, signed in, without waiting for the writer
    assert took < 5
    assert abs((_row(browser).last_seen_at - stale).total_seconds()) < 1  # skipped for now
    assert _signed_in(browser)  # and noted on the next request
    assert utcnow() - _row(browser).last_seen_at < dt.timedelta(seconds=30)


# --- password change and deactivation end the other sessions -----------------------------------------


def test_end_sessions_keeps_only_the_named_session(app, make, password):
    user = make.user()
    here = _sign_in(app, user, password)
    there = _sign_in(app, user, password, agent=IPHONE)
    someone_else = _sign_in(app, make.user(), password)
    ended = service.end_sessions(user, "password_changed", except_token=_login_id(here))
    db.session.commit()
    assert ended == 1
    assert _signed_in(here) and _signed_in(someone_else)
    response = there.get("/cases")
    assert response.status_code == 302
    assert "パスワードが変更されたため、ログアウトしました。" in there.get(response.headers["Location"]).text


def test_changing_ones_password_signs_out_the_other_browsers_only(app, make, password):
    user = make.user()
    here = _sign_in(app, user, password)
    there = _sign_in(app, user, password, agent=IPHONE)
    new = "Ishinomaki-Kaigan-2026-Hibari"
    response = here.post("/settings/password", data={
        "current_password": password, "new_password": new, "confirm_password": new})
    assert response.status_code == 302, response.text
    assert _signed_in(here)
    assert not _signed_in(there)
    assert _row(there).end_reason == "password_changed"


def test_deactivation_ends_sessions_and_revokes_tokens(app, make, password, token_for):
    admin = make.user("admin")
    user = make.user()
    browser = _sign_in(app, user, password, remember=True)
    remembered = browser.get_cookie("remember_token").value
    headers = token_for(user)
    assert browser.application.test_client().get("/api/v1/me", headers=headers).status_code == 200
    service.deactivate_user(admin, user)
    db.session.commit()
    assert not _signed_in(browser)
    assert not _signed_in(_with_cookies(app, remember_token=remembered))
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert all(token.revoked_at is not None for token in db.session.scalars(select(ApiToken)))
    assert _row(browser).end_reason == "deactivated"
    actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.actor_id == admin.id)))
    assert {"user.deactivate", "session.end", "token.revoke"} <= actions


def test_only_the_pr_office_deactivates_and_never_itself(app, make, password):
    admin = make.user("admin")
    user = make.user()
    browser = _sign_in(app, user, password)
    for actor, target in ((make.user("supervisor"), user), (make.user(), user), (admin, admin)):
        with pytest.raises(PermissionDenied):
            service.deactivate_user(actor, target)
        db.session.rollback()
    assert _signed_in(browser)
    db.session.refresh(user)
    assert user.active


def test_cli_deactivates_a_user(app, make, password, runner):
    user = make.user()
    browser = _sign_in(app, user, password)
    result = runner.invoke(args=["user", "deactivate", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert "deactivated" in result.output
    assert not _signed_in(browser)
    assert runner.invoke(args=["user", "deactivate", "ghost@example.jp"]).exit_code != 0


def test_a_user_deactivated_by_other_means_is_signed_out_too(app, make, password):
    user = make.user()
    browser = _sign_in(app, user, password)
    user.active = False
    db.session.commit()
    assert not _signed_in(browser)
    assert _row(browser).end_reason == "deactivated"


# --- the settings page: my sessions, sign out the others, sign out everywhere --------------------------


def test_settings_lists_my_open_sessions(app, make, password):
    user = make.user()
    here = _sign_in(app, user, password)
    _sign_in(app, user, password, agent=IPHONE)
    gone = _sign_in(app, user, password, agent="curl/8.0")
    gone.post("/logout")
    _sign_in(app, make.user(), password, agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    page = here.get("/settings").text
    section = page.split('id="sessions"', 1)[1].split("</section>", 1)[0]
    assert "Chrome / Windows" in section and "Safari / iPhone" in section
    assert section.count("（この端末）") == 1
    assert "curl" not in section  # ended
    assert "Firefox" not in section  # someone else's
    assert section.count("<tr") == 3  # header and two sessions


def test_sign_out_the_other_browsers(app, make, password):
    user = make.user()
    here = _sign_in(app, user, password)
    there = _sign_in(app, user, password, agent=IPHONE)
    response = here.post("/settings/sessions/end-others", follow_redirects=True)
    assert "ほかの端末をすべてログアウトしました（1 件）。" in response.text
    assert _signed_in(here)
    redirect = there.get("/cases")
    assert "ほかの端末でログアウトしたため、この端末もログアウトしました。" in there.get(
        redirect.headers["Location"]).text


def test_sign_out_everywhere(app, make, password):
    user = make.user()
    here = _sign_in(app, user, password, remember=True)
    there = _sign_in(app, user, password, agent=IPHONE)
    remembered = here.get_cookie("remember_token").value
    response = here.post("/settings/sessions/end-all")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert not _signed_in(here) and not _signed_in(there)
    assert not _signed_in(_with_cookies(app, remember_token=remembered))
    assert db.session.scalar(select(UserSession).where(UserSession.ended_at.is_(None))) is None


def test_sign_out_buttons_need_post(app, make, password):
    browser = _sign_in(app, make.user(), password)
    for url in ("/settings/sessions/end-others", "/settings/sessions/end-all", "/settings/sessions/1/end"):
        assert browser.get(url).status_code == 405
    assert _signed_in(browser)


def test_end_one_of_my_other_sessions(app, make, password):
    user = make.user()
    here = _sign_in(app, user, password)
    there = _sign_in(app, user, password, agent=IPHONE)
    response = here.post(f"/settings/sessions/{_row(there).id}/end", follow_redirects=True)
    assert "その端末をログアウトしました。" in response.text
    assert _signed_in(here) and not _signed_in(there)
    # Ending this browser's own row is a logout.
    response = here.post(f"/settings/sessions/{_row(here).id}/end")
    assert response.headers["Location"].endswith("/login")
    assert not _signed_in(here)


def test_another_users_session_cannot_be_ended(app, make, password):
    victim = _sign_in(app, make.user(), password)
    attacker = _sign_in(app, make.user(), password)
    victim_row = _row(victim)
    assert attacker.post(f"/settings/sessions/{victim_row.id}/end").status_code == 404
    assert attacker.post("/settings/sessions/99999999/end").status_code == 404
    assert attacker.post(f"/settings/sessions/{2**40}/end").status_code == 404
    assert _signed_in(victim)
    assert _row(victim).ended_at is None


def test_describe_agent():
    assert sessions.describe_agent(WINDOWS) == "Chrome / Windows"
    assert sessions.describe_agent(IPHONE) == "Safari / iPhone"
    assert sessions.describe_agent("Mozilla/5.0 (Windows NT 10.0) Edg/126.0") == "Edge / Windows"
    assert sessions.describe_agent("") == "不明な端末"
    assert sessions.describe_agent("x" * 100).endswith("…")
