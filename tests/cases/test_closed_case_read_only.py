"""A closed case is read-only (issue 12): its fields, steps, drafts, evidence, offending items and notes (and
escalating it, or linking a known fake from it) refuse changes with 409 and the message to reopen first —
through the services, the API and the pages, which show no forms for them. Reopening allows changes again.
Assigning a closed case and recording a platform's late answer to a takedown request stay possible."""
from __future__ import annotations

import io
import re
import types

import pytest
from PIL import Image
from sqlalchemy import func, select

from incident import policy
from incident.accounts.models import CaseFakeAccount, FakeAccount
from incident.audit.models import AuditLog
from incident.cases import service as cases
from incident.cases.models import (
    Case,
    CaseStatus,
    Evidence,
    EvidenceWithdrawal,
    Note,
    OffendingItem,
    TimelineEvent,
)
from incident.drafts import sending
from incident.drafts import service as drafts
from incident.drafts.models import Draft, DraftCheck, DraftEvent, DraftRevision, Outcome, Publication
from incident.errors import CaseError
from incident.escalation import service as escalation
from incident.escalation.models import Escalation
from incident.evidence import service as evidence
from incident.extensions import db
from incident.fakes import service as fakes
from incident.playbooks import service as steps
from incident.playbooks.models import StepEvent

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]
MESSAGE = "この案件は終了しています。変更するには、先に案件を再開してください。"
#: Every table a change to a case writes to: a refused change leaves each count as it was (the audit log's
#: rows of the case only: an API client's first call records its token).
COUNTED = (StepEvent, Note, OffendingItem, Evidence, EvidenceWithdrawal, Draft, DraftRevision, DraftEvent, DraftCheck,
           Publication, FakeAccount, CaseFakeAccount, Escalation, TimelineEvent)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, "PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture(autouse=True)
def _uploads(app, tmp_path):
    """Evidence files of these tests go to a folder of their own."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")


def _key(case, **attrs) -> str:
    """The key of the first step of the case's playbook with these attributes."""
    for state in steps.checklist(case):
        if all(getattr(state.step, name) == value for name, value in attrs.items()):
            return state.step.key
    raise AssertionError(f"no step with {attrs}")


def _draft(w, draft_type: str, **create):
    """A draft whose text is the city's own words (no blanks left to fill; no website rendition, which a notice
    generated for X has)."""
    draft = drafts.create_draft(w.responder, w.case, {"type": draft_type, **create})
    drafts.revise(w.responder, draft, f"{draft_type} の本文です。確認した事実だけを書きます。", web_body="")
    return draft


@pytest.fixture
def world(make):
    """An impersonation case of department A with something of every kind — a note, an offending item, a
    file, a step done, a draft in each state, a sent takedown request awaiting its answer — then closed."""
    department = make.department()
    w = types.SimpleNamespace(
        responder=make.user("responder", department),
        colleague=make.user("responder", department),
        supervisor=make.user("supervisor", department),
    )
    account = make.account(department, platform="x", url="https://x.com/city_official")
    w.case = make.case(w.responder, kind="impersonation", severity="high", title="偽アカウント", platform="x",
                       official_account_id=account.id, urls=["https://x.com/city_official_fake"])
    cases.acknowledge(w.supervisor, w.case)
    w.note = cases.add_note(w.responder, w.case, "最初のメモ")
    w.item = w.case.offending_items[0]
    w.evidence = evidence.add_evidence(w.responder, w.case, io.BytesIO(PNG), "shot.png")
    w.check_key = next(s.step.key for s in steps.checklist(w.case)
                       if s.step.type == "check" and s.step.actor == "responder" and s.step.input in (None, "url")
                       and s.state == steps.PENDING)
    steps.complete_step(w.responder, w.case, w.check_key, "", {"url": "https://x.com/city_official"})
    w.decision_key = _key(w.case, type="decision")
    w.editing = _draft(w, "press")
    w.submitted = _draft(w, "citizen_warning")
    drafts.submit(w.responder, w.submitted, CHECKS)
    w.approved = _draft(w, "press")
    drafts.submit(w.responder, w.approved, CHECKS)
    drafts.approve(w.supervisor, w.approved)
    w.takedown = _draft(w, "takedown")
    drafts.submit(w.responder, w.takedown, CHECKS)
    drafts.approve(w.supervisor, w.takedown)
    w.publication = sending.record_sent(w.responder, w.takedown, {"channel": "form", "reference": "X-1"})
    cases.change_status(w.supervisor, w.case, CaseStatus.CLOSED, "対応終了", waive_open_steps=True)
    db.session.commit()
    w.progress = steps.progress(steps.checklist(w.case))
    assert w.case.status == CaseStatus.CLOSED and w.progress[0] == w.progress[1]
    return w


def snapshot(case_id: int):
    """What a change to the case would alter: row counts, the case's fields and version, the drafts' states."""
    db.session.rollback()  # read what is committed now, not this session's older snapshot
    counts = {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED}
    counts["AuditLog"] = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.case_id == case_id))
    case = db.session.get_one(Case, case_id)
    states = sorted((d.id, d.status.value, d.approved_revision_id, d.outcome) for d in db.session.scalars(select(Draft)))
    return counts, case.version, case.title, case.status, case.assignee_id, states


# --- the services -----------------------------------------------------------------------------------

SERVICE_ACTIONS = {
    "edit fields": lambda w: cases.update_case(w.supervisor, w.case, w.case.version, {"title": "閉じた後の変更"}),
    "add note": lambda w: cases.add_note(w.responder, w.case, "閉じた後のメモ"),
    "correct note": lambda w: cases.add_note(w.responder, w.case, "訂正", corrects=w.note),
    "add offending item": lambda w: cases.add_offending_item(w.responder, w.case, "https://x.com/another_fake"),
    "complete step": lambda w: steps.complete_step(w.responder, w.case, w.check_key, "", {"url": "https://x.com/a"}),
    "decide step": lambda w: steps.decide(w.supervisor, w.case, w.decision_key, True, "理由"),
    "skip step": lambda w: steps.skip_step(w.responder, w.case, w.check_key, "理由"),
    "waive step": lambda w: steps.waive_step(w.supervisor, w.case, w.decision_key, "理由"),
    "reopen step": lambda w: steps.reopen_step(w.responder, w.case, w.check_key, "誤って記録"),
    "perform step action": lambda w: steps.perform(w.responder, w.case, w.check_key, "reopen", {"reason": "誤り"}),
    "create draft": lambda w: drafts.create_draft(w.responder, w.case, {"type": "press"}),
    "revise draft": lambda w: drafts.revise(w.responder, w.editing, "新しい本文です。"),
    "submit draft": lambda w: drafts.submit(w.responder, w.editing, CHECKS),
    "pre-approve draft": lambda w: drafts.mark_pre_approved(w.responder, w.editing, "a", "https://www.city.example.jp/",
                                                            CHECKS),
    "approve draft": lambda w: drafts.approve(w.supervisor, w.submitted),
    "return draft": lambda w: drafts.return_draft(w.supervisor, w.submitted, "直してください"),
    "record sent": lambda w: sending.record_sent(w.responder, w.approved,
                                                 {"channel": "post", "url": "https://x.com/city_official/status/1"}),
    "withdraw publication": lambda w: sending.withdraw(w.supervisor, w.publication, "誤りでした"),
    "upload evidence": lambda w: evidence.add_evidence(w.responder, w.case, io.BytesIO(PNG), "late.png"),
    "withdraw evidence": lambda w: evidence.withdraw(w.responder, w.evidence, "誤った添付"),
    "link a fake": lambda w: fakes.record_fake(w.responder, {"platform": "x", "handle": "@late_fake"}, w.case),
    "escalate": lambda w: escalation.escalate(w.responder, w.case, "至急"),
}


@pytest.mark.parametrize("action", SERVICE_ACTIONS)
def test_each_change_to_a_closed_case_is_refused_by_its_service(world, action):
    before = snapshot(world.case.id)
    with pytest.raises(CaseError) as refused:
        SERVICE_ACTIONS[action](world)
    db.session.rollback()
    assert refused.value.status == 409 and refused.value.code == "conflict"
    assert str(refused.value.message) == MESSAGE
    assert snapshot(world.case.id) == before


def test_a_closed_case_is_never_reopened_step_by_step(world):
    """The bug of issue 12: a step reopened on a closed case left it reading 9/10 while 終了."""
    with pytest.raises(CaseError):
        steps.reopen_step(world.responder, world.case, world.check_key, "誤って記録")
    db.session.rollback()
    assert steps.progress(steps.checklist(world.case)) == world.progress
    assert world.case.status == CaseStatus.CLOSED


def test_assigning_a_closed_case_stays_possible(world):
    """Who may see a case follows its assignee: a supervisor takes a closed case from someone who moved on."""
    cases.assign(world.supervisor, world.case, world.colleague.id)
    db.session.commit()
    assert world.case.assignee_id == world.colleague.id and world.case.status == CaseStatus.CLOSED
    cases.assign(world.supervisor, world.case, None)
    db.session.commit()
    assert world.case.assignee_id is None


def test_a_platforms_late_answer_is_recorded_on_a_closed_case(world):
    """The platform answers on its own schedule; recording it changes no step and keeps the case closed."""
    sending.record_answer(world.responder, world.takedown, {"outcome": "removed", "answer": "削除しました"})
    db.session.commit()
    assert world.takedown.outcome == Outcome.REMOVED
    assert world.case.status == CaseStatus.CLOSED
    assert steps.progress(steps.checklist(world.case)) == world.progress


def test_reopening_allows_changes_again(world):
    cases.change_status(world.supervisor, world.case, CaseStatus.RESPONDING, "別の偽アカウントが出た")
    db.session.commit()
    assert not policy.is_read_only(world.case)
    for action in ("add note", "correct note", "add offending item", "reopen step", "create draft", "revise draft",
                   "upload evidence", "withdraw evidence", "link a fake", "escalate", "edit fields"):
        SERVICE_ACTIONS[action](world)
        db.session.commit()
    assert world.case.title == "閉じた後の変更"
    done, total = steps.progress(steps.checklist(world.case))
    assert done == total - 1  # the reopened step is open again, on an open case


def test_the_policy_says_who_sees_the_forms(world, make):
    assert policy.is_read_only(world.case)
    assert not policy.can_change_content(world.responder, world.case)
    assert not policy.can_change_content(world.supervisor, world.case)
    assert policy.can_reopen(world.supervisor, world.case) and not policy.can_reopen(world.responder, world.case)
    cases.change_status(world.supervisor, world.case, CaseStatus.RESPONDING, "再開")
    assert policy.can_change_content(world.responder, world.case)
    assert not policy.can_change_content(make.user("supervisor"), world.case)  # another department's
    assert not policy.can_reopen(world.supervisor, world.case)  # nothing to reopen


# --- the API ----------------------------------------------------------------------------------------

API_ACTIONS = {
    "edit fields": lambda w: ("PATCH", "", w.supervisor, {"version": w.case.version, "title": "閉じた後の変更"}),
    "add note": lambda w: ("POST", "/notes", w.responder, {"body": "閉じた後のメモ"}),
    "correct note": lambda w: ("POST", f"/notes/{w.note.id}/corrections", w.responder, {"body": "訂正"}),
    "add offending item": lambda w: ("POST", "/items", w.responder, {"target": "https://x.com/another_fake"}),
    "complete step": lambda w: ("POST", f"/steps/{w.check_key}/complete", w.responder, {"url": "https://x.com/a"}),
    "decide step": lambda w: ("POST", f"/steps/{w.decision_key}/decide", w.supervisor,
                              {"answer": True, "reason": "理由"}),
    "skip step": lambda w: ("POST", f"/steps/{w.check_key}/skip", w.responder, {"reason": "理由"}),
    "waive step": lambda w: ("POST", f"/steps/{w.decision_key}/waive", w.supervisor, {"reason": "理由"}),
    "reopen step": lambda w: ("POST", f"/steps/{w.check_key}/reopen", w.responder, {"reason": "誤って記録"}),
    "create draft": lambda w: ("POST", "/drafts", w.responder, {"type": "press"}),
    "revise draft": lambda w: ("POST", f"/drafts/{w.editing.id}/revisions", w.responder, {"body": "新しい本文です。"}),
    "submit draft": lambda w: ("POST", f"/drafts/{w.editing.id}/submit", w.responder, {"checks": CHECKS}),
    "pre-approve draft": lambda w: ("POST", f"/drafts/{w.editing.id}/pre-approved", w.responder,
                                    {"scope": "a", "source": "https://www.city.example.jp/", "checks": CHECKS}),
    "approve draft": lambda w: ("POST", f"/drafts/{w.submitted.id}/approve", w.supervisor, {}),
    "return draft": lambda w: ("POST", f"/drafts/{w.submitted.id}/return", w.supervisor, {"comment": "直して"}),
    "record sent": lambda w: ("POST", f"/drafts/{w.approved.id}/sent", w.responder,
                              {"channel": "post", "url": "https://x.com/city_official/status/1"}),
    "withdraw publication": lambda w: ("POST", f"/ledger/{w.publication.id}/withdraw", w.supervisor,
                                       {"reason": "誤りでした"}),
    "withdraw evidence": lambda w: ("POST", f"/evidence/{w.evidence.id}/withdraw", w.responder, {"reason": "誤り"}),
    "escalate": lambda w: ("POST", "/escalations", w.responder, {"reason": "至急"}),
}


@pytest.mark.parametrize("action", API_ACTIONS)
def test_each_change_to_a_closed_case_answers_409_in_the_api(world, api, expect_error, action):
    method, path, user, body = API_ACTIONS[action](world)
    before = snapshot(world.case.id)
    response = api(method, f"/api/v1/cases/{world.case.id}{path}", user, json=body)
    assert expect_error(response, 409, "conflict")["message"] == MESSAGE
    assert snapshot(world.case.id) == before


def test_uploading_evidence_and_linking_a_fake_answer_409_in_the_api(world, api, expect_error):
    before = snapshot(world.case.id)
    upload = api("POST", f"/api/v1/cases/{world.case.id}/evidence", world.responder,
                 data={"file": (io.BytesIO(PNG), "late.png")}, content_type="multipart/form-data")
    assert expect_error(upload, 409, "conflict")["message"] == MESSAGE
    fake = api("POST", "/api/v1/fake-accounts", world.responder,
               json={"platform": "x", "handle": "@late_fake", "case_id": world.case.id})
    assert expect_error(fake, 409, "conflict")["message"] == MESSAGE
    assert snapshot(world.case.id) == before


def test_the_api_still_assigns_records_a_late_answer_and_reopens(world, api):
    base = f"/api/v1/cases/{world.case.id}"
    assigned = api("POST", f"{base}/assignment", world.supervisor, json={"assignee_id": world.colleague.id})
    assert assigned.status_code == 200, assigned.get_data(as_text=True)
    answered = api("POST", f"{base}/drafts/{world.takedown.id}/answer", world.responder, json={"outcome": "refused"})
    assert answered.status_code == 200, answered.get_data(as_text=True)
    reopened = api("POST", f"{base}/status", world.supervisor, json={"status": "responding", "reason": "再開"})
    assert reopened.status_code == 200 and reopened.get_json()["status"] == "responding"
    note = api("POST", f"{base}/notes", world.responder, json={"body": "再開後のメモ"})
    assert note.status_code == 201, note.get_data(as_text=True)
    step = api("POST", f"{base}/steps/{world.check_key}/reopen", world.responder, json={"reason": "誤って記録"})
    assert step.status_code == 200, step.get_data(as_text=True)


# --- the pages --------------------------------------------------------------------------------------

_FORM = re.compile(r"<form\b([^>]*)>", re.S)


def post_forms(page: str) -> set[str]:
    """The actions of the page's POST forms."""
    actions = set()
    for attrs in _FORM.findall(page):
        if 'method="post"' in attrs:
            actions.add(re.search(r'action="([^"]*)"', attrs).group(1))
    return actions


def refused(response) -> bool:
    """The page answered with the closed-case message: a flash after a redirect (at the top or where the user
    acted), or an error page (409)."""
    page = response.get_data(as_text=True)
    flashed = re.search(r'role="alert"[^>]*>' + re.escape(MESSAGE) + "</", page)
    return bool(flashed) or (response.status_code == 409 and f"<p>{MESSAGE}</p>" in page)


def test_the_closed_case_page_shows_no_forms_that_change_it(world, client, login):
    base = f"/cases/{world.case.id}"
    login(world.supervisor)
    page = client.get(base).get_data(as_text=True)
    # The closing review is written for a closed case: its supervisor may revise it (issue 14).
    assert post_forms(page) == {"/logout", f"{base}/status", f"{base}/assign", f"{base}/review"}
    assert f'href="{base}/edit"' not in page and "/fakes/new" not in page and "/correct" not in page
    assert 'id="closed-notice"' in page and MESSAGE in page
    assert f'href="{base}#status-form"' in page and 'id="status-form"' in page  # the way to reopen it
    login(world.responder)
    page = client.get(base).get_data(as_text=True)
    assert post_forms(page) == {"/logout"}
    assert MESSAGE in page and "案件の終了と再開は所属長または秘書広報課が行います。" in page
    assert "#status-form" not in page


def test_the_closed_case_draft_pages_show_no_forms_but_the_late_answer(world, client, login):
    login(world.supervisor)
    for draft in (world.editing, world.submitted, world.approved):
        page = client.get(f"/cases/{world.case.id}/drafts/{draft.id}").get_data(as_text=True)
        assert post_forms(page) == {"/logout"}, draft.status
        assert 'id="closed-notice"' in page
    page = client.get(f"/cases/{world.case.id}/drafts/{world.takedown.id}").get_data(as_text=True)
    assert post_forms(page) == {"/logout", f"/cases/{world.case.id}/drafts/{world.takedown.id}/answer"}


def test_the_edit_and_fake_pages_of_a_closed_case_show_no_form(world, client, login):
    login(world.supervisor)
    edit = client.get(f"/cases/{world.case.id}/edit").get_data(as_text=True)
    assert 'id="closed-notice"' in edit and 'name="title"' not in edit
    fake = client.get(f"/fakes/new?case_id={world.case.id}").get_data(as_text=True)
    assert 'id="closed-notice"' in fake and 'name="handle"' not in fake


def _page_posts(w):
    """Forced POSTs of every page form that would change the case, with valid input."""
    base = f"/cases/{w.case.id}"
    return {
        "edit fields": (f"{base}/edit", {"kind": "impersonation", "severity": "high", "title": "閉じた後の変更",
                                         "version": str(w.case.version)}),
        "add note": (f"{base}/notes", {"body": "閉じた後のメモ"}),
        "correct note": (f"{base}/notes/{w.note.id}/correct", {"correction-body": "訂正"}),
        "add offending item": (f"{base}/items", {"target": "https://x.com/another_fake"}),
        "complete step": (f"{base}/steps/{w.check_key}/complete", {"url": "https://x.com/a"}),
        "decide step": (f"{base}/steps/{w.decision_key}/decide", {"answer": "yes", "reason": "理由"}),
        "skip step": (f"{base}/steps/{w.check_key}/skip", {"reason": "理由"}),
        "waive step": (f"{base}/steps/{w.decision_key}/waive", {"reason": "理由"}),
        "reopen step": (f"{base}/steps/{w.check_key}/reopen", {"reason": "誤って記録"}),
        "create draft": (f"{base}/drafts", {"type": "press"}),
        "revise draft": (f"{base}/drafts/{w.editing.id}/revisions", {"body": "新しい本文です。", "base_revision": "2"}),
        "submit draft": (f"{base}/drafts/{w.editing.id}/submit", {"checks": CHECKS}),
        "pre-approve draft": (f"{base}/drafts/{w.editing.id}/pre-approved",
                              {"scope": "a", "source": "https://www.city.example.jp/", "checks": CHECKS}),
        "approve draft": (f"{base}/drafts/{w.submitted.id}/approve", {}),
        "return draft": (f"{base}/drafts/{w.submitted.id}/return", {"comment": "直して"}),
        "record sent": (f"{base}/drafts/{w.approved.id}/sent",
                        {"channel": "post", "url": "https://x.com/city_official/status/1"}),
        "withdraw publication": (f"{base}/ledger/{w.publication.id}/withdraw", {"reason": "誤りでした"}),
        "upload evidence": (f"{base}/evidence", {"file": (io.BytesIO(PNG), "late.png")}),
        "withdraw evidence": (f"{base}/evidence/{w.evidence.id}/withdraw", {"reason": "誤り"}),
        "link a fake": ("/fakes/new", {"case_id": str(w.case.id), "platform": "x", "handle": "@late_fake"}),
        "escalate": (f"{base}/escalations", {"reason": "至急"}),
    }


def test_a_forced_post_on_a_closed_case_page_answers_with_the_message_and_changes_nothing(world, client, login):
    login(world.supervisor)  # who may do every one of them on an open case
    for action, (url, data) in _page_posts(world).items():
        before = snapshot(world.case.id)
        response = client.post(url, data=data, follow_redirects=True)
        assert refused(response), f"{action}: {response.status_code} {response.get_data(as_text=True)[:3000]}"
        assert snapshot(world.case.id) == before, action


def test_reopening_through_the_page_brings_the_forms_back(world, client, login):
    base = f"/cases/{world.case.id}"
    login(world.supervisor)
    reopened = client.post(f"{base}/status", data={"status": "responding", "reason": "別の偽アカウントが出た"})
    assert reopened.status_code == 302
    page = client.get(base).get_data(as_text=True)
    assert 'id="closed-notice"' not in page
    assert {f"{base}/items", f"{base}/notes", f"{base}/evidence", f"{base}/drafts",
            f"{base}/steps/{world.check_key}/reopen"} <= post_forms(page)
    assert client.post(f"{base}/notes", data={"body": "再開後のメモ"}).status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Note).where(Note.case_id == world.case.id)) == 2
