"""JSON bodies a client could send by mistake or on purpose: half characters, deep nesting, huge ids."""
from __future__ import annotations

import pytest

from incident.database import MAX_ID

CASE = '{"kind": "flaming", "severity": "low", "title": %s}'


@pytest.mark.parametrize("raw, field", [
    (CASE % '"\\ud800"', "title"),
    (CASE % '"ok\\udfff"', "title"),
    ('{"kind": "flaming", "severity": "low", "title": "x", "description": "前\\ud83d後"}', "description"),
    ('{"kind": "flaming", "severity": "low", "title": "x", "urls": ["https://x.com/\\udc00"]}', "urls"),
    ('{"kind": "flaming", "severity": "low", "title": "x", "\\ud800": 1}', "\\ud800"),
])
def test_lone_surrogates_are_422_naming_the_field(api, city, expect_error, raw, field):
    response = api("POST", "/api/v1/cases", city.responder_a, data=raw.encode(), content_type="application/json")
    expect_error(response, 422, "validation_failed", field)
    assert api("GET", "/api/v1/cases", city.responder_a).get_json()["total"] == 0


def test_a_proper_surrogate_pair_is_an_ordinary_character(api, city):
    response = api("POST", "/api/v1/cases", city.responder_a, data=(CASE % '"\\ud83d\\ude00 絵文字"').encode(),
                   content_type="application/json")
    assert response.status_code == 201
    assert response.get_json()["title"] == "😀 絵文字"


def test_lone_surrogate_in_a_note_is_refused(api, city, make, expect_error):
    case = make.case(city.responder_a)
    response = api("POST", f"/api/v1/cases/{case.id}/notes", city.responder_a,
                   data=b'{"body": "\\ud800"}', content_type="application/json")
    expect_error(response, 422, "validation_failed", "body")


@pytest.mark.parametrize("depth", [40, 500, 900])
def test_deep_nesting_is_400(api, city, expect_error, depth):
    raw = '{"kind": "flaming", "severity": "low", "title": "x", "urls": ' + "[" * depth + "]" * depth + "}"
    response = api("POST", "/api/v1/cases", city.responder_a, data=raw.encode(), content_type="application/json")
    expect_error(response, 400, "bad_request")


def test_ordinary_nesting_is_accepted(api, city):
    response = api("POST", "/api/v1/cases", city.responder_a,
                   json={"kind": "flaming", "severity": "low", "title": "x", "urls": ["https://x.com/a"]})
    assert response.status_code == 201


@pytest.mark.parametrize("value", [MAX_ID + 1, 2**63 - 1, 2**63])
def test_ids_beyond_the_column_are_422_not_500(api, city, make, expect_error, value):
    case = make.case(city.supervisor_a)
    checks = [
        ("POST", "/api/v1/cases", {"kind": "flaming", "severity": "low", "title": "x", "official_account_id": value},
         "official_account_id"),
        ("POST", "/api/v1/cases", {"kind": "flaming", "severity": "low", "title": "x", "assignee_id": value},
         "assignee_id"),
        ("PATCH", f"/api/v1/cases/{case.id}", {"version": value, "title": "x"}, "version"),
        ("POST", f"/api/v1/cases/{case.id}/assignment", {"assignee_id": value}, "assignee_id"),
        ("POST", "/api/v1/fake-accounts", {"platform": "x", "handle": "@fake", "case_id": value}, "case_id"),
        ("POST", "/api/v1/fake-accounts", {"platform": "x", "handle": "@fake", "genuine_account_id": value},
         "genuine_account_id"),
    ]
    for method, url, body, field in checks:
        expect_error(api(method, url, city.supervisor_a, json=body), 422, "validation_failed", field)
