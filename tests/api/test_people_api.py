"""API v1 for people and departments (PR office only): every answer is checked against the OpenAPI document."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from incident.audit.models import AuditLog
from incident.auth.models import Department, Posting, Role, User
from incident.cases.models import Case
from incident.extensions import db

SECRETS = ("password_hash", "totp_secret", "token_hash", "pbkdf2", "scrypt")


def _no_secrets(response) -> None:
    text = response.get_data(as_text=True)
    for word in SECRETS:
        assert word not in text, word


def _fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def test_the_pr_office_lists_and_searches_people(api, city):
    response = api("GET", "/api/v1/users", city.admin)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 6 and {u["email"] for u in body["items"]} >= {city.responder_b.email}
    _no_secrets(response)
    found = api("GET", "/api/v1/users?q=所属長B", city.admin).get_json()["items"]
    assert [u["id"] for u in found] == [city.supervisor_b.id]
    in_b = api("GET", f"/api/v1/users?department_id={city.dept_b.id}&state=active", city.admin).get_json()
    assert {u["id"] for u in in_b["items"]} == {city.responder_b.id, city.supervisor_b.id}


def test_creating_a_user_returns_a_temporary_password_once(api, city, client):
    response = api("POST", "/api/v1/users", city.admin, json={
        "name": "新人", "email": "New@Example.JP", "role": "responder", "department_id": city.dept_a.id,
        "organisation": "株式会社みなと", "operator_kind": "contractor"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "new@example.jp" and body["must_change_password"] is True
    assert body["organisation"] == "株式会社みなと" and body["operator_kind"] == "contractor"
    user = _fresh(User, body["id"])
    assert user.check_password(body["temporary_password"])
    _no_secrets(response)
    again = api("GET", f"/api/v1/users/{user.id}", city.admin).get_json()
    assert "temporary_password" not in again and again["postings"][0]["department"]["code"] == "dept-a"


@pytest.mark.parametrize("change, field, status", [
    ({"email": "nope"}, "email", 422),
    ({"email": 7}, "email", 422),
    ({"name": ""}, "name", 422),
    ({"role": "emperor"}, "role", 422),
    ({"department_id": 999999}, "department_id", 422),
    ({"department_id": "1"}, "department_id", 422),
    ({"role": "admin", "organisation": "株式会社みなと"}, "organisation", 422),
    ({"operator_kind": "city", "organisation": "x"}, "operator_kind", 422),
])
def test_bad_input_is_refused_with_the_field(api, city, expect_error, change, field, status):
    body = {"name": "新人", "email": "new@example.jp", "role": "responder", "department_id": city.dept_a.id, **change}
    expect_error(api("POST", "/api/v1/users", city.admin, json=body), status, "validation_failed", field)
    assert db.session.scalar(select(User).where(User.email == "new@example.jp")) is None


def test_email_is_unique_whatever_its_case(api, city, expect_error):
    taken = city.responder_a.email.upper()
    expect_error(api("POST", "/api/v1/users", city.admin, json={
        "name": "x", "email": taken, "role": "responder", "department_id": city.dept_a.id}), 409, "conflict", "email")
    expect_error(api("PATCH", f"/api/v1/users/{city.responder_b.id}", city.admin, json={"email": taken}),
                 409, "conflict", "email")


def test_patch_moves_a_person_with_a_posting_and_audit_row(api, city):
    response = api("PATCH", f"/api/v1/users/{city.responder_b.id}", city.admin, json={
        "name": "担当B改", "role": "supervisor", "department_id": city.dept_a.id})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["name"], body["role"], body["department"]["code"]) == ("担当B改", "supervisor", "dept-a")
    assert [p["department"]["code"] for p in body["postings"]][:1] == ["dept-a"]
    assert body["postings"][0]["ended_at"] is None
    move = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.move")).one()
    assert move.object_id == city.responder_b.id and move.actor_id == city.admin.id
    assert db.session.scalars(select(Posting).where(Posting.user_id == city.responder_b.id,
                                                    Posting.ended_at.is_(None))).one().role == Role.SUPERVISOR


def test_deactivation_with_reassignment_in_one_step(api, city, make, client, token_for):
    case = make.case(actor=city.supervisor_a, assignee_id=city.responder_a.id, department_id=city.dept_a.id)
    headers = token_for(city.responder_a)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    work = api("GET", f"/api/v1/users/{city.responder_a.id}/handover", city.admin).get_json()
    assert [c["id"] for c in work["cases"]] == [case.id]
    response = api("POST", f"/api/v1/users/{city.responder_a.id}/deactivate", city.admin,
                   json={"reassign_to": city.responder_a2.id})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["reassigned_case_ids"] == [case.id]
    assert response.get_json()["user"]["active"] is False
    assert _fresh(Case, case.id).assignee_id == city.responder_a2.id
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    timeline = api("GET", f"/api/v1/cases/{case.id}/timeline", city.admin).get_json()
    assert any(e["event"] == "assigned" for e in timeline["items"])


def test_deactivation_refusals(api, city, expect_error):
    expect_error(api("POST", f"/api/v1/users/{city.responder_a.id}/deactivate", city.admin,
                     json={"reassign_to": city.responder_a.id}), 422, "validation_failed", "reassign_to")
    expect_error(api("POST", f"/api/v1/users/{city.responder_a.id}/deactivate", city.admin,
                     json={"reassign_to": "x"}), 422, "validation_failed", "reassign_to")
    expect_error(api("POST", f"/api/v1/users/{city.admin.id}/deactivate", city.admin, json={}), 403, "forbidden")
    assert _fresh(User, city.responder_a.id).active and _fresh(User, city.admin.id).active


def test_departments(api, city, expect_error):
    listing = api("GET", "/api/v1/departments", city.admin).get_json()["items"]
    assert {d["code"]: d["active_people"] for d in listing}["dept-a"] == 3
    created = api("POST", "/api/v1/departments", city.admin, json={"code": "kikaku", "name": "企画課"})
    assert created.status_code == 201
    department_id = created.get_json()["id"]
    renamed = api("PATCH", f"/api/v1/departments/{department_id}", city.admin,
                  json={"name": "企画政策課", "contact": "内線 100"})
    assert renamed.get_json()["name"] == "企画政策課" and renamed.get_json()["contact"] == "内線 100"
    expect_error(api("PATCH", f"/api/v1/departments/{department_id}", city.admin, json={"name": ""}),
                 422, "validation_failed", "name")
    expect_error(api("POST", "/api/v1/departments", city.admin, json={"code": "KIKAKU", "name": "x"}),
                 409, "conflict", "code")
    expect_error(api("DELETE", f"/api/v1/departments/{city.dept_a.id}", city.admin), 409, "conflict")
    assert _fresh(Department, city.dept_a.id) is not None
    gone = api("DELETE", f"/api/v1/departments/{department_id}", city.admin)
    assert gone.status_code == 200 and gone.get_json()["code"] == "kikaku"
    assert _fresh(Department, department_id) is None


@pytest.mark.parametrize("role", ["responder_a", "supervisor_a", "supervisor_b"])
def test_everyone_but_the_pr_office_gets_404(api, city, role, expect_error):
    caller = getattr(city, role)
    target, department = city.responder_b, city.dept_b
    calls = [("GET", "/api/v1/users", None), ("POST", "/api/v1/users", {"name": "x"}),
             ("GET", f"/api/v1/users/{target.id}", None), ("PATCH", f"/api/v1/users/{target.id}", {"name": "x"}),
             ("POST", f"/api/v1/users/{target.id}/deactivate", {}),
             ("GET", f"/api/v1/users/{target.id}/handover", None),
             ("GET", "/api/v1/departments", None), ("POST", "/api/v1/departments", {"code": "x", "name": "x"}),
             ("PATCH", f"/api/v1/departments/{department.id}", {"name": "x"}),
             ("DELETE", f"/api/v1/departments/{department.id}", None)]
    for method, url, body in calls:
        response = api(method, url, caller, json=body) if body is not None else api(method, url, caller)
        expect_error(response, 404, "not_found")
    user = _fresh(User, target.id)
    assert user.active and user.name == "担当B" and _fresh(Department, department.id).name == "観光課"


def test_malformed_bodies_are_400_or_422_never_500(api, city, client):
    for body in ("[]", "{", json.dumps({"reassign_to": True}), json.dumps({"reassign_to": 1.5})):
        response = api("POST", f"/api/v1/users/{city.responder_b.id}/deactivate", city.admin, data=body,
                       content_type="application/json")
        assert response.status_code in (400, 422), body
    assert _fresh(User, city.responder_b.id).active
