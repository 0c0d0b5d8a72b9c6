"""Issue 13: the language chosen on the login page is kept after signing in (it fell back to Japanese)."""
from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from incident.audit.models import AuditLog
from incident.auth import mfa
from incident.extensions import db


@pytest.fixture
def client(app, client):
    """The test client, each request in its own app context as on a server: the `app` fixture keeps one
    context pushed, where Flask-Babel would otherwise keep the first request's locale (see test_i18n)."""

    class Fresh:
        def open(self, url: str, method: str = "GET", **kwargs):
            db.session.commit()  # end the test's own transaction (it holds SQLite's write lock)
            with app.app_context():
                return client.open(url, method=method, **kwargs)

        def get(self, url: str, **kwargs):
            return self.open(url, **kwargs)

        def post(self, url: str, **kwargs):
            return self.open(url, "POST", **kwargs)

    return Fresh()


def _sign_in(client, user, password, query: str = ""):
    return client.post(f"/login{query}", data={"email": user.email, "password": password})


def test_english_chosen_on_the_login_page_is_kept(make, client, password):
    user = make.user()
    login_page = client.get("/login?lang=en")
    assert '<html lang="en">' in login_page.text
    response = _sign_in(client, user, password, "?lang=en")
    assert response.status_code == 302
    page = client.get(response.headers["Location"], follow_redirects=True)
    assert '<html lang="en">' in page.text and "Log out" in page.text
    db.session.refresh(user)
    assert user.locale == "en"
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.locale")).one()
    assert row.actor_id == user.id and row.changes["locale"] == [None, "en"]
    # Signing in again later without choosing keeps English.
    client.post("/logout")
    assert _sign_in(client, user, password).status_code == 302
    assert '<html lang="en">' in client.get("/settings").text


def test_the_choice_survives_a_failed_attempt(make, client, password):
    user = make.user()
    client.get("/login?lang=en")
    failed = client.post("/login", data={"email": user.email, "password": "wrong-password-123"})
    assert failed.status_code == 200
    assert _sign_in(client, user, password).status_code == 302
    assert '<html lang="en">' in client.get("/settings").text


def test_a_stored_language_stays_when_nothing_was_chosen(make, client, password):
    user = make.user(locale="en")
    db.session.commit()
    assert _sign_in(client, user, password).status_code == 302
    assert '<html lang="en">' in client.get("/settings").text
    db.session.refresh(user)
    assert user.locale == "en"
    assert not db.session.scalars(select(AuditLog).where(AuditLog.action == "user.locale")).all()


def test_japanese_chosen_on_the_login_page_replaces_a_stored_english(make, client, password):
    user = make.user(locale="en")
    db.session.commit()
    client.get("/login?lang=ja")
    assert _sign_in(client, user, password).status_code == 302
    assert '<html lang="ja">' in client.get("/settings").text
    db.session.refresh(user)
    assert user.locale == "ja"


def test_a_bad_language_is_ignored(make, client, password):
    user = make.user()
    assert client.get("/login?lang=xx").status_code == 200
    assert _sign_in(client, user, password, "?lang=xx").status_code == 302
    assert '<html lang="ja">' in client.get("/settings").text
    db.session.refresh(user)
    assert user.locale is None


def test_the_choice_is_for_the_next_sign_in_only(make, client, password):
    first, second = make.user(), make.user()
    client.get("/login?lang=en")
    assert _sign_in(client, first, password).status_code == 302
    client.post("/logout")
    assert _sign_in(client, second, password).status_code == 302  # another person on the shared PC
    assert '<html lang="ja">' in client.get("/settings").text
    db.session.refresh(second)
    assert second.locale is None


def test_pages_before_sign_in_speak_the_chosen_language(make, client, password):
    """The MFA code page comes between the password and signing in: it speaks the login page's language."""
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    user = make.user()
    mfa.confirm_enrolment(user, secret, pyotp.TOTP(secret).now())
    client.get("/login?lang=en")
    response = _sign_in(client, user, password, "?lang=en")
    assert response.headers["Location"].startswith("/login/mfa")
    page = client.get("/login/mfa")
    assert '<html lang="en">' in page.text
    assert '<html lang="ja">' in client.get("/login/mfa?lang=ja").text  # a new choice wins
