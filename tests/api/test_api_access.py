"""API v1 access rules: department isolation (404, never telling whether a case exists), the PR
office's view of everything, assignees from other departments, and the 403s for responders."""
from __future__ import annotations

import pytest


def case_calls(case_id: int, note_id: int) -> list[tuple[str, str, dict | None]]:
    """Every per-case call, with a body that would succeed for someone allowed to make it."""
    return [
        ("GET", f"/api/v1/cases/{case_id}", None),
        ("PATCH", f"/api/v1/cases/{case_id}", {"version": 1, "title": "乗っ取り"}),
        ("POST", f"/api/v1/cases/{case_id}/acknowledge", None),
        ("POST", f"/api/v1/cases/{case_id}/status", {"status": "responding"}),
        ("POST", f"/api/v1/cases/{case_id}/assignment", {"assignee_id": None}),
        ("POST", f"/api/v1/cases/{case_id}/notes", {"body": "覗き見"}),
        ("GET", f"/api/v1/cases/{case_id}/notes/{note_id}", None),
        ("POST", f"/api/v1/cases/{case_id}/notes/{note_id}/corrections", {"body": "改ざん"}),
        ("POST", f"/api/v1/cases/{case_id}/items", {"target": "https://x.com/a"}),
        ("GET", f"/api/v1/cases/{case_id}/timeline", None),
    ]


CALL_NAMES = ["get", "patch", "acknowledge", "status", "assignment", "add_note", "get_note",
              "correct_note", "add_item", "timeline"]


@pytest.fixture
def case_a(api, city):
    """A new case of department A with one note, as the API returns it."""
    case = api("POST", "/api/v1/cases", city.responder_a,
               json={"kind": "flaming", "title": "防災課の案件", "severity": "high"}).get_json()
    note = api("POST", f"/api/v1/cases/{case['id']}/notes", city.responder_a, json={"body": "秘密のメモ"})
    case["note_id"] = note.get_json()["id"]
    return case


@pytest.mark.parametrize("index", range(len(CALL_NAMES)), ids=CALL_NAMES)
@pytest.mark.parametrize("who", ["responder_b", "supervisor_b"])
def test_other_department_gets_404_and_changes_nothing(api, city, case_a, expect_error, who, index):
    method, url, body = case_calls(case_a["id"], case_a["note_id"])[index]
    kwargs = {"json": body} if body is not None else {}
    response = api(method, url, getattr(city, who), **kwargs)
    expect_error(response, 404, "not_found")
    # Exactly the answer for a case that does not exist: nothing tells the two apart.
    method, missing_url, body = case_calls(999_999, 999_999)[index]
    missing = api(method, missing_url, getattr(city, who), **kwargs)
    assert missing.status_code == 404 and missing.get_json() == response.get_json()
    # And the case is untouched.
    after = api("GET", f"/api/v1/cases/{case_a['id']}", city.responder_a).get_json()
    assert after["title"] == "防災課の案件" and after["status"] == "new" and after["version"] == 1
    assert [n["body"] for n in after["notes"]] == ["秘密のメモ"]
    assert after["offending_items"] == []


def test_other_department_does_not_see_it_in_the_list(api, city, case_a):
    own = api("POST", "/api/v1/cases", city.responder_b,
              json={"kind": "flaming", "title": "観光課の案件", "severity": "low"}).get_json()
    for user in (city.responder_b, city.supervisor_b):
        data = api("GET", "/api/v1/cases", user).get_json()
        assert [i["id"] for i in data["items"]] == [own["id"]] and data["total"] == 1
        # Not even by asking for department A or searching its title.
        assert api("GET", "/api/v1/cases?department=dept-a", user).get_json()["total"] == 0
        assert api("GET", "/api/v1/cases?q=防災課", user).get_json()["total"] == 0
    for user in (city.responder_a, city.supervisor_a):
        data = api("GET", "/api/v1/cases", user).get_json()
        assert [i["id"] for i in data["items"]] == [case_a["id"]]


def test_admin_sees_and_works_on_every_department(api, city, case_a):
    case_b = api("POST", "/api/v1/cases", city.responder_b,
                 json={"kind": "impersonation", "title": "観光課の案件", "severity": "low"}).get_json()
    data = api("GET", "/api/v1/cases", city.admin).get_json()
    assert {i["id"] for i in data["items"]} == {case_a["id"], case_b["id"]} and data["total"] == 2
    for case in (case_a, case_b):
        cid = case["id"]
        assert api("GET", f"/api/v1/cases/{cid}", city.admin).status_code == 200
        assert api("GET", f"/api/v1/cases/{cid}/timeline", city.admin).status_code == 200
        assert api("POST", f"/api/v1/cases/{cid}/notes", city.admin, json={"body": "広報より"}).status_code == 201
        assert api("PATCH", f"/api/v1/cases/{cid}", city.admin,
                   json={"version": case["version"], "severity": "medium"}).status_code == 200


def test_assignee_from_another_department_sees_the_case(api, city, case_a, expect_error):
    cid = case_a["id"]
    assert api("GET", f"/api/v1/cases/{cid}", city.responder_b).status_code == 404
    assigned = api("POST", f"/api/v1/cases/{cid}/assignment", city.admin,
                   json={"assignee_id": city.responder_b.id})
    assert assigned.status_code == 200
    # The assignee now sees it, in the list and in detail, and can work on it.
    detail = api("GET", f"/api/v1/cases/{cid}", city.responder_b)
    assert detail.status_code == 200 and detail.get_json()["notes"][0]["body"] == "秘密のメモ"
    listed = api("GET", "/api/v1/cases", city.responder_b).get_json()
    assert [i["id"] for i in listed["items"]] == [cid]
    assert api("GET", f"/api/v1/cases/{cid}/timeline", city.responder_b).status_code == 200
    note = api("POST", f"/api/v1/cases/{cid}/notes", city.responder_b, json={"body": "担当B確認"})
    assert note.status_code == 201
    ack = api("POST", f"/api/v1/cases/{cid}/acknowledge", city.responder_b)
    assert ack.status_code == 200 and ack.get_json()["status"] == "responding"
    # But being the assignee does not make them able to assign: they see it, so 403.
    expect_error(api("POST", f"/api/v1/cases/{cid}/assignment", city.responder_b,
                     json={"assignee_id": None}), 403, "forbidden")
    # Their supervisor is not the assignee and still gets 404.
    expect_error(api("GET", f"/api/v1/cases/{cid}", city.supervisor_b), 404, "not_found")
    # Unassigned again, the case disappears for them.
    api("POST", f"/api/v1/cases/{cid}/assignment", city.admin, json={"assignee_id": None})
    expect_error(api("GET", f"/api/v1/cases/{cid}", city.responder_b), 404, "not_found")


def test_responder_cannot_assign_on_a_case_they_see(api, city, case_a, expect_error):
    cid = case_a["id"]
    for assignee in (city.responder_a.id, city.responder_a2.id, None):
        response = api("POST", f"/api/v1/cases/{cid}/assignment", city.responder_a,
                       json={"assignee_id": assignee})
        expect_error(response, 403, "forbidden")
    assert api("GET", f"/api/v1/cases/{cid}", city.admin).get_json()["assignee"] is None
    events = [e["event"] for e in api("GET", f"/api/v1/cases/{cid}/timeline", city.admin).get_json()["items"]]
    assert "assigned" not in events


def test_supervisor_assigns_only_within_their_department(api, city, case_a, expect_error):
    cid = case_a["id"]
    ok = api("POST", f"/api/v1/cases/{cid}/assignment", city.supervisor_a,
             json={"assignee_id": city.responder_a2.id})
    assert ok.status_code == 200 and ok.get_json()["assignee"]["id"] == city.responder_a2.id
    # Someone from department B is refused as assignee.
    expect_error(api("POST", f"/api/v1/cases/{cid}/assignment", city.supervisor_a,
                     json={"assignee_id": city.responder_b.id}), 422, "validation_failed", "assignee_id")
    assert api("GET", f"/api/v1/cases/{cid}", city.admin).get_json()["assignee"]["id"] == city.responder_a2.id


@pytest.mark.parametrize("path", [["responding"], ["responding", "monitoring"]])
def test_responder_cannot_close(api, city, case_a, expect_error, path):
    url = f"/api/v1/cases/{case_a['id']}/status"
    for status in path:
        assert api("POST", url, city.responder_a, json={"status": status}).status_code == 200
    response = api("POST", url, city.responder_a,
                   json={"status": "closed", "reason": "終わった", "waive_open_steps": True})
    expect_error(response, 403, "forbidden")
    assert api("GET", f"/api/v1/cases/{case_a['id']}", city.admin).get_json()["status"] == path[-1]


def test_responder_cannot_close_a_new_case_either(api, city, case_a, expect_error):
    response = api("POST", f"/api/v1/cases/{case_a['id']}/status", city.responder_a,
                   json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    expect_error(response, 403, "forbidden")
    assert api("GET", f"/api/v1/cases/{case_a['id']}", city.admin).get_json()["status"] == "new"


def test_responder_cannot_reopen(api, city, case_a, expect_error):
    url = f"/api/v1/cases/{case_a['id']}/status"
    closed = api("POST", url, city.supervisor_a, json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    assert closed.status_code == 200
    expect_error(api("POST", url, city.responder_a, json={"status": "responding", "reason": "再燃"}),
                 403, "forbidden")
    assert api("GET", f"/api/v1/cases/{case_a['id']}", city.admin).get_json()["status"] == "closed"


def test_assignee_from_another_department_cannot_close(api, city, case_a, expect_error):
    """Closing needs the supervisor of the case's department (or the PR office), not of the assignee's."""
    cid = case_a["id"]
    api("POST", f"/api/v1/cases/{cid}/assignment", city.admin, json={"assignee_id": city.supervisor_b.id})
    assert api("GET", f"/api/v1/cases/{cid}", city.supervisor_b).status_code == 200
    response = api("POST", f"/api/v1/cases/{cid}/status", city.supervisor_b,
                   json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    expect_error(response, 403, "forbidden")
    expect_error(api("POST", f"/api/v1/cases/{cid}/assignment", city.supervisor_b,
                     json={"assignee_id": None}), 403, "forbidden")


def test_responders_move_open_cases_along(api, city, case_a):
    """The 403s above are about closing and reopening only: everyday moves are open to responders."""
    url = f"/api/v1/cases/{case_a['id']}/status"
    assert api("POST", url, city.responder_a2, json={"status": "responding"}).get_json()["status"] == "responding"
    assert api("POST", url, city.responder_a2, json={"status": "monitoring"}).get_json()["status"] == "monitoring"
