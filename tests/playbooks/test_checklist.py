"""The playbooks enforce section 3(4): one test per clause, plus pinning, waivers and the API."""
from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from incident.cases import service as cases
from incident.cases.models import CaseKind, CaseStatus, TimelineEvent
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.fakes.service import fakes_of_case
from incident.playbooks import service
from incident.playbooks.service import load_registry


@pytest.fixture
def team(make):
    department = make.department()
    return {
        "responder": make.user("responder", department),
        "supervisor": make.user("supervisor", department),
        "department": department,
    }


def states(case) -> dict[str, service.StepState]:
    return {s.step.key: s for s in service.checklist(case)}


def key_where(case, **attrs) -> str:
    """The key of the (first) step of the case's playbook with these attributes."""
    for state in service.checklist(case):
        if all(getattr(state.step, name) == value for name, value in attrs.items()):
            return state.step.key
    raise AssertionError(f"no step with {attrs}")


def consult_key(case) -> str:
    return key_where(case, completes_on="supervisor_acknowledgement")


CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]


def publish(case, draft_type, responder, supervisor, url="https://www.facebook.com/city/posts/1", **create):
    """Write, submit, approve and publish a draft of a type: what completes a playbook draft step."""
    from incident.drafts import sending
    from incident.drafts import service as drafts
    from incident.drafts.blanks import find_blanks

    draft = drafts.create_draft(responder, case, {"type": draft_type, **create})
    text = drafts.latest_revision(draft).body
    for blank in find_blanks(text):  # staff write in what the template left blank before submitting
        text = text.replace(blank.text, "確認した内容", 1)
    if text != drafts.latest_revision(draft).body:
        drafts.revise(responder, draft, text)
    drafts.submit(responder, draft, CHECKS)
    drafts.approve(supervisor, draft)
    return sending.record_sent(responder, draft, {"url": url, "channel": "post", **create.get("sent", {})})


def test_opening_pins_current_version_and_lists_steps(team, make):
    case = make.case(team["responder"], kind="impersonation")
    assert case.playbook_version == service.current_playbook("impersonation").version
    keys = [s.step.key for s in service.checklist(case)]
    assert keys == [s.key for s in service.current_playbook("impersonation").steps]


def test_every_kind_starts_with_supervisor_consultation_done_on_supervisor_ack(team, make):
    for kind in CaseKind:
        case = make.case(team["responder"], kind=kind.value)
        key = consult_key(case)
        cases.acknowledge(team["responder"], case)  # a responder's acknowledgement is not consultation
        assert states(case)[key].state == "pending"
        other = make.case(team["responder"], kind=kind.value)
        cases.acknowledge(team["supervisor"], other)
        db.session.commit()
        assert states(other)[key].state == "done", kind


def test_responder_cannot_take_supervisor_step(team, make):
    case = make.case(team["responder"])
    with pytest.raises(PermissionDenied):
        service.complete_step(team["responder"], case, consult_key(case))


def test_flaming_wrong_post_requires_correction_and_not_deletion(team, make):
    """3(4)ア(イ): admit and correct; never delete."""
    case = make.case(team["responder"], kind="flaming")
    correction = key_where(case, draft_type="correction")
    assert states(case)[correction].state == "waiting"
    with pytest.raises(CaseError):
        service.complete_step(team["responder"], case, correction, "", {})
    service.decide(team["responder"], case, "did_city_post_wrong", True, "日付を誤って掲載")
    assert states(case)[correction].state == "pending" and states(case)[correction].step.required
    with pytest.raises(CaseError):  # a draft step needs its draft approved and published
        service.complete_step(team["responder"], case, correction, "", {})
    publication = publish(case, "correction", team["responder"], team["supervisor"], "https://x.com/city/2")
    assert states(case)[correction].state == "done"
    assert states(case)[correction].event.data["publication_id"] == publication.id


def test_flaming_no_wrong_post_makes_correction_not_applicable(team, make):
    case = make.case(team["responder"], kind="flaming")
    correction = key_where(case, draft_type="correction")
    service.decide(team["responder"], case, "did_city_post_wrong", False, "投稿内容に誤りはない")
    assert states(case)[correction].state == "not_applicable"


def test_recording_a_deletion_is_flagged_and_needs_supervisor_reason(team, make):
    case = make.case(team["responder"], kind="flaming")
    service.decide(team["responder"], case, "did_city_post_wrong", True, "誤った日付を投稿")
    key = key_where(case, input="deletion_record")
    with pytest.raises(PermissionDenied):
        service.complete_step(team["responder"], case, key, "消した", {"deleted": True})
    with pytest.raises(ValidationFailed):
        service.complete_step(team["supervisor"], case, key, "", {"deleted": True})
    service.complete_step(team["supervisor"], case, key, "個人情報が写っていたため", {"deleted": True})
    db.session.commit()
    flagged = db.session.scalars(select(TimelineEvent).where(TimelineEvent.event == "step_flagged")).one()
    assert flagged.data["flag"] == "3(4)ア(イ)" and flagged.data["reason"] == "個人情報が写っていたため"


def test_keeping_the_original_is_not_flagged(team, make):
    case = make.case(team["responder"], kind="flaming")
    service.decide(team["responder"], case, "did_city_post_wrong", True, "誤った日付を投稿")
    key = key_where(case, input="deletion_record")
    service.complete_step(team["responder"], case, key, "", {})
    assert states(case)[key].state == "done"
    assert not db.session.scalars(select(TimelineEvent).where(TimelineEvent.event == "step_flagged")).all()


def _finish_all_but(case, actor, supervisor, *skip: str) -> None:
    """Complete or waive every applicable open step except `skip`."""
    for state in service.checklist(case):
        if state.step.key in skip or state.state != "pending":
            continue
        service.waive_step(supervisor, case, state.step.key, "テストのため免除")


def test_flaming_interim_notice_blocks_closing_until_final(team, make):
    """3(4)ア(ウ): an interim notice now, a final notice once the facts are settled."""
    responder, supervisor = team["responder"], team["supervisor"]
    case = make.case(responder, kind="flaming")
    cases.acknowledge(supervisor, case)
    service.decide(responder, case, "did_city_post_wrong", False, "誤りなし")
    service.decide(responder, case, "response_takes_time", True, "事実確認に数日かかる")
    interim = key_where(case, draft_type="interim_notice")
    final = key_where(case, draft_type="final_notice")
    interim_post = publish(case, "interim_notice", responder, supervisor)
    assert states(case)[interim].state == "done"
    _finish_all_but(case, responder, supervisor, final)
    with pytest.raises(CaseError) as info:
        cases.change_status(supervisor, case, CaseStatus.CLOSED)
    assert states(case)[final].step.title_ja in str(info.value.message)
    final_post = publish(case, "final_notice", responder, supervisor, "https://www.facebook.com/city/posts/2")
    assert final_post.supersedes_id == interim_post.id  # the ledger links the final notice to its interim one
    cases.change_status(supervisor, case, CaseStatus.CLOSED)
    assert case.status == CaseStatus.CLOSED


def test_final_notice_can_be_waived_by_supervisor_only(team, make):
    responder, supervisor = team["responder"], team["supervisor"]
    case = make.case(responder, kind="flaming")
    service.decide(responder, case, "response_takes_time", True, "時間がかかる")
    final = key_where(case, draft_type="final_notice")
    with pytest.raises(PermissionDenied):
        service.waive_step(responder, case, final, "不要")
    with pytest.raises(ValidationFailed):
        service.waive_step(supervisor, case, final, "")
    service.waive_step(supervisor, case, final, "中間報告で完結したため")
    assert states(case)[final].state == "waived"


def test_impersonation_press_decision_is_the_supervisors(team, make):
    """3(4)イ(イ): notifying the press is decided by a supervisor, with a reason."""
    case = make.case(team["responder"], kind="impersonation")
    press = key_where(case, draft_type="press")
    with pytest.raises(PermissionDenied):
        service.decide(team["responder"], case, "notify_press", True, "拡散している")
    with pytest.raises(ValidationFailed):
        service.decide(team["supervisor"], case, "notify_press", True, "")
    service.decide(team["supervisor"], case, "notify_press", True, "被害の恐れが大きい")
    assert states(case)[press].state == "pending"


def test_impersonation_has_takedown_and_citizen_warning(team, make):
    """3(4)イ(ア): a takedown request to the platform operator; a warning to citizens."""
    case = make.case(team["responder"], kind="impersonation")
    by_key = states(case)
    assert by_key[key_where(case, draft_type="takedown")].step.required
    assert key_where(case, draft_type="citizen_warning")
    fake = key_where(case, input="fake_account")
    with pytest.raises(ValidationFailed):
        service.complete_step(team["responder"], case, fake, "", {"url": "javascript:alert(1)"})
    service.complete_step(team["responder"], case, fake, "",
                          {"url": "https://x.com/fake_city", "display_name": "石巻市（偽）"})
    assert states(case)[fake].event.data["target"] == "https://x.com/fake_city"
    # The step's fact is in the register of known fakes, linked to the case (issue 12).
    assert [(f.url, f.display_name) for f in fakes_of_case(case)] == [("https://x.com/fake_city", "石巻市（偽）")]


def test_steps_that_record_facts_say_where_they_go(team, make):
    """Issue 12: the takeover's MFA step asks for the MFA confirmation; the impersonation follow-ups wait for a
    takedown answered "removed"; the fake-account step offers the URLs the case holds."""
    takeover = make.case(team["responder"], kind="account_takeover")
    assert key_where(takeover, input="mfa") == "enable_mfa"
    impersonation = make.case(team["responder"], kind="impersonation", urls=["https://x.com/fake_city"])
    waiting = [s.step.key for s in service.checklist(impersonation) if s.step.completes_on == "takedown_removed"]
    assert waiting == ["follow_up_takedown", "monitor_until_removed"]
    items = {i.step.key: i for i in service.checklist(impersonation)}
    assert items["follow_up_takedown"].state == "pending"  # completes by itself, but may be recorded by hand too
    service.complete_step(team["responder"], impersonation, "follow_up_takedown", "電話で回答を確認")
    assert states(impersonation)["follow_up_takedown"].state == "done"


@pytest.mark.parametrize("url, ok", [
    ("https://www.city.ishinomaki.lg.jp/cont/10181000/index.html", True),
    ("https://city.ishinomaki.lg.jp/", True),
    ("https://www.city.ishinomaki.lg.jp.evil.example/", False),
    ("https://evil.example/?u=www.city.ishinomaki.lg.jp", False),
    ("javascript:alert(1)", False),
    ("ftp://www.city.ishinomaki.lg.jp/", False),
    ("", False),
])
def test_correct_information_links_to_a_city_page(team, make, url, ok):
    """3(4)ウ(ア): post the correct information with a link to the city's page."""
    case = make.case(team["responder"], kind="false_information")
    key = key_where(case, input="city_url")
    if ok:
        publish(case, "correct_info", team["responder"], team["supervisor"], link=url)
        assert states(case)[key].event.data["url"] == url
    else:
        with pytest.raises(ValidationFailed) as info:
            publish(case, "correct_info", team["responder"], team["supervisor"], link=url)
        assert "link" in info.value.fields
        assert states(case)[key].state == "pending"


def test_malicious_post_deletion_names_prohibited_item_with_supervisor(team, make):
    """3(4)ウ(イ): consider deletion under the operation policy, naming the item (1)-(10)."""
    case = make.case(team["responder"], kind="false_information")
    key = key_where(case, input="prohibited_item")
    service.decide(team["responder"], case, "is_malicious", True, "意図的なデマ")
    assert states(case)[key].step.actor == "supervisor"
    with pytest.raises(PermissionDenied):
        service.complete_step(team["responder"], case, key, "", {"prohibited_item": "8"})
    for bad in ("0", "11", "x", None):
        with pytest.raises(ValidationFailed):
            service.complete_step(team["supervisor"], case, key, "", {"prohibited_item": bad})
    service.complete_step(team["supervisor"], case, key, "削除した", {"prohibited_item": "8"})
    assert states(case)[key].event.data["prohibited_item"] == 8


def test_closing_names_open_steps_and_supervisor_can_waive_all(team, make):
    case = make.case(team["responder"], kind="account_takeover")
    cases.acknowledge(team["responder"], case)
    with pytest.raises(CaseError) as info:
        cases.change_status(team["supervisor"], case, CaseStatus.CLOSED)
    assert states(case)[consult_key(case)].step.title_ja in str(info.value.message)
    cases.change_status(team["supervisor"], case, CaseStatus.CLOSED, "誤報だった", waive_open_steps=True)
    assert case.status == CaseStatus.CLOSED
    assert not [s for s in service.checklist(case) if s.step.required and s.state == "pending"]
    assert [s for s in service.checklist(case) if s.state == "waived"]


def test_reopen_corrects_a_mistake_and_keeps_the_record(team, make):
    case = make.case(team["responder"], kind="flaming")
    service.decide(team["responder"], case, "did_city_post_wrong", True, "誤り")
    with pytest.raises(CaseError):
        service.decide(team["responder"], case, "did_city_post_wrong", False, "やはり誤りなし")
    service.reopen_step(team["responder"], case, "did_city_post_wrong", "判断を誤った")
    service.decide(team["responder"], case, "did_city_post_wrong", False, "誤りなし")
    db.session.commit()
    actions = [e.action for e in service.step_events(case)]
    assert actions == ["decide", "reopen", "decide"]
    assert states(case)["did_city_post_wrong"].answer is False
    with pytest.raises(DatabaseError):
        db.session.execute(text("DELETE FROM step_event"))
        db.session.commit()
    db.session.rollback()


def test_unknown_step_is_not_found(team, make):
    case = make.case(team["responder"])
    with pytest.raises(NotFound):
        service.complete_step(team["responder"], case, "no_such_step")


def test_overdue_steps_are_flagged(team, make):
    case = make.case(team["responder"], severity="high")
    key = consult_key(case)
    due = states(case)[key].due_at
    assert due is not None and due > case.created_at
    later = {s.step.key: s for s in service.checklist(case, now=due + dt.timedelta(minutes=1))}
    assert later[key].overdue
    earlier = {s.step.key: s for s in service.checklist(case, now=due - dt.timedelta(minutes=1))}
    assert not earlier[key].overdue


def test_changed_kind_takes_new_playbook_and_keeps_history(team, make):
    case = make.case(team["responder"], kind="false_information")
    service.decide(team["responder"], case, "is_malicious", False, "悪意なし")
    db.session.commit()
    cases.update_case(team["responder"], case, case.version, {"kind": "impersonation"})
    db.session.commit()
    assert case.playbook_version == service.current_playbook("impersonation").version
    assert "notify_press" in states(case)
    assert db.session.scalars(select(TimelineEvent).where(TimelineEvent.event == "step_decide")).one()


def test_editing_a_playbook_file_changes_new_cases_only(app, team, make, tmp_path):
    folder = tmp_path / "playbooks"
    shutil.copytree(app.config["PLAYBOOK_DIR"], folder)
    app.config["PLAYBOOK_DIR"] = str(folder)
    load_registry(app)
    before = make.case(team["responder"], kind="flaming")
    old_keys = [s.step.key for s in service.checklist(before)]
    path = folder / "flaming.toml"
    path.write_text(path.read_text(encoding="utf-8") + '''
[[steps]]
key = "new_step_added_later"
title_ja = "後から追加した手順"
title_en = "A step added later"
clause = "3(4)ア"
type = "check"
''', encoding="utf-8")
    load_registry(app)
    after = make.case(team["responder"], kind="flaming")
    assert [s.step.key for s in service.checklist(before)] == old_keys
    assert [s.step.key for s in service.checklist(after)] == old_keys + ["new_step_added_later"]


def test_steps_api(team, make, client, token_for):
    responder, supervisor = team["responder"], team["supervisor"]
    case = make.case(responder, kind="impersonation")
    headers = token_for(responder)
    listing = client.get(f"/api/v1/cases/{case.id}/steps", headers=headers).get_json()
    assert listing["required_total"] >= 1 and listing["items"][0]["state"] in ("pending", "waiting")
    press = key_where(case, draft_type="press")
    assert client.post(f"/api/v1/cases/{case.id}/steps/{press}/complete", json={"where": "x"},
                       headers=headers).status_code == 409  # waiting for the press decision
    assert client.post(f"/api/v1/cases/{case.id}/steps/notify_press/decide",
                       json={"answer": True, "reason": "拡散"}, headers=headers).status_code == 403
    assert client.post(f"/api/v1/cases/{case.id}/steps/nope/complete", json={},
                       headers=headers).status_code == 404
    assert client.post(f"/api/v1/cases/{case.id}/steps/notify_press/decide",
                       json={"answer": "yes", "reason": "x"}, headers=token_for(supervisor)).status_code == 422
    answer = client.post(f"/api/v1/cases/{case.id}/steps/notify_press/decide",
                         json={"answer": True, "reason": "拡散"}, headers=token_for(supervisor))
    assert answer.status_code == 200
    press_state = next(i for i in answer.get_json()["items"] if i["key"] == press)
    assert press_state["state"] == "pending"
    outsider = token_for(make.user("admin"))
    assert client.get("/api/v1/playbooks", headers=outsider).status_code == 200
    stranger = token_for(make.user("responder"))
    assert client.get(f"/api/v1/cases/{case.id}/steps", headers=stranger).status_code == 404


def test_checklist_on_case_page(team, make, client, login):
    case = make.case(team["responder"], kind="flaming")
    login(team["responder"])
    page = client.get(f"/cases/{case.id}").text
    assert "対応手順" in page and "did_city_post_wrong" in page
    response = client.post(f"/cases/{case.id}/steps/did_city_post_wrong/decide",
                           data={"answer": "yes", "reason": "誤りあり"})
    assert response.status_code == 302
    page = client.get(f"/cases/{case.id}").text
    assert "判断を記録" in page  # on the timeline
    refused = client.post(f"/cases/{case.id}/steps/{consult_key(case)}/complete", data={})
    assert refused.status_code == 403


def test_draft_step_records_when_the_text_went_out(team, make):
    case = make.case(team["responder"], kind="flaming")
    service.decide(team["responder"], case, "response_takes_time", True, "時間がかかる")
    interim = key_where(case, draft_type="interim_notice")
    db.session.commit()
    with pytest.raises(ValidationFailed) as info:
        publish(case, "interim_notice", team["responder"], team["supervisor"], sent={"sent_at": "2999-01-01T00:00"})
    assert "sent_at" in info.value.fields
    db.session.rollback()
    post = publish(case, "interim_notice", team["responder"], team["supervisor"], "https://x.com/city/1",
                   sent={"sent_at": "2026-11-20T09:00"})
    assert post.published_at == dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)  # 09:00 JST
    assert states(case)[interim].event.data["where"] == "https://x.com/city/1"


def _step_html(page: str, key: str) -> str:
    return re.search(rf'<li id="step-{key}".*?</li>\s*(?=<li id="step-|</ol>)', page, re.S).group(0)


def test_a_step_action_says_how_it_went_at_the_step_itself(team, make, client, login):
    """The result is drawn inside the step the page scrolls to (announced, focused), not at the page's top."""
    case = make.case(team["responder"], kind="flaming")
    login(team["responder"])
    done = client.post(f"/cases/{case.id}/steps/did_city_post_wrong/decide", data={"answer": "yes", "reason": "誤りあり"})
    assert done.headers["Location"].endswith("#step-did_city_post_wrong")
    page = client.get(done.headers["Location"]).text
    step = _step_html(page, "did_city_post_wrong")
    assert 'role="status" tabindex="-1" data-just-added>判断を記録しました。' in step
    top = page[:page.index('id="next"')]
    assert "判断を記録しました。" not in top and page.count("判断を記録しました。") == 1
    # A refusal (no reason) is an alert at its step; the message is gone on the next view.
    client.post(f"/cases/{case.id}/steps/response_takes_time/decide", data={"answer": "yes", "reason": ""})
    page = client.get(f"/cases/{case.id}").text
    assert re.search(r'role="alert" tabindex="-1" data-just-added>[^<]*理由', _step_html(page, "response_takes_time"))
    assert "data-just-added" not in client.get(f"/cases/{case.id}").text


def test_a_message_for_a_part_the_page_no_longer_shows_is_not_lost(team, make, client, login):
    """A message meant for an anchor the page does not render appears at the end of the page instead."""
    case = make.case(team["responder"], kind="flaming")
    login(team["responder"])
    with client.session_transaction() as session:  # what flash_at("step-gone", ...) leaves in the session
        session["_flashes"] = [("success@step-gone", "どこにもない場所への知らせ")]
    page = client.get(f"/cases/{case.id}").text
    assert page.count("どこにもない場所への知らせ") == 1
    assert page.index("どこにもない場所への知らせ") > page.index('id="timeline"')


def test_the_next_thing_to_do_heads_the_case_page(team, make, client, login):
    """いま行うこと: take the case on, then the step that is due, linked to its open form."""
    case = make.case(team["responder"], kind="flaming")
    login(team["responder"])
    page = client.get(f"/cases/{case.id}").text
    nxt = re.search(r'<section[^>]*id="next".*?</section>', page, re.S).group(0)
    assert f'action="/cases/{case.id}/acknowledge"' in nxt and "受け付けて対応を始める" in nxt
    assert page.count(f'action="/cases/{case.id}/acknowledge"') == 1
    # The supervisor's consultation step is open first, but the responder is pointed at their own first step.
    pending = [s for s in service.checklist(case) if s.state == "pending"]
    assert pending[0].step.actor != "responder"
    own = next(s for s in pending if s.step.actor == "responder")
    assert f'href="#step-{own.step.key}"' in nxt and f'href="#step-{pending[0].step.key}"' not in nxt
    assert re.search(r'<details class="act" open>', _step_html(page, own.step.key))
    assert page.count('<details class="act" open>') == 1
    assert page.index('id="next"') < page.index('id="checklist"') < page.index('id="notes"')
