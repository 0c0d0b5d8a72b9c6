"""API v1: /accounts with 様式1 fields, PATCH (PR office), notices (the account's department)."""
from __future__ import annotations

from sqlalchemy import select

from incident.accounts.models import AccountNotice
from incident.extensions import db


def test_admin_creates_and_patches(make, client, token_for):
    department = make.department()
    admin = make.user("admin", department)
    headers = token_for(admin)
    response = client.post("/api/v1/accounts", headers=headers, json={
        "platform": "facebook", "name": "宮城県石巻市", "department_id": department.id, "operator_type": "city",
        "purpose": "市政情報", "start_date": "2024-04-01"})
    assert response.status_code == 201, response.get_json()
    account_id = response.get_json()["id"]
    assert response.get_json()["start_date"] == "2024-04-01"
    response = client.patch(f"/api/v1/accounts/{account_id}", headers=headers, json={"reply_policy": "回答しません。"})
    assert response.status_code == 200 and response.get_json()["reply_policy"] == "回答しません。"
    body = client.get(f"/api/v1/accounts/{account_id}", headers=headers).get_json()
    assert body["purpose"] == "市政情報" and body["notices"] == [] and body["status"] == "active"


def test_errors(make, client, token_for):
    account = make.account()
    responder = make.user("responder", account.department)
    admin = make.user("admin")
    assert client.patch(f"/api/v1/accounts/{account.id}", headers=token_for(responder), json={"name": "x"}).status_code == 403
    assert client.get("/api/v1/accounts/999", headers=token_for(admin)).status_code == 404
    response = client.patch(f"/api/v1/accounts/{account.id}", headers=token_for(admin), json={"start_date": 5})
    assert response.status_code == 422 and "start_date" in response.get_json()["error"]["fields"]
    response = client.patch(f"/api/v1/accounts/{account.id}", headers=token_for(admin),
                            json={"start_date": "2025-01-01", "end_date": "2024-01-01"})
    assert response.status_code == 422 and "end_date" in response.get_json()["error"]["fields"]
    assert client.post("/api/v1/accounts", headers=token_for(responder), json={}).status_code == 403
    for bad in ({"department_id": 10**30}, {"department_id": True}, {"name": ["x"]}, {"end_date": "2024-02-30"},
                {"platform": None}, {"url": "javascript:alert(1)"}, {"remarks": 5}):
        response = client.patch(f"/api/v1/accounts/{account.id}", headers=token_for(admin), json=bad)
        assert response.status_code == 422, (bad, response.get_json())
    assert client.patch(f"/api/v1/accounts/{account.id}", headers=token_for(admin), data="x",
                        content_type="application/json").status_code == 400


def test_notices(make, client, token_for):
    account = make.account()
    responder = make.user("responder", account.department)
    stranger = make.user("responder")
    url = f"/api/v1/accounts/{account.id}/notices"
    assert client.post(url, headers=token_for(stranger), json={"kind": "opening", "effective_date": "2024-04-01",
                                                                "contact": "x"}).status_code == 403
    response = client.post(url, headers=token_for(responder), json={"kind": "change", "effective_date": "2024-04-01",
                                                                    "contact": "x"})
    assert response.status_code == 422 and "details" in response.get_json()["error"]["fields"]
    for bad in ({"kind": 3}, {"kind": "opening", "effective_date": ["x"], "contact": "x"},
                {"kind": "opening", "effective_date": "2024-04-01", "contact": {"a": 1}}):
        assert client.post(url, headers=token_for(responder), json=bad).status_code == 422
    response = client.post(url, headers=token_for(responder), json={"kind": "closure", "effective_date": "2024-04-01",
                                                                    "contact": "x", "details": "終了"})
    assert response.status_code == 201 and response.get_json()["received"] is False
    body = client.get(f"/api/v1/accounts/{account.id}", headers=token_for(responder)).get_json()
    assert body["status"] == "closed" and len(body["notices"]) == 1 and len(body["closure_tasks"]) == 3
    assert db.session.scalar(select(db.func.count()).select_from(AccountNotice)) == 1
    assert client.post(url, headers=token_for(responder), json={"kind": "change", "effective_date": "2024-04-01",
                                                                "contact": "x", "details": "y"}).status_code == 409
