"""The fifth kind (issue 12): a closed or dormant official account still online or used by someone else
(3(2)ウ) — its playbook file, and a realistic case worked through it.

The guideline: an account no longer run is closed with 様式2 and then deleted, because it can be taken over;
the PR office takes it off the city website's list. The playbook adds what the guideline leaves to practice:
check it really is the city's (the registry), delete it ourselves if we can still log in, otherwise ask the
platform, and warn citizens when someone is using it.
"""
from __future__ import annotations

import types
from pathlib import Path

import pytest
from sqlalchemy import select

from incident.accounts import service as accounts
from incident.accounts.models import AccountStatus
from incident.cases import service as cases
from incident.cases.models import CaseStatus, TimelineEvent
from incident.drafts import sending
from incident.drafts import service as drafts
from incident.drafts.blanks import find_blanks
from incident.errors import CaseError
from incident.extensions import db
from incident.playbooks import service
from incident.playbooks.loader import COMPLETES_ON, KINDS, PlaybookError, load_all, parse_playbook

PLAYBOOK_DIR = Path(__file__).resolve().parents[2] / "playbooks"
CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]
NOTICE = {"kind": "closure", "effective_date": "2026-11-23", "contact": "観光 一郎（内線1234）",
          "details": "運用を終えたアカウントのため廃止"}


# --- the file --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playbook():
    return load_all(PLAYBOOK_DIR)["dormant_account"]


def test_it_is_a_kind_of_its_own_with_its_file(playbook):
    assert "dormant_account" in KINDS
    assert playbook.path == "dormant_account.toml" and playbook.clause == "3(2)ウ"
    assert playbook.title_ja and playbook.title_en
    assert "TEMPORARY" not in (PLAYBOOK_DIR / "dormant_account.toml").read_text(encoding="utf-8")


def test_steps_in_the_order_the_guideline_and_practice_call_for(playbook):
    keys = [s.key for s in playbook.steps]
    assert keys[0] == "consult_supervisor" and keys[-1] == "closing_review"
    # 3(2)ウ: the closure is filed first, then the account is deleted; the PR office then updates the list.
    for earlier, later in (("check_registry", "is_city_account"), ("is_city_account", "file_closure_notice"),
                           ("file_closure_notice", "delete_account"), ("delete_account", "takedown_request"),
                           ("takedown_request", "confirm_gone"), ("confirm_gone", "remove_from_public_list")):
        assert keys.index(earlier) < keys.index(later), (earlier, later)


def test_the_conditions(playbook):
    def when(key):
        step = playbook.step(key)
        return (step.when.step, step.when.answer) if step.when else None

    assert playbook.step("is_city_account").type == "decision"
    assert when("treat_as_impersonation") == ("is_city_account", False)
    for key in ("in_use", "file_closure_notice", "delete_account", "deleted_by_city", "confirm_gone",
                "remove_from_public_list"):
        assert when(key) == ("is_city_account", True), key
    assert when("warn_citizens") == ("in_use", True)
    assert when("takedown_request") == ("deleted_by_city", False)
    for key in ("consult_supervisor", "record_evidence", "check_registry", "closing_review"):
        assert when(key) is None, key


def test_the_drafts_and_the_notice_step(playbook):
    takedown = playbook.step("takedown_request")
    assert takedown.type == "draft" and takedown.draft_type == "takedown" and takedown.required
    assert "なりすましの報告ではなく" in takedown.guidance_ja and "not an impersonation report" in takedown.guidance_en
    warning = playbook.step("warn_citizens")
    assert warning.type == "draft" and warning.draft_type == "citizen_warning" and warning.required
    notice = playbook.step("file_closure_notice")
    assert notice.completes_on == "account_notice" and notice.type == "check" and notice.required
    assert "様式2" in notice.title_ja and "様式2（変更届／廃止届）を出す" in notice.guidance_ja
    assert "秘書広報課" in playbook.step("remove_from_public_list").guidance_ja
    assert "3(2)ウ" in playbook.step("remove_from_public_list").clause


def test_every_timed_step_has_a_critical_deadline_no_later_than_high(playbook):
    timed = [s for s in playbook.steps if s.due_minutes]
    assert len(timed) >= 8
    for step in timed:
        due = step.due_minutes
        assert due["critical"] <= due["high"] <= due["medium"] <= due["low"], step.key


def test_the_loader_knows_the_account_notice_event():
    assert "account_notice" in COMPLETES_ON
    text = (PLAYBOOK_DIR / "dormant_account.toml").read_text(encoding="utf-8")
    broken = text.replace('completes_on = "account_notice"', 'completes_on = "account_notise"', 1)
    with pytest.raises(PlaybookError, match=r"dormant_account\.toml:\d+ step 'file_closure_notice': 'completes_on'"):
        parse_playbook(broken, "dormant_account.toml")


def test_the_takeover_playbook_asks_for_recovery_when_locked_out():
    playbook = load_all(PLAYBOOK_DIR)["account_takeover"]
    recovery = playbook.step("recovery_request")
    assert recovery.type == "draft" and recovery.draft_type == "recovery" and recovery.required
    assert recovery.when is not None and (recovery.when.step, recovery.when.answer) == ("locked_out", True)
    keys = [s.key for s in playbook.steps]
    assert keys.index("locked_out") < keys.index("recovery_request") < keys.index("regain_control")
    assert playbook.step("notify_pr_office").completes_on == "account_notice"


# --- a realistic case ------------------------------------------------------------------------------------


@pytest.fixture
def town(make):
    """The tourism department with its old Facebook page, never closed, still online (found by a citizen)."""
    dept = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    responder = make.user("responder", dept, name="観光 一郎")
    old = make.account(dept, platform="facebook", name="石巻市観光（旧）",
                       url="https://www.facebook.com/ishinomaki.kanko.old")
    case = make.case(responder, kind="dormant_account", severity="high", title="旧観光ページが残っている",
                     platform="facebook", official_account_id=old.id,
                     urls=["https://www.facebook.com/ishinomaki.kanko.old"])
    return types.SimpleNamespace(dept=dept, responder=responder, supervisor=make.user("supervisor", dept),
                                 admin=make.user("admin", pr), old=old, case=case)


def states(case) -> dict[str, str]:
    return {s.step.key: s.state for s in service.checklist(case)}


def _send(actor, supervisor, case, draft_type, data, **create):
    """Write, fill the blanks, submit, approve and record as sent: what completes a draft step."""
    draft = drafts.create_draft(actor, case, {"type": draft_type, **create})
    text = drafts.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    if text != drafts.latest_revision(draft).body:
        drafts.revise(actor, draft, text)
    drafts.submit(actor, draft, CHECKS)
    drafts.approve(supervisor, draft)
    sending.record_sent(actor, draft, data)
    db.session.commit()
    return draft


def test_a_dormant_page_the_city_cannot_log_in_to_is_closed_deleted_and_delisted(town):
    case, r = town.case, town.responder
    assert states(case)["consult_supervisor"] == "pending"
    cases.acknowledge(town.supervisor, case)
    service.complete_step(r, case, "record_evidence", "プロフィールと最後の投稿（2021年）を保存")
    service.complete_step(r, case, "check_registry", "登録簿に運用中のまま残っていた。廃止届なし")
    before = states(case)
    assert before["consult_supervisor"] == "done"
    assert {before[k] for k in ("treat_as_impersonation", "in_use", "file_closure_notice", "delete_account",
                                "deleted_by_city", "takedown_request", "warn_citizens")} == {"waiting"}

    service.decide(r, case, "is_city_account", True, "2019年に観光課が開設（様式2 開設届あり）")
    service.decide(r, case, "in_use", False, "最後の投稿は市のもの。プロフィールも変わっていない")
    after = states(case)
    assert after["treat_as_impersonation"] == "not_applicable"
    assert after["warn_citizens"] == "not_applicable"
    assert after["file_closure_notice"] == after["delete_account"] == "pending"
    assert after["takedown_request"] == "waiting"

    # 3(2)ウ: the closure is filed first, from the case; it closes the account and completes the step.
    defaults = accounts.notice_defaults(case)
    assert defaults["kind"] == "closure" and case.number in defaults["details"]
    notice = accounts.file_notice(r, town.old, {**NOTICE, "details": defaults["details"]}, case=case)
    db.session.commit()
    assert notice.case_id == case.id and town.old.status == AccountStatus.CLOSED
    assert states(case)["file_closure_notice"] == "done"
    assert accounts.deletion_unconfirmed(town.old)

    # Nobody knows the password any more: the platform is asked to delete the city's former account.
    service.complete_step(r, case, "delete_account", "パスワード不明、登録メールは退職者のもので使えない")
    service.decide(r, case, "deleted_by_city", False, "ログインできず削除できなかった")
    assert states(case)["takedown_request"] == "pending"
    takedown = _send(r, town.supervisor, case, "takedown", {"channel": "form", "reference": "FB-555"})
    assert takedown.platform == "facebook" and takedown.follow_up_on is not None
    assert states(case)["takedown_request"] == "done"

    with pytest.raises(CaseError) as info:  # still open: confirmation, the website's list, the review
        cases.change_status(town.supervisor, case, CaseStatus.CLOSED, "完了")
    for title in ("アカウントが表示されないことを確かめ", "市ホームページの一覧から外す", "振り返りを記録する"):
        assert title in str(info.value.message)

    sending.record_answer(r, takedown, {"outcome": "removed", "answer": "削除しました"})
    accounts.complete_closure_task(r, town.old, "confirmed_gone", "URL を開いて表示されないことを確認")
    service.complete_step(r, case, "confirm_gone", "2026-11-30 に確認")
    accounts.complete_closure_task(town.admin, town.old, "removed_from_public_list", "市HPの一覧を更新")
    service.complete_step(r, case, "remove_from_public_list", "秘書広報課に確認した")
    service.complete_step(r, case, "closing_review", "何が起きたか… 何をしたか… 何を変えるか…")
    db.session.commit()
    assert not accounts.deletion_unconfirmed(town.old)
    cases.change_status(town.supervisor, case, CaseStatus.CLOSED, "削除と一覧からの削除を確認")
    db.session.commit()
    assert case.status == CaseStatus.CLOSED


def test_someone_using_it_brings_in_the_warning_and_self_deletion_needs_no_request(town):
    case, r = town.case, town.responder
    service.decide(r, case, "is_city_account", True, "登録簿にある")
    service.decide(r, case, "in_use", True, "詐欺サイトへのリンクが投稿されている")
    service.decide(r, case, "deleted_by_city", True, "保管していたパスワードでログインし削除手続をした")
    now = states(case)
    assert now["warn_citizens"] == "pending"
    assert now["takedown_request"] == "not_applicable"
    with pytest.raises(CaseError):  # a draft step completes only when its draft goes out
        service.complete_step(r, case, "warn_citizens")


def test_not_the_citys_account_is_handled_as_impersonation(town):
    case, r = town.case, town.responder
    service.decide(r, case, "is_city_account", False, "登録簿にも所属の記録にもない。なりすまし")
    now = states(case)
    assert now["treat_as_impersonation"] == "pending"
    for key in ("in_use", "warn_citizens", "file_closure_notice", "delete_account", "deleted_by_city",
                "takedown_request", "confirm_gone", "remove_from_public_list"):
        assert now[key] == "not_applicable", key
    cases.update_case(r, case, case.version, {"kind": "impersonation"})
    db.session.commit()
    assert "treat_as_impersonation" not in states(case) and "takedown_request" in states(case)
    assert service.playbook_of(case).kind == "impersonation"


def test_a_notice_completes_only_an_open_step_of_its_own_case(town, make):
    """Filed from the registry (no case), or before the decision that makes the step apply, it completes
    nothing; a supervisor's step stays for a supervisor."""
    case, r = town.case, town.responder
    other = make.account(town.dept, name="別の旧アカウント")
    accounts.file_notice(r, other, NOTICE)  # not from a case
    db.session.commit()
    assert states(case)["file_closure_notice"] == "waiting"
    accounts.file_notice(r, town.old, NOTICE, case=case)  # before "is it ours?" was answered
    db.session.commit()
    assert states(case)["file_closure_notice"] == "waiting"
    service.decide(r, case, "is_city_account", True, "登録簿にある")
    assert states(case)["file_closure_notice"] == "pending"  # recorded by hand then, citing the notice
    service.complete_step(r, case, "file_closure_notice", "廃止届は提出済み（案件から）")
    assert states(case)["file_closure_notice"] == "done"


def test_a_takeover_change_notice_completes_telling_the_pr_office(make):
    dept = make.department()
    responder = make.user("responder", dept)
    account = make.account(dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")
    case = make.case(responder, kind="account_takeover", severity="critical", title="乗っ取り",
                     official_account_id=account.id)
    assert states(case)["notify_pr_office"] == "pending"
    notice = accounts.file_notice(responder, account, {
        "kind": "change", "effective_date": "2026-11-23", "contact": "防災 一郎",
        "details": accounts.notice_defaults(case)["details"]}, case=case)
    db.session.commit()
    state = {s.step.key: s for s in service.checklist(case)}["notify_pr_office"]
    assert state.state == "done" and state.event.data["notice_id"] == notice.id
    assert state.event.actor_id == responder.id
    event = db.session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == case.id)
                               .order_by(TimelineEvent.id.desc())).first()
    assert event.event == "step_complete" and event.data["step"] == "notify_pr_office"
    assert account.status == AccountStatus.ACTIVE  # a change does not close the account
