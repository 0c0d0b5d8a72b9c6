"""Single sign-on against a real OpenID Connect provider (oidc-provider-mock) served on 127.0.0.1: the app
discovers it, the browser's trip through its authorize form is made with `requests`, and the app exchanges
the code and validates the ID token over real HTTP."""
from __future__ import annotations

import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from incident import create_app
from incident.audit.models import AuditLog
from incident.auth import oidc
from incident.auth.models import User
from incident.config import ConfigurationError
from incident.extensions import db

with warnings.catch_warnings():  # the provider, a test tool, imports Authlib modules that Authlib now deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    import oidc_provider_mock

REFUSED = "このアカウントではログインできません（未登録か、利用できない状態です）。秘書広報課にお問い合わせください。"
PENDING = "利用の申請を受け付けました。秘書広報課が承認するまでログインできません。"
FAILED = "シングルサインオンに失敗しました。もう一度お試しください。"
# The provider (a test tool, in its own thread) still uses an Authlib interface Authlib now deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")

PASSWORD_OFF = "パスワードでのログインは無効です。シングルサインオンでログインしてください。"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """An OpenID Connect provider on a free port of 127.0.0.1 (any client id and secret are accepted)."""
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    server.server_close()


def settings(provider: str, **overrides: Any) -> dict[str, Any]:
    return {"OIDC_ISSUER": provider, "OIDC_CLIENT_ID": "incident", "OIDC_CLIENT_SECRET": "s3cret", **overrides}


@pytest.fixture
def sso_app(app, provider: str):
    """`sso_app(**settings)`: the shared app with single sign-on to `provider`, set up as start-up does
    (its config and extensions are put back after the test)."""

    def configure(**overrides: Any):
        app.config.update(settings(provider, **overrides))
        oidc.init_app(app)
        return app

    return configure


def authorize(provider: str, location: str, sub: str, claims: dict[str, Any] | None) -> str:
    """What the person does at the provider: sign in as `sub` (with these claims); the URL it sends back."""
    assert location.startswith(f"{provider}/oauth2/authorize?"), location
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["nonce"] and query["state"] and query["code_challenge_method"] == "S256"
    if claims is not None:
        requests.put(f"{provider}/users/{sub}", json=claims, timeout=10).raise_for_status()
    answer = requests.post(location, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/login/sso/callback", url
    return f"{parts.path}?{parts.query}"


def sso(client, provider: str, sub: str, claims: dict[str, Any] | None = None, query: str = ""):
    """The whole trip: /login/sso, the provider's form, then the callback; the callback's response."""
    db.session.commit()  # the test's own transaction (a writer on SQLite, outside a request) must not block the app's
    start = client.get(f"/login/sso{query}")
    assert start.status_code == 302, start.text
    return client.get(callback_path(authorize(provider, start.location, sub, claims)))


def signed_in(client) -> bool:
    return client.get("/cases").status_code == 200


def audit_rows(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def refused_with(client, response, message: str) -> None:
    """Sent back to the login page, which shows `message`; not signed in."""
    assert response.status_code == 302 and response.location == "/login", response.text
    assert message in client.get("/login").text
    assert not signed_in(client)


def test_known_email_signs_in_and_the_subject_is_stored(database_uri, provider, built_apps, make):
    user = make.user(email="taro@city.example")
    application = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "SQLALCHEMY_DATABASE_URI": database_uri,
                              **settings(provider)})  # built with the settings, as a deployment starts
    built_apps.append(application)
    client = application.test_client()
    assert 'id="sso-login"' in client.get("/login").text
    response = sso(client, provider, "entra-taro", {"email": "Taro@City.example", "name": "石巻 太郎"},
                   query="?next=/settings")
    assert response.status_code == 302 and response.location == "/settings"
    assert signed_in(client)
    db.session.refresh(user)
    assert user.oidc_subject == "entra-taro"
    linked, = audit_rows("user.oidc_linked")
    assert linked.object_id == user.id and linked.changes["oidc_subject"] == [None, "entra-taro"]
    login, = audit_rows("auth.login")
    assert login.actor_id == user.id and login.changes["method"] == [None, "sso"]


def test_a_foreign_next_is_dropped(sso_app, provider, make):
    make.user(email="next@city.example")
    client = sso_app().test_client()
    response = sso(client, provider, "entra-next", {"email": "next@city.example"}, query="?next=//evil.example/")
    assert response.location == "/"


def test_a_linked_user_is_found_by_subject_after_the_email_changed(sso_app, provider, make):
    user = make.user(email="old@city.example", oidc_subject="entra-moved")
    make.user(email="new@city.example")  # someone else holds the new address here: the subject decides
    client = sso_app().test_client()
    sso(client, provider, "entra-moved", {"email": "new@city.example"})
    assert signed_in(client)
    login, = audit_rows("auth.login")
    assert login.actor_id == user.id
    assert not audit_rows("user.oidc_linked")


def test_an_unknown_person_is_refused_and_nothing_is_created(sso_app, provider, make):
    make.user(email="known@city.example")
    users = db.session.scalar(select(func.count(User.id)))
    client = sso_app().test_client()
    refused_with(client, sso(client, provider, "entra-stranger", {"email": "stranger@city.example"}), REFUSED)
    assert db.session.scalar(select(func.count(User.id))) == users
    refusal, = audit_rows("auth.sso_refused")
    assert refusal.changes["reason"] == [None, "unknown"]
    assert refusal.changes["email"] == [None, "stranger@city.example"]


def test_with_pending_an_unknown_person_becomes_a_pending_user_who_cannot_sign_in(sso_app, provider, make):
    pr = make.department("hisho-koho", "秘書広報課")
    make.user("admin", pr)
    client = sso_app(OIDC_UNKNOWN_USERS="pending").test_client()
    claims = {"email": "Hanako@City.example", "name": "石巻 花子"}
    refused_with(client, sso(client, provider, "entra-hanako", claims), PENDING)
    pending = db.session.scalars(select(User).where(User.email == "hanako@city.example")).one()
    assert (pending.active, pending.role, pending.department_id) == (False, "responder", pr.id)
    assert pending.pending_since is not None and pending.oidc_subject == "entra-hanako"
    assert pending.name == "石巻 花子"
    assert not pending.check_password("")  # a random password nobody was told
    created, = audit_rows("user.pending")
    assert created.object_id == pending.id
    # Coming back before the PR office approves: still refused, and no second user.
    refused_with(client, sso(client, provider, "entra-hanako"), PENDING)
    assert db.session.scalar(select(func.count(User.id)).where(User.pending_since.is_not(None))) == 1
    assert [row.changes["reason"][1] for row in audit_rows("auth.sso_refused")] == ["pending", "pending"]


def test_pending_users_go_to_the_configured_department(sso_app, provider, make):
    make.user("admin", make.department("hisho-koho"))
    reception = make.department("soumu", "総務課")
    client = sso_app(OIDC_UNKNOWN_USERS="pending", OIDC_PENDING_DEPARTMENT="soumu").test_client()
    sso(client, provider, "entra-jiro", {"email": "jiro@city.example"})
    pending = db.session.scalars(select(User).where(User.email == "jiro@city.example")).one()
    assert pending.department_id == reception.id and pending.name == "jiro@city.example"


def test_an_inactive_user_is_refused(sso_app, provider, make):
    user = make.user(email="left@city.example", active=False)
    client = sso_app().test_client()
    refused_with(client, sso(client, provider, "entra-left", {"email": "left@city.example"}), REFUSED)
    db.session.refresh(user)
    assert user.oidc_subject is None  # not tied to the identity either
    assert audit_rows("auth.sso_refused")[0].changes["reason"] == [None, "inactive"]


def test_an_email_tied_to_another_subject_is_refused(sso_app, provider, make):
    user = make.user(email="owner@city.example", oidc_subject="entra-owner")
    client = sso_app().test_client()
    refused_with(client, sso(client, provider, "entra-intruder", {"email": "owner@city.example"}), REFUSED)
    db.session.refresh(user)
    assert user.oidc_subject == "entra-owner"
    assert audit_rows("auth.sso_refused")[0].changes["reason"] == [None, "subject_mismatch"]


def test_an_unverified_email_is_not_matched(sso_app, provider, make):
    make.user(email="verify@city.example")
    client = sso_app().test_client()
    claims = {"email": "verify@city.example", "email_verified": False}
    refused_with(client, sso(client, provider, "entra-unverified", claims), REFUSED)


def test_the_email_claim_is_configurable(sso_app, provider, make):
    make.user(email="upn@city.example")
    client = sso_app(OIDC_EMAIL_CLAIM="preferred_username").test_client()
    sso(client, provider, "entra-upn", {"preferred_username": "UPN@city.example", "email": "other@example.jp"})
    assert signed_in(client)


def test_a_tampered_missing_or_replayed_state_is_refused(sso_app, provider, make):
    make.user(email="state@city.example")
    client = sso_app().test_client()
    start = client.get("/login/sso")
    back = authorize(provider, start.location, "entra-state", {"email": "state@city.example"})
    query = dict(parse_qsl(urlsplit(back).query))
    tampered = client.get("/login/sso/callback?" + urlencode({**query, "state": query["state"] + "x"}))
    refused_with(client, tampered, FAILED)
    refused_with(client, client.get("/login/sso/callback?" + urlencode({"code": query["code"]})), FAILED)
    # A state belongs to one browser: another browser cannot finish this one's sign-in.
    other = client.application.test_client()
    refused_with(other, other.get(callback_path(back)), FAILED)
    # Used once, it is gone: the same answer again is refused.
    client.get(callback_path(back))
    assert signed_in(client)
    client.post("/logout")
    refused_with(client, client.get(callback_path(back)), FAILED)
    reasons = {row.changes["detail"][1] for row in audit_rows("auth.sso_refused")}
    assert reasons == {"mismatching_state"}


def test_an_error_from_the_provider_is_shown_not_a_500(sso_app, provider, make):
    client = sso_app().test_client()
    start = client.get("/login/sso")
    denied = requests.post(start.location, data={"action": "deny"}, allow_redirects=False, timeout=10)
    assert denied.status_code == 302 and "error=access_denied" in denied.headers["Location"]
    refused_with(client, client.get(callback_path(denied.headers["Location"])), FAILED)
    assert audit_rows("auth.sso_refused")[0].changes["detail"] == [None, "access_denied"]


def test_an_unreachable_provider_is_shown_not_a_500(sso_app):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = sso_app(OIDC_ISSUER=f"http://127.0.0.1:{port}", OIDC_TIMEOUT=2).test_client()
    refused_with(client, client.get("/login/sso"), FAILED)


def test_no_temporary_password_rule_after_single_sign_on(sso_app, provider, make, password):
    make.user(email="temp@city.example", must_change_password=True)
    client = sso_app().test_client()
    sso(client, provider, "entra-temp", {"email": "temp@city.example"})
    assert signed_in(client)
    client.post("/logout")
    # The same browser, now with the password: the rule applies again.
    client.post("/login", data={"email": "temp@city.example", "password": password})
    assert client.get("/cases").location == "/settings/password"


def test_password_login_can_be_switched_off(sso_app, provider, make, password):
    user = make.user(email="pw@city.example")
    client = sso_app(PASSWORD_LOGIN=False).test_client()
    page = client.get("/login").text
    assert 'id="sso-login"' in page and 'name="password"' not in page
    response = client.post("/login", data={"email": user.email, "password": password})
    assert PASSWORD_OFF in response.text and 'name="password"' not in response.text
    assert not signed_in(client)
    assert not audit_rows("auth.login") and not audit_rows("auth.login_failed")
    sso(client, provider, "entra-pw", {"email": user.email})
    assert signed_in(client)


def test_password_login_off_needs_single_sign_on(database_uri, built_apps):
    with pytest.raises(ConfigurationError):
        built_apps.append(create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": "x",
                                      "PASSWORD_LOGIN": False}))


def test_without_an_issuer_there_is_no_single_sign_on(client, make, login):
    assert client.get("/login/sso").status_code == 404
    assert client.get("/login/sso/callback?code=x&state=y").status_code == 404
    page = client.get("/login").text
    assert 'id="sso-login"' not in page and 'name="password"' in page
    login(make.user())  # password login as before
