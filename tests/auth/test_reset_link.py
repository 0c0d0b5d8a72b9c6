"""Issue 13, one-time password-reset links: the PR office issues one from /admin/users/<id>/password; the user
sets a new password with it once, within PASSWORD_RESET_HOURS, and every signed-in browser is signed out."""
from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from incident.audit.models import AuditLog
from incident.auth import reset, service
from incident.auth.models import UserSession
from incident.errors import NotFound
from incident.extensions import db

NEW = "oshika-peninsula-ferry-7"


def _issue(client, login, admin, user) -> str:
    """The PR office issues `user` a link through the page; the path of the link shown."""
    login(admin)
    response = client.post(f"/admin/users/{user.id}/password", data={"kind": "link"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    url = re.search(r'<code class="token" id="reset-link">([^<]+)</code>', response.text).group(1)
    client.post("/logout")
    return url[url.index("/reset/"):]


def _set(client, path: str, new: str = NEW, confirm: str | None = None):
    return client.post(path, data={"new_password": new, "confirm_password": new if confirm is None else confirm})


def test_the_page_offers_both_ways(city, client, login):
    login(city.admin)
    page = client.get(f"/admin/users/{city.responder_a.id}/password").text
    assert 'name="kind" value="link"' in page and 'name="kind" value="temporary"' in page


def test_a_link_sets_a_new_password_once(city, client, login, password):
    user = city.responder_a
    path = _issue(client, login, city.admin, user)
    db.session.refresh(user)
    assert user.check_password(password)  # nothing changes until the link is used
    issued = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.reset_link")).one()
    assert issued.actor_id == city.admin.id and issued.object_id == user.id
    assert path.rsplit("/", 1)[1] not in str(issued.changes)  # never the link itself

    form = client.get(path)
    assert form.status_code == 200 and 'name="new_password"' in form.text
    assert user.email not in form.text  # the page tells nothing about the account
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in form.headers["X-Robots-Tag"] and form.headers["Cache-Control"] == "no-store"

    done = _set(client, path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert "パスワードを設定しました" in client.get("/login").text
    db.session.refresh(user)
    assert user.check_password(NEW) and not user.must_change_password
    used = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_reset_by_link")).one()
    assert used.object_id == user.id and NEW not in str(used.changes)
    assert client.post("/login", data={"email": user.email, "password": NEW}).status_code == 302
    client.post("/logout")

    # Used: refused, clearly, and the password stays.
    again = client.get(path)
    assert again.status_code == 410 and "すでに使われた" in again.text and 'name="new_password"' not in again.text
    second = _set(client, path, "another-new-password-9")
    assert second.status_code == 410
    db.session.refresh(user)
    assert user.check_password(NEW)


def test_a_link_clears_a_temporary_password(city, client, login):
    user = city.responder_a
    service.issue_temporary_password(city.admin, user.id)
    db.session.commit()
    path = _issue(client, login, city.admin, user)
    assert _set(client, path).status_code == 302
    db.session.refresh(user)
    assert not user.must_change_password
    login_page = client.post("/login", data={"email": user.email, "password": NEW})
    assert login_page.status_code == 302 and "/settings/password" not in login_page.headers["Location"]


def test_a_reset_ends_every_session(city, client, app, login, password):
    user = city.responder_a
    other = app.test_client()
    login(user, other)
    assert other.get("/settings").status_code == 200
    path = _issue(client, login, city.admin, user)
    assert _set(client, path).status_code == 302
    assert other.get("/settings").status_code == 302  # signed out
    assert not db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None))).all()


def test_a_link_stops_working_once_the_password_changes_otherwise(city, client, login, password):
    user = city.responder_a
    path = _issue(client, login, city.admin, user)
    login(user)
    changed = client.post("/settings/password", data={
        "current_password": password, "new_password": NEW, "confirm_password": NEW})
    assert changed.status_code == 302
    client.post("/logout")
    response = _set(client, path, "someone-elses-choice-4")
    assert response.status_code == 410 and "パスワードが変更された" in response.text
    db.session.refresh(user)
    assert user.check_password(NEW)


def test_an_expired_link_is_refused(city, client, app):
    user = city.responder_a

    class DayOldSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 25 * 3600

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=reset.SALT, signer=DayOldSigner)
    path = "/reset/" + old.dumps({"u": user.id, "f": reset.fingerprint(user)})
    response = client.get(path)
    assert response.status_code == 410 and "有効期限が切れています" in response.text
    assert _set(client, path).status_code == 410
    app.config["PASSWORD_RESET_HOURS"] = 48  # within a longer validity the same link works
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("token", ["x", "not-a-link.at.all", "A" * 401, "eyJ1IjoxfQ.Zz9Zz9.abc", "日本語", "..", "e30.AAAA.%FF", "W10.Zz9Zz9.abc"])
def test_a_bad_link_is_a_plain_400(city, client, token):
    response = client.get(f"/reset/{token}")
    assert response.status_code == 400 and "このリンクは正しくありません" in response.text
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.post(f"/reset/{token}", data={"new_password": NEW, "confirm_password": NEW}).status_code == 400


def test_a_nul_in_the_link_is_refused_by_the_app_guard(city, client):
    assert client.get("/reset/%00").status_code == 400


def test_a_link_signed_with_another_key_or_for_nobody_is_refused(city, client, app):
    user = city.responder_a
    forged = URLSafeTimedSerializer("another-key", salt=reset.SALT).dumps({"u": user.id, "f": reset.fingerprint(user)})
    assert client.get(f"/reset/{forged}").status_code == 400
    nobody = reset.serializer().dumps({"u": 999999, "f": "0" * 32})
    assert client.get(f"/reset/{nobody}").status_code == 400
    for odd in ([user.id], {"u": str(user.id), "f": reset.fingerprint(user)}, {"u": True, "f": "x"}, {"u": user.id}):
        assert client.get(f"/reset/{reset.serializer().dumps(odd)}").status_code == 400, odd
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps({"u": user.id})
    assert client.get(f"/reset/{other_salt}").status_code == 400


def test_a_deactivated_users_link_is_refused(city, client, login):
    user = city.responder_a
    path = _issue(client, login, city.admin, user)
    service.deactivate_user(city.admin, user)
    db.session.commit()
    assert client.get(path).status_code == 410


@pytest.mark.parametrize("new, confirm, field, message", [
    (NEW, NEW + "x", "confirm_password", "一致しません"),
    ("short-one", "short-one", "new_password", "12 文字以上"),
    ("Password1234", "Password1234", "new_password", "よく使われて"),
    ("", "", "new_password", "入力してください"),
])
def test_the_password_rule_applies(city, client, login, password, new, confirm, field, message):
    user = city.responder_a
    path = _issue(client, login, city.admin, user)
    response = _set(client, path, new, confirm)
    assert response.status_code == 422 and message in response.text
    assert f'id="{field}-error"' in response.text
    db.session.refresh(user)
    assert user.check_password(password)
    assert client.get(path).status_code == 200  # still usable


def test_the_e_mail_address_is_refused_as_password(city, client, login):
    user = city.responder_a
    path = _issue(client, login, city.admin, user)
    response = _set(client, path, user.email)
    assert response.status_code == 422 and "メールアドレス" in response.text


@pytest.mark.parametrize("role", ["responder_a", "supervisor_a"])
def test_only_the_pr_office_issues_links(city, client, login, role):
    actor = getattr(city, role)
    login(actor)
    response = client.post(f"/admin/users/{city.responder_b.id}/password", data={"kind": "link"})
    assert response.status_code == 404 and "/reset/" not in response.text
    with pytest.raises(NotFound):
        reset.issue_reset_link(actor, city.responder_b.id)
    assert not db.session.scalars(select(AuditLog).where(AuditLog.action == "user.reset_link")).all()


def test_no_link_for_a_deactivated_account(city, client, login):
    service.deactivate_user(city.admin, city.responder_b)
    db.session.commit()
    login(city.admin)
    response = client.post(f"/admin/users/{city.responder_b.id}/password", data={"kind": "link"})
    assert "/reset/" not in response.text
    assert not db.session.scalars(select(AuditLog).where(AuditLog.action == "user.reset_link")).all()
