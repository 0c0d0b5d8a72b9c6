"""Multi-factor authentication (TOTP): enrolment with a real authenticator code, the code after the password
(nothing is signed in before it), replay and recovery codes, mandatory roles, turning off, the PR office's
reset, audit rows without codes, and wrong codes locking the account like wrong passwords."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from incident import create_app
from incident.audit.models import AuditLog
from incident.auth import mfa
from incident.auth.models import LoginAttempt, RecoveryCode, User, UserSession
from incident.extensions import db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
WRONG_CODE = "コードが違います。"


@pytest.fixture
def clock(clock_of):
    """MFA's idea of now, moved by the test, so each login can use a code of a later time step."""
    return clock_of(mfa)


def code_at(clock, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(clock.now)


def wrong_code(clock, secret: str = SECRET) -> str:
    """A six-digit code that is none of the three accepted at this moment."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(clock.now + dt.timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def enable(user: User, clock) -> list[str]:
    """Turn MFA on for `user` through the service (as the set-up page does); the recovery codes."""
    user = db.session.get(User, user.id)
    codes = mfa.confirm_enrolment(user, SECRET, code_at(clock))
    db.session.commit()
    clock.advance(30)  # the enrolment used this step's code
    return codes


def password_step(client, user, password, **extra):
    return client.post("/login", data={"email": user.email, "password": password, **extra})


def signed_in(client) -> bool:
    return client.get("/cases").status_code == 200


def audit_rows(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_enrol_with_a_real_authenticator_code(make, client, login, clock):
    user = make.user()
    login(user)
    page = client.get("/settings/mfa")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert 'src="data:image/svg+xml' in page.text and 'alt="' in page.text
    assert "石巻市 SNS インシデント" in page.text and user.email in page.text
    secret = re.search(r'id="mfa-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    assert client.get("/settings/mfa").text.count(" ".join(secret[i:i + 4] for i in range(0, 32, 4))) == 1

    refused = client.post("/settings/mfa", data={"code": wrong_code(clock, secret)})
    assert refused.status_code == 422 and WRONG_CODE in refused.text
    refused = client.post("/settings/mfa", data={"code": "not a code"})
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret is None

    done = client.post("/settings/mfa", data={"code": code_at(clock, secret)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    shown = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", done.text)
    assert len(shown) == 10 and len(set(shown)) == 10
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh.totp_secret == secret and fresh.mfa_enabled_at is not None
    hashes = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(hashes) == 10 and not set(hashes) & {c.replace("-", "") for c in shown}
    # The codes are shown once: the page now offers new ones or turning off, never the old ones.
    again = client.get("/settings/mfa")
    assert "回復コードを作り直す" in again.text and not any(c in again.text for c in shown)
    assert audit_rows("auth.mfa_enabled")[-1].actor_id == user.id


def test_login_needs_the_code_and_no_url_skips_it(make, client, password, clock):
    user = make.user()
    enable(user, clock)
    response = password_step(client, user, password, next="/settings")
    assert response.status_code == 302 and response.headers["Location"] == "/login/mfa"
    for url in ("/cases", "/settings", "/settings/mfa", "/admin/logins", "/cases/new"):
        skipped = client.get(url)
        assert skipped.status_code == 302 and skipped.headers["Location"].startswith("/login"), url
    assert client.get("/api/v1/cases").status_code == 401
    assert not db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()

    page = client.get("/login/mfa")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
    refused = client.post("/login/mfa", data={"code": wrong_code(clock)})
    assert refused.status_code == 200 and WRONG_CODE in refused.text
    assert not signed_in(client)
    assert client.post("/login/mfa", data={"code": ""}).status_code == 200
    assert client.post("/login/mfa", data={"code": "x" * 5000}).status_code == 200

    done = client.post("/login/mfa", data={"code": code_at(clock)})
    assert done.status_code == 302 and done.headers["Location"] == "/settings"
    assert signed_in(client)
    assert client.get("/login/mfa").status_code == 302  # nothing pending any more


def test_without_a_password_step_the_code_page_leads_to_login(client):
    response = client.get("/login/mfa")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.post("/login/mfa", data={"code": "123456"}).status_code == 302


def test_the_same_code_is_refused_a_second_time(make, client, password, clock):
    user = make.user()
    enable(user, clock)
    code = code_at(clock)
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": code})
    assert signed_in(client)
    client.post("/logout")
    password_step(client, user, password)
    replay = client.post("/login/mfa", data={"code": code})
    assert WRONG_CODE in replay.text and not signed_in(client)
    clock.advance(30)
    client.post("/login/mfa", data={"code": code_at(clock)})
    assert signed_in(client)


def test_a_pending_login_expires(make, client, password, clock):
    user = make.user()
    enable(user, clock)
    password_step(client, user, password)
    with client.session_transaction() as session:
        pending = dict(session["mfa_pending"])
        pending["since"] -= 6 * 60
        session["mfa_pending"] = pending
    response = client.post("/login/mfa", data={"code": code_at(clock)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(client)


def test_a_recovery_code_works_once_and_only_once(make, client, password, clock):
    user = make.user()
    codes = enable(user, clock)
    password_step(client, user, password)
    used = client.post("/login/mfa", data={"code": codes[0]}, follow_redirects=True)
    assert "残りの回復コードは 9 個" in used.text
    assert signed_in(client)
    client.post("/logout")
    password_step(client, user, password)
    again = client.post("/login/mfa", data={"code": codes[0]})
    assert WRONG_CODE in again.text and not signed_in(client)
    client.post("/login/mfa", data={"code": " " + codes[1].upper().replace("-", " ") + " "})
    assert signed_in(client)
    assert [row.changes["recovery_codes_left"][1] for row in audit_rows("auth.mfa_recovery_used")] == [9, 8]


def test_regenerating_recovery_codes_needs_a_code_and_replaces_the_old_ones(make, client, password, clock):
    user = make.user()
    old = enable(user, clock)
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": code_at(clock)})
    clock.advance(30)
    refused = client.post("/settings/mfa/recovery-codes", data={"regen-code": wrong_code(clock)})
    assert refused.status_code == 422 and WRONG_CODE in refused.text
    new_page = client.post("/settings/mfa/recovery-codes", data={"regen-code": code_at(clock)})
    assert new_page.status_code == 200 and new_page.headers["Cache-Control"] == "no-store"
    new = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", new_page.text)
    assert len(new) == 10 and not set(new) & set(old)
    client.post("/logout")
    password_step(client, user, password)
    assert WRONG_CODE in client.post("/login/mfa", data={"code": old[0]}).text
    client.post("/login/mfa", data={"code": new[0]})
    assert signed_in(client)
    assert len(audit_rows("auth.mfa_codes_regenerated")) == 1


def test_audit_rows_record_every_event_but_never_a_code_or_the_secret(make, client, password, clock):
    user = make.user()
    codes = enable(user, clock)
    typed = [wrong_code(clock), code_at(clock)]
    password_step(client, user, password)
    for code in typed:
        client.post("/login/mfa", data={"code": code})
    client.post("/logout")
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": codes[2]})
    rows = db.session.scalars(select(AuditLog)).all()
    actions = {row.action for row in rows}
    assert {"auth.mfa_enabled", "auth.mfa_failed", "auth.mfa_ok", "auth.mfa_recovery_used"} <= actions
    text = json.dumps([row.changes for row in rows])
    for secret in [SECRET, *typed, *codes, *(c.replace("-", "") for c in codes)]:
        assert secret not in text


def test_mandatory_roles_are_sent_to_set_up_mfa_and_the_api_refuses(app, make, client, login, api, clock):
    app.config["MFA_REQUIRED"] = True
    department = make.department()
    supervisor = make.user(role="supervisor", department=department)
    responder = make.user(department=department)
    assert api("GET", "/api/v1/cases", supervisor).status_code == 403
    assert "多要素認証が必須です" in api("GET", "/api/v1/cases", supervisor).json["error"]["message"]
    assert api("GET", "/api/v1/cases", responder).status_code == 200
    login(supervisor)
    for url in ("/cases", "/settings", "/admin/logins"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/settings/mfa", url
    page = client.get("/settings/mfa")
    assert page.status_code == 200 and 'id="mfa-required"' in page.text
    secret = re.search(r'id="mfa-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    client.post("/settings/mfa", data={"code": code_at(clock, secret)})
    assert client.get("/cases").status_code == 200
    assert api("GET", "/api/v1/cases", supervisor).status_code == 200
    login(responder)
    assert client.get("/cases").status_code == 200
    app.config["MFA_REQUIRED"] = False
    admin = make.user(role="admin")
    login(admin)
    assert client.get("/cases").status_code == 200


def test_mfa_is_required_by_default_only_in_production(app, database_uri, tmp_path: Path, built_apps):
    assert app.config["MFA_REQUIRED"] is False
    production = create_app({"ENV": "production", "SECRET_KEY": "a-long-random-production-secret-for-tests",
                             "SQLALCHEMY_DATABASE_URI": database_uri, "UPLOAD_DIR": str(tmp_path / "uploads")})
    built_apps.append(production)
    assert production.config["MFA_REQUIRED"] is True
    assert set(production.config["MFA_REQUIRED_ROLES"]) == {"supervisor", "admin"}


def test_turning_mfa_off_needs_password_code_and_is_refused_when_mandatory(app, make, client, password, clock):
    user = make.user(role="supervisor")
    enable(user, clock)
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": code_at(clock)})
    clock.advance(30)
    form = {"off-password": password, "off-code": code_at(clock), "off-confirm": "y"}
    app.config["MFA_REQUIRED"] = True
    assert "必須のため、無効にできません" in client.get("/settings/mfa").text
    assert client.post("/settings/mfa/turn-off", data=form).status_code == 403
    app.config["MFA_REQUIRED"] = False
    assert client.post("/settings/mfa/turn-off", data={**form, "off-confirm": ""}).status_code == 422
    assert client.post("/settings/mfa/turn-off", data={**form, "off-password": "wrong-password-1"}).status_code == 422
    assert client.post("/settings/mfa/turn-off", data={**form, "off-code": wrong_code(clock)}).status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret is not None
    response = client.post("/settings/mfa/turn-off", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret is None
    assert not db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(audit_rows("auth.mfa_disabled")) == 1


def test_the_pr_office_resets_a_users_mfa_and_others_get_404(make, client, login, password, clock, app):
    department = make.department()
    user = make.user(department=department)
    enable(user, clock)
    user_client = app.test_client()
    password_step(user_client, user, password)
    user_client.post("/login/mfa", data={"code": code_at(clock)})
    assert signed_in(user_client)
    for other in (make.user(role="supervisor", department=department), make.user(department=department)):
        login(other)
        assert client.post(f"/admin/users/{user.id}/mfa/reset", data={"confirm": "y"}).status_code == 404
    admin = make.user(role="admin")
    login(admin)
    assert client.post("/admin/users/999999/mfa/reset", data={"confirm": "y"}).status_code == 404
    client.post(f"/admin/users/{user.id}/mfa/reset", data={})  # no confirmation: nothing happens
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret is not None
    response = client.post(f"/admin/users/{user.id}/mfa/reset", data={"confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh.totp_secret is None and fresh.mfa_enabled_at is None and fresh.totp_last_step is None
    assert not db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    [row] = audit_rows("user.mfa_reset")
    assert row.actor_id == admin.id and row.object_id == user.id
    assert not signed_in(user_client)  # the user's browsers were signed out
    again = client.post(f"/admin/users/{user.id}/mfa/reset", data={"confirm": "y"}, follow_redirects=True)
    assert again.status_code == 200 and "多要素認証を設定していません" in again.text


def test_the_reset_form_is_on_the_users_password_and_mfa_page(make, client, login, clock):
    user = make.user()
    enable(user, clock)
    login(make.user(role="admin"))
    html = client.get(f"/admin/users/{user.id}/password").text
    assert f'action="/admin/users/{user.id}/mfa/reset"' in html
    assert 'name="confirm"' in html and 'for="mfa-reset-confirm"' in html
    response = client.post(f"/admin/users/{user.id}/mfa/reset",
                           data={"confirm": "y", "next": f"/admin/users/{user.id}/password"})
    assert response.headers["Location"].endswith(f"/admin/users/{user.id}/password")
    assert "設定していません" in client.get(f"/admin/users/{user.id}/password").text


def test_cli_resets_mfa(make, runner, clock):
    user = make.user()
    enable(user, clock)
    result = runner.invoke(args=["user", "reset-mfa", user.email.upper()])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret is None
    assert audit_rows("user.mfa_reset")[0].actor_id is None
    assert runner.invoke(args=["user", "reset-mfa", "ghost@example.jp"]).exit_code == 1


def test_wrong_codes_count_as_failed_logins_and_lock_the_account(app, make, client, password, clock):
    app.config["LOGIN_DELAY_AFTER"] = 1000  # only the lock here
    app.config["LOGIN_LOCK_AFTER"] = 3
    user = make.user()
    enable(user, clock)
    password_step(client, user, password)
    for _ in range(2):
        assert WRONG_CODE in client.post("/login/mfa", data={"code": wrong_code(clock)}).text
    locked = client.post("/login/mfa", data={"code": wrong_code(clock)})
    assert locked.status_code == 302 and locked.headers["Location"] == "/login"
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is not None
    failures = db.session.scalars(select(LoginAttempt).where(
        LoginAttempt.email == user.email, LoginAttempt.succeeded.is_(False))).all()
    assert len(failures) == 3
    assert len(audit_rows("auth.locked")) == 1
    # Locked: even the right password and code get nowhere.
    response = password_step(client, user, password)
    assert response.status_code == 200 and "メールアドレスまたはパスワードが違います。" in response.text
    assert not signed_in(client)


def test_starting_the_login_again_gives_no_fresh_allowance_of_codes(app, make, client, password, clock):
    app.config["LOGIN_DELAY_AFTER"] = 1000
    app.config["LOGIN_LOCK_AFTER"] = 7
    user = make.user()
    enable(user, clock)
    password_step(client, user, password)
    for _ in range(4):
        client.post("/login/mfa", data={"code": wrong_code(clock)})
    fifth = client.post("/login/mfa", data={"code": wrong_code(clock)})
    assert fifth.headers["Location"] == "/login"  # five wrong codes: start again with the password
    assert client.get("/login/mfa").status_code == 302
    password_step(client, user, password)  # the password's success does not wipe the count
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is None
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is not None


def test_a_right_code_starts_the_count_again(app, make, client, password, clock):
    app.config["LOGIN_DELAY_AFTER"] = 1000
    app.config["LOGIN_LOCK_AFTER"] = 3
    user = make.user()
    enable(user, clock)
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    client.post("/login/mfa", data={"code": code_at(clock)})
    assert signed_in(client)
    client.post("/logout")
    clock.advance(30)
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is None


def test_the_login_history_shows_wrong_codes(make, client, login, password, clock):
    user = make.user()
    enable(user, clock)
    password_step(client, user, password)
    client.post("/login/mfa", data={"code": wrong_code(clock)})
    login(make.user(role="admin"))
    page = client.get("/admin/logins")
    failures = page.text.split('id="failures"')[1].split("</section>")[0]
    assert user.email in failures
