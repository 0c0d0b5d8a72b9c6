"""The registry of official accounts: PR office only, validated, audited."""
from __future__ import annotations

from sqlalchemy import select

from incident.accounts.models import OfficialAccount
from incident.audit.models import AuditLog
from incident.extensions import db


def _form(department, **overrides):
    data = {"platform": "facebook", "name": "宮城県石巻市", "url": "https://www.facebook.com/IshinomakiCityOffice/",
            "department_id": str(department.id), "operator_type": "city", "operator_name": ""}
    data.update(overrides)
    return data


def test_admin_registers_and_edits_account(make, client, login):
    admin = make.user("admin")
    login(admin)
    response = client.post("/accounts/new", data=_form(admin.department))
    assert response.status_code == 302
    account = db.session.scalars(select(OfficialAccount)).one()
    assert "宮城県石巻市" in client.get("/accounts").text
    response = client.post(f"/accounts/{account.id}/edit",
                           data=_form(admin.department, operator_type="contractor", operator_name="株式会社いしのまき"))
    assert response.status_code == 302
    db.session.refresh(account)
    assert account.operator_name == "株式会社いしのまき"
    assert db.session.scalars(select(AuditLog.action).where(AuditLog.object_type == "official_account", AuditLog.object_id == account.id)).all() == [
        "account.create", "account.update"]


def test_contractor_must_be_named_and_url_must_be_http(make, client, login):
    admin = make.user("admin")
    login(admin)
    response = client.post("/accounts/new", data=_form(admin.department, operator_type="contractor",
                                                        url="javascript:alert(1)"))
    assert response.status_code == 422
    assert "指定管理者・委託業者の名称を入力してください。" in response.text
    assert db.session.scalars(select(OfficialAccount)).first() is None


def test_url_may_be_filled_later(make, client, login):
    admin = make.user("admin")
    login(admin)
    assert client.post("/accounts/new", data=_form(admin.department, url="")).status_code == 302
    assert "未登録" in client.get("/accounts").text


def test_others_cannot_manage_accounts(make, client, login):
    account = make.account()
    for role in ("responder", "supervisor"):
        login(make.user(role))
        assert client.get("/accounts").status_code == 200
        assert client.get("/accounts/new").status_code == 403
        assert client.post(f"/accounts/{account.id}/edit", data=_form(account.department)).status_code == 403


def test_audit_page_is_for_admins(make, client, login):
    responder = make.user()
    make.case(responder, title="監査対象")
    login(responder)
    assert client.get("/audit").status_code == 404
    login(make.user("admin"))
    page = client.get("/audit").text
    assert "case.create" in page
