"""Known fake accounts: normalising, automatic linking, state history, visibility, API."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from incident.accounts.models import CaseFakeAccount, FakeAccount, FakeAccountEvent
from incident.extensions import db
from incident.fakes import service


def impersonation(make, actor, **overrides):
    data = {"kind": "impersonation", "severity": "high", "title": "なりすまし", "platform": "x"}
    data.update(overrides)
    return make.case(actor, **data)


def test_normalising():
    assert service.normalise_handle("  @Fake_City ") == "fake_city"
    assert service.normalise_handle("") is None
    assert service.normalise_fake_url("HTTPS://X.COM/Fake_City/#top") == "https://x.com/Fake_City"
    assert service.handle_from_url("https://x.com/Fake_City") == "fake_city"
    assert service.handle_from_url("https://www.tiktok.com/@Fake") == "fake"
    with pytest.raises(ValueError):
        service.normalise_handle("@bad handle")
    with pytest.raises(ValueError):
        service.normalise_fake_url("javascript:alert(1)")


def test_known_fake_url_is_linked_on_new_impersonation_case(make, login, client):
    department = make.department()
    responder = make.user("responder", department)
    first = impersonation(make, responder, title="最初の案件", urls=["https://x.com/Fake_City"])
    fake, created = service.record_fake(responder, {"platform": "x", "url": "https://x.com/Fake_City/"}, first)
    db.session.commit()
    assert created and fake.handle == "fake_city"
    # A new case with the same account, written differently, is linked automatically.
    second = impersonation(make, responder, title="二件目", urls=["https://X.com/fake_city/"])
    third = impersonation(make, responder, title="三件目", urls=["@FAKE_CITY"])
    links = db.session.scalars(select(CaseFakeAccount.case_id).where(CaseFakeAccount.fake_account_id == fake.id))
    assert sorted(links) == sorted([first.id, second.id, third.id])
    # A flaming case is not linked.
    make.case(responder, urls=["https://x.com/fake_city"])
    assert db.session.scalar(select(db.func.count()).select_from(CaseFakeAccount)) == 3
    login(responder)
    page = client.get(f"/cases/{third.id}").text
    assert "@fake_city" in page and "最初の案件" in page and "二件目" in page
    assert "既知の偽アカウントと関連付け" in page  # the timeline says so


def test_case_page_does_not_show_cases_the_user_cannot_see(make, login, client):
    ours, theirs = make.department(), make.department()
    responder = make.user("responder", ours)
    outsider = make.user("responder", theirs)
    secret = impersonation(make, outsider, title="他課の秘密案件", urls=["@fake_city"])
    service.record_fake(outsider, {"platform": "x", "handle": "@fake_city"}, secret)
    db.session.commit()
    mine = impersonation(make, responder, title="自課の案件", urls=["@fake_city"])
    login(responder)
    page = client.get(f"/cases/{mine.id}").text
    assert "@fake_city" in page and "他課の秘密案件" not in page
    fake = db.session.scalars(select(FakeAccount)).one()
    listing = client.get("/fakes").text
    assert "@fake_city" in listing and "他課の秘密案件" not in listing
    shown = client.get(f"/fakes/{fake.id}").text
    assert "自課の案件" in shown and "他課の秘密案件" not in shown and secret.number not in shown
    assert service.visible_case_counts(responder, [fake.id]) == {fake.id: 1}


def test_state_history(make, login, client):
    responder = make.user("responder")
    login(responder)
    response = client.post("/fakes/new", data={"platform": "instagram", "handle": "@Ishinomaki_Fake",
                                               "display_name": "石巻市（偽）"})
    assert response.status_code == 302
    fake = db.session.scalars(select(FakeAccount)).one()
    assert fake.handle == "ishinomaki_fake" and fake.state.value == "live"
    login(make.user("admin"))  # no case is linked: only the PR office records its state
    assert client.post(f"/fakes/{fake.id}/state", data={"state": "reported", "note": "通報フォームから"}).status_code == 302
    assert client.post(f"/fakes/{fake.id}/state", data={"state": "removed"}).status_code == 302
    assert client.post(f"/fakes/{fake.id}/state", data={"state": "gone"}).status_code == 422
    history = [e.state.value for e in service.history(fake)]
    assert history == ["live", "reported", "removed"]
    db.session.refresh(fake)
    assert fake.state.value == "removed"
    page = client.get(f"/fakes/{fake.id}").text
    assert "通報フォームから" in page and "削除済み" in page
    # Recording the same account again is refused and leads to the existing one.
    again = client.post("/fakes/new", data={"platform": "instagram", "handle": "ishinomaki_fake"})
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/fakes/{fake.id}")
    assert db.session.scalar(select(db.func.count()).select_from(FakeAccount)) == 1


def test_record_from_case_page_links_it(make, login, client):
    responder = make.user("responder")
    case = impersonation(make, responder, urls=["https://x.com/fake1"])
    login(responder)
    form = client.get(f"/fakes/new?case_id={case.id}").text
    assert "https://x.com/fake1" in form
    assert "この偽アカウントを登録" in client.get(f"/cases/{case.id}").text
    response = client.post("/fakes/new", data={"case_id": str(case.id), "platform": "x",
                                               "url": "https://x.com/fake1"})
    assert response.status_code == 302
    assert db.session.scalar(select(db.func.count()).select_from(CaseFakeAccount)) == 1
    outsider = make.user("responder", make.department())
    login(outsider)
    assert client.get(f"/fakes/new?case_id={case.id}").status_code == 404


def test_fakes_for_account(make, login, client, app):
    responder = make.user("responder")
    account = make.account()
    fake, _ = service.record_fake(responder, {"platform": "facebook", "handle": "fake_fb",
                                              "genuine_account_id": str(account.id)})
    db.session.commit()
    assert service.fakes_for_account(account) == [fake]
    login(responder)
    with app.test_request_context():
        from flask import render_template_string
        from flask_login import login_user

        login_user(responder)
        html = render_template_string('{% include "fakes/_for_account.html" %}', account=account)
    assert "@fake_fb" in html


@pytest.mark.parametrize("data", [
    {}, {"platform": "myspace", "handle": "x"}, {"platform": "x"}, {"platform": "x", "handle": "bad handle"},
    {"platform": "x", "url": "ftp://x"}, {"platform": "x", "handle": "ok", "genuine_account_id": "abc"},
    {"platform": "x", "handle": "ok", "genuine_account_id": "99999999999999999999"},
    {"platform": "x", "handle": "ok", "display_name": "x" * 300},
])
def test_bad_input_never_500(make, login, client, token_for, data):
    responder = make.user("responder")
    login(responder)
    assert client.post("/fakes/new", data=data).status_code == 422
    api = client.post("/api/v1/fake-accounts", headers=token_for(responder), json=data)
    assert api.status_code == 422, api.json


def test_api(make, client, token_for):
    department = make.department()
    responder = make.user("responder", department)
    outsider = make.user("responder", make.department())
    headers = token_for(responder)
    case = impersonation(make, responder, urls=["@fake2"])
    created = client.post("/api/v1/fake-accounts", headers=headers,
                          json={"platform": "x", "handle": "@Fake2", "display_name": "偽", "case_id": case.id})
    assert created.status_code == 201, created.json
    fake_id = created.json["id"]
    assert created.json["cases"][0]["number"] == case.number
    dup = client.post("/api/v1/fake-accounts", headers=headers, json={"platform": "x", "handle": "fake2"})
    assert dup.status_code == 409
    client.post("/api/v1/fake-accounts", headers=headers, json={"platform": "x", "url": "https://x.com/other"})
    listing = client.get("/api/v1/fake-accounts?q=fake2", headers=headers).json
    assert listing["total"] == 1 and listing["items"][0]["visible_case_count"] == 1
    assert set(listing) == {"items", "total", "page", "per_page"}
    assert client.get("/api/v1/fake-accounts?state=live", headers=headers).json["total"] == 2
    assert client.get("/api/v1/fake-accounts?state=nope", headers=headers).status_code == 422
    assert client.get("/api/v1/fake-accounts?page=x", headers=headers).status_code == 422
    changed = client.post(f"/api/v1/fake-accounts/{fake_id}/state", headers=headers,
                          json={"state": "reported", "note": "X に通報"})
    assert changed.status_code == 200 and changed.json["state"] == "reported"
    assert [h["state"] for h in changed.json["history"]] == ["live", "reported"]
    assert client.post(f"/api/v1/fake-accounts/{fake_id}/state", headers=headers,
                       json={"state": 3}).status_code == 422
    assert client.post(f"/api/v1/fake-accounts/{fake_id}/state", headers=headers,
                       json={"state": "bogus"}).status_code == 422
    assert client.get("/api/v1/fake-accounts/999999", headers=headers).status_code == 404
    # Another department sees the fake but not the case linked to it.
    other = client.get(f"/api/v1/fake-accounts/{fake_id}", headers=token_for(outsider)).json
    assert other["cases"] == []
    assert client.get("/api/v1/fake-accounts", headers=token_for(outsider)).json["items"][0]["visible_case_count"] in (0,)
    # Linking to a case the caller cannot see is a 404.
    assert client.post("/api/v1/fake-accounts", headers=token_for(outsider),
                       json={"platform": "x", "handle": "new1", "case_id": case.id}).status_code == 404


def test_fake_events_are_append_only(make):
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    responder = make.user("responder")
    case = impersonation(make, responder)
    service.record_fake(responder, {"platform": "x", "handle": "a1"}, case)
    db.session.commit()
    for statement in ("UPDATE fake_account_event SET note = 'x'", "DELETE FROM fake_account_event",
                      "DELETE FROM case_fake_account"):
        with pytest.raises(DatabaseError):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(FakeAccountEvent)) == 1


def test_case_page_queries_fixed_with_linked_fakes(make, login, client, count_queries):
    department = make.department()
    responder = make.user("responder", department)
    case = impersonation(make, responder, urls=["@f0", "@f1"])
    case_id = case.id
    for n in range(2):
        service.record_fake(responder, {"platform": "x", "handle": f"f{n}"}, case)
    db.session.commit()
    login(responder)

    def measure():
        with count_queries() as counter:
            assert client.get(f"/cases/{case_id}").status_code == 200
        return counter.count

    few = measure()
    for n in range(2, 10):
        fresh = db.session.get(type(case), case_id)
        service.record_fake(responder, {"platform": "x", "handle": f"f{n}"}, fresh)
        impersonation(make, responder, urls=[f"@f{n}", "@f0"])
    db.session.commit()
    assert db.session.scalar(select(db.func.count()).select_from(CaseFakeAccount)) > 20
    assert measure() == few
