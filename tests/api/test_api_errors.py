"""API v1 error handling: unreadable bodies are 400, invalid input is 422 naming the field, and no
input whatsoever produces a 500 or a half-created case."""
from __future__ import annotations

import datetime as dt

import pytest

from incident.dates import utcnow

VALID = {"kind": "flaming", "title": "正しい案件", "severity": "medium"}


def body_endpoints(case_id: int, note_id: int) -> list[tuple[str, str]]:
    """Every endpoint that reads a JSON body."""
    return [
        ("POST", "/api/v1/cases"),
        ("PATCH", f"/api/v1/cases/{case_id}"),
        ("POST", f"/api/v1/cases/{case_id}/status"),
        ("POST", f"/api/v1/cases/{case_id}/assignment"),
        ("POST", f"/api/v1/cases/{case_id}/notes"),
        ("POST", f"/api/v1/cases/{case_id}/notes/{note_id}/corrections"),
        ("POST", f"/api/v1/cases/{case_id}/items"),
    ]


ENDPOINT_NAMES = ["create", "patch", "status", "assignment", "note", "correction", "item"]

UNREADABLE = {
    "truncated": (b'{"kind": "flaming", "title": ', "application/json"),
    "trailing-comma": (b'{"kind": "flaming",}', "application/json"),
    "single-quotes": (b"{'kind': 'flaming'}", "application/json"),
    "empty": (b"", "application/json"),
    "garbage": (b"kind=flaming", "application/json"),
    "not-utf8": (b"\xff\xfe\xfa", "application/json"),
    "nan": (b'{"kind": "flaming", "title": "t", "severity": "low", "version": NaN}', "application/json"),
    "infinity": (b'{"title": "t", "version": Infinity, "assignee_id": -Infinity}', "application/json"),
    "huge-float": (b'{"title": "t", "version": 1e400, "assignee_id": 1e400, "official_account_id": 1e400}',
                   "application/json"),
    "deeply-nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "deeply-nested-object": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    "array": (b'[{"kind": "flaming"}]', "application/json"),
    "string": (b'"flaming"', "application/json"),
    "number": (b"42", "application/json"),
    "null": (b"null", "application/json"),
    "true": (b"true", "application/json"),
    "form-encoded": (b"kind=flaming&title=x&severity=low", "application/x-www-form-urlencoded"),
    "text-plain-json": (b'{"kind": "flaming", "title": "x", "severity": "low"}', "text/plain"),
    "no-content-type": (b'{"kind": "flaming", "title": "x", "severity": "low"}', None),
    "form-fields": (None, "multipart/form-data"),
}


@pytest.fixture
def target(api, city, make):
    case = make.case(city.supervisor_a)
    note = api("POST", f"/api/v1/cases/{case.id}/notes", city.supervisor_a, json={"body": "メモ"}).get_json()
    return case.id, note["id"]


def snapshot(api, city, case_id: int):
    """Everything a client could see change."""
    return (
        api("GET", "/api/v1/cases", city.admin).get_json(),
        api("GET", f"/api/v1/cases/{case_id}", city.admin).get_json(),
        api("GET", f"/api/v1/cases/{case_id}/timeline", city.admin).get_json(),
    )


@pytest.mark.parametrize("name", list(UNREADABLE))
@pytest.mark.parametrize("index", range(len(ENDPOINT_NAMES)), ids=ENDPOINT_NAMES)
def test_unreadable_body_is_400(api, city, target, expect_error, client, name, index):
    case_id, note_id = target
    method, url = body_endpoints(case_id, note_id)[index]
    data, content_type = UNREADABLE[name]
    before = snapshot(api, city, case_id)
    if name == "form-fields":
        response = api(method, url, city.supervisor_a, data={"kind": "flaming", "title": "x"})
    elif content_type is None:
        response = api(method, url, city.supervisor_a, data=data)
    else:
        response = api(method, url, city.supervisor_a, data=data, content_type=content_type)
    expect_error(response, 400, "bad_request")
    assert snapshot(api, city, case_id) == before


def test_json_with_charset_is_fine(api, city):
    response = api("POST", "/api/v1/cases", city.responder_a,
                   data='{"kind": "flaming", "title": "文字コード指定", "severity": "low"}'.encode(),
                   content_type="application/json; charset=utf-8")
    assert response.status_code == 201 and response.get_json()["title"] == "文字コード指定"


def test_vendor_json_content_type_is_fine(api, city):
    response = api("POST", "/api/v1/cases", city.responder_a,
                   data=b'{"kind": "flaming", "title": "x", "severity": "low"}',
                   content_type="application/vnd.api+json")
    assert response.status_code == 201


def future(**delta) -> str:
    return (utcnow() + dt.timedelta(**delta)).isoformat()


BAD_CREATE = [
    # kind
    ({"kind": "spam"}, "kind"),
    ({"kind": ""}, "kind"),
    ({"kind": None}, "kind"),
    ({"kind": "FLAMING"}, "kind"),
    ({"kind": 1}, "kind"),
    ({"kind": ["flaming"]}, "kind"),
    ({"kind": {"value": "flaming"}}, "kind"),
    # title
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": None}, "title"),
    ({"title": 123}, "title"),
    ({"title": ["x"]}, "title"),
    ({"title": "x" * 201}, "title"),
    # severity
    ({"severity": "urgent"}, "severity"),
    ({"severity": None}, "severity"),
    ({"severity": 3}, "severity"),
    # optional fields
    ({"description": 5}, "description"),
    ({"description": "x" * 20_001}, "description"),
    ({"platform": "myspace"}, "platform"),
    ({"platform": 1}, "platform"),
    ({"source": ["電話"]}, "source"),
    ({"source": "x" * 201}, "source"),
    # official account
    ({"official_account_id": 424242}, "official_account_id"),
    ({"official_account_id": -1}, "official_account_id"),
    ({"official_account_id": True}, "official_account_id"),
    ({"official_account_id": False}, "official_account_id"),
    ({"official_account_id": "abc"}, "official_account_id"),
    ({"official_account_id": "1"}, "official_account_id"),
    ({"official_account_id": 1.5}, "official_account_id"),
    ({"official_account_id": [1]}, "official_account_id"),
    ({"official_account_id": {"id": 1}}, "official_account_id"),
    ({"official_account_id": 10**30}, "official_account_id"),
    ({"official_account_id": 2**63}, "official_account_id"),
    # assignee at creation
    ({"assignee_id": True}, "assignee_id"),
    ({"assignee_id": "abc"}, "assignee_id"),
    ({"assignee_id": 10**30}, "assignee_id"),
    ({"assignee_id": 424242}, "assignee_id"),
    # detection time
    ({"detected_at": "yesterday"}, "detected_at"),
    ({"detected_at": "2026-13-01T00:00"}, "detected_at"),
    ({"detected_at": ""}, "detected_at"),
    ({"detected_at": None}, "detected_at"),
    ({"detected_at": 1700000000}, "detected_at"),
    ({"detected_at": ["2024-01-01"]}, "detected_at"),
    ({"detected_at": "0001-01-01T00:00:00"}, "detected_at"),
    ({"detected_at": "0001-01-01T08:59:59"}, "detected_at"),
    ({"detected_at": "FUTURE+1d"}, "detected_at"),
    ({"detected_at": "FUTURE+1h"}, "detected_at"),
    ({"detected_at": "9999-12-31T23:59:59+14:00"}, "detected_at"),
    # offending URLs
    ({"urls": ["javascript:alert(1)"]}, "urls"),
    ({"urls": ["ftp://x"]}, "urls"),
    ({"urls": ["not a url"]}, "urls"),
    ({"urls": ["https://"]}, "urls"),
    ({"urls": ["http://exa mple.com"]}, "urls"),
    ({"urls": ["http://[::1"]}, "urls"),
    ({"urls": ["@bad handle"]}, "urls"),
    ({"urls": ["data:text/html,<script>alert(1)</script>"]}, "urls"),
    ({"urls": ["https://x.com/" + "a" * 500]}, "urls"),
    ({"urls": [1]}, "urls"),
    ({"urls": [None]}, "urls"),
    ({"urls": [["https://x.com"]]}, "urls"),
    ({"urls": {"a": "https://x.com"}}, "urls"),
    ({"urls": 5}, "urls"),
    ({"urls": "javascript:alert(1)"}, "urls"),
    ({"urls": [f"https://x.com/{n}" for n in range(51)]}, "urls"),
    ({"urls": ["https://x.com/ok", "ftp://bad"]}, "urls"),
    # department
    ({"department": 1}, "department"),
    ({"department": ["dept-a"]}, "department"),
    ({"department": "no-such-department"}, "department"),
]


@pytest.mark.parametrize("change, field", BAD_CREATE, ids=[f"{f}-{i}" for i, (_c, f) in enumerate(BAD_CREATE)])
def test_bad_create_payload_is_422_and_creates_nothing(api, city, make, expect_error, change, field):
    if change.get("detected_at") == "FUTURE+1d":
        change = {"detected_at": future(days=1)}
    elif change.get("detected_at") == "FUTURE+1h":
        change = {"detected_at": future(hours=1)}
    response = api("POST", "/api/v1/cases", city.admin, json={**VALID, **change})
    expect_error(response, 422, "validation_failed", field)
    assert api("GET", "/api/v1/cases", city.admin).get_json()["total"] == 0
    # The failed attempt did not use up a case number either.
    created = api("POST", "/api/v1/cases", city.admin, json=VALID).get_json()
    assert created["number"].endswith("-0001")


@pytest.mark.parametrize("missing", ["kind", "title", "severity"])
def test_missing_required_field_is_422(api, city, expect_error, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    expect_error(api("POST", "/api/v1/cases", city.responder_a, json=body), 422, "validation_failed", missing)


def test_every_problem_is_reported_at_once(api, city, expect_error):
    response = api("POST", "/api/v1/cases", city.responder_a,
                   json={"kind": "spam", "title": "", "severity": "urgent", "platform": "myspace"})
    error = expect_error(response, 422, "validation_failed", "kind", "title", "severity", "platform")
    assert all(isinstance(message, str) and message for message in error["fields"].values())


def test_empty_object_names_every_required_field(api, city, expect_error):
    expect_error(api("POST", "/api/v1/cases", city.responder_a, json={}), 422, "validation_failed",
                 "kind", "title", "severity")


def test_unknown_keys_on_create_are_ignored(api, city):
    response = api("POST", "/api/v1/cases", city.responder_a,
                   json={**VALID, "status": "closed", "number": "1999-9999", "reporter_id": city.admin.id})
    assert response.status_code == 201
    data = response.get_json()
    assert data["status"] == "new" and data["number"] != "1999-9999"
    assert data["reporter"]["id"] == city.responder_a.id


@pytest.mark.parametrize("url", [
    "/api/v1/cases/abc",
    "/api/v1/cases/-1",
    "/api/v1/cases/1.5",
    "/api/v1/cases/" + "9" * 40,
    "/api/v1/cases/99999999999999999999/timeline",
    "/api/v1/cases/1/notes/" + "9" * 40,
])
def test_odd_ids_in_the_path_are_404(api, city, make, expect_error, url):
    make.case(city.admin)
    expect_error(api("GET", url, city.admin), 404, "not_found")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_cases_cannot_be_replaced_or_deleted(api, city, make, expect_error, method):
    case = make.case(city.admin)
    expect_error(api(method, f"/api/v1/cases/{case.id}", city.admin, json=VALID), 405, "method_not_allowed")
    assert api("GET", f"/api/v1/cases/{case.id}", city.admin).status_code == 200


@pytest.mark.parametrize("name", ["version", "assignee", "account"])
def test_out_of_range_ids_on_existing_case_are_422(api, city, make, expect_error, name):
    case = make.case(city.supervisor_a)
    url, body, field = {
        "version": (f"/api/v1/cases/{case.id}", {"version": 10**30, "title": "x"}, "version"),
        "assignee": (f"/api/v1/cases/{case.id}/assignment", {"assignee_id": 10**30}, "assignee_id"),
        "account": (f"/api/v1/cases/{case.id}", {"version": 1, "official_account_id": 10**30},
                    "official_account_id"),
    }[name]
    method = "POST" if "assignment" in url else "PATCH"
    before = snapshot(api, city, case.id)
    expect_error(api(method, url, city.supervisor_a, json=body), 422, "validation_failed", field)
    assert snapshot(api, city, case.id) == before


def test_error_messages_are_japanese_by_default(api, city, expect_error):
    error = expect_error(api("POST", "/api/v1/cases", city.responder_a, json={**VALID, "title": ""}),
                         422, "validation_failed", "title")
    assert error["message"] == "入力内容を確認してください。"
    assert error["fields"]["title"] == "入力してください。"
