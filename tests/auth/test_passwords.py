"""Issue 13, passwords: one rule (12 characters, not the e-mail address, not a common password), changing
one's own on 設定, and the PR office's temporary passwords that must be changed before anything else."""
from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from incident.audit.models import AuditLog
from incident.auth import passwords, service
from incident.auth.models import User
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.extensions import db

NEW = "kitakami-river-walk-2026"


# --- the rule -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("password, email, expected", [
    ("a" * 11 + "b", "", None),  # 12 characters: long enough
    ("short-pass1", "", "12 文字以上"),  # 11
    ("", "", "12 文字以上"),
    ("x" * 201, "", "200 文字以内"),
    ("staff.member@example.jp", "staff.member@example.jp", "メールアドレス"),
    ("STAFF.Member@Example.JP", "staff.member@example.jp", "メールアドレス"),
    ("staff.member.kanko", "Staff.Member.Kanko@example.jp", "メールアドレス"),  # the part before @
    ("qwerty123456", "", "よく使われて"),
    ("QwErTy123456", "", "よく使われて"),  # compared case-insensitively
    ("1qaz2wsx3edc", "", "よく使われて"),
    ("leavemealone", "", "よく使われて"),
    ("leave-me-alone-please", "", None),
])
def test_the_password_rule(app, password, email, expected):
    problem = passwords.password_problem(password, email)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in str(problem)


def test_the_common_list_is_shipped_large_and_loaded_once(app):
    common = passwords.common_passwords()
    assert len(common) >= 10_000
    assert {"password", "123456", "qwerty123456"} <= common
    assert passwords.common_passwords() is common  # read once


def test_create_user_holds_to_the_rule(make):
    department = make.department()
    for bad in ("elevenchars", "Qwertyuiop12", "new.person@example.jp"):
        with pytest.raises(ValidationFailed) as refused:
            service.create_user(None, email="New.Person@example.jp", name="新人", role="responder",
                                department=department, password=bad)
        assert "password" in refused.value.fields
    user = service.create_user(None, email="new.person@example.jp", name="新人", role="responder",
                               department=department, password=NEW)
    assert user.check_password(NEW) and user.password_changed_at is not None


def test_temporary_passwords_are_random_and_pass_the_rule(app):
    issued = {passwords.temporary_password() for _ in range(20)}
    assert len(issued) == 20
    for plain in issued:
        assert len(plain) == 16 and passwords.password_problem(plain) is None


# --- changing one's own -------------------------------------------------------------------------------


def _change(client, current, new, confirm=None):
    return client.post("/settings/password", data={
        "current_password": current, "new_password": new, "confirm_password": new if confirm is None else confirm})


def test_settings_offers_the_password_form(make, client, login):
    login(make.user())
    page = client.get("/settings").text
    assert 'name="current_password"' in page and 'name="confirm_password"' in page
    assert 'action="/settings/password"' in page


@pytest.mark.parametrize("current, new, confirm, field, message", [
    ("wrong-current-password", NEW, NEW, "current_password", "現在のパスワードが違います。"),
    (None, NEW, NEW + "x", "confirm_password", "一致しません"),
    (None, "short-one", "short-one", "new_password", "12 文字以上"),
    (None, "Password1234", "Password1234", "new_password", "よく使われて"),
    (None, None, None, "new_password", "現在のパスワードとは別の"),
])
def test_a_bad_change_is_refused_where_the_user_typed(make, client, login, password, current, new, confirm,
                                                     field, message):
    user = make.user()
    login(user)
    current = password if current is None else current
    new = password if new is None else new
    confirm = new if confirm is None else confirm
    response = _change(client, current, new, confirm)
    assert response.status_code == 200
    assert message in response.text
    assert f'id="{field}-error"' in response.text  # next to the field
    db.session.refresh(user)
    assert user.check_password(password) and user.password_changed_at is None
    assert not db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_changed")).all()


def test_a_missing_field_is_refused(make, client, login, password):
    user = make.user()
    login(user)
    response = client.post("/settings/password", data={"current_password": password, "new_password": NEW})
    assert response.status_code == 200 and "入力してください。" in response.text
    db.session.refresh(user)
    assert user.check_password(password)


def test_changing_ones_own_password(make, client, login, password, caplog):
    caplog.set_level(logging.DEBUG)
    user = make.user()
    login(user)
    response = _change(client, password, NEW)
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings")
    assert "パスワードを変更しました。" in client.get("/settings").text
    db.session.refresh(user)
    assert user.password_changed_at is not None and not user.must_change_password
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_changed")).one()
    assert row.actor_id == user.id and row.object_id == user.id
    client.post("/logout")
    old = client.post("/login", data={"email": user.email, "password": password})
    assert old.status_code == 200 and "メールアドレスまたはパスワードが違います。" in old.text
    assert client.post("/login", data={"email": user.email, "password": NEW}).status_code == 302
    assert NEW not in caplog.text and password not in caplog.text
    assert NEW not in _audit_text() and password not in _audit_text()


def _audit_text() -> str:
    return json.dumps([row.changes for row in db.session.scalars(select(AuditLog))], ensure_ascii=False)


# --- temporary passwords from the PR office -----------------------------------------------------------


def _issue(client, user) -> str:
    page = client.post(f"/admin/users/{user.id}/password").text
    return page.split('id="temporary-password">', 1)[1].split("<", 1)[0]


def test_the_pr_office_lists_users_and_issues_a_temporary_password(city, client, login, password, caplog):
    caplog.set_level(logging.DEBUG)
    login(city.admin)
    assert 'href="/admin/users"' in client.get("/settings").text  # reachable from 設定
    listing = client.get("/admin/users")
    assert listing.status_code == 200
    assert city.responder_b.email in listing.text and "観光課" in listing.text
    assert f"/admin/users/{city.responder_b.id}/password" in listing.text
    assert 'name="current_password"' not in client.get(f"/admin/users/{city.responder_b.id}/password").text
    response = client.post(f"/admin/users/{city.responder_b.id}/password")
    assert response.headers["Cache-Control"] == "no-store"
    temporary = response.text.split('id="temporary-password">', 1)[1].split("<", 1)[0]
    assert len(temporary) == 16
    user = db.session.get(User, city.responder_b.id)
    db.session.refresh(user)
    assert user.must_change_password and user.check_password(temporary) and not user.check_password(password)
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_reset")).one()
    assert row.actor_id == city.admin.id and row.object_id == user.id
    assert row.changes == {"must_change_password": [False, True]}
    assert temporary not in client.get(f"/admin/users/{user.id}/password").text  # shown once
    assert "仮パスワード（未変更）" in client.get("/admin/users").text
    assert temporary not in caplog.text and temporary not in _audit_text()


@pytest.mark.parametrize("role", ["responder_a", "supervisor_a", "supervisor_b"])
def test_only_the_pr_office_may(city, client, login, password, role):
    login(getattr(city, role))
    assert client.get("/admin/users").status_code == 404
    target = city.responder_b
    assert client.get(f"/admin/users/{target.id}/password").status_code == 404
    assert client.post(f"/admin/users/{target.id}/password").status_code == 404
    db.session.refresh(target)
    assert not target.must_change_password and target.check_password(password)
    assert "/admin/users" not in client.get("/settings").text
    with pytest.raises(NotFound):
        service.issue_temporary_password(getattr(city, role), target.id)


def test_unknown_and_inactive_users(city, make, client, login, password):
    login(city.admin)
    assert client.get("/admin/users/999999/password").status_code == 404
    assert client.post("/admin/users/999999/password").status_code == 404
    gone = make.user(active=False)
    response = client.post(f"/admin/users/{gone.id}/password")
    assert response.status_code == 200 and "無効になっています" in response.text
    assert 'id="temporary-password"' not in response.text
    db.session.refresh(gone)
    assert not gone.must_change_password and gone.check_password(password)
    with pytest.raises(Conflict):
        service.issue_temporary_password(city.admin, gone.id)


def test_a_temporary_password_must_be_changed_before_anything_else(city, client, login, api, token_for):
    target = city.responder_b
    headers = token_for(target)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    login(city.admin)
    temporary = _issue(client, target)
    client.post("/logout")
    response = client.post("/login", data={"email": target.email, "password": temporary})
    assert response.status_code == 302
    for url in ("/", "/cases", "/cases/new", "/settings", "/notifications", "/accounts"):
        page = client.get(url)
        assert page.status_code == 302 and page.headers["Location"].endswith("/settings/password"), url
    assert client.post("/settings", data={"lang-locale": "en"}).status_code == 302
    db.session.refresh(target)
    assert target.locale is None  # the post did nothing
    page = client.get("/settings/password")
    assert page.status_code == 200 and "仮のパスワードでログインしています" in page.text
    refused = client.get("/api/v1/me", headers=headers)
    assert refused.status_code == 403 and refused.is_json
    assert "パスワードを変更するまで" in refused.get_json()["error"]["message"]
    assert _change(client, "not-the-temporary", NEW).status_code == 200  # still the current password rule
    done = _change(client, temporary, NEW)
    assert done.status_code == 302 and done.headers["Location"].endswith("/")
    assert client.get("/cases").status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    db.session.refresh(target)
    assert not target.must_change_password and target.check_password(NEW)
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_changed")).one()
    assert row.changes == {"must_change_password": [True, False]}


def test_logging_out_stays_possible_with_a_temporary_password(city, client, login):
    login(city.admin)
    temporary = _issue(client, city.responder_b)
    client.post("/logout")
    client.post("/login", data={"email": city.responder_b.email, "password": temporary})
    client.post("/logout")
    assert client.get("/settings/password").status_code == 302
    assert "/login" in client.get("/settings/password").headers["Location"]


# --- the command line ---------------------------------------------------------------------------------


def test_cli_reset_password(runner, make, password):
    user = make.user(email="Staff@Example.jp")
    result = runner.invoke(args=["user", "reset-password", "staff@example.JP"])
    assert result.exit_code == 0, result.output
    temporary = result.output.strip()
    assert len(temporary) == 16 and "\n" not in temporary
    db.session.refresh(user)
    assert user.must_change_password and user.check_password(temporary) and not user.check_password(password)
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_reset")).one()
    assert row.actor_id is None and temporary not in _audit_text()


def test_cli_reset_password_of_an_unknown_user(runner, make):
    make.user()
    result = runner.invoke(args=["user", "reset-password", "ghost@example.jp"])
    assert result.exit_code != 0 and "ghost@example.jp" in result.output
    assert not db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_reset")).all()
