"""Issue 13, API tokens: an expiry (90 days unless chosen), an optional read-only scope, expired and revoked
tokens refused (401), and the PR office's list of every user's tokens with revoking."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from incident.audit.models import AuditLog
from incident.auth import service, tokens
from incident.auth.models import ApiToken
from incident.cases.models import Case
from incident.dates import utcnow
from incident.errors import NotFound, ValidationFailed
from incident.extensions import db


def _bearer(plain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plain}"}


def _days(token: ApiToken) -> float:
    return (token.expires_at - token.created_at) / dt.timedelta(days=1)


# --- expiry ---------------------------------------------------------------------------------------------


def test_a_new_token_lasts_90_days_by_default(make):
    token, plain = tokens.create_token(make.user(), "連携")
    assert _days(token) == 90 and not token.read_only
    assert plain.startswith(tokens.TOKEN_PREFIX) and token.token_hash != plain


def test_the_default_comes_from_the_configuration(app, make):
    app.config["API_TOKEN_DAYS"] = 30
    token, _plain = tokens.create_token(make.user(), "連携")
    assert _days(token) == 30


@pytest.mark.parametrize("days", [30, "180", 365, 1])
def test_a_chosen_expiry_is_kept(make, days):
    token, _plain = tokens.create_token(make.user(), "連携", days, read_only=True)
    assert _days(token) == int(days) and token.read_only


@pytest.mark.parametrize("days", [0, -5, 366, "abc", "1.5", 10**12, True])
def test_a_bad_expiry_is_refused(make, days):
    user = make.user()
    with pytest.raises(ValidationFailed) as refused:
        tokens.create_token(user, "連携", days)
    assert "days" in refused.value.fields
    assert not db.session.scalar(select(func.count(ApiToken.id)))


def test_settings_creates_a_token_with_the_chosen_expiry_and_scope(make, client, login):
    user = make.user()
    login(user)
    page = client.get("/settings").text
    assert 'id="token-days"' in page and '<option selected value="90">' in page
    assert 'id="token-read_only"' in page
    response = client.post("/settings", data={"token-name": "集計", "token-days": "180", "token-read_only": "y"})
    assert response.status_code == 200
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert _days(token) == 180 and token.read_only
    assert 'id="new-token"' in response.text and "読み取り専用" in response.text
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "token.create")).one()
    assert row.changes["read_only"] == [None, True]


def test_settings_without_a_choice_gives_the_default(make, client, login):
    user = make.user()
    login(user)
    assert client.post("/settings", data={"token-name": "集計"}).status_code == 200
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert _days(token) == 90 and not token.read_only


@pytest.mark.parametrize("days", ["400", "0", "x", "-30"])
def test_settings_refuses_a_bad_expiry_by_the_field(make, client, login, days):
    user = make.user()
    login(user)
    response = client.post("/settings", data={"token-name": "集計", "token-days": days})
    assert response.status_code == 422
    assert 'id="token-days-error"' in response.text and "365 日まで" in response.text
    assert 'id="new-token"' not in response.text
    assert not db.session.scalar(select(func.count(ApiToken.id)))


def test_settings_refuses_a_missing_name(make, client, login):
    login(make.user())
    response = client.post("/settings", data={"token-name": "", "token-days": "30"})
    assert response.status_code == 422 and 'id="token-name-error"' in response.text
    assert not db.session.scalar(select(func.count(ApiToken.id)))


# --- refused tokens -------------------------------------------------------------------------------------


def test_an_expired_token_is_401(api, make, expect_error):
    user = make.user()
    token, plain = tokens.create_token(user, "古い", 30)
    db.session.commit()
    assert api("GET", "/api/v1/me", None, headers=_bearer(plain)).status_code == 200
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    error = expect_error(api("GET", "/api/v1/me", None, headers=_bearer(plain)), 401, "unauthorized")
    assert "有効期限" in error["message"]
    assert tokens.user_for_token(plain) is None
    with pytest.raises(tokens.TokenRefused):
        tokens.check_token(plain)


def test_a_revoked_token_is_401_even_before_its_expiry(api, make, expect_error):
    user = make.user()
    token, plain = tokens.create_token(user, "laptop", 365)
    db.session.commit()
    tokens.revoke_token(user, token.id)
    db.session.commit()
    assert token.revoked_by_id == user.id
    error = expect_error(api("POST", "/api/v1/cases", None, headers=_bearer(plain), json={}), 401, "unauthorized")
    assert "無効" in error["message"]


def test_a_read_only_token_reads_but_never_writes(api, make, expect_error):
    user = make.user()
    case = make.case(actor=user)
    _token, plain = tokens.create_token(user, "ダッシュボード", read_only=True)
    db.session.commit()
    headers = _bearer(plain)
    assert api("GET", "/api/v1/me", None, headers=headers).status_code == 200
    assert api("GET", f"/api/v1/cases/{case.id}", None, headers=headers).status_code == 200
    body = {"kind": "flaming", "severity": "medium", "title": "読み取り専用で作ろうとした案件"}
    for method, url, sent in (("POST", "/api/v1/cases", body),
                              ("PATCH", f"/api/v1/cases/{case.id}", {"title": "変更", "version": case.version}),
                              ("POST", f"/api/v1/cases/{case.id}/acknowledge", {})):
        error = expect_error(api(method, url, None, headers=headers, json=sent), 403, "forbidden")
        assert "読み取り専用" in error["message"]
    assert db.session.scalar(select(func.count(Case.id))) == 1
    db.session.refresh(case)
    assert case.title != "変更"
    # The same user's read-write token writes: the 403 was the scope's.
    _token, full = tokens.create_token(user, "連携")
    db.session.commit()
    assert api("POST", "/api/v1/cases", None, headers=_bearer(full), json=body).status_code == 201


def test_deactivation_revokes_every_token_by_the_actor(make, city):
    user = make.user()
    first, _p1 = tokens.create_token(user, "一")
    second, _p2 = tokens.create_token(user, "二")
    service.deactivate_user(city.admin, user)
    db.session.commit()
    assert first.revoked_at and second.revoked_at
    assert first.revoked_by_id == second.revoked_by_id == city.admin.id
    assert len(db.session.scalars(select(AuditLog).where(AuditLog.action == "token.revoke")).all()) == 2


# --- the PR office's page -------------------------------------------------------------------------------


def test_the_pr_office_lists_every_users_tokens_active_first(city, client, login):
    old, _p = tokens.create_token(city.responder_a, "古い連携")
    old.expires_at = utcnow() - dt.timedelta(days=1)
    revoked, _p = tokens.create_token(city.responder_b, "やめた連携")
    tokens.revoke_token(city.responder_b, revoked.id)
    tokens.create_token(city.responder_b, "集計", read_only=True)
    tokens.create_token(city.supervisor_a, "所属長の連携")
    db.session.commit()
    login(city.admin)
    page = client.get("/admin/tokens").text
    order = [page.index(name) for name in ("所属長の連携", "集計", "やめた連携", "古い連携")]
    assert order == sorted(order)  # active (newest first), then the rest
    assert "期限切れ" in page and "失効" in page and "読み取り専用" in page
    assert city.responder_b.email in page
    filtered = client.get("/admin/tokens", query_string={"email": city.responder_b.email.upper()}).text
    assert "集計" in filtered and "やめた連携" in filtered and "所属長の連携" not in filtered


def test_the_list_is_paginated(city, client, login, app):
    app.config["PER_PAGE"] = 2
    for n in range(5):
        tokens.create_token(city.responder_a, f"連携{n}")
    db.session.commit()
    login(city.admin)
    first = client.get("/admin/tokens").text
    assert "連携4" in first and "連携3" in first and "連携2" not in first
    assert "1 / 3 ページ" in first
    assert "連携0" in client.get("/admin/tokens?page=3").text
    assert client.get("/admin/tokens?page=99").status_code == 200


def test_the_pr_office_revokes_a_users_token_and_the_user_sees_it(city, client, login, api, expect_error):
    token, plain = tokens.create_token(city.responder_a, "連携")
    db.session.commit()
    login(city.admin)
    response = client.post(f"/admin/tokens/{token.id}/revoke")
    assert response.status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None and token.revoked_by_id == city.admin.id
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "token.revoke")).one()
    assert row.actor_id == city.admin.id and row.object_id == token.id
    assert row.changes["revoked_by"] == [None, city.admin.email]
    assert row.changes["owner"] == [None, city.responder_a.email]
    expect_error(api("GET", "/api/v1/me", None, headers=_bearer(plain)), 401, "unauthorized")
    login(city.responder_a)
    assert "秘書広報課が失効させました" in client.get("/settings").text
    # Again: nothing changes, no second audit row.
    login(city.admin)
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    assert len(db.session.scalars(select(AuditLog).where(AuditLog.action == "token.revoke")).all()) == 1


def test_revoking_ones_own_token_does_not_say_the_pr_office_did(make, client, login):
    user = make.user()
    token, _plain = tokens.create_token(user, "連携")
    db.session.commit()
    login(user)
    assert client.post(f"/settings/tokens/{token.id}/revoke").status_code == 302
    page = client.get("/settings").text
    assert "失効" in page and "秘書広報課が失効させました" not in page


@pytest.mark.parametrize("role", ["responder_a", "supervisor_a", "responder_b"])
def test_the_pr_office_pages_are_404_for_others(city, client, login, role):
    token, _plain = tokens.create_token(city.responder_b, "連携")
    db.session.commit()
    login(getattr(city, role))
    assert client.get("/admin/tokens").status_code == 404
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None or role == "responder_b"
    with pytest.raises(NotFound):
        tokens.tokens_for_admin(getattr(city, role), 1, 25)


def test_others_cannot_revoke_a_token_from_settings(city, client, login):
    token, _plain = tokens.create_token(city.responder_a, "連携")
    db.session.commit()
    login(city.responder_b)
    assert client.post(f"/settings/tokens/{token.id}/revoke").status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None


def test_unknown_token_ids_are_404(city, client, login):
    login(city.admin)
    assert client.post("/admin/tokens/999999/revoke").status_code == 404
    assert client.post("/admin/tokens/2147483648/revoke").status_code == 404


def test_the_settings_link_to_the_office_page_is_the_pr_offices(city, client, login):
    login(city.admin)
    assert 'href="/admin/tokens"' in client.get("/settings").text
    login(city.responder_a)
    assert 'href="/admin/tokens"' not in client.get("/settings").text


# --- the CLI --------------------------------------------------------------------------------------------


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_cli_creates_lists_and_revokes(app, make):
    user = make.user()
    email = user.email
    created = _cli(app, "token", "create", email, "--days", "30", "--read-only", "--name", "夜間集計")
    assert created.exit_code == 0, created.output
    plain = created.output.strip()
    token = db.session.scalars(select(ApiToken)).one()
    assert _days(token) == 30 and token.read_only and tokens.user_for_token(plain).email == email
    listed = _cli(app, "token", "list", email)
    assert listed.exit_code == 0 and "夜間集計" in listed.output and "read-only" in listed.output
    assert "active" in listed.output
    revoked = _cli(app, "token", "revoke", str(token.id))
    assert revoked.exit_code == 0, revoked.output
    db.session.expire_all()
    token = db.session.get(ApiToken, token.id)
    assert token.revoked_at is not None and token.revoked_by_id is None
    assert "revoked" in _cli(app, "token", "list").output


def test_cli_refuses_bad_values(app, make):
    user = make.user()
    bad = _cli(app, "token", "create", user.email, "--days", "999")
    assert bad.exit_code != 0 and "365" in bad.output
    assert _cli(app, "token", "revoke", "12345").exit_code != 0
    assert _cli(app, "token", "revoke", "abc").exit_code != 0
    assert not db.session.scalar(select(func.count(ApiToken.id)))
