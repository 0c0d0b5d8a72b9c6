"""様式2 notices filed from a case (issue 12): a takeover's change notice, a dormant account's closure notice.

The case page offers the notice form pre-filled from the case; the notice keeps the case's id and shows on
both the case page and the account page; who may file stays the rule it was (the account's department or
the PR office), and a case the user may not see is a 404.
"""
from __future__ import annotations

import types

import pytest
from sqlalchemy import func, select

from incident.accounts import service
from incident.accounts.models import AccountNotice, AccountStatus, NoticeKind
from incident.audit.models import AuditLog
from incident.cases import service as cases
from incident.cases.models import CaseStatus
from incident.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.playbooks import service as playbooks

LINK_TEXT = "様式2（変更届／廃止届）を出す"


def _offers_link(page: str, case) -> bool:
    """Whether the case page has the link to file a notice from it (the playbook's guidance names it too)."""
    return f"notices/new?case_id={case.id}" in page


@pytest.fixture
def town(make):
    """The tourism department with its X account, a takeover case and a dormant-account case about it,
    another department, and the PR office."""
    dept = make.department("kanko", "観光課")
    other = make.department("bousai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    responder = make.user("responder", dept, name="観光 一郎")
    account = make.account(dept, platform="x", name="石巻市観光", url="https://x.com/ishinomaki_kanko")
    old = make.account(dept, platform="facebook", name="石巻市観光（旧）", url="https://www.facebook.com/ishinomaki.kanko.old")
    takeover = make.case(responder, kind="account_takeover", title="観光アカウントの乗っ取り", platform="x",
                         official_account_id=account.id)
    dormant = make.case(responder, kind="dormant_account", title="旧ページが残っている", platform="facebook",
                        official_account_id=old.id)
    return types.SimpleNamespace(
        dept=dept, other=other, account=account, old=old, takeover=takeover, dormant=dormant,
        responder=responder, supervisor=make.user("supervisor", dept, name="観光 課長"),
        other_responder=make.user("responder", other, name="防災 担当"),
        admin=make.user("admin", pr, name="広報 担当"),
    )


def _form(case_id, **overrides):
    data = {"kind": "change", "effective_date": "2026-11-23", "contact": "観光 一郎（内線1234）",
            "details": "パスワードと登録メールアドレスを変更", "remarks": "", "case_id": str(case_id)}
    data.update(overrides)
    return data


def _notice_url(account, case=None) -> str:
    url = f"/accounts/{account.id}/notices/new"
    return f"{url}?case_id={case.id}" if case else url


def _assign_other(town) -> None:
    """The PR office assigns the takeover case to a responder of another department (who then sees it)."""
    cases.assign(town.admin, town.takeover, town.other_responder.id)
    db.session.commit()


def _invisible_case(town):
    """A takeover case of another department about the tourism account (its staff may not see it)."""
    case = cases.open_case(town.other_responder, {"kind": "account_takeover", "severity": "high",
                                                  "title": "他課の案件", "official_account_id": town.account.id})
    db.session.commit()
    return case


# --- the pages ----------------------------------------------------------------------------------------


def test_takeover_case_page_links_to_a_change_notice_prefilled_from_the_case(town, client, login):
    """The link opens the existing notice form for the case's account: kind "change", the case named."""
    login(town.responder)
    page = client.get(f"/cases/{town.takeover.id}").text
    assert LINK_TEXT in page
    assert f'href="/accounts/{town.account.id}/notices/new?case_id={town.takeover.id}"' in page
    form = client.get(_notice_url(town.account, town.takeover))
    assert form.status_code == 200
    assert '<option selected value="change">' in form.text or 'value="change" selected' in form.text
    assert f"乗っ取り被害によりパスワード・登録メールアドレスを変更（案件 {town.takeover.number}）" in form.text
    assert f'name="case_id" type="hidden" value="{town.takeover.id}"' in form.text
    assert town.takeover.number in form.text  # "filed from case …" is said before it is filed


def test_dormant_case_prefills_a_closure(town, client, login):
    login(town.responder)
    form = client.get(_notice_url(town.old, town.dormant)).text
    assert '<option selected value="closure">' in form or 'value="closure" selected' in form
    assert f"案件 {town.dormant.number}" in form and "3(2)ウ" in form


def test_filing_from_the_case_links_the_notice_and_shows_it_on_both_pages(town, client, login):
    login(town.responder)
    response = client.post(_notice_url(town.account, town.takeover), data=_form(town.takeover.id))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/cases/{town.takeover.id}#account-notices")
    notice = db.session.scalars(select(AccountNotice)).one()
    assert (notice.case_id, notice.kind, notice.account_id) == (town.takeover.id, NoticeKind.CHANGE, town.account.id)
    log = db.session.scalars(select(AuditLog).where(AuditLog.action == "account.notice_filed")).one()
    assert log.case_id == town.takeover.id and log.changes["case_id"] == [None, town.takeover.id]

    case_page = client.get(f"/cases/{town.takeover.id}").text
    assert 'id="account-notices"' in case_page and f'id="case-notice-{notice.id}"' in case_page
    assert "パスワードと登録メールアドレスを変更" in case_page
    assert f'href="/accounts/{town.account.id}#notice-{notice.id}"' in case_page

    account_page = client.get(f"/accounts/{town.account.id}").text
    assert f'href="/cases/{town.takeover.id}#account-notices">{town.takeover.number}</a>' in account_page


def test_the_account_page_hides_the_case_number_from_who_may_not_see_the_case(town, client, login):
    """The registry is open to everyone; the case behind a notice is named only to those who may see it."""
    service.file_notice(town.responder, town.account, _form(town.takeover.id), case=town.takeover)
    db.session.commit()
    login(town.other_responder)
    page = client.get(f"/accounts/{town.account.id}").text
    assert "案件から提出" in page
    assert town.takeover.number not in page and f"/cases/{town.takeover.id}" not in page


def test_a_notice_filed_on_the_account_page_has_no_case(town, client, login):
    login(town.responder)
    response = client.post(_notice_url(town.account), data=_form("", details="URL を変更"))
    notice = db.session.scalars(select(AccountNotice)).one()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/accounts/{town.account.id}#notice-{notice.id}")
    assert notice.case_id is None
    assert f'id="case-notice-{notice.id}"' not in client.get(f"/cases/{town.takeover.id}").text


def test_filing_a_closure_from_a_dormant_case_closes_the_account_and_completes_its_step(town, client, login):
    playbooks.decide(town.responder, town.dormant, "is_city_account", True, "登録簿に旧ページとして登録がある")
    db.session.commit()
    login(town.responder)
    response = client.post(_notice_url(town.old, town.dormant),
                           data=_form(town.dormant.id, kind="closure", details="運用終了のため廃止"))
    assert response.status_code == 302
    db.session.refresh(town.old)
    assert town.old.status == AccountStatus.CLOSED
    state = {s.step.key: s for s in playbooks.checklist(town.dormant)}["file_closure_notice"]
    assert state.state == "done" and state.event.data["notice_kind"] == "closure"
    notice = db.session.scalars(select(AccountNotice)).one()
    assert state.event.data["notice_id"] == notice.id
    # The account is closed now: the case page no longer offers another notice, but still lists this one.
    page = client.get(f"/cases/{town.dormant.id}").text
    assert not _offers_link(page, town.dormant) and f'id="case-notice-{notice.id}"' in page


# --- when the link is offered ---------------------------------------------------------------------------


def test_link_only_on_takeover_and_dormant_cases_with_an_open_account(town, make, client, login):
    flaming = make.case(town.responder, kind="flaming", official_account_id=town.account.id)
    no_account = make.case(town.responder, kind="account_takeover")
    login(town.responder)
    for case in (flaming, no_account):
        page = client.get(f"/cases/{case.id}").text
        assert not _offers_link(page, case) and 'id="account-notices"' not in page
    page = client.get(f"/cases/{town.dormant.id}").text
    assert _offers_link(page, town.dormant) and LINK_TEXT in page


def test_link_hidden_from_who_may_not_file_and_on_a_closed_case(town, client, login):
    """A user of another department assigned to the case sees it but may not file for the account."""
    _assign_other(town)
    login(town.other_responder)
    page = client.get(f"/cases/{town.takeover.id}")
    assert page.status_code == 200 and not _offers_link(page.text, town.takeover)
    login(town.admin)  # the PR office files for any account
    assert _offers_link(client.get(f"/cases/{town.takeover.id}").text, town.takeover)
    cases.change_status(town.supervisor, town.takeover, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    assert not _offers_link(client.get(f"/cases/{town.takeover.id}").text, town.takeover)


# --- permissions and bad input ---------------------------------------------------------------------------


def test_a_case_the_user_may_not_see_is_404_on_the_form_and_the_post(town, client, login):
    """Another department's responder may not see the case: 404 whatever they may do to the account."""
    login(town.other_responder)
    assert client.get(_notice_url(town.account, town.takeover)).status_code == 404
    assert client.post(_notice_url(town.account), data=_form(town.takeover.id)).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AccountNotice)) == 0


def test_who_may_file_stays_the_department_or_the_pr_office(town, client, login):
    """Seeing the case is not enough: an assignee from another department still may not file (403)."""
    _assign_other(town)
    login(town.other_responder)
    assert client.get(_notice_url(town.account, town.takeover)).status_code == 403
    assert client.post(_notice_url(town.account), data=_form(town.takeover.id)).status_code == 403
    login(town.admin)
    assert client.post(_notice_url(town.account), data=_form(town.takeover.id)).status_code == 302
    assert db.session.scalars(select(AccountNotice)).one().case_id == town.takeover.id


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "99999999999999999999", "0"])
def test_a_bad_case_id_is_404_not_500(town, client, login, raw):
    login(town.responder)
    assert client.get(f"/accounts/{town.account.id}/notices/new?case_id={raw}").status_code == 404
    assert client.post(_notice_url(town.account), data=_form(raw)).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AccountNotice)) == 0


def test_a_case_about_another_account_is_refused(town, client, login):
    """The dormant case is about the old page: its id cannot be attached to the X account's notice."""
    login(town.responder)
    assert client.get(_notice_url(town.account, town.dormant)).status_code == 404
    response = client.post(_notice_url(town.account), data=_form(town.dormant.id))
    assert response.status_code == 422
    assert "関係する公式アカウント" in response.text
    assert db.session.scalar(select(func.count()).select_from(AccountNotice)) == 0


def test_bad_fields_keep_the_case_on_the_form(town, client, login):
    login(town.responder)
    response = client.post(_notice_url(town.account), data=_form(town.takeover.id, details=""))
    assert response.status_code == 422
    assert f'name="case_id" type="hidden" value="{town.takeover.id}"' in response.text
    assert "変更内容を入力してください" in response.text


# --- the service ---------------------------------------------------------------------------------------------


def test_service_refuses_an_invisible_case_a_closed_case_and_another_account(town):
    data = _form(None)
    with pytest.raises(NotFound):  # the account's own department may file, but not from a case it may not see
        service.file_notice(town.supervisor, town.account, data, case=_invisible_case(town))
    with pytest.raises(ValidationFailed) as info:
        service.file_notice(town.responder, town.account, data, case=town.dormant)
    assert "case_id" in info.value.fields
    cases.change_status(town.supervisor, town.takeover, CaseStatus.CLOSED, "終了", waive_open_steps=True)
    with pytest.raises(Conflict):
        service.file_notice(town.responder, town.account, data, case=town.takeover)
    assert db.session.scalar(select(func.count()).select_from(AccountNotice)) == 0


def test_service_checks_who_may_file_before_anything_else(town):
    _assign_other(town)
    with pytest.raises(PermissionDenied):
        service.file_notice(town.other_responder, town.account, _form(None), case=town.takeover)


def test_notices_of_case_lists_only_that_cases_notices_in_one_query(town, count_queries):
    service.file_notice(town.responder, town.account, _form(None), case=town.takeover)
    service.file_notice(town.responder, town.account, _form(None, details="URL を変更"))
    service.file_notice(town.responder, town.old, _form(None, kind="closure", details="廃止"), case=town.dormant)
    db.session.commit()
    db.session.refresh(town.takeover)  # loaded before counting, as the case page has it
    with count_queries() as counter:
        rows = service.notices_of_case(town.takeover)
        names = [(notice.details, account.name, receipt) for notice, account, receipt in rows]
    assert names == [("パスワードと登録メールアドレスを変更", "石巻市観光", None)]
    assert counter.count == 1, counter.statements


def test_notice_defaults_follow_the_case_kind(town, make):
    assert service.notice_defaults(town.takeover)["kind"] == "change"
    assert service.notice_defaults(town.dormant)["kind"] == "closure"
    flaming = make.case(town.responder, kind="flaming")
    assert flaming.number in service.notice_defaults(flaming)["details"]


# --- the API ---------------------------------------------------------------------------------------------


def test_api_files_from_a_case_and_returns_the_case_id(town, api):
    url = f"/api/v1/accounts/{town.account.id}/notices"
    response = api("POST", url, town.responder, json={
        "kind": "change", "effective_date": "2026-11-23", "contact": "観光 一郎（内線1234）",
        "details": "パスワードを変更", "case_id": town.takeover.id})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["case_id"] == town.takeover.id
    detail = api("GET", f"/api/v1/accounts/{town.account.id}", town.responder).get_json()
    assert [n["case_id"] for n in detail["notices"]] == [town.takeover.id]
    plain = api("POST", url, town.responder, json={
        "kind": "change", "effective_date": "2026-11-24", "contact": "観光 一郎", "details": "URL を変更"})
    assert plain.status_code == 201 and plain.get_json()["case_id"] is None


def test_api_refuses_invisible_mismatched_and_malformed_case_ids(town, api, expect_error):
    url = f"/api/v1/accounts/{town.account.id}/notices"
    body = {"kind": "change", "effective_date": "2026-11-23", "contact": "観光 一郎", "details": "変更"}
    expect_error(api("POST", url, town.admin, json={**body, "case_id": 999999}), 404, "not_found")
    expect_error(api("POST", url, town.supervisor, json={**body, "case_id": _invisible_case(town).id}), 404,
                 "not_found")
    expect_error(api("POST", url, town.responder, json={**body, "case_id": town.dormant.id}), 422,
                 "validation_failed", "case_id")
    for bad in ("1", True, 1.5, -1):
        expect_error(api("POST", url, town.responder, json={**body, "case_id": bad}), 422, "validation_failed",
                     "case_id")
    other_url = f"/api/v1/accounts/{town.account.id}/notices"
    expect_error(api("POST", other_url, town.other_responder, json={**body, "case_id": town.takeover.id}), 403,
                 "forbidden")
    assert db.session.scalar(select(func.count()).select_from(AccountNotice)) == 0
