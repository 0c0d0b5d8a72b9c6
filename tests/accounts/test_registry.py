"""The registry: 様式1 fields, MFA and review marks, 様式2 notices and receipts, closure, warnings."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from incident.accounts import service
from incident.accounts.models import AccountNotice, AccountStatus, ClosureTask, NoticeReceipt
from incident.audit.models import AuditLog
from incident.extensions import db


def _edit_form(account, **overrides):
    data = {"platform": "facebook", "name": account.name, "url": account.url or "",
            "department_id": str(account.department_id), "operator_type": "city", "operator_name": "",
            "responsible_person": "観光課長", "content": "観光情報", "purpose": "観光客の誘致",
            "start_date": "2024-04-01", "end_date": "", "operating_hours": "平日 8:30-17:15",
            "reply_policy": "個別の回答は行いません。", "remarks": ""}
    data.update(overrides)
    return data


def test_admin_edits_every_form1_field(make, client, login):
    account = make.account()
    admin = make.user("admin")
    login(admin)
    response = client.post(f"/accounts/{account.id}/edit", data=_edit_form(account))
    assert response.status_code == 302
    db.session.refresh(account)
    assert (account.responsible_person, account.content, account.purpose, account.start_date,
            account.operating_hours, account.reply_policy) == (
        "観光課長", "観光情報", "観光客の誘致", dt.date(2024, 4, 1), "平日 8:30-17:15", "個別の回答は行いません。")
    log = db.session.scalars(select(AuditLog).where(AuditLog.action == "account.update")).one()
    assert "responsible_person" in log.changes
    page = client.get(f"/accounts/{account.id}").text
    assert "観光客の誘致" in page and "令和6年4月1日" in page


@pytest.mark.parametrize("overrides, field", [
    ({"start_date": "2024-13-01"}, "start_date"),
    ({"start_date": "2025-04-01", "end_date": "2024-04-01"}, "end_date"),
    ({"purpose": "あ" * 2001}, "purpose"),
])
def test_bad_form1_input_is_422_not_500(make, client, login, overrides, field):
    account = make.account()
    login(make.user("admin"))
    response = client.post(f"/accounts/{account.id}/edit", data=_edit_form(account, **overrides))
    assert response.status_code == 422
    assert 'class="error"' in response.text


def test_only_admin_edits(make, client, login):
    account = make.account()
    login(make.user("supervisor", account.department))
    assert client.post(f"/accounts/{account.id}/edit", data=_edit_form(account)).status_code == 403


def test_department_files_notice_and_admin_receives(make, client, login):
    account = make.account()
    responder = make.user("responder", account.department)
    login(responder)
    assert client.get(f"/accounts/{account.id}/notices/new").status_code == 200
    response = client.post(f"/accounts/{account.id}/notices/new", data={
        "kind": "opening", "effective_date": "2024-04-01", "contact": "観光 次郎（内線1234）"})
    assert response.status_code == 302
    notice = db.session.scalars(select(AccountNotice)).one()
    assert notice.filed_by_id == responder.id
    assert client.post(f"/accounts/{account.id}/notices/{notice.id}/receive").status_code == 403
    page = client.get(f"/accounts/{account.id}").text
    assert "未受付" in page and "観光 次郎（内線1234）" in page
    admin = make.user("admin")
    login(admin)
    assert client.post(f"/accounts/{account.id}/notices/{notice.id}/receive").status_code == 302
    receipt = db.session.scalars(select(NoticeReceipt)).one()
    assert receipt.received_by_id == admin.id
    # Receiving twice is refused with a message, not a second receipt.
    client.post(f"/accounts/{account.id}/notices/{notice.id}/receive")
    assert db.session.scalar(select(db.func.count()).select_from(NoticeReceipt)) == 1
    assert "受付済み" in client.get(f"/accounts/{account.id}").text


def test_other_department_cannot_file(make, client, login):
    account = make.account()
    login(make.user("supervisor"))  # another department
    assert client.get(f"/accounts/{account.id}/notices/new").status_code == 403
    assert client.post(f"/accounts/{account.id}/notices/new", data={
        "kind": "opening", "effective_date": "2024-04-01", "contact": "x"}).status_code == 403
    assert client.post(f"/accounts/{account.id}/mfa").status_code == 403
    assert db.session.scalars(select(AccountNotice)).first() is None
    assert client.get("/accounts/12345/notices/new").status_code == 404


@pytest.mark.parametrize("data, field_message", [
    ({"kind": "change", "effective_date": "2024-04-01", "contact": "x"}, "変更内容を入力してください。"),
    ({"kind": "closure", "effective_date": "2024-04-01", "contact": "x"}, "廃止理由を入力してください。"),
    ({"kind": "opening", "effective_date": "yesterday", "contact": "x"}, None),
    ({"kind": "bogus", "effective_date": "2024-04-01", "contact": "x"}, None),
    ({"kind": "opening", "effective_date": "2024-04-01", "contact": ""}, None),
])
def test_notice_validation(make, client, login, data, field_message):
    account = make.account()
    login(make.user("responder", account.department))
    response = client.post(f"/accounts/{account.id}/notices/new", data=data)
    assert response.status_code == 422
    if field_message:
        assert field_message in response.text
    assert db.session.scalars(select(AccountNotice)).first() is None


def test_closure_closes_and_leads_to_checklist(make, client, login):
    account = make.account()
    responder = make.user("responder", account.department)
    login(responder)
    client.post(f"/accounts/{account.id}/notices/new", data={
        "kind": "closure", "effective_date": "2026-03-31", "contact": "x", "details": "事業終了のため"})
    db.session.refresh(account)
    assert account.status == AccountStatus.CLOSED and account.closed_at is not None
    page = client.get(f"/accounts/{account.id}").text
    assert "廃止後の手続" in page and page.count("未完了") == 3
    assert client.post(f"/accounts/{account.id}/closure/deleted_on_platform", data={"note": "削除した"}).status_code == 302
    assert client.post(f"/accounts/{account.id}/closure/removed_from_public_list").status_code == 403
    assert client.post(f"/accounts/{account.id}/closure/nonsense").status_code == 404
    page = client.get(f"/accounts/{account.id}").text
    assert page.count("未完了") == 2 and "削除した" in page
    # No further notices on a closed account.
    response = client.post(f"/accounts/{account.id}/notices/new", data={
        "kind": "change", "effective_date": "2026-04-01", "contact": "x", "details": "y"})
    assert response.status_code == 422
    login(make.user("admin"))
    client.post(f"/accounts/{account.id}/closure/removed_from_public_list")
    client.post(f"/accounts/{account.id}/closure/removed_from_public_list")  # twice: refused
    assert db.session.scalar(select(db.func.count()).select_from(ClosureTask)) == 2


def test_notices_receipts_and_tasks_are_append_only(make, refuses_sql):
    account = make.account()
    admin = make.user("admin", account.department)
    notice = service.file_notice(admin, account, {"kind": "closure", "effective_date": "2024-04-01",
                                                  "contact": "x", "details": "終了"})
    service.receive_notice(admin, notice)
    service.complete_closure_task(admin, account, "deleted_on_platform")
    db.session.commit()
    for table, statement in (("account_notice", "UPDATE {table} SET contact = 'y'"),
                             ("account_notice", "DELETE FROM {table}"),
                             ("notice_receipt", "UPDATE {table} SET received_by_id = received_by_id"),
                             ("closure_task", "DELETE FROM {table}")):
        refuses_sql(table, statement)


def test_warnings_on_registry(make, client, login, app):
    department = make.department()
    fine = make.account(department, name="問題なし", mfa_enabled=True, mfa_confirmed_at=service.utcnow(),
                        policy_reviewed_at=service.utcnow())
    make.account(department, name="URLなし", url=None, mfa_enabled=True, mfa_confirmed_at=service.utcnow(),
                 policy_reviewed_at=service.utcnow())
    make.account(department, name="古い", mfa_enabled=True, mfa_confirmed_at=service.utcnow(),
                 policy_reviewed_at=service.utcnow() - dt.timedelta(days=400))
    make.account(department, name="MFA未確認", policy_reviewed_at=service.utcnow())
    login(make.user("responder", department))
    page = client.get("/accounts").text
    assert "多要素認証が確認されていません" in page  # the unconfirmed ones
    assert "登録URLが未登録です" in page
    assert "運用ポリシーが 365 日以上見直されていません" in page
    assert "問題なし</a>（" not in page  # no warning line for the fine account
    app.config["ACCOUNT_POLICY_REVIEW_DAYS"] = 500
    assert "見直されていません" not in client.get("/accounts").text
    assert fine.id


def test_mfa_and_review_marks_clear_warnings(make, client, login):
    account = make.account()
    login(make.user("responder", account.department))
    assert client.post(f"/accounts/{account.id}/mfa").status_code == 302
    assert client.post(f"/accounts/{account.id}/reviewed").status_code == 302
    db.session.refresh(account)
    assert account.mfa_enabled and account.mfa_confirmed_at and account.policy_reviewed_at
    assert service.account_warnings(account, review_days=365) == []


def _accounts(make, n):
    department = make.department()
    for i in range(n):
        make.account(department if i % 2 else None)


@pytest.mark.parametrize("path", ["/accounts", "/public/accounts", "/public/accounts.json", "/public/accounts.csv"])
def test_query_count_does_not_grow(make, client, login, count_queries, path):
    login(make.user("admin"))
    _accounts(make, 2)
    with count_queries() as few:
        assert client.get(path).status_code == 200
    _accounts(make, 18)
    with count_queries() as many:
        assert client.get(path).status_code == 200
    assert many.count == few.count, many.statements


def test_account_detail_query_count_is_fixed(make, client, login, count_queries):
    account = make.account()
    admin = make.user("admin", account.department)
    login(admin)
    service.file_notice(admin, account, {"kind": "opening", "effective_date": "2024-04-01", "contact": "x"})
    db.session.commit()
    with count_queries() as few:
        client.get(f"/accounts/{account.id}")
    for _ in range(10):
        notice = service.file_notice(admin, account, {"kind": "change", "effective_date": "2024-04-01",
                                                      "contact": "x", "details": "y"})
        service.receive_notice(admin, notice)
    db.session.commit()
    with count_queries() as many:
        client.get(f"/accounts/{account.id}")
    assert many.count == few.count


@pytest.mark.parametrize("path", ["/accounts/99999999999999999999999", "/accounts/99999999999999999999999/form1",
                                  "/accounts/1/notices/99999999999999999999999/form2"])
def test_huge_ids_are_404(make, client, login, path):
    make.account()
    login(make.user("admin"))
    assert client.get(path).status_code == 404
