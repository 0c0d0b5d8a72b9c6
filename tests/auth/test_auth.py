"""Login, logout, safe redirects, API tokens page, and the CLI."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from incident.auth.models import ApiToken, Department, User
from incident.auth.views import safe_next
from incident.extensions import db


def test_failed_logins_get_one_generic_message(make, client, password):
    user = make.user()
    wrong_password = client.post("/login", data={"email": user.email, "password": "nope-nope-nope"})
    unknown_user = client.post("/login", data={"email": "ghost@example.jp", "password": password})
    inactive = make.user(active=False)
    inactive_login = client.post("/login", data={"email": inactive.email, "password": password})
    for response in (wrong_password, unknown_user, inactive_login):
        assert response.status_code == 200
        assert "メールアドレスまたはパスワードが違います。" in response.text
    assert client.get("/cases").status_code == 302  # still anonymous


def test_login_follows_only_local_next(make, client, password):
    user = make.user()
    response = client.post("/login", data={"email": user.email.upper(), "password": password,
                                           "next": "/cases?kind=flaming"})
    assert response.headers["Location"] == "/cases?kind=flaming"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "cases", "/ok\r\nSet-Cookie: x"])
def test_unsafe_next_is_dropped(target):
    assert safe_next(target) is None


def test_logout_requires_post(make, client, login):
    login(make.user())
    assert client.get("/logout").status_code == 405
    client.post("/logout")
    assert client.get("/cases").status_code == 302


def test_session_cookie_flags(make, client, password):
    user = make.user()
    response = client.post("/login", data={"email": user.email, "password": password})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_token_created_once_shown_and_revocable(make, client, login):
    user = make.user()
    login(user)
    page = client.post("/settings", data={"token-name": "連携スクリプト"}).text
    token = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert token.startswith("inc_")
    stored = db.session.scalars(select(ApiToken)).one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert token not in client.get("/settings").text  # shown once only
    client.post(f"/settings/tokens/{stored.id}/revoke")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_cannot_revoke_someone_elses_token(make, client, login, token_for):
    owner = make.user()
    token_for(owner)
    token = db.session.scalars(select(ApiToken)).one()
    login(make.user())
    assert client.post(f"/settings/tokens/{token.id}/revoke").status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None


def test_cli_creates_department_user_and_token(runner):
    result = runner.invoke(args=["department", "create", "kanko", "産業部 観光課"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["user", "create", "Staff@Example.jp", "--name", "観光 次郎",
                                 "--role", "responder", "--department", "kanko", "--password-stdin"],
                           input="a-long-password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User)).one()
    assert user.email == "staff@example.jp" and user.check_password("a-long-password")
    result = runner.invoke(args=["token", "create", "staff@example.jp"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("inc_") and "\n" not in token


@pytest.mark.parametrize("args, stdin, message", [
    (["user", "create", "a@example.jp", "--name", "A", "--role", "responder",
      "--department", "nowhere", "--password-stdin"], "a-long-password\n", "nowhere"),
    (["user", "create", "a@example.jp", "--name", "A", "--role", "responder",
      "--department", "kanko", "--password-stdin"], "short\n", "12"),
    (["user", "create", "a@example.jp", "--name", "A", "--role", "king",
      "--department", "kanko", "--password-stdin"], "a-long-password\n", "king"),
    (["department", "create", "kanko", "重複"], None, "kanko"),
])
def test_cli_errors_are_clear(runner, args, stdin, message):
    runner.invoke(args=["department", "create", "kanko", "観光課"])
    result = runner.invoke(args=args, input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalars(select(User)).first() is None


def test_seed_demo_prints_logins_once(runner, app, tmp_path):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "koho@ishinomaki.example" in result.output
    assert db.session.scalars(select(Department)).all()
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "nothing loaded" in again.output
