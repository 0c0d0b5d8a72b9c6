"""Recovery of a taken-over account, tracked like a takedown (issue 12): a request to the platform with the
account from the registry, what happened and the evidence; once sent it has a reference number, a day to
look for the answer and an outcome (recovered, refused, no answer — never "removed")."""
from __future__ import annotations

import datetime as dt
import io
import re
import types

import pytest
from PIL import Image

from incident.drafts import sending, service
from incident.drafts.blanks import find_blanks
from incident.drafts.models import FOLLOWED_UP_TYPES, OUTCOMES, Draft, DraftStatus, DraftType, Outcome
from incident.errors import CaseError, NotFound, ValidationFailed
from incident.evidence import service as evidence
from incident.extensions import db
from incident.playbooks import service as playbooks

CHECKS = list(service.SECTION4_CHECKS)
JST = dt.timezone(dt.timedelta(hours=9))


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(out, "PNG")
    return io.BytesIO(out.getvalue())


@pytest.fixture
def takeover(app, make, tmp_path):
    """The disaster-prevention department's X account taken over: an unauthorised post and a screenshot."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    dept = make.department("bousai", "防災課")
    dept.contact = "0225-95-1111（防災課 直通）"
    other = make.department("kanko", "観光課")
    responder = make.user("responder", dept, name="担当 一郎")
    account = make.account(dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")
    case = make.case(responder, kind="account_takeover", severity="critical", title="防災アカウントの乗っ取り",
                     official_account_id=account.id, urls=["https://x.com/ishinomaki_bousai/status/999"])
    shot = evidence.add_evidence(responder, case, _png(), "takeover_post.png", note="不正な投稿",
                                 captured_at=dt.datetime(2026, 11, 20, 9, 5, tzinfo=JST))
    db.session.commit()
    return types.SimpleNamespace(dept=dept, responder=responder, supervisor=make.user("supervisor", dept),
                                 other_responder=make.user("responder", other), account=account, case=case,
                                 shot=shot)


def create(actor, case, **data) -> Draft:
    draft = service.create_draft(actor, case, {"type": "recovery", **data})
    db.session.commit()
    return draft


def approved(t, **data) -> Draft:
    draft = create(t.responder, t.case, **data)
    text = service.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    service.revise(t.responder, draft, text)
    service.submit(t.responder, draft, CHECKS)
    service.approve(t.supervisor, draft)
    db.session.commit()
    return draft


def sent(t, **data) -> Draft:
    draft = approved(t)
    sending.record_sent(t.responder, draft, {"sent_at": "2026-11-23T10:00:00+09:00", **data})
    db.session.commit()
    return draft


# --- the wording --------------------------------------------------------------------------------------------


def test_the_request_names_the_account_what_happened_and_the_evidence(takeover):
    draft = create(takeover.responder, takeover.case)
    body = service.latest_revision(draft).body
    assert draft.platform == "x"  # the taken-over account's platform, though the case names none
    assert "石巻市防災" in body and "https://x.com/ishinomaki_bousai" in body and "@ishinomaki_bousai" in body
    assert "復旧" in body and "なりすまし" not in body
    assert "令和" in body and "2026年" not in body and takeover.case.number in body  # a formal letter: 令和 dates
    assert "https://x.com/ishinomaki_bousai/status/999" in body  # the unauthorised post recorded on the case
    assert "takeover_post.png" in body and takeover.shot.sha256 in body
    assert "0225-95-1111（防災課 直通）" in body and "担当 一郎" in body
    assert not [line for line in body.splitlines() if line.lstrip().startswith("※")]  # no staff memo lines
    blanks = [b.text for b in find_blanks(body)]
    assert "［日時を記入］" in blanks  # since when: the last normal login is for staff to write in
    assert any("起きたこと" in line and "記入" in line for line in body.splitlines())


def test_an_english_request_for_english_only_forms(takeover):
    draft = create(takeover.responder, takeover.case, lang="en")
    body = service.latest_revision(draft).body
    assert draft.lang == "en" and "restore" in body and "https://x.com/ishinomaki_bousai" in body
    assert takeover.shot.sha256 in body and not re.search(r"^\s*※", body, re.M)


def test_the_platform_can_be_chosen_and_an_unknown_one_is_refused(takeover):
    assert create(takeover.responder, takeover.case, platform="instagram").platform == "instagram"
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(takeover.responder, takeover.case, {"type": "recovery", "platform": "myspace"})
    assert "platform" in info.value.fields


def test_recovery_is_followed_up_like_a_takedown():
    assert DraftType.RECOVERY in FOLLOWED_UP_TYPES and DraftType.TAKEDOWN in FOLLOWED_UP_TYPES
    assert OUTCOMES[DraftType.RECOVERY] == (Outcome.RECOVERED, Outcome.REFUSED, Outcome.NO_ANSWER)
    assert Outcome.RECOVERED not in OUTCOMES[DraftType.TAKEDOWN]


# --- sending, follow-up, answer --------------------------------------------------------------------------


def test_sending_records_the_reference_and_a_follow_up_date(takeover):
    draft = sent(takeover, channel="form", reference="X-HACK-42")
    assert draft.status == DraftStatus.SENT
    assert draft.follow_up_on == dt.date(2026, 11, 30)  # X answers in about 7 days
    publication = sending.ledger(takeover.case)[-1]
    assert (publication.kind, publication.reference, publication.channel) == ("recovery", "X-HACK-42", "form")


def test_a_recovery_goes_by_form_email_or_app_not_as_a_post(takeover):
    draft = approved(takeover)
    with pytest.raises(ValidationFailed) as info:
        sending.record_sent(takeover.responder, draft, {"channel": "post", "url": "https://x.com/a/status/1"})
    assert "channel" in info.value.fields
    sending.record_sent(takeover.responder, draft, {"channel": "email", "follow_up_on": "2030-01-31"})
    assert draft.follow_up_on == dt.date(2030, 1, 31)


def test_follow_ups_due_include_recovery_requests(takeover):
    draft = sent(takeover, follow_up_on="2026-12-01")
    case_id = takeover.case.id
    assert sending.follow_ups_due([case_id], on=dt.date(2026, 11, 30)) == {}
    assert sending.follow_ups_due([case_id], on=dt.date(2026, 12, 1)) == {case_id: dt.date(2026, 12, 1)}
    sending.record_answer(takeover.responder, draft, {"outcome": "recovered", "answer": "復旧しました"})
    db.session.commit()
    assert sending.follow_ups_due([case_id], on=dt.date(2026, 12, 1)) == {}


def test_the_outcome_of_a_recovery_is_recovered_refused_or_no_answer(takeover):
    draft = sent(takeover)
    with pytest.raises(ValidationFailed) as info:
        sending.record_answer(takeover.responder, draft, {"outcome": "removed"})
    assert "outcome" in info.value.fields and draft.outcome is None
    sending.record_answer(takeover.responder, draft, {"outcome": "recovered", "answer": "本人確認の後に復旧"})
    db.session.commit()
    assert draft.outcome == Outcome.RECOVERED
    event = service.history(draft)[-1]
    assert event.action == "answered" and event.comment == "本人確認の後に復旧"
    with pytest.raises(CaseError):
        sending.record_answer(takeover.responder, draft, {"outcome": "refused"})


def test_a_takedown_cannot_end_recovered(takeover, make):
    case = make.case(takeover.responder, kind="impersonation", platform="x", title="なりすまし")
    takedown = service.create_draft(takeover.responder, case, {"type": "takedown"})
    text = service.latest_revision(takedown).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    service.revise(takeover.responder, takedown, text)
    service.submit(takeover.responder, takedown, CHECKS)
    service.approve(takeover.supervisor, takedown)
    sending.record_sent(takeover.responder, takedown, {"channel": "form"})
    with pytest.raises(ValidationFailed) as info:
        sending.record_answer(takeover.responder, takedown, {"outcome": "recovered"})
    assert "outcome" in info.value.fields and takedown.outcome is None


def test_waiting_for_an_answer_sets_the_next_day_to_look(takeover):
    draft = sent(takeover)
    with pytest.raises(ValidationFailed) as info:
        sending.record_answer(takeover.responder, draft, {"answer": "受付の自動返信のみ"})
    assert "follow_up_on" in info.value.fields
    later = sending.today() + dt.timedelta(days=10)
    sending.record_answer(takeover.responder, draft, {"answer": "受付の自動返信のみ", "follow_up_on": later.isoformat()})
    assert draft.outcome is None and draft.follow_up_on == later


def test_another_department_may_not_answer_or_send(takeover):
    draft = approved(takeover)
    with pytest.raises(NotFound):
        sending.record_sent(takeover.other_responder, draft, {"channel": "form"})
    sending.record_sent(takeover.responder, draft, {"channel": "form"})
    with pytest.raises(NotFound):
        sending.record_answer(takeover.other_responder, draft, {"outcome": "recovered"})
    assert draft.outcome is None


def test_sending_it_completes_the_takeover_playbooks_recovery_step(takeover):
    case = takeover.case

    def states() -> dict[str, str]:
        return {s.step.key: s.state for s in playbooks.checklist(case)}

    assert states()["recovery_request"] == "waiting"
    playbooks.decide(takeover.responder, case, "locked_out", True, "パスワードと登録メールが変えられていた")
    assert states()["recovery_request"] == "pending"
    draft = sent(takeover)
    step = {s.step.key: s for s in playbooks.checklist(case)}["recovery_request"]
    assert step.state == "done" and step.event.data["draft_id"] == draft.id


# --- the pages and the API -------------------------------------------------------------------------------


def test_the_draft_page_offers_recovery_outcomes_only(takeover, client, login):
    draft = sent(takeover, reference="X-HACK-42")
    login(takeover.responder)
    page = client.get(f"/cases/{takeover.case.id}/drafts/{draft.id}").text
    assert f'action="/cases/{takeover.case.id}/drafts/{draft.id}/answer"' in page
    outcome_select = page[page.index('name="outcome"'):page.index("</select>", page.index('name="outcome"'))]
    assert 'value="recovered"' in outcome_select and 'value="refused"' in outcome_select
    assert 'value="no_answer"' in outcome_select and 'value="removed"' not in outcome_select
    assert "X-HACK-42" in page and "2026-11-30" in page
    response = client.post(f"/cases/{takeover.case.id}/drafts/{draft.id}/answer", data={"outcome": "removed"})
    assert response.status_code == 302
    db.session.refresh(draft)
    assert draft.outcome is None
    client.post(f"/cases/{takeover.case.id}/drafts/{draft.id}/answer", data={"outcome": "recovered"})
    db.session.refresh(draft)
    assert draft.outcome == Outcome.RECOVERED
    assert "復旧した" in client.get(f"/cases/{takeover.case.id}/drafts/{draft.id}").text


def test_the_sending_form_of_an_approved_recovery_asks_for_the_reference_and_follow_up(takeover, client, login):
    draft = approved(takeover)
    login(takeover.responder)
    page = client.get(f"/cases/{takeover.case.id}/drafts/{draft.id}").text
    assert 'name="reference"' in page and 'name="follow_up_on"' in page
    channel_select = page[page.index('name="channel"'):page.index("</select>", page.index('name="channel"'))]
    assert 'value="form"' in channel_select and 'value="post"' not in channel_select


def test_api_recovery_round_trip_and_wrong_outcome(takeover, api, expect_error):
    case_id = takeover.case.id
    created = api("POST", f"/api/v1/cases/{case_id}/drafts", takeover.responder, json={"type": "recovery"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["platform"] == "x"
    draft = db.session.get(Draft, created.get_json()["id"])
    base = f"/api/v1/cases/{case_id}/drafts/{draft.id}"
    # The removal form's checklist (fake URL, handle…) is a takedown's: a recovery has none.
    assert api("GET", base, takeover.responder).get_json()["requirements"] == []
    text = service.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    assert api("POST", f"{base}/revisions", takeover.responder, json={"body": text}).status_code == 201
    assert api("POST", f"{base}/submit", takeover.responder, json={"checks": CHECKS}).status_code == 200
    assert api("POST", f"{base}/approve", takeover.supervisor, json={}).status_code == 200
    sent_response = api("POST", f"{base}/sent", takeover.responder,
                        json={"channel": "form", "reference": "X-1", "sent_at": "2026-11-23T10:00:00+09:00"})
    assert sent_response.status_code == 201, sent_response.get_data(as_text=True)
    assert sent_response.get_json()["draft"]["follow_up_on"] == "2026-11-30"
    expect_error(api("POST", f"{base}/answer", takeover.responder, json={"outcome": "removed"}), 422,
                 "validation_failed", "outcome")
    expect_error(api("POST", f"{base}/answer", takeover.other_responder, json={"outcome": "recovered"}), 404,
                 "not_found")
    answered = api("POST", f"{base}/answer", takeover.responder, json={"outcome": "recovered"})
    assert answered.status_code == 200 and answered.get_json()["outcome"] == "recovered"
    # The answer is stored: a second one is a conflict.
    expect_error(api("POST", f"{base}/answer", takeover.responder, json={"outcome": "refused"}), 409, "conflict")
