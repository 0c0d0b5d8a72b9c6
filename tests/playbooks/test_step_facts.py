"""Issue 12: a playbook step that records a fact updates the record that holds it — the registry's MFA, the
known-fake record, the fakes a takedown removed — and a step that asks for a URL is offered the ones the case
already holds. Nobody types a thing twice; a closed case's steps stay as they were."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import types

import pytest
from sqlalchemy import func, select

from incident.accounts import service as accounts
from incident.accounts.models import AccountStatus, FakeAccount, FakeAccountEvent, FakeAccountState
from incident.audit.models import AuditLog
from incident.cases import service as cases
from incident.cases.models import CaseStatus
from incident.dates import utcnow
from incident.drafts import sending
from incident.drafts import service as drafts
from incident.drafts.blanks import find_blanks
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.fakes import service as fakes
from incident.playbooks import facts, service
from incident.playbooks.models import StepEvent
from incident.playbooks.service import load_registry

CHECKS = list(drafts.SECTION4_CHECKS)
JST = dt.timezone(dt.timedelta(hours=9))
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/bousai/fake.html"


@pytest.fixture
def staff(make):
    """防災課 (two responders, a supervisor), 観光課 (a responder), and the PR office."""
    dept = make.department("bousai", "防災課")
    other = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        dept=dept, other=other,
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        outsider=make.user("responder", other, name="観光 担当"),
        admin=make.user("admin", pr, name="広報 担当"),
    )


def state_of(case, key: str) -> service.StepState:
    return next(s for s in service.checklist(case) if s.step.key == key)


def events_of(case) -> int:
    return db.session.scalar(select(func.count()).select_from(StepEvent).where(StepEvent.case_id == case.id))


def history(fake) -> list[FakeAccountEvent]:
    return fakes.history(fake)


# ---- MFA: the takeover step sets the registry's MFA confirmation ------------------------------------------


@pytest.fixture
def takeover(staff, make):
    account = make.account(staff.dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")
    case = make.case(staff.responder, kind="account_takeover", severity="high", title="防災アカウントの乗っ取り",
                     platform="x", official_account_id=account.id)
    return types.SimpleNamespace(case=case, account=account)


def test_mfa_step_confirms_the_cases_account_in_the_registry(staff, takeover):
    case, account = takeover.case, takeover.account
    assert not account.mfa_enabled and account.mfa_confirmed_at is None
    before = utcnow()
    service.complete_step(staff.responder, case, "enable_mfa", "", {"mfa_enabled": True, "mfa_method": "app"})
    db.session.commit()
    assert account.mfa_enabled and account.mfa_confirmed_at >= before
    assert [w.code for w in accounts.account_warnings(account, review_days=365) if w.code == "mfa"] == []
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "account.mfa_confirmed")).one()
    assert row.actor_id == staff.responder.id and row.case_id == case.id and row.object_id == account.id
    assert row.changes["case"] == [None, case.number] and row.changes["mfa_method"] == [None, "app"]
    assert accounts.mfa_source(account) == accounts.MfaSource(case.id, case.number, "app")
    done = state_of(case, "enable_mfa")
    assert done.state == "done" and done.event.data["account_id"] == account.id


@pytest.mark.parametrize("inputs, field", [
    ({"mfa_method": "app"}, "mfa_enabled"),  # the box not ticked
    ({"mfa_enabled": False, "mfa_method": "app"}, "mfa_enabled"),
    ({"mfa_enabled": True}, "mfa_method"),
    ({"mfa_enabled": True, "mfa_method": "password"}, "mfa_method"),
    ({"mfa_enabled": True, "mfa_method": ["app"]}, "mfa_method"),
])
def test_mfa_step_needs_the_box_and_a_method(staff, takeover, inputs, field):
    with pytest.raises(ValidationFailed) as info:
        service.complete_step(staff.responder, takeover.case, "enable_mfa", "", inputs)
    assert field in info.value.fields
    db.session.rollback()
    assert not takeover.account.mfa_enabled and takeover.account.mfa_confirmed_at is None
    assert state_of(takeover.case, "enable_mfa").state == "pending"


def test_mfa_step_without_an_account_on_the_case_asks_which(staff, make, client, login):
    lonely = make.case(staff.outsider, kind="account_takeover", title="観光課にはアカウントがまだない")
    login(staff.outsider)
    assert "この所属の公式アカウントが登録簿にありません" in client.get(f"/cases/{lonely.id}").text
    ours = make.account(staff.dept, platform="instagram", name="防災インスタ")
    theirs = make.account(staff.other, platform="instagram", name="観光インスタ")
    closed = make.account(staff.dept, platform="line", name="廃止済みLINE", status=AccountStatus.CLOSED)
    case = make.case(staff.responder, kind="account_takeover", title="どのアカウントか未設定")
    assert [a.id for a in facts.for_steps(case, service.checklist(case)).accounts] == [ours.id]
    login(staff.responder)
    select = re.search(r'<select id="mfa-account-enable_mfa".*?</select>', client.get(f"/cases/{case.id}").text, re.S)
    assert f'value="{ours.id}" selected' in select.group(0)
    assert "観光インスタ" not in select.group(0) and "廃止済みLINE" not in select.group(0)
    for bad in (None, "", "x", str(theirs.id), str(closed.id), "99999999999999999999"):
        with pytest.raises(ValidationFailed) as info:
            service.complete_step(staff.responder, case, "enable_mfa", "",
                                  {"mfa_enabled": "yes", "mfa_method": "sms", "account_id": bad})
        assert "account_id" in info.value.fields, bad
        db.session.rollback()
    assert not theirs.mfa_enabled
    service.complete_step(staff.responder, case, "enable_mfa", "",
                          {"mfa_enabled": "yes", "mfa_method": "sms", "account_id": str(ours.id)})
    db.session.commit()
    assert ours.mfa_enabled and accounts.mfa_source(ours).case_number == case.number


def test_the_step_may_set_mfa_where_the_registry_button_may_not(staff, make):
    """The responder completing the step records MFA (it is the step's purpose) even for an account their
    department does not run, which the registry's own button refuses them; the rule is explicit."""
    pr_account = make.account(staff.admin.department, platform="x", name="石巻市公式", url="https://x.com/city")
    case = make.case(staff.responder, kind="account_takeover", platform="x", official_account_id=pr_account.id)
    with pytest.raises(PermissionDenied):
        accounts.confirm_mfa(staff.responder, pr_account)
    service.complete_step(staff.responder, case, "enable_mfa", "", {"mfa_enabled": True, "mfa_method": "security_key"})
    db.session.commit()
    assert pr_account.mfa_enabled
    # The service function says who may: someone who may change the open case, for the case's accounts only.
    unrelated = make.account(staff.other, name="観光X")
    with pytest.raises(PermissionDenied):
        accounts.confirm_mfa_from_step(staff.responder, unrelated, case, "app")
    with pytest.raises(PermissionDenied):
        accounts.confirm_mfa_from_step(staff.outsider, pr_account, case, "app")
    assert not unrelated.mfa_enabled


def test_mfa_step_of_another_department_or_a_closed_case_is_refused(staff, takeover):
    case = takeover.case
    with pytest.raises(NotFound):
        service.complete_step(staff.outsider, case, "enable_mfa", "", {"mfa_enabled": True, "mfa_method": "app"})
    cases.change_status(staff.supervisor, case, CaseStatus.CLOSED, "誤報だった", waive_open_steps=True)
    db.session.commit()
    with pytest.raises(CaseError):
        service.complete_step(staff.responder, case, "enable_mfa", "", {"mfa_enabled": True, "mfa_method": "app"})
    with pytest.raises(PermissionDenied):
        accounts.confirm_mfa_from_step(staff.responder, takeover.account, case, "app")
    assert not takeover.account.mfa_enabled


def test_mfa_step_through_the_page_shows_on_the_registry(staff, takeover, client, login):
    case, account = takeover.case, takeover.account
    login(staff.responder)
    page = client.get(f"/cases/{case.id}").text
    assert "「石巻市防災」の多要素認証を有効にした" in page and 'name="mfa_method" value="security_key"' in page
    refused = client.post(f"/cases/{case.id}/steps/enable_mfa/complete", data={"mfa_method": "app"},
                          follow_redirects=True)
    assert "チェックを入れてください" in refused.text and not db.session.get(type(account), account.id).mfa_enabled
    response = client.post(f"/cases/{case.id}/steps/enable_mfa/complete",
                           data={"mfa_enabled": "yes", "mfa_method": "app"})
    assert response.status_code == 302
    db.session.expire_all()
    assert account.mfa_enabled
    registry = client.get(f"/accounts/{account.id}").text
    assert f"案件 {case.number} の手順で確認" in registry and "方式：認証アプリ" in registry
    assert "多要素認証：石巻市防災（認証アプリ）" in client.get(f"/cases/{case.id}").text
    # Someone who may not see the case reads the registry without the case's number.
    login(staff.outsider)
    elsewhere = client.get(f"/accounts/{account.id}").text
    assert "案件の手順で確認" in elsewhere and case.number not in elsewhere


def test_mfa_step_through_the_api(staff, takeover, api, expect_error):
    case = takeover.case
    url = f"/api/v1/cases/{case.id}/steps/enable_mfa/complete"
    expect_error(api("post", url, staff.responder, json={"mfa_enabled": True, "mfa_method": "fax"}),
                 422, "validation_failed", "mfa_method")
    expect_error(api("post", url, staff.responder, json={"mfa_enabled": "yes", "mfa_method": "app"}),
                 422, "validation_failed", "mfa_enabled")
    expect_error(api("post", url, staff.outsider, json={"mfa_enabled": True, "mfa_method": "app"}), 404, "not_found")
    answer = api("post", url, staff.responder, json={"mfa_enabled": True, "mfa_method": "sms"})
    assert answer.status_code == 200, answer.text
    item = next(i for i in answer.get_json()["items"] if i["key"] == "enable_mfa")
    assert item["state"] == "done" and item["last_event"]["data"]["mfa_method"] == "sms"
    assert api("get", f"/api/v1/accounts/{takeover.account.id}", staff.responder).get_json()["mfa_enabled"] is True


# ---- fake accounts: the step updates the known-fake record ----------------------------------------------


@pytest.fixture
def impersonation(staff, make):
    account = make.account(staff.dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")
    case = make.case(staff.responder, kind="impersonation", severity="high", title="防災アカウントのなりすまし",
                     platform="x", official_account_id=account.id,
                     urls=["https://x.com/ishinomaki_bousal", CITY_PAGE])
    return types.SimpleNamespace(case=case, account=account)


def test_fake_step_records_a_new_fake_linked_to_the_case(staff, impersonation):
    case = impersonation.case
    service.complete_step(staff.responder, case, "record_fake_account", "", {
        "url": "https://x.com/ishinomaki_bousal", "display_name": "石巻市防災【公式】",
        "first_seen": "2026-01-10T08:15"})
    db.session.commit()
    fake = db.session.scalars(select(FakeAccount)).one()
    assert fake.platform.value == "x" and fake.handle == "ishinomaki_bousal"  # the platform came from the case
    assert fake.display_name == "石巻市防災【公式】"
    assert fake.first_seen_at == dt.datetime(2026, 1, 9, 23, 15, tzinfo=dt.UTC)  # 08:15 in Japan
    assert fake.genuine_account_id == impersonation.account.id
    assert [f.id for f in fakes.fakes_of_case(case)] == [fake.id]
    data = state_of(case, "record_fake_account").event.data
    assert data["fake_account_id"] == fake.id and data["fake_created"] is True
    assert data["first_seen"] == "2026-01-09T23:15:00+00:00"


def test_fake_step_updates_an_existing_fake(staff, impersonation, make):
    """A fake already in the register (from another case) gets the name typed in the step, recorded in its
    history; its first sighting moves earlier, never later."""
    earlier_case = make.case(staff.colleague, kind="impersonation", platform="x", title="以前の案件")
    fake, _ = fakes.record_fake(staff.colleague, {"platform": "x", "handle": "@ishinomaki_bousal"}, earlier_case)
    db.session.commit()
    registered = fake.first_seen_at
    case = impersonation.case
    service.complete_step(staff.responder, case, "record_fake_account", "", {
        "url": "@Ishinomaki_Bousal", "display_name": "石巻市防災（公式）", "first_seen": "2020-05-01T12:00"})
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(FakeAccount)) == 1
    assert fake.display_name == "石巻市防災（公式）"
    assert fake.first_seen_at == dt.datetime(2020, 5, 1, 3, 0, tzinfo=dt.UTC) < registered
    assert case.id in {c.id for c in fakes.linked_cases(staff.responder, fake)}
    assert "表示名「石巻市防災（公式）」を記録" in history(fake)[-1].note and case.number in history(fake)[-1].note
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "fake_account.update")).one()
    assert audit.case_id == case.id and audit.changes["display_name"] == ["", "石巻市防災（公式）"]
    # A later case: a different name is a change (in the history); a later first sighting is not.
    service.reopen_step(staff.responder, case, "record_fake_account", "表示名が変わった")
    service.complete_step(staff.responder, case, "record_fake_account", "", {
        "url": "@ishinomaki_bousal", "display_name": "石巻市 防災課", "first_seen": "2026-01-01T00:00"})
    db.session.commit()
    assert fake.display_name == "石巻市 防災課"
    assert fake.first_seen_at == dt.datetime(2020, 5, 1, 3, 0, tzinfo=dt.UTC)
    assert "「石巻市防災（公式）」から「石巻市 防災課」に変更" in history(fake)[-1].note
    # The same name again changes nothing and adds no history.
    count = len(history(fake))
    service.reopen_step(staff.responder, case, "record_fake_account", "念のため再記録")
    service.complete_step(staff.responder, case, "record_fake_account", "",
                          {"url": "@ishinomaki_bousal", "display_name": "石巻市 防災課"})
    db.session.commit()
    assert len(history(fake)) == count


@pytest.mark.parametrize("inputs, field", [
    ({"url": "https://x.com/fake", "first_seen": "先週の金曜"}, "first_seen"),
    ({"url": "https://x.com/fake", "first_seen": "2026-13-01T10:00"}, "first_seen"),
    ({"url": "https://x.com/fake", "first_seen": "2999-01-01T10:00"}, "first_seen"),  # in the future
    ({"url": "https://x.com/fake", "display_name": "長" * 201}, "display_name"),
    ({"url": "https://x.com/fake", "platform": "myspace"}, "platform"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "@bad handle"}, "url"),
    ({}, "url"),
])
def test_bad_fake_step_input_is_refused_with_its_field(staff, impersonation, inputs, field):
    with pytest.raises(ValidationFailed) as info:
        service.complete_step(staff.responder, impersonation.case, "record_fake_account", "", inputs)
    assert field in info.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(FakeAccount)) == 0
    assert state_of(impersonation.case, "record_fake_account").state == "pending"


def test_fake_platform_comes_from_the_form_the_case_or_the_url(staff, make):
    case = make.case(staff.responder, kind="impersonation", title="媒体未設定")
    with pytest.raises(ValidationFailed) as info:  # a bare handle on a case without a platform: which one?
        service.complete_step(staff.responder, case, "record_fake_account", "", {"url": "@fake_city"})
    assert "platform" in info.value.fields
    db.session.rollback()
    service.complete_step(staff.responder, case, "record_fake_account", "",
                          {"url": "https://www.facebook.com/ishinomaki.fake"})
    db.session.commit()
    assert db.session.scalars(select(FakeAccount)).one().platform.value == "facebook"


def test_fake_step_through_page_and_api_and_the_fake_page_shows_it(staff, impersonation, client, login, api,
                                                                   expect_error):
    case = impersonation.case
    url = f"/api/v1/cases/{case.id}/steps/record_fake_account/complete"
    expect_error(api("post", url, staff.responder, json={"url": "https://x.com/x_fake", "first_seen": "昨日"}),
                 422, "validation_failed", "first_seen")
    expect_error(api("post", url, staff.outsider, json={"url": "https://x.com/x_fake"}), 404, "not_found")
    login(staff.responder)
    refused = client.post(f"/cases/{case.id}/steps/record_fake_account/complete",
                          data={"url": "https://x.com/x_fake", "first_seen": "昨日"}, follow_redirects=True)
    assert "日時は 2026-11-23T10:30 のような形式で入力してください。" in refused.text
    assert db.session.scalar(select(func.count()).select_from(FakeAccount)) == 0
    response = client.post(f"/cases/{case.id}/steps/record_fake_account/complete", data={
        "url": "https://x.com/x_fake", "display_name": "石巻市防災【公式】", "platform": "x",
        "first_seen": "2026-01-10T08:15"})
    assert response.status_code == 302
    fake = db.session.scalars(select(FakeAccount)).one()
    page = client.get(f"/fakes/{fake.id}").text
    assert "石巻市防災【公式】" in page and "2026-01-10 08:15" in page and case.number in page
    assert f'href="/fakes/{fake.id}"' in client.get(f"/cases/{case.id}").text  # the step's record links to it


def test_fake_step_on_a_closed_case_is_409(staff, impersonation, api, expect_error):
    case = impersonation.case
    cases.change_status(staff.supervisor, case, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    service_call = api("post", f"/api/v1/cases/{case.id}/steps/record_fake_account/complete", staff.responder,
                       json={"url": "https://x.com/x_fake"})
    expect_error(service_call, 409, "conflict")
    assert db.session.scalar(select(func.count()).select_from(FakeAccount)) == 0


# ---- a takedown answered "removed" marks the fakes removed and completes the follow-up steps ------------


def approve_and_send(staff, case, **create) -> object:
    draft = drafts.create_draft(staff.responder, case, {"type": "takedown", **create})
    text = drafts.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    if text != drafts.latest_revision(draft).body:
        drafts.revise(staff.responder, draft, text)
    drafts.submit(staff.responder, draft, CHECKS)
    drafts.approve(staff.supervisor, draft)
    sending.record_sent(staff.responder, draft, {"channel": "form"})
    db.session.commit()
    return draft


@pytest.fixture
def requested(staff, impersonation):
    """The impersonation case with a fake on X (reported by a sent takedown), one on Facebook (live), and one
    on X already removed."""
    case = impersonation.case
    on_x, _ = fakes.record_fake(staff.responder, {"platform": "x", "url": "https://x.com/ishinomaki_bousal"}, case)
    on_facebook, _ = fakes.record_fake(staff.responder, {"platform": "facebook",
                                                         "url": "https://www.facebook.com/ishinomaki.fake"}, case)
    gone, _ = fakes.record_fake(staff.responder, {"platform": "x", "handle": "@old_fake"}, case)
    fakes.change_state(staff.responder, gone, "removed", "以前に削除")
    db.session.commit()
    draft = approve_and_send(staff, case)
    assert on_x.state == FakeAccountState.REPORTED
    return types.SimpleNamespace(case=case, draft=draft, on_x=on_x, on_facebook=on_facebook, gone=gone)


FOLLOW_UPS = ("follow_up_takedown", "monitor_until_removed")


def test_removed_answer_marks_the_requests_fakes_removed_and_completes_follow_ups(staff, requested):
    case, draft = requested.case, requested.draft
    assert {k: state_of(case, k).step.completes_on for k in FOLLOW_UPS} == dict.fromkeys(FOLLOW_UPS, "takedown_removed")
    gone_history = len(history(requested.gone))
    sending.record_answer(staff.responder, draft, {"outcome": "removed", "answer": "削除しました"})
    db.session.commit()
    assert requested.on_x.state == FakeAccountState.REMOVED
    assert history(requested.on_x)[-1].note == f"#{draft.id} の回答"
    assert requested.on_facebook.state == FakeAccountState.LIVE  # another platform: not named by the request
    assert len(history(requested.gone)) == gone_history  # already removed: no new entry
    for key in FOLLOW_UPS:
        done = state_of(case, key)
        assert done.state == "done" and done.event.data["draft_id"] == draft.id, key


@pytest.mark.parametrize("outcome", ["refused", "no_answer"])
def test_refused_or_no_answer_changes_nothing_but_the_draft(staff, requested, outcome):
    case = requested.case
    events = events_of(case)
    sending.record_answer(staff.responder, requested.draft, {"outcome": outcome})
    db.session.commit()
    assert requested.draft.outcome.value == outcome
    assert requested.on_x.state == FakeAccountState.REPORTED and requested.on_facebook.state == FakeAccountState.LIVE
    assert events_of(case) == events and all(state_of(case, k).state == "pending" for k in FOLLOW_UPS)


def test_follow_ups_wait_for_every_open_request(staff, requested):
    """Two requests out: the steps complete when the last one still waiting is answered "removed"."""
    case = requested.case
    on_facebook = approve_and_send(staff, case, platform="facebook")
    assert requested.on_facebook.state == FakeAccountState.REPORTED
    sending.record_answer(staff.responder, requested.draft, {"outcome": "removed"})
    db.session.commit()
    assert requested.on_x.state == FakeAccountState.REMOVED
    assert all(state_of(case, k).state == "pending" for k in FOLLOW_UPS)
    sending.record_answer(staff.responder, on_facebook, {"outcome": "removed"})
    db.session.commit()
    assert requested.on_facebook.state == FakeAccountState.REMOVED
    assert all(state_of(case, k).event.data["draft_id"] == on_facebook.id for k in FOLLOW_UPS)


def test_late_answer_on_a_closed_case_removes_the_fake_but_leaves_the_steps(app, staff, make, tmp_path):
    """The register of fakes is not the case: a late "removed" changes the fake, not a closed case's steps."""
    folder = tmp_path / "playbooks"
    shutil.copytree(app.config["PLAYBOOK_DIR"], folder)
    path = folder / "impersonation.toml"
    text = path.read_text(encoding="utf-8")
    # Optional follow-ups stay pending when the case closes, so a change to them would show.
    text = text.replace('required = true\ncompletes_on = "takedown_removed"', 'required = false\ncompletes_on = "takedown_removed"')
    assert text.count("required = false") == 2
    path.write_text(text, encoding="utf-8")
    app.config["PLAYBOOK_DIR"] = str(folder)
    load_registry(app)
    case = make.case(staff.responder, kind="impersonation", platform="x", title="遅れた回答")
    fake, _ = fakes.record_fake(staff.responder, {"platform": "x", "url": "https://x.com/late_fake"}, case)
    draft = approve_and_send(staff, case)
    cases.change_status(staff.supervisor, case, CaseStatus.CLOSED, "対応を終了", waive_open_steps=True)
    db.session.commit()
    assert all(state_of(case, k).state == "pending" for k in FOLLOW_UPS)
    events = events_of(case)
    sending.record_answer(staff.responder, draft, {"outcome": "removed"})
    db.session.commit()
    assert fake.state == FakeAccountState.REMOVED and history(fake)[-1].note == f"#{draft.id} の回答"
    assert events_of(case) == events and all(state_of(case, k).state == "pending" for k in FOLLOW_UPS)


def test_removed_answer_through_the_api_shows_on_the_fake_page(staff, requested, api, client, login):
    case, draft = requested.case, requested.draft
    assert api("post", f"/api/v1/cases/{case.id}/drafts/{draft.id}/answer", staff.outsider,
               json={"outcome": "removed"}).status_code == 404
    assert requested.on_x.state == FakeAccountState.REPORTED
    answer = api("post", f"/api/v1/cases/{case.id}/drafts/{draft.id}/answer", staff.responder,
                 json={"outcome": "removed"})
    assert answer.status_code == 200, answer.text
    login(staff.responder)
    page = client.get(f"/fakes/{requested.on_x.id}").text
    assert "削除済み" in page and f"#{draft.id} の回答" in page
    steps = api("get", f"/api/v1/cases/{case.id}/steps", staff.responder).get_json()["items"]
    assert {i["key"]: i["state"] for i in steps if i["key"] in FOLLOW_UPS} == dict.fromkeys(FOLLOW_UPS, "done")
    checklist = client.get(f"/cases/{case.id}").text
    assert checklist.count("運営会社の回答「削除された」により自動で完了") == len(FOLLOW_UPS)


# ---- URL suggestions: a step that asks for a URL is offered those the case holds -----------------------


def test_url_steps_are_offered_the_urls_that_fit(staff, impersonation, make):
    case = impersonation.case
    fakes.record_fake(staff.responder, {"platform": "x", "handle": "@second_fake"}, case)
    db.session.commit()
    held = facts.held_urls(case)
    assert [(h.value, h.source) for h in held] == [
        ("https://x.com/ishinomaki_bousai", "account"), ("https://x.com/ishinomaki_bousal", "item"),
        (CITY_PAGE, "item"), ("@second_fake", "fake")]
    offered = facts.for_steps(case, service.checklist(case))
    values = {key: [h.value for h in hints] for key, hints in offered.suggestions.items()}
    assert offered.prefill == {}  # two fit each step: offered, not guessed
    # The fake's step: offending items and linked fakes, not the genuine account or the city's own page.
    assert values["record_fake_account"] == ["https://x.com/ishinomaki_bousal", "@second_fake"]
    # A plain URL step: everything the case holds, the genuine account first.
    assert values["link_genuine_account"][0] == "https://x.com/ishinomaki_bousai"
    assert facts.fitting("city_url", held, case) == [facts.Suggestion(CITY_PAGE, "item")]


def test_one_fitting_url_is_prefilled_and_closed_cases_offer_none(staff, make, client, login):
    case = make.case(staff.responder, kind="impersonation", platform="x", urls=["https://x.com/only_fake"])
    login(staff.responder)
    page = client.get(f"/cases/{case.id}").text
    field = re.search(r'<input id="fake-url-record_fake_account"[^>]*>', page).group(0)
    assert 'list="held-record_fake_account"' in field and 'value="https://x.com/only_fake"' in field
    assert '<datalist id="held-record_fake_account"><option value="https://x.com/only_fake">' in page
    cases.change_status(staff.supervisor, case, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    assert "<datalist" not in client.get(f"/cases/{case.id}").text


def test_step_api_exposes_suggestions(staff, impersonation, api):
    items = api("get", f"/api/v1/cases/{impersonation.case.id}/steps", staff.responder).get_json()["items"]
    by_key = {i["key"]: i for i in items}
    assert by_key["record_fake_account"]["suggestions"] == ["https://x.com/ishinomaki_bousal"]
    assert by_key["notify_press"]["suggestions"] == []


def test_suggestions_cost_one_set_of_queries_per_page(app, staff, make, client, login, count_queries, tmp_path):
    """More steps asking for URLs cost no more queries: the held URLs are read once for the page."""
    def case_with_everything(title):
        case = make.case(staff.responder, kind="impersonation", platform="x", title=title,
                         urls=["https://x.com/fake_a", CITY_PAGE])
        fakes.record_fake(staff.responder, {"platform": "x", "handle": "@fake_b"}, case)
        db.session.commit()
        return case

    plain = case_with_everything("手順そのまま")
    folder = tmp_path / "playbooks"
    shutil.copytree(app.config["PLAYBOOK_DIR"], folder)
    path = folder / "impersonation.toml"
    extra = "".join(f'''
[[steps]]
key = "extra_{n}_{kind}"
title_ja = "追加の手順 {n}"
title_en = "Extra step {n}"
clause = "3(4)イ"
type = "check"
input = "{kind}"
''' for n in range(3) for kind in ("url", "city_url", "fake_account"))
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    app.config["PLAYBOOK_DIR"] = str(folder)
    load_registry(app)
    many = case_with_everything("URLを聞く手順が多い")
    login(staff.responder)
    counts = []
    for case in (plain, many):
        client.get(f"/cases/{case.id}")  # warm up
        with count_queries() as counter:
            page = client.get(f"/cases/{case.id}").text
        counts.append(counter.count)
    assert page.count("<datalist") == 2 + 9  # every URL step of the longer playbook got its list
    assert counts[0] == counts[1], counts
