"""The closing review (issue 14): closing asks what happened and what was done (the cause and what to change
may follow); the review is append-only, audited, on the timeline, revisable by the supervisor or the PR office,
and found by the case list's search."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from incident.audit.models import AuditLog
from incident.cases import review as case_review
from incident.cases import service
from incident.cases.models import Case, CaseReview, CaseStatus, TimelineEvent
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db

REVIEW = {"what_happened": "誤った開館時間を投稿した", "what_was_done": "訂正を投稿した",
          "cause": "確認が一人だった", "changes": "投稿前に二人で確認する"}


@pytest.fixture
def team(make):
    department = make.department()
    responder = make.user("responder", department)
    supervisor = make.user("supervisor", department)
    case = make.case(responder, title="開館時間の誤り")
    service.acknowledge(supervisor, case)
    db.session.commit()
    return responder, supervisor, case


def _close(supervisor, case, review=None) -> None:
    service.change_status(supervisor, case, CaseStatus.CLOSED, "対応完了", waive_open_steps=True, review=review)
    db.session.commit()


def _events(case, name="reviewed") -> list[TimelineEvent]:
    return list(db.session.scalars(select(TimelineEvent).where(
        TimelineEvent.case_id == case.id, TimelineEvent.event == name).order_by(TimelineEvent.id)))


def test_closing_with_a_review_records_it_with_audit_and_timeline(team):
    _responder, supervisor, case = team
    _close(supervisor, case, REVIEW)
    review = case_review.latest_review(case)
    assert review is not None and review.author_id == supervisor.id
    assert {name: getattr(review, name) for name in case_review.REVIEW_FIELDS} == REVIEW
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "case.review")).one()
    assert audit.case_id == case.id and audit.object_id == review.id
    assert audit.changes["what_happened"] == [None, REVIEW["what_happened"]]
    [event] = _events(case)
    assert event.actor_id == supervisor.id and event.data["review_id"] == review.id and event.data["revision"] == 1


def test_a_revised_review_becomes_current_and_the_old_one_stays(team):
    _responder, supervisor, case = team
    _close(supervisor, case, REVIEW)
    first = case_review.latest_review(case)
    second = case_review.write_review(supervisor, case, {**REVIEW, "cause": "手順書が古かった"})
    db.session.commit()
    assert case_review.latest_review(case).id == second.id and second.cause == "手順書が古かった"
    assert [r.id for r in case_review.reviews_of(case)] == [second.id, first.id]
    assert db.session.get(CaseReview, first.id).cause == "確認が一人だった"  # untouched
    events = _events(case)
    assert [e.data["review_id"] for e in events] == [first.id, second.id]
    assert events[1].data["revision"] == 2 and events[1].data["replaces_id"] == first.id
    audits = db.session.scalars(select(AuditLog).where(AuditLog.action == "case.review").order_by(AuditLog.id)).all()
    assert audits[-1].changes["cause"] == ["確認が一人だった", "手順書が古かった"]


def test_reviews_are_append_only_in_the_database(team, refuses_sql):
    _responder, supervisor, case = team
    _close(supervisor, case, REVIEW)
    refuses_sql("case_review", "UPDATE {table} SET cause = 'x'")
    refuses_sql("case_review", "DELETE FROM {table}")


@pytest.mark.parametrize("fields, wrong", [
    ({}, {"what_happened", "what_was_done"}),
    ({"what_happened": "  ", "what_was_done": "した"}, {"what_happened"}),
    ({**REVIEW, "cause": "長" * (case_review.REVIEW_MAX + 1)}, {"cause"}),
    ({**REVIEW, "changes": 12}, {"changes"}),
    ({**REVIEW, "what_was_done": "a\x00b"}, {"what_was_done"}),
])
def test_closing_with_a_bad_review_closes_nothing(team, fields, wrong):
    _responder, supervisor, case = team
    with pytest.raises(ValidationFailed) as info:
        service.change_status(supervisor, case, CaseStatus.CLOSED, "対応完了", waive_open_steps=True, review=fields)
    assert set(info.value.fields) == wrong
    db.session.rollback()
    assert db.session.get(Case, case.id).status == CaseStatus.RESPONDING
    assert db.session.scalar(select(CaseReview.id)) is None


def test_who_may_write_a_review(team, make):
    responder, supervisor, case = team
    with pytest.raises(CaseError):  # not closed yet
        case_review.write_review(supervisor, case, REVIEW)
    with pytest.raises(ValidationFailed) as info:  # a review belongs to a closing, not to another change
        service.change_status(supervisor, case, CaseStatus.MONITORING, review=REVIEW)
    assert "review" in info.value.fields
    db.session.rollback()
    _close(supervisor, case, REVIEW)
    with pytest.raises(PermissionDenied):
        case_review.write_review(responder, case, REVIEW)
    with pytest.raises(NotFound):
        case_review.write_review(make.user("supervisor"), case, REVIEW)
    admin = make.user("admin")
    assert case_review.write_review(admin, case, REVIEW).author_id == admin.id


# --- the pages -------------------------------------------------------------------------------------------


def test_closing_from_the_page_without_the_review_shows_the_errors_at_the_fields(team, client, login):
    _responder, supervisor, case = team
    login(supervisor)
    page = client.get(f"/cases/{case.id}").text
    assert 'name="what_happened"' in page and 'name="what_was_done"' in page and 'name="cause"' in page
    response = client.post(f"/cases/{case.id}/status", data={
        "status": "closed", "reason": "対応完了", "waive_open_steps": "y", "cause": "原因だけ書いた"})
    assert response.status_code == 422
    assert 'id="what_happened-error"' in response.text and 'id="what_was_done-error"' in response.text
    assert 'aria-invalid="true"' in response.text and "原因だけ書いた" in response.text  # nothing typed is lost
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.RESPONDING
    assert db.session.scalar(select(CaseReview.id)) is None


def test_closing_from_the_page_with_the_review(team, client, login):
    _responder, supervisor, case = team
    login(supervisor)
    response = client.post(f"/cases/{case.id}/status", data={
        "status": "closed", "reason": "対応完了", "waive_open_steps": "y", **REVIEW})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.CLOSED
    page = client.get(f"/cases/{case.id}").text
    review_part = page.split('id="review"')[1].split("</section>")[0]
    assert all(value in review_part for value in REVIEW.values())
    assert "振り返りを記録" in page.split('id="timeline"')[1]


def test_the_supervisor_revises_the_review_on_the_closed_case_page(team, client, login, make):
    responder, supervisor, case = team
    _close(supervisor, case, REVIEW)
    login(responder)  # the responder reads it but is offered no form, and may not post one
    page = client.get(f"/cases/{case.id}").text
    assert REVIEW["changes"] in page and f"/cases/{case.id}/review" not in page
    assert client.post(f"/cases/{case.id}/review", data={
        "review-what_happened": "x", "review-what_was_done": "y"}).status_code == 403
    login(make.user("supervisor"))  # another department's supervisor: the case is not there
    assert client.post(f"/cases/{case.id}/review", data={
        "review-what_happened": "x", "review-what_was_done": "y"}).status_code == 404
    login(supervisor)
    page = client.get(f"/cases/{case.id}").text
    assert f'action="/cases/{case.id}/review"' in page and "振り返りを書き直す" in page
    bad = client.post(f"/cases/{case.id}/review", data={"review-what_happened": "", "review-what_was_done": "y"})
    assert bad.status_code == 422 and 'id="review-what_happened-error"' in bad.text
    ok = client.post(f"/cases/{case.id}/review", data={
        "review-what_happened": "書き直した内容", "review-what_was_done": REVIEW["what_was_done"]})
    assert ok.status_code == 302
    page = client.get(f"/cases/{case.id}").text
    current = page.split('id="review"')[1].split("以前の版")[0]
    assert "書き直した内容" in current and REVIEW["what_happened"] not in current
    assert REVIEW["what_happened"] in page.split("以前の版")[1]  # the earlier version is still shown
    assert len(_events(case)) == 2


def test_the_case_list_finds_cases_by_their_review(team, make, client, login):
    responder, supervisor, case = team
    _close(supervisor, case, {**REVIEW, "changes": "ダブルチェック表を作る"})
    other = make.case(responder, title="関係ない案件")
    login(responder)
    found = client.get("/cases", query_string={"q": "ダブルチェック表"}).text
    assert "開館時間の誤り" in found and "関係ない案件" not in found
    assert client.get("/cases", query_string={"q": "100%_"}).status_code == 200
    assert other.title in client.get("/cases", query_string={"q": "関係ない"}).text


# --- the API ---------------------------------------------------------------------------------------------


def test_the_api_closes_with_an_optional_review(team, api, make):
    responder, supervisor, case = team
    url = f"/api/v1/cases/{case.id}/status"
    bad = api("post", url, supervisor, json={"status": "closed", "reason": "完了", "waive_open_steps": True,
                                             "review": {"what_happened": "起きたこと"}})
    assert bad.status_code == 422 and "what_was_done" in bad.get_json()["error"]["fields"]
    wrong_type = api("post", url, supervisor, json={"status": "closed", "reason": "完了", "waive_open_steps": True,
                                                    "review": "文字列"})
    assert wrong_type.status_code == 422 and "review" in wrong_type.get_json()["error"]["fields"]
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.RESPONDING
    ok = api("post", url, supervisor, json={"status": "closed", "reason": "完了", "waive_open_steps": True,
                                            "review": REVIEW})
    assert ok.status_code == 200 and ok.get_json()["status"] == "closed"
    assert case_review.latest_review(case).what_was_done == REVIEW["what_was_done"]
    other = make.case(responder)
    service.acknowledge(supervisor, other)
    db.session.commit()
    plain = api("post", f"/api/v1/cases/{other.id}/status", supervisor,
                json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    assert plain.status_code == 200  # without a review, as before


def test_the_review_given_when_closing_completes_the_playbook_step_asking_for_it(make, client, login):
    """Nobody writes the review twice: the closing form's review completes 「振り返りを記録する」, so a case whose
    other required steps are done closes in one step."""
    from incident.playbooks import service as playbooks

    department = make.department()
    supervisor = make.user("supervisor", department)
    case = make.case(actor=supervisor, department_id=department.id)
    for state in playbooks.open_required(case):
        if state.step.completes_on != "case_review":
            playbooks.waive_step(supervisor, case, state.step.key, "テストのため")
    case_id = case.id
    db.session.commit()
    assert [s.step.key for s in playbooks.open_required(db.session.get(Case, case_id))] == ["closing_review"]
    login(supervisor)
    response = client.post(f"/cases/{case_id}/status", data={
        "status": "closed", "reason": "訂正が済んだため", "what_happened": "誤った開館時間を投稿した",
        "what_was_done": "訂正を投稿し、所属長に報告した"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    closed = db.session.get(Case, case_id)
    db.session.refresh(closed)
    assert closed.status == CaseStatus.CLOSED
    step = next(s for s in playbooks.checklist(closed) if s.step.key == "closing_review")
    assert step.state == "done"
