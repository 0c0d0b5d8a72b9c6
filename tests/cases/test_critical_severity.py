"""Severity 緊急 (critical), above 高 (issue 12): offered first on the case forms, filtered and sorted first on
the case list (page and API), and visibly urgent on the list and the case page (a badge with a sign and a
word, not colour alone)."""
from __future__ import annotations

import re

import pytest

from incident.cases.models import Case, Severity
from incident.extensions import db


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def option_values(page: str, name: str) -> list[str]:
    select = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S)
    assert select, name
    return re.findall(r'<option[^>]*value="([^"]*)"', select.group(0))


def rows(page: str) -> list[str]:
    """The case titles of the list page, in order."""
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    return re.findall(r'<td data-label="件名"><a href="/cases/\d+">([^<]+)</a>', body)


@pytest.fixture
def four(city, make):
    """One case of each severity, opened from the least to the most urgent (so newest first is the reverse)."""
    return {severity: make.case(city.responder_a, severity=severity, title=f"{severity}の件")
            for severity in ("critical", "medium", "low", "high")}


def test_the_forms_offer_critical_first(city, make, client, login):
    login(city.responder_a)
    new = html(client.get("/cases/new"))
    # The empty 「選んでください」 a required select starts with (HTML), then critical first.
    assert option_values(new, "severity") == ["", "critical", "high", "medium", "low"]
    assert re.search(r'<option[^>]*value="critical"[^>]*>緊急</option>', new)
    case = make.case(city.responder_a, severity="critical")
    edit = html(client.get(f"/cases/{case.id}/edit"))
    assert option_values(edit, "severity") == ["", "critical", "high", "medium", "low"]
    assert re.search(r'<option[^>]*selected[^>]*value="critical"|<option[^>]*value="critical"[^>]*selected', edit)


def test_opening_a_critical_case_through_the_form(city, client, login):
    login(city.responder_a)
    response = client.post("/cases/new", data={"kind": "account_takeover", "severity": "critical",
                                               "title": "公式アカウントが乗っ取られた"})
    assert response.status_code == 302, response.get_data(as_text=True)
    case = db.session.query(Case).filter_by(title="公式アカウントが乗っ取られた").one()
    assert case.severity == Severity.CRITICAL


def test_the_list_filters_and_sorts_critical_first(city, four, client, login):
    login(city.responder_a)
    page = html(client.get("/cases"))
    assert option_values(page, "severity") == ["", "critical", "high", "medium", "low"]
    assert option_values(page, "sort") == ["newest", "severity"]
    assert rows(page) == ["highの件", "lowの件", "mediumの件", "criticalの件"]  # newest first by default
    assert rows(html(client.get("/cases?sort=severity"))) == ["criticalの件", "highの件", "mediumの件", "lowの件"]
    assert rows(html(client.get("/cases?severity=critical"))) == ["criticalの件"]
    # An unknown order or severity is ignored, not an error.
    assert rows(html(client.get("/cases?sort=bogus&severity=urgent"))) == rows(page)


def test_critical_looks_urgent_on_the_list_and_the_case_page(city, four, client, login):
    login(city.responder_a)
    page = html(client.get("/cases"))
    assert '<span class="badge severity-critical">⚠ 緊急</span>' in page
    assert '<span class="badge severity-high">高</span>' in page  # others keep their plain badge
    case_page = html(client.get(f"/cases/{four['critical'].id}"))
    assert "severity-critical" in case_page and "⚠ 重大度：緊急" in case_page
    assert "緊急の案件です。" in case_page
    assert "緊急の案件です。" not in html(client.get(f"/cases/{four['high'].id}"))


def test_api_accepts_filters_and_sorts_critical(api, city, four, expect_error):
    created = api("POST", "/api/v1/cases", city.responder_a,
                  json={"kind": "flaming", "title": "API の緊急", "severity": "critical"})
    assert created.status_code == 201 and created.get_json()["severity"] == "critical"
    listed = api("GET", "/api/v1/cases?sort=severity", city.responder_a).get_json()["items"]
    assert [c["severity"] for c in listed] == ["critical", "critical", "high", "medium", "low"]
    assert listed[0]["title"] == "API の緊急"  # newest first within a severity
    only = api("GET", "/api/v1/cases?severity=critical", city.responder_a).get_json()["items"]
    assert {c["severity"] for c in only} == {"critical"} and len(only) == 2
    expect_error(api("GET", "/api/v1/cases?sort=loudest", city.responder_a), 422, "validation_failed", "sort")
    expect_error(api("POST", "/api/v1/cases", city.responder_a,
                     json={"kind": "flaming", "title": "x", "severity": "urgent"}), 422, "validation_failed",
                 "severity")


def test_the_openapi_document_lists_critical(api):
    spec = api("GET", "/api/v1/openapi.json").get_json()
    text = str(spec)
    assert "'critical'" in text and "'severity'" in text
