"""A production-configured app: secure cookies, HSTS over HTTPS, a trusted proxy only when configured,
Permissions-Policy on every answer, and a favicon."""
from __future__ import annotations

from pathlib import Path

import pytest

from incident import create_app
from incident.config import ConfigurationError
from incident.extensions import db

SECRET = "a-long-random-production-secret-for-tests"


@pytest.fixture
def production(database_uri: str, tmp_path: Path, built_apps):
    """An app configured as `INCIDENT_ENV=production` would be (CSRF off only to log in by form)."""

    def build(**overrides):
        config = {"ENV": "production", "SECRET_KEY": SECRET, "SQLALCHEMY_DATABASE_URI": database_uri,
                  "WTF_CSRF_ENABLED": False, "UPLOAD_DIR": str(tmp_path / "uploads"), **overrides}
        application = create_app(config)
        built_apps.append(application)
        return application

    return build


def _login_cookies(app, user, password, base_url: str) -> list[str]:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": password, "remember": "y"},
                           base_url=base_url)
    assert response.status_code == 302, response.text
    return response.headers.getlist("Set-Cookie")


def test_production_cookies_are_secure(production, make, password):
    app = production()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    with app.app_context():
        user = make.user()
        cookies = _login_cookies(app, user, password, "https://incident.city.example")
        db.session.remove()
    session = [c for c in cookies if c.startswith("session=")]
    assert session and all("Secure" in c and "HttpOnly" in c for c in session), cookies
    remember = [c for c in cookies if c.startswith("remember_token=")]
    assert all("Secure" in c for c in remember), cookies


def test_development_cookies_work_over_plain_http(app):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["REMEMBER_COOKIE_SECURE"] is False


def test_an_explicit_cookie_setting_wins(production):
    assert production(SESSION_COOKIE_SECURE=False).config["SESSION_COOKIE_SECURE"] is False


def test_production_refuses_to_start_without_a_secret(production):
    with pytest.raises(ConfigurationError):
        production(SECRET_KEY=None)


def test_hsts_only_over_https(production):
    client = production().test_client()
    secure = client.get("/login", base_url="https://incident.city.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = client.get("/login", base_url="http://incident.city.example")
    assert "Strict-Transport-Security" not in plain.headers


def test_hsts_can_be_switched_off(production):
    client = production(HSTS_MAX_AGE=0).test_client()
    assert "Strict-Transport-Security" not in client.get("/login", base_url="https://x.example").headers


def test_forwarded_headers_are_ignored_without_proxy_fix(production):
    client = production().test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert "Strict-Transport-Security" not in response.headers
    assert "evil.example" not in response.text


def test_proxy_fix_trusts_the_configured_proxy(production):
    app = production(PROXY_FIX=1)
    client = app.test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Only one hop is trusted: a client cannot add its own header in front of the proxy's.
    spoofed = client.get("/login", headers={"X-Forwarded-Proto": "https, http"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_proxy_fix_setting_from_the_environment(monkeypatch, database_uri, built_apps):
    monkeypatch.setenv("INCIDENT_PROXY_FIX", "1")
    monkeypatch.setenv("INCIDENT_SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", database_uri)
    app = create_app()
    built_apps.append(app)
    assert app.config["PROXY_FIX"] == 1
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize("path", ["/login", "/api/v1/cases", "/no-such-page", "/favicon.ico"])
def test_every_answer_has_the_permissions_policy(client, path):
    with client.get(path) as response:
        policy = response.headers.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy


def test_favicon_is_served(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/vnd.microsoft.icon"
        assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/login").text
    assert 'rel="icon"' in page
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200 and b"<svg" in svg.data
