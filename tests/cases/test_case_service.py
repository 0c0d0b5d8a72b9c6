"""Case services: numbering, transitions, assignment, notes and corrections, stale edits, audit."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from incident.audit.models import AuditLog
from incident.cases import queries, service
from incident.cases.models import CaseStatus, Note, TimelineEvent
from incident.dates import tokyo_year, utcnow
from incident.errors import CaseError, Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db


def events_of(case) -> list[str]:
    return [e.event for e in queries.timeline(case)]


def test_numbers_are_per_year_and_dense(make):
    first = make.case()
    second = make.case()
    year = tokyo_year(utcnow())
    assert first.number == f"{year}-0001"
    assert second.number == f"{year}-0002"


def test_open_case_records_timeline_audit_and_items(make):
    responder = make.user()
    case = make.case(responder, urls=["https://x.com/fake", "@fake_handle", "https://x.com/fake"])
    assert case.status == CaseStatus.NEW
    assert case.department_id == responder.department_id
    assert case.reporter_id == responder.id
    assert [i.target for i in case.offending_items] == ["https://x.com/fake", "@fake_handle"]
    assert events_of(case) == ["opened", "item_added", "item_added"]
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.case_id == case.id)).all()
    assert actions.count("case.create") == 1 and actions.count("offending_item.create") == 2


@pytest.mark.parametrize("target", ["javascript:alert(1)", "ftp://x.example/a", "not a url",
                                    "@bad handle", "https://", "http://exa mple.com"])
def test_bad_offending_targets_are_refused(make, target):
    with pytest.raises(ValidationFailed) as info:
        make.case(urls=[target])
    assert "urls" in info.value.fields


def test_responder_cannot_open_case_for_another_department(make):
    responder = make.user()
    other = make.department()
    with pytest.raises(PermissionDenied):
        make.case(responder, department_id=other.id)


def test_admin_opens_case_for_another_department(make):
    admin = make.user("admin")
    other = make.department()
    case = make.case(admin, department_id=other.id)
    assert case.department_id == other.id


def test_future_detection_time_is_refused(make):
    with pytest.raises(ValidationFailed) as info:
        make.case(detected_at=(utcnow() + dt.timedelta(days=1)).isoformat())
    assert "detected_at" in info.value.fields


def test_acknowledge_records_who_and_when(make):
    responder = make.user()
    case = make.case(responder)
    service.acknowledge(responder, case)
    db.session.commit()
    assert case.status == CaseStatus.RESPONDING
    assert case.acknowledged_by_id == responder.id
    assert case.acknowledged_at is not None
    assert events_of(case)[-1] == "acknowledged"
    with pytest.raises(CaseError):
        service.acknowledge(responder, case)


def test_forbidden_transition_is_refused_with_message(make):
    responder = make.user()
    case = make.case(responder)
    with pytest.raises(CaseError) as info:
        service.change_status(responder, case, CaseStatus.MONITORING)
    assert "新規" in str(info.value.message) and "経過観察" in str(info.value.message)


def test_only_supervisor_closes_and_reopen_needs_reason(make):
    department = make.department()
    responder = make.user("responder", department)
    supervisor = make.user("supervisor", department)
    case = make.case(responder)
    service.acknowledge(responder, case)
    with pytest.raises(PermissionDenied):
        service.change_status(responder, case, CaseStatus.CLOSED)
    service.change_status(supervisor, case, CaseStatus.CLOSED, "対応完了", waive_open_steps=True)
    assert case.closed_at is not None
    with pytest.raises(ValidationFailed):
        service.change_status(supervisor, case, CaseStatus.RESPONDING, "")
    service.change_status(supervisor, case, CaseStatus.RESPONDING, "新たな投稿を確認")
    assert case.status == CaseStatus.RESPONDING and case.closed_at is None


def test_supervisor_of_other_department_cannot_close(make):
    responder = make.user()
    outsider = make.user("supervisor")
    case = make.case(responder, assignee_id=None)
    with pytest.raises(NotFound):
        service.change_status(outsider, case, CaseStatus.CLOSED, "x")


def test_assignment_rules(make):
    department = make.department()
    responder = make.user("responder", department)
    colleague = make.user("responder", department)
    supervisor = make.user("supervisor", department)
    stranger = make.user("responder")
    case = make.case(responder)
    with pytest.raises(PermissionDenied):
        service.assign(responder, case, colleague.id)
    with pytest.raises(ValidationFailed):
        service.assign(supervisor, case, stranger.id)  # another department: admins only
    service.assign(supervisor, case, colleague.id)
    db.session.commit()
    assert case.assignee_id == colleague.id
    admin = make.user("admin")
    service.assign(admin, case, stranger.id)
    db.session.commit()
    assert case.assignee_id == stranger.id
    # The assignee from another department now sees the case.
    assert service.get_case(stranger, case.id) is case
    event = queries.timeline(case)[-1]
    assert event.event == "assigned" and event.data["old_name"] == colleague.name


def test_correction_keeps_original_and_links(make):
    responder = make.user()
    case = make.case(responder)
    original = service.add_note(responder, case, "午後3時に削除依頼")
    correction = service.add_note(responder, case, "午後4時に削除依頼", corrects=original)
    db.session.commit()
    assert correction.corrects_id == original.id
    assert db.session.get(Note, original.id).body == "午後3時に削除依頼"
    with pytest.raises(CaseError):
        service.add_note(responder, case, "again", corrects=original)
    assert events_of(case)[-2:] == ["note_added", "note_corrected"]


def test_note_of_other_case_cannot_be_corrected_through_this_case(make):
    responder = make.user()
    case_a = make.case(responder)
    case_b = make.case(responder)
    note = service.add_note(responder, case_a, "a")
    with pytest.raises(NotFound):
        service.get_note(case_b, note.id)


def test_empty_note_is_refused(make):
    responder = make.user()
    case = make.case(responder)
    with pytest.raises(ValidationFailed):
        service.add_note(responder, case, "   ")


def test_stale_version_is_refused_and_nothing_changes(make):
    responder = make.user()
    case = make.case(responder)
    seen = case.version
    service.update_case(responder, case, seen, {"title": "first"})
    db.session.commit()
    with pytest.raises(Conflict):
        service.update_case(responder, case, seen, {"title": "second"})
    db.session.rollback()
    assert db.session.get(type(case), case.id).title == "first"


def test_update_audits_old_and_new_values(make):
    responder = make.user()
    case = make.case(responder, title="old title")
    service.update_case(responder, case, case.version, {"title": "new title", "severity": "high"})
    db.session.commit()
    row = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "case.update", AuditLog.case_id == case.id)
    ).one()
    assert row.changes["title"] == ["old title", "new title"]
    assert row.changes["severity"] == ["medium", "high"]
    assert row.actor_id == responder.id and row.request_id


def test_closed_case_cannot_be_edited(make):
    department = make.department()
    supervisor = make.user("supervisor", department)
    case = make.case(supervisor)
    service.change_status(supervisor, case, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    with pytest.raises(CaseError):
        service.update_case(supervisor, case, case.version, {"title": "x"})


def test_list_filters(make):
    department = make.department(code="kanko")
    responder = make.user("responder", department)
    supervisor = make.user("supervisor", department)
    a = make.case(responder, kind="impersonation", severity="high", title="偽アカウント発見")
    b = make.case(responder, kind="flaming", title="批判殺到")
    service.assign(supervisor, b, responder.id)
    make.case(make.user(), title="別の課の案件")
    db.session.commit()

    def numbers(**kwargs):
        query = queries.case_list_query(supervisor, queries.CaseFilters(**kwargs))
        return [c.id for c in db.session.scalars(query)]

    assert numbers() == [b.id, a.id]
    assert numbers(kind="impersonation") == [a.id]
    assert numbers(severity="high") == [a.id]
    assert numbers(assignee_id=responder.id) == [b.id]
    assert numbers(assignee_id=0) == [a.id]
    assert numbers(q="偽") == [a.id]
    assert numbers(q="100%") == []
    assert numbers(department="kanko") == [b.id, a.id]


def test_timeline_rows_are_in_order(make):
    responder = make.user()
    case = make.case(responder)
    service.acknowledge(responder, case)
    service.add_note(responder, case, "x")
    db.session.commit()
    assert db.session.scalars(select(TimelineEvent.event).where(TimelineEvent.case_id == case.id)
                              .order_by(TimelineEvent.id)).all() == ["opened", "acknowledged", "note_added"]
