"""API v1: authentication by personal token, /me and /accounts."""
from __future__ import annotations

import pytest

from incident.auth.tokens import create_token, revoke_token
from incident.extensions import db

PROTECTED = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/accounts"),
    ("GET", "/api/v1/cases"),
    ("POST", "/api/v1/cases"),
    ("GET", "/api/v1/cases/1"),
    ("PATCH", "/api/v1/cases/1"),
    ("POST", "/api/v1/cases/1/acknowledge"),
    ("POST", "/api/v1/cases/1/status"),
    ("POST", "/api/v1/cases/1/assignment"),
    ("POST", "/api/v1/cases/1/notes"),
    ("POST", "/api/v1/cases/1/notes/1/corrections"),
    ("GET", "/api/v1/cases/1/timeline"),
]


def test_me_describes_the_caller(api, make):
    department = make.department("bousai", "防災課")
    user = make.user("supervisor", department, name="石巻 花子", email="hanako@city.example.jp",
                     organisation="株式会社サンプル")
    response = api("GET", "/api/v1/me", user)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": user.id,
        "email": "hanako@city.example.jp",
        "name": "石巻 花子",
        "role": "supervisor",
        "organisation": "株式会社サンプル",
        "operator_kind": "contractor",
        "department": {"code": "bousai", "name": "防災課"},
        "locale": "ja",
    }


def test_me_answers_for_whoever_owns_the_token(api, make):
    first, second = make.user("responder"), make.user("admin")
    assert api("GET", "/api/v1/me", first).get_json()["id"] == first.id
    assert api("GET", "/api/v1/me", second).get_json()["role"] == "admin"


def test_accounts_lists_every_official_account_for_any_role(api, make):
    kanko = make.department("kanko", "観光課")
    other = make.department("bousai", "防災課")
    fb = make.account(kanko, platform="facebook", name="石巻観光", url="https://www.facebook.com/ishinomaki/",
                      operator_type="contractor", operator_name="観光協会")
    x = make.account(other, platform="x", name="石巻防災", url="https://x.com/ishinomaki_bousai")
    responder = make.user("responder", other)
    response = api("GET", "/api/v1/accounts", responder)
    assert response.status_code == 200
    items = {item["id"]: item for item in response.get_json()["items"]}
    assert set(items) == {fb.id, x.id}
    assert items[fb.id].items() >= {  # the 様式1 fields and status follow (tests/accounts/test_account_api.py)
        "id": fb.id,
        "platform": "facebook",
        "name": "石巻観光",
        "url": "https://www.facebook.com/ishinomaki/",
        "department": {"code": "kanko", "name": "観光課"},
        "operator_type": "contractor",
        "operator_name": "観光協会",
    }.items()
    assert items[x.id]["platform"] == "x"
    assert items[x.id]["department"]["code"] == "bousai"


def test_accounts_is_empty_list_when_none_registered(api, make):
    response = api("GET", "/api/v1/accounts", make.user())
    assert response.status_code == 200
    assert response.get_json() == {"items": []}


@pytest.mark.parametrize("method, url", PROTECTED)
def test_every_endpoint_needs_a_token(api, make, expect_error, method, url):
    user = make.user("admin")
    make.case(user)
    response = api(method, url, None, json={})
    expect_error(response, 401, "unauthorized")


@pytest.mark.parametrize("header", [
    "",
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Token inc_whatever",
    "Bearer inc_not-a-real-token",
    "Bearer not-even-the-prefix",
])
def test_bad_authorization_headers_are_401(api, make, expect_error, header):
    make.user()
    response = api("GET", "/api/v1/me", None, headers={"Authorization": header})
    expect_error(response, 401, "unauthorized")


def test_scheme_is_case_insensitive(api, make, app):
    user = make.user()
    _token, plain = create_token(user, "cli")
    db.session.commit()
    response = api("GET", "/api/v1/me", None, headers={"Authorization": f"bearer {plain}"})
    assert response.status_code == 200
    assert response.get_json()["id"] == user.id


def test_revoked_token_is_401(api, make, expect_error):
    user = make.user()
    token, plain = create_token(user, "laptop")
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert api("GET", "/api/v1/me", None, headers=headers).status_code == 200
    revoke_token(user, token.id)
    db.session.commit()
    expect_error(api("GET", "/api/v1/me", None, headers=headers), 401, "unauthorized")
    expect_error(api("GET", "/api/v1/cases", None, headers=headers), 401, "unauthorized")


def test_revoking_one_token_leaves_the_others_working(api, make):
    user = make.user()
    old, _old_plain = create_token(user, "old")
    _new, new_plain = create_token(user, "new")
    db.session.commit()
    revoke_token(user, old.id)
    db.session.commit()
    response = api("GET", "/api/v1/me", None, headers={"Authorization": f"Bearer {new_plain}"})
    assert response.status_code == 200


def test_token_of_deactivated_user_is_401(api, make, expect_error):
    user = make.user()
    _token, plain = create_token(user, "t")
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert api("GET", "/api/v1/me", None, headers=headers).status_code == 200
    user.active = False
    db.session.commit()
    expect_error(api("GET", "/api/v1/me", None, headers=headers), 401, "unauthorized")


def test_a_session_cookie_is_not_enough_for_the_api(api, make, login, client, expect_error):
    user = make.user()
    login(user)
    assert client.get("/cases").status_code == 200  # the browser session works for pages...
    expect_error(client.get("/api/v1/me"), 401, "unauthorized")  # ...but not for the API
    expect_error(client.post("/api/v1/cases", json={"kind": "flaming", "title": "x", "severity": "low"}),
                 401, "unauthorized")


def test_unknown_api_path_is_json_404(api, make, expect_error):
    expect_error(api("GET", "/api/v1/nothing-here", make.user()), 404, "not_found")


def test_api_responses_are_not_cached(api, make):
    response = api("GET", "/api/v1/me", make.user())
    assert response.headers.get("Cache-Control") == "no-store"
