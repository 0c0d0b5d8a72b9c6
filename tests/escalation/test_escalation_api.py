"""API v1: escalate a case, acknowledge an escalation, list escalations and notifications."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from incident.cases import service as cases
from incident.cases.models import CaseStatus
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.notifications.models import Notification

# `api` and `city` come from tests/conftest.py.


@pytest.fixture
def case(city, make):
    return make.case(city.responder_a, severity="high", title="API の案件")


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()["error"]["code"]


def escalation_notifications(user) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "escalation").order_by(Notification.id)))


def test_escalating_a_case_notifies_the_supervisors(api, city, case):
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a,
                   json={"reason": "批判が急増しています"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["case_id"] == case.id and body["trigger"] == "manual" and body["open"] is True
    assert body["reason"] == "批判が急増しています" and body["level"] == "supervisors"
    assert body["raised_by"]["id"] == city.responder_a.id
    assert body["created_at"] and body["acknowledged_at"] is None and body["next_at"]
    stored = db.session.get(Escalation, body["id"])
    assert stored is not None and stored.reason == "批判が急増しています"
    # The department's supervisor is told; the other department's and the PR office are not.
    [note] = escalation_notifications(city.supervisor_a)
    assert case.number in note.title and note.case_id == case.id
    assert escalation_notifications(city.supervisor_b) == [] and escalation_notifications(city.admin) == []
    assert escalation_notifications(city.responder_a) == []

    listed = api("GET", "/api/v1/notifications", city.supervisor_a)
    assert listed.status_code == 200
    data = listed.get_json()
    escalated = [n for n in data["items"] if n["kind"] == "escalation"]
    assert [n["id"] for n in escalated] == [note.id]
    assert escalated[0]["case_id"] == case.id and escalated[0]["link"] == f"/cases/{case.id}#escalations"
    assert escalated[0]["read_at"] is None and "批判が急増しています" in escalated[0]["body"]
    # case_opened + escalation, both unread.
    assert data["unread"] == 2 and data["total"] == 2
    unread_only = api("GET", "/api/v1/notifications?unread=1", city.supervisor_a).get_json()
    assert unread_only["total"] == 2
    # Others do not see the supervisor's notifications.
    assert api("GET", "/api/v1/notifications", city.supervisor_b).get_json()["total"] == 0


def test_a_supervisor_escalates_to_the_pr_office(api, city, case):
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.supervisor_a, json={"reason": "全庁対応"})
    assert response.status_code == 201
    assert response.get_json()["level"] == "pr_office"
    assert len(escalation_notifications(city.admin)) == 1


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x" * 2001}],
                         ids=["missing", "empty", "blank", "number", "too-long"])
def test_escalation_needs_a_reason(api, city, case, payload):
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json=payload)
    assert error_code(response, 422) == "validation_failed"
    assert "reason" in response.get_json()["error"]["fields"]
    assert db.session.scalars(select(Escalation)).all() == []
    assert escalation_notifications(city.supervisor_a) == []


def test_another_departments_case_is_not_found(api, city, case):
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_b, json={"reason": "見えない"})
    assert error_code(response, 404) == "not_found"
    assert api("POST", "/api/v1/cases/999999/escalations", city.responder_a,
               json={"reason": "ない"}).status_code == 404
    assert db.session.scalars(select(Escalation)).all() == []


def test_a_closed_case_cannot_be_escalated(api, city, case):
    cases.change_status(city.supervisor_a, case, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "遅い"})
    assert error_code(response, 409) == "conflict"
    assert db.session.scalars(select(Escalation)).all() == []


def test_acknowledging_an_escalation(api, city, case):
    created = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "相談"})
    escalation_id = created.get_json()["id"]
    # Someone of another department, never told: it does not exist for them.
    response = api("POST", f"/api/v1/escalations/{escalation_id}/acknowledge", city.responder_b)
    assert error_code(response, 404) == "not_found"
    assert api("POST", f"/api/v1/escalations/{escalation_id}/acknowledge", city.supervisor_b).status_code == 404

    response = api("POST", f"/api/v1/escalations/{escalation_id}/acknowledge", city.supervisor_a)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["open"] is False and body["acknowledged_at"] and body["next_at"] is None
    assert body["acknowledged_by"]["id"] == city.supervisor_a.id
    db.session.expire_all()
    stored = db.session.get(Escalation, escalation_id)
    assert stored.acknowledged_by_id == city.supervisor_a.id and stored.acknowledged_at is not None

    again = api("POST", f"/api/v1/escalations/{escalation_id}/acknowledge", city.supervisor_a)
    assert error_code(again, 409) == "conflict"
    assert api("POST", "/api/v1/escalations/999999/acknowledge", city.supervisor_a).status_code == 404


def test_a_colleague_who_was_not_told_may_not_acknowledge(api, city, case):
    created = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "相談"})
    escalation_id = created.get_json()["id"]
    response = api("POST", f"/api/v1/escalations/{escalation_id}/acknowledge", city.responder_a2)
    assert error_code(response, 403) == "forbidden"
    assert db.session.get(Escalation, escalation_id).acknowledged_at is None


def test_listing_open_escalations(api, city, case, make):
    first = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "一件目"})
    second = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "二件目"})
    other_case = make.case(city.responder_b, title="観光の案件")
    other = api("POST", f"/api/v1/cases/{other_case.id}/escalations", city.responder_b, json={"reason": "別"})
    first_id, second_id, other_id = (r.get_json()["id"] for r in (first, second, other))
    api("POST", f"/api/v1/escalations/{first_id}/acknowledge", city.supervisor_a)

    everything = api("GET", "/api/v1/escalations", city.supervisor_a).get_json()
    assert [e["id"] for e in everything["items"]] == [second_id, first_id] and everything["total"] == 2
    open_only = api("GET", "/api/v1/escalations?open=1", city.supervisor_a).get_json()
    assert [e["id"] for e in open_only["items"]] == [second_id] and open_only["total"] == 1
    assert all(e["open"] for e in open_only["items"])
    # The PR office sees every department's.
    admin_open = api("GET", "/api/v1/escalations?open=1", city.admin).get_json()
    assert sorted(e["id"] for e in admin_open["items"]) == sorted([second_id, other_id])
    # Department B sees only its own.
    assert [e["id"] for e in api("GET", "/api/v1/escalations", city.responder_b).get_json()["items"]] == [other_id]


def test_marking_a_notification_read(api, city, case):
    api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "読んで"})
    [note] = escalation_notifications(city.supervisor_a)
    response = api("POST", f"/api/v1/notifications/{note.id}/read", city.supervisor_a)
    assert response.status_code == 200
    assert response.get_json()["id"] == note.id and response.get_json()["read_at"]
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is not None
    assert api("GET", "/api/v1/notifications", city.supervisor_a).get_json()["unread"] == 1
    # Reading again keeps it read.
    assert api("POST", f"/api/v1/notifications/{note.id}/read", city.supervisor_a).status_code == 200

    theirs = db.session.scalars(select(Notification).where(Notification.user_id == city.supervisor_a.id,
                                                           Notification.read_at.is_(None))).one()
    response = api("POST", f"/api/v1/notifications/{theirs.id}/read", city.supervisor_b)
    assert error_code(response, 404) == "not_found"
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None
    assert api("POST", "/api/v1/notifications/999999/read", city.supervisor_a).status_code == 404


@pytest.mark.parametrize("method, url", [
    ("POST", "/api/v1/cases/1/escalations"),
    ("POST", "/api/v1/escalations/1/acknowledge"),
    ("GET", "/api/v1/escalations?open=1"),
    ("GET", "/api/v1/notifications"),
    ("POST", "/api/v1/notifications/1/read"),
])
def test_every_route_needs_a_token(api, city, case, method, url):
    api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a, json={"reason": "トークン"})
    kwargs: dict[str, Any] = {"json": {"reason": "なし"}} if method == "POST" else {}
    response = api(method, url, None, **kwargs)
    assert error_code(response, 401) == "unauthorized"
    bad = api(method, url, None, headers={"Authorization": "Bearer not-a-token"}, **kwargs)
    assert error_code(bad, 401) == "unauthorized"
    db.session.expire_all()
    assert len(db.session.scalars(select(Escalation)).all()) == 1
    assert db.session.scalars(select(Escalation)).one().acknowledged_at is None
    assert db.session.scalars(select(Notification).where(Notification.read_at.is_not(None))).all() == []
    assert db.session.scalars(select(EscalationNotice)).all() != []
