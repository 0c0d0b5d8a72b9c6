"""API v1 drafts: generation from the case, revisions, approval rules, sending, the ledger."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from incident.drafts import length
from incident.drafts.blanks import find_blanks
from incident.drafts.models import Draft, DraftRevision, DraftStatus, Route
from incident.extensions import db

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]


@pytest.fixture
def impersonation(api, city, make):
    """An impersonation case in department A with a genuine account, a known fake and a screenshot."""
    account = make.account(city.dept_a, name="石巻市防災", platform="x", url="https://x.com/ishinomaki_city")
    db.session.commit()
    response = api("POST", "/api/v1/cases", city.responder_a, json={
        "kind": "impersonation", "severity": "high", "title": "偽アカウント", "platform": "x",
        "official_account_id": account.id})
    assert response.status_code == 201, response.get_data(as_text=True)
    case_id = response.get_json()["id"]
    fake = api("POST", "/api/v1/fake-accounts", city.responder_a, json={
        "platform": "x", "url": "https://x.com/ishinomaki_clty", "display_name": "石巻市防災【公式】",
        "genuine_account_id": account.id, "case_id": case_id})
    assert fake.status_code == 201, fake.get_data(as_text=True)
    png = _png()
    import io
    upload = api("POST", f"/api/v1/cases/{case_id}/evidence", city.responder_a,
                 data={"file": (io.BytesIO(png), "fake_profile.png"), "note": "プロフィール",
                       "captured_at": "2026-11-20T09:05:00+09:00"},
                 content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_data(as_text=True)
    return case_id, upload.get_json()["sha256"]


def _png() -> bytes:
    """A real small PNG (evidence images are opened with Pillow)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, "PNG")
    return out.getvalue()


#: A short post staff write themselves (the revisions accept any text).
SHORT_POST = "【石巻市からのお知らせ】本市をかたる偽アカウントにご注意ください。詳しくは市ホームページへ。https://www.city.ishinomaki.lg.jp/"


def _filled(text: str) -> str:
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    return text


def _fill(api, user, base: str) -> None:
    """The author writes in every ［…を記入］ blank the template left (a new revision), as before submitting:
    in the body and in the website rendition (a notice generated for X has both, issue 12)."""
    draft = api("GET", base, user).get_json()
    payload = {"body": _filled(draft["body"]), "web_body": _filled(draft["web_body"])}
    if payload != {"body": draft["body"], "web_body": draft["web_body"]}:
        response = api("POST", f"{base}/revisions", user, json=payload)
        assert response.status_code == 201, response.get_data(as_text=True)


def _approved(api, city, case_id, body=None, **create):
    created = api("POST", f"/api/v1/cases/{case_id}/drafts", city.responder_a, json=create)
    assert created.status_code == 201, created.get_data(as_text=True)
    draft = created.get_json()
    base = f"/api/v1/cases/{case_id}/drafts/{draft['id']}"
    if body:
        assert api("POST", f"{base}/revisions", city.responder_a, json={"body": body}).status_code == 201
    _fill(api, city.responder_a, base)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200
    approved = api("POST", f"{base}/approve", city.supervisor_a, json={})
    assert approved.status_code == 200, approved.get_data(as_text=True)
    return draft, base


def test_takedown_draft_names_fake_genuine_and_evidence(api, city, impersonation):
    case_id, sha = impersonation
    response = api("POST", f"/api/v1/cases/{case_id}/drafts", city.responder_a, json={"type": "takedown"})
    assert response.status_code == 201, response.get_data(as_text=True)
    draft = response.get_json()
    assert draft["platform"] == "x" and draft["status"] == "editing" and draft["revision"] == 1
    body = draft["body"]
    assert "https://x.com/ishinomaki_clty" in body
    assert "https://x.com/ishinomaki_city" in body
    assert "fake_profile.png" in body and sha in body and "2026-11-20 09:05" in body
    english = api("POST", f"/api/v1/cases/{case_id}/drafts", city.responder_a,
                  json={"type": "takedown", "lang": "en"}).get_json()
    assert "https://x.com/ishinomaki_clty" in english["body"] and sha in english["body"]


def test_self_approval_403_and_unsubmitted_409(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = api("POST", f"/api/v1/cases/{case_id}/drafts", city.supervisor_a, json={"type": "press"}).get_json()
    base = f"/api/v1/cases/{case_id}/drafts/{draft['id']}"
    expect_error(api("POST", f"{base}/approve", city.supervisor_b, json={}), 404, "not_found")
    other_supervisor = api("POST", f"{base}/approve", city.admin, json={})
    expect_error(other_supervisor, 409, "conflict")
    _fill(api, city.supervisor_a, base)
    assert api("POST", f"{base}/submit", city.supervisor_a, json={"checks": CHECKS}).status_code == 200
    expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={}), 403, "forbidden")
    expect_error(api("POST", f"{base}/approve", city.responder_a, json={}), 403, "forbidden")
    assert api("POST", f"{base}/approve", city.admin, json={}).get_json()["status"] == "approved"


def test_sent_takedown_completes_step_and_sets_follow_up(api, city, impersonation):
    case_id, _ = impersonation
    draft, base = _approved(api, city, case_id, type="takedown")
    sent = api("POST", f"{base}/sent", city.responder_a,
               json={"channel": "form", "reference": "CASE-123", "sent_at": "2026-11-23T10:00:00+09:00"})
    assert sent.status_code == 201, sent.get_data(as_text=True)
    assert sent.get_json()["draft"]["follow_up_on"] == "2026-11-30"
    steps = api("GET", f"/api/v1/cases/{case_id}/steps", city.responder_a).get_json()["items"]
    takedown = next(s for s in steps if s["key"] == "takedown_request")
    assert takedown["state"] == "done"
    assert takedown["last_event"]["data"]["draft_id"] == draft["id"]


# --- helpers --------------------------------------------------------------------------------------

CITY_PAGE = "https://www.city.ishinomaki.lg.jp/cont/10181000/bousai/20261120.html"
TYPES = ["takedown", "press", "interim_notice", "final_notice", "correction", "correct_info", "citizen_warning"]


def _drafts(case_id: int) -> str:
    return f"/api/v1/cases/{case_id}/drafts"


def _create(api, user, case_id: int, **payload) -> dict:
    response = api("POST", _drafts(case_id), user, json=payload)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _submitted(api, city, case_id: int, **create) -> tuple[dict, str]:
    draft = _create(api, city.responder_a, case_id, **create)
    base = f"{_drafts(case_id)}/{draft['id']}"
    _fill(api, city.responder_a, base)
    response = api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json(), base


def _sent(api, city, case_id: int, payload: dict, **create) -> tuple[dict, str, dict]:
    draft, base = _approved(api, city, case_id, **create)
    response = api("POST", f"{base}/sent", city.responder_a, json=payload)
    assert response.status_code == 201, response.get_data(as_text=True)
    return draft, base, response.get_json()


def _other_case(api, user, **fields) -> int:
    response = api("POST", "/api/v1/cases", user, json={
        "kind": "flaming", "severity": "medium", "title": "別の案件", **fields})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def _upload(api, user, case_id: int, name: str, **form):
    import io

    png = _png()
    response = api("POST", f"/api/v1/cases/{case_id}/evidence", user,
                   data={"file": (io.BytesIO(png), name), **form}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _step(api, user, case_id: int, key: str) -> dict:
    steps = api("GET", f"/api/v1/cases/{case_id}/steps", user).get_json()["items"]
    return next(s for s in steps if s["key"] == key)


# --- POST /cases/<id>/drafts ----------------------------------------------------------------------

@pytest.mark.parametrize("draft_type", TYPES)
def test_create_every_type_returns_201_with_generated_revision_1(api, city, impersonation, draft_type):
    case_id, _ = impersonation
    payload = {"type": draft_type}
    if draft_type == "correct_info":
        payload["link"] = CITY_PAGE
    response = api("POST", _drafts(case_id), city.responder_a, json=payload)
    assert response.status_code == 201, response.get_data(as_text=True)
    draft = response.get_json()
    assert draft["type"] == draft_type and draft["case_id"] == case_id
    assert draft["status"] == "editing" and draft["revision"] == 1 and draft["lang"] == "ja"
    assert isinstance(draft["body"], str) and draft["body"].strip()
    assert draft["platform"] == ("x" if draft_type == "takedown" else None)
    assert draft["approved_revision_id"] is None and draft["route"] is None
    assert draft["created_by"]["id"] == city.responder_a.id
    assert [(r["number"], r["origin"], r["author"]["id"]) for r in draft["revisions"]] == [
        (1, "generated", city.responder_a.id)]
    if draft_type == "correct_info":
        assert draft["link"] == CITY_PAGE and CITY_PAGE in draft["body"]


def test_correct_info_needs_a_city_link(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    expect_error(api("POST", _drafts(case_id), city.responder_a, json={"type": "correct_info"}),
                 422, "validation_failed", "link")
    expect_error(api("POST", _drafts(case_id), city.responder_a,
                     json={"type": "correct_info", "link": "https://ishinomaki-city.example.com/page"}),
                 422, "validation_failed", "link")
    expect_error(api("POST", _drafts(case_id), city.responder_a,
                     json={"type": "correct_info", "link": "javascript:alert(1)"}),
                 422, "validation_failed", "link")
    assert api("GET", _drafts(case_id), city.responder_a).get_json()["items"] == []


def test_takedown_platform_can_be_chosen(api, city, impersonation):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="takedown", platform="instagram")
    assert draft["platform"] == "instagram"


@pytest.mark.parametrize("draft_type", [t for t in TYPES if t != "takedown"])
def test_english_only_for_takedowns(api, city, impersonation, expect_error, draft_type):
    case_id, _ = impersonation
    payload = {"type": draft_type, "lang": "en"}
    if draft_type == "correct_info":
        payload["link"] = CITY_PAGE
    expect_error(api("POST", _drafts(case_id), city.responder_a, json=payload), 422, "validation_failed", "lang")


def test_takedown_in_english_and_unknown_language(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    english = _create(api, city.responder_a, case_id, type="takedown", lang="en")
    assert english["lang"] == "en" and english["body"] != _create(
        api, city.responder_a, case_id, type="takedown")["body"]
    expect_error(api("POST", _drafts(case_id), city.responder_a, json={"type": "takedown", "lang": "fr"}),
                 422, "validation_failed", "lang")


@pytest.mark.parametrize("payload, field", [
    ({}, "type"),
    ({"type": "tweet"}, "type"),
    ({"type": None}, "type"),
    ({"type": 3}, "type"),
    ({"type": "takedown", "platform": "myspace"}, "platform"),
    ({"type": "takedown", "platform": 7}, "platform"),
    ({"type": "takedown", "platform": ["x"]}, "platform"),
])
def test_create_refuses_bad_type_or_platform_naming_the_field(api, city, impersonation, expect_error,
                                                               payload, field):
    case_id, _ = impersonation
    expect_error(api("POST", _drafts(case_id), city.responder_a, json=payload), 422, "validation_failed", field)


@pytest.mark.parametrize("value", [["press"], {"t": "press"}])
def test_create_refuses_unhashable_type_with_422(api, city, impersonation, expect_error, value):
    """Regression: a list or object as type was an unhashable `in {set}` test → TypeError → 500."""
    case_id, _ = impersonation
    expect_error(api("POST", _drafts(case_id), city.responder_a, json={"type": value}),
                 422, "validation_failed", "type")


def test_create_refuses_non_json_and_missing_token(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    expect_error(api("POST", _drafts(case_id), city.responder_a, data="type=press",
                     content_type="application/x-www-form-urlencoded"), 400, "bad_request")
    expect_error(api("POST", _drafts(case_id), city.responder_a, data="{type: press",
                     content_type="application/json"), 400, "bad_request")
    expect_error(api("POST", _drafts(case_id), city.responder_a, json=["press"]), 400, "bad_request")
    expect_error(api("POST", _drafts(case_id), None, json={"type": "press"}), 401, "unauthorized")
    expect_error(api("GET", _drafts(case_id), None), 401, "unauthorized")
    expect_error(api("POST", _drafts(case_id), None, json={"type": "press"},
                     headers={"Authorization": "Bearer not-a-token"}), 401, "unauthorized")
    assert api("GET", _drafts(case_id), city.responder_a).get_json()["items"] == []


def test_create_in_another_department_or_unknown_case_is_404(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    for user in (city.responder_b, city.supervisor_b):
        expect_error(api("POST", _drafts(case_id), user, json={"type": "press"}), 404, "not_found")
        expect_error(api("GET", _drafts(case_id), user), 404, "not_found")
    expect_error(api("POST", _drafts(999_999), city.admin, json={"type": "press"}), 404, "not_found")
    expect_error(api("GET", "/api/v1/cases/" + "9" * 30 + "/drafts", city.admin), 404, "not_found")
    expect_error(api("GET", f"/api/v1/cases/{2**63}/drafts", city.admin), 404, "not_found")
    assert api("GET", _drafts(case_id), city.responder_a).get_json()["items"] == []
    # The PR office may work on any department's case.
    assert _create(api, city.admin, case_id, type="press")["created_by"]["id"] == city.admin.id


@pytest.mark.parametrize("case_id", ["9" * 30, str(2**63)])
def test_create_with_out_of_range_case_id_is_404(api, city, expect_error, case_id):
    """Regression: the id converter refused the match, and werkzeug answered 405 (Allow: GET) because the
    GET rule of the same path had already been counted."""
    expect_error(api("POST", f"/api/v1/cases/{case_id}/drafts", city.admin, json={"type": "press"}),
                 404, "not_found")


def test_create_on_closed_case_is_409(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    closed = api("POST", f"/api/v1/cases/{case_id}/status", city.supervisor_a,
                 json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    assert closed.status_code == 200, closed.get_data(as_text=True)
    expect_error(api("POST", _drafts(case_id), city.responder_a, json={"type": "press"}), 409, "conflict")
    assert api("GET", _drafts(case_id), city.responder_a).get_json()["items"] == []


# --- GET ------------------------------------------------------------------------------------------

def test_list_is_newest_first_with_the_ledger(api, city, impersonation):
    case_id, _ = impersonation
    empty = api("GET", _drafts(case_id), city.responder_a).get_json()
    assert empty == {"items": [], "ledger": []}
    first, _, sent = _sent(api, city, case_id, {"url": "https://x.com/ishinomaki_city/status/1"},
                           type="citizen_warning")
    second = _create(api, city.responder_a, case_id, type="press")
    third = _create(api, city.responder_a2, case_id, type="takedown")
    listed = api("GET", _drafts(case_id), city.supervisor_a).get_json()
    assert [d["id"] for d in listed["items"]] == [third["id"], second["id"], first["id"]]
    assert [d["status"] for d in listed["items"]] == ["editing", "editing", "sent"]
    assert listed["items"][0]["created_by"]["id"] == city.responder_a2.id
    assert [p["id"] for p in listed["ledger"]] == [sent["publication"]["id"]]
    assert listed["ledger"][0]["kind"] == "citizen_warning"
    assert listed["ledger"][0]["url"] == "https://x.com/ishinomaki_city/status/1"
    # Drafts of another case do not appear.
    other = _other_case(api, city.responder_a)
    _create(api, city.responder_a, other, type="press")
    assert len(api("GET", _drafts(case_id), city.responder_a).get_json()["items"]) == 3


def test_get_one_draft_only_through_its_own_case(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    got = api("GET", f"{_drafts(case_id)}/{draft['id']}", city.responder_a)
    assert got.status_code == 200 and got.get_json()["body"] == draft["body"]
    assert got.get_json()["requirements"] == []  # only takedowns have a platform checklist
    other = _other_case(api, city.responder_a)
    expect_error(api("GET", f"{_drafts(other)}/{draft['id']}", city.responder_a), 404, "not_found")
    for action in ("revisions", "submit", "approve", "return", "sent"):
        expect_error(api("POST", f"{_drafts(other)}/{draft['id']}/{action}", city.supervisor_a,
                         json={"body": "x", "checks": CHECKS, "comment": "c"}), 404, "not_found")
    expect_error(api("GET", f"{_drafts(case_id)}/{draft['id']}", city.responder_b), 404, "not_found")
    expect_error(api("GET", f"{_drafts(case_id)}/999999", city.responder_a), 404, "not_found")
    expect_error(api("GET", f"{_drafts(case_id)}/" + "9" * 30, city.responder_a), 404, "not_found")
    after = api("GET", f"{_drafts(case_id)}/{draft['id']}", city.responder_a).get_json()
    assert after["status"] == "editing" and after["revision"] == 1


def test_takedown_requirements_name_what_is_missing(api, city, impersonation):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="takedown", platform="x")
    url = f"{_drafts(case_id)}/{draft['id']}"

    def requirements():
        return {r["key"]: r for r in api("GET", url, city.responder_a).get_json()["requirements"]}

    before = requirements()
    assert before["authority_proof"]["ok"] is False
    assert isinstance(before["authority_proof"]["missing"], str) and before["authority_proof"]["missing"]
    assert before["fake_url"] == {"key": "fake_url", "ok": True, "missing": None}
    assert before["description"]["ok"] is True
    _upload(api, city.responder_a, case_id, "delegation.png", purpose="authority_proof", note="委任状")
    after = requirements()
    assert after["authority_proof"] == {"key": "authority_proof", "ok": True, "missing": None}


def test_takedown_requirements_genuine_url_from_the_official_account(api, city, impersonation, make):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="takedown", platform="instagram")
    body = api("GET", f"{_drafts(case_id)}/{draft['id']}", city.responder_a).get_json()
    requirements = {r["key"]: r for r in body["requirements"]}
    assert requirements["genuine_url"]["ok"] is True and requirements["genuine_url"]["missing"] is None
    # A case without an official account: the genuine URL is named as missing.
    other = _other_case(api, city.responder_a, kind="impersonation", platform="instagram")
    draft = _create(api, city.responder_a, other, type="takedown")
    body = api("GET", f"{_drafts(other)}/{draft['id']}", city.responder_a).get_json()
    requirements = {r["key"]: r for r in body["requirements"]}
    assert requirements["genuine_url"]["ok"] is False and requirements["genuine_url"]["missing"]


# --- revisions ------------------------------------------------------------------------------------

def test_revisions_append_and_increment(api, city, impersonation):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    base = f"{_drafts(case_id)}/{draft['id']}"
    second = api("POST", f"{base}/revisions", city.responder_a, json={"body": "報道機関各位\n第2版"})
    assert second.status_code == 201, second.get_data(as_text=True)
    assert second.get_json()["revision"] == 2 and second.get_json()["body"].strip() == "報道機関各位\n第2版"
    third = api("POST", f"{base}/revisions", city.responder_a2, json={"body": "第3版", "base_revision": 2})
    assert third.status_code == 201, third.get_data(as_text=True)
    body = third.get_json()
    assert body["revision"] == 3 and body["body"].strip() == "第3版"
    assert [(r["number"], r["origin"], r["author"]["id"]) for r in body["revisions"]] == [
        (1, "generated", city.responder_a.id), (2, "edited", city.responder_a.id),
        (3, "edited", city.responder_a2.id)]
    listed = api("GET", base, city.responder_a).get_json()
    assert listed["revision"] == 3 and listed["body"].strip() == "第3版"


@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   \n "}, {"body": None}, {"body": 42},
                                     {"body": ["text"]}, {"body": {"text": "x"}}, {"body": "x" * 20_001}])
def test_revision_refuses_empty_non_string_or_too_long_body(api, city, impersonation, expect_error, payload):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    base = f"{_drafts(case_id)}/{draft['id']}"
    expect_error(api("POST", f"{base}/revisions", city.responder_a, json=payload), 422, "validation_failed", "body")
    assert api("GET", base, city.responder_a).get_json()["revision"] == 1


def test_revision_at_the_limit_is_accepted(api, city, impersonation):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    response = api("POST", f"{_drafts(case_id)}/{draft['id']}/revisions", city.responder_a,
                   json={"body": "あ" * 20_000})
    assert response.status_code == 201 and response.get_json()["body"].strip() == "あ" * 20_000


def test_revision_same_text_or_stale_base_is_409(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    base = f"{_drafts(case_id)}/{draft['id']}"
    expect_error(api("POST", f"{base}/revisions", city.responder_a, json={"body": draft["body"]}), 409, "conflict")
    expect_error(api("POST", f"{base}/revisions", city.responder_a, json={"body": "  " + draft["body"] + "\n\n"}),
                 409, "conflict")
    assert api("POST", f"{base}/revisions", city.responder_a, json={"body": "版2", "base_revision": 1}).status_code == 201
    expect_error(api("POST", f"{base}/revisions", city.responder_a2, json={"body": "古い版から", "base_revision": 1}),
                 409, "conflict")
    expect_error(api("POST", f"{base}/revisions", city.responder_a2, json={"body": "未来の版", "base_revision": 9}),
                 409, "conflict")
    current = api("GET", base, city.responder_a).get_json()
    assert current["revision"] == 2 and current["body"].strip() == "版2"


def test_revision_of_other_department_is_404(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    expect_error(api("POST", f"{_drafts(case_id)}/{draft['id']}/revisions", city.responder_b, json={"body": "x"}),
                 404, "not_found")


def test_new_revision_after_submit_or_approval_returns_to_editing(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    submitted, base = _submitted(api, city, case_id, type="press")
    assert submitted["status"] == "submitted" and submitted["approved_revision_id"] is not None
    revised = api("POST", f"{base}/revisions", city.responder_a, json={"body": "直した版"})
    assert revised.status_code == 201
    assert revised.get_json()["status"] == "editing" and revised.get_json()["approved_revision_id"] is None
    expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={}), 409, "conflict")
    # Approval is of one revision: a later edit clears it too.
    _, approved_base = _approved(api, city, case_id, type="citizen_warning")
    revised = api("POST", f"{approved_base}/revisions", city.responder_a, json={"body": "承認後の修正"}).get_json()
    assert revised["status"] == "editing" and revised["route"] is None
    expect_error(api("POST", f"{approved_base}/sent", city.responder_a, json={"url": "https://x.com/a/status/1"}),
                 409, "conflict")


def test_sent_draft_cannot_be_revised(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, base, _ = _sent(api, city, case_id, {"url": "https://x.com/ishinomaki_city/status/9"}, type="citizen_warning")
    sent = api("GET", base, city.responder_a).get_json()["revision"]
    expect_error(api("POST", f"{base}/revisions", city.responder_a, json={"body": "公開後の修正"}), 409, "conflict")
    assert api("GET", base, city.responder_a).get_json()["revision"] == sent


# --- submit / approve / return --------------------------------------------------------------------

@pytest.mark.parametrize("checks", [None, [], CHECKS[:-1], "public_info,accurate,rights,not_prohibited,calm",
                                    {"public_info": True}])
def test_submit_needs_every_check(api, city, impersonation, expect_error, checks):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    base = f"{_drafts(case_id)}/{draft['id']}"
    payload = {} if checks is None else {"checks": checks}
    expect_error(api("POST", f"{base}/submit", city.responder_a, json=payload), 422, "validation_failed", "checks")
    assert api("GET", base, city.responder_a).get_json()["status"] == "editing"


def test_submit_twice_is_409(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    submitted, base = _submitted(api, city, case_id, type="press")
    assert submitted["status"] == "submitted" and submitted["route"] == "supervisor"
    assert submitted["approved_revision_id"] == submitted["revisions"][-1]["id"]
    expect_error(api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}), 409, "conflict")


def test_approve_rules(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="press")
    base = f"{_drafts(case_id)}/{draft['id']}"
    expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={}), 409, "conflict")  # not submitted
    _fill(api, city.responder_a, base)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200
    expect_error(api("POST", f"{base}/approve", city.responder_a, json={}), 403, "forbidden")   # author
    expect_error(api("POST", f"{base}/approve", city.responder_a2, json={}), 403, "forbidden")  # not a supervisor
    expect_error(api("POST", f"{base}/approve", city.responder_b, json={}), 404, "not_found")
    expect_error(api("POST", f"{base}/approve", city.supervisor_b, json={}), 404, "not_found")
    assert api("GET", base, city.responder_a).get_json()["status"] == "submitted"
    approved = api("POST", f"{base}/approve", city.supervisor_a, json={"comment": "確認しました"})
    assert approved.status_code == 200, approved.get_data(as_text=True)
    assert approved.get_json()["status"] == "approved"
    assert approved.get_json()["approved_revision_id"] == approved.get_json()["revisions"][-1]["id"]
    expect_error(api("POST", f"{base}/approve", city.admin, json={}), 409, "conflict")  # already approved
    events = [e for e in api("GET", f"/api/v1/cases/{case_id}/timeline", city.responder_a).get_json()["items"]
              if e["event"].startswith("draft_") and e["data"].get("draft_id") == draft["id"]]
    assert [e["event"] for e in events] == ["draft_created", "draft_revised", "draft_submitted", "draft_approved"]
    assert events[-1]["actor"]["id"] == city.supervisor_a.id and events[-1]["data"]["comment"] == "確認しました"


def test_pr_office_may_approve(api, city, impersonation):
    case_id, _ = impersonation
    _, base = _submitted(api, city, case_id, type="interim_notice")
    approved = api("POST", f"{base}/approve", city.admin, json={})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"


def test_approve_comment_must_be_text(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, base = _submitted(api, city, case_id, type="press")
    expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={"comment": 5}), 422, "validation_failed",
                 "comment")
    expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={"comment": "x" * 2001}), 422,
                 "validation_failed", "comment")
    assert api("GET", base, city.responder_a).get_json()["status"] == "submitted"


def test_return_needs_a_comment_and_goes_back_to_editing(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, base = _submitted(api, city, case_id, type="press")
    for payload in ({}, {"comment": ""}, {"comment": "   "}, {"comment": 3}):
        expect_error(api("POST", f"{base}/return", city.supervisor_a, json=payload), 422, "validation_failed",
                     "comment")
    expect_error(api("POST", f"{base}/return", city.responder_a2, json={"comment": "だめ"}), 403, "forbidden")
    expect_error(api("POST", f"{base}/return", city.supervisor_b, json={"comment": "だめ"}), 404, "not_found")
    assert api("GET", base, city.responder_a).get_json()["status"] == "submitted"
    returned = api("POST", f"{base}/return", city.supervisor_a, json={"comment": "日付を直してください"})
    assert returned.status_code == 200, returned.get_data(as_text=True)
    body = returned.get_json()
    assert body["status"] == "editing" and body["route"] is None and body["approved_revision_id"] is None
    expect_error(api("POST", f"{base}/return", city.supervisor_a, json={"comment": "再度"}), 409, "conflict")
    expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={}), 409, "conflict")
    timeline = api("GET", f"/api/v1/cases/{case_id}/timeline", city.responder_a).get_json()["items"]
    returned_event = next(e for e in timeline if e["event"] == "draft_returned")
    assert returned_event["data"]["comment"] == "日付を直してください"
    # The author fixes it and submits again.
    assert api("POST", f"{base}/revisions", city.responder_a, json={"body": "直しました"}).status_code == 201
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).get_json()["status"] == "submitted"


# --- pre-approved scope ---------------------------------------------------------------------------

@pytest.mark.parametrize("payload, field", [
    ({"scope": "d", "source": "市HP", "checks": CHECKS}, "scope"),
    ({"scope": None, "source": "市HP", "checks": CHECKS}, "scope"),
    ({"scope": ["a"], "source": "市HP", "checks": CHECKS}, "scope"),
    ({"scope": "A", "source": "市HP", "checks": CHECKS}, "scope"),
    ({"scope": "a", "checks": CHECKS}, "source"),
    ({"scope": "a", "source": "  ", "checks": CHECKS}, "source"),
    ({"scope": "a", "source": 12, "checks": CHECKS}, "source"),
    ({"scope": "a", "source": "x" * 501, "checks": CHECKS}, "source"),
    ({"scope": "b", "source": "市HP"}, "checks"),
])
def test_pre_approved_validates_scope_source_and_checks(api, city, impersonation, expect_error, payload, field):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="citizen_warning")
    base = f"{_drafts(case_id)}/{draft['id']}"
    expect_error(api("POST", f"{base}/pre-approved", city.responder_a, json=payload), 422, "validation_failed", field)
    after = api("GET", base, city.responder_a).get_json()
    assert after["status"] == "editing" and after["scope"] is None and after["route"] is None


def test_pre_approved_with_a_colleague_needs_their_check(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="citizen_warning")
    base = f"{_drafts(case_id)}/{draft['id']}"
    _fill(api, city.responder_a, base)
    marked = api("POST", f"{base}/pre-approved", city.responder_a,
                 json={"scope": "a", "source": CITY_PAGE, "checks": CHECKS})
    assert marked.status_code == 200, marked.get_data(as_text=True)
    body = marked.get_json()
    assert body["status"] == "submitted" and body["route"] == "pre_approved"
    assert body["scope"] == "a" and body["scope_source"] == CITY_PAGE
    expect_error(api("POST", f"{base}/pre-approved", city.responder_a,
                     json={"scope": "a", "source": CITY_PAGE, "checks": CHECKS}), 409, "conflict")
    expect_error(api("POST", f"{base}/approve", city.responder_a, json={}), 403, "forbidden")
    expect_error(api("POST", f"{base}/approve", city.responder_b, json={}), 404, "not_found")
    checked = api("POST", f"{base}/approve", city.responder_a2, json={})
    assert checked.status_code == 200, checked.get_data(as_text=True)
    assert checked.get_json()["status"] == "approved" and checked.get_json()["scope"] == "a"
    timeline = api("GET", f"/api/v1/cases/{case_id}/timeline", city.responder_a).get_json()["items"]
    events = {e["event"]: e for e in timeline if e["data"].get("draft_id") == draft["id"]}
    assert events["draft_pre_approved"]["data"]["scope"] == "a"
    assert events["draft_pre_approved"]["data"]["second_check"] == "pending"
    assert events["draft_second_checked"]["actor"]["id"] == city.responder_a2.id
    # Approved: it can go out.
    assert api("POST", f"{base}/sent", city.responder_a,
               json={"url": "https://x.com/ishinomaki_city/status/5"}).status_code == 201


def test_pre_approved_alone_in_the_department_is_approved_at_once(api, city, make):
    lone_department = make.department("dept-c", "水道課")
    lone = make.user("responder", lone_department, name="担当C")
    case_id = _other_case(api, lone)
    draft = _create(api, lone, case_id, type="correct_info", link=CITY_PAGE)
    _fill(api, lone, f"{_drafts(case_id)}/{draft['id']}")
    marked = api("POST", f"{_drafts(case_id)}/{draft['id']}/pre-approved", lone,
                 json={"scope": "c", "source": "石巻市条例第1号", "checks": CHECKS})
    assert marked.status_code == 200, marked.get_data(as_text=True)
    assert marked.get_json()["status"] == "approved" and marked.get_json()["scope"] == "c"
    timeline = api("GET", f"/api/v1/cases/{case_id}/timeline", lone).get_json()["items"]
    event = next(e for e in timeline if e["event"] == "draft_pre_approved")
    assert event["data"]["second_check"] == "unavailable"


# --- sent -----------------------------------------------------------------------------------------

def test_sent_requires_approval(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="citizen_warning")
    base = f"{_drafts(case_id)}/{draft['id']}"
    payload = {"url": "https://x.com/ishinomaki_city/status/1"}
    expect_error(api("POST", f"{base}/sent", city.responder_a, json=payload), 409, "conflict")
    _fill(api, city.responder_a, base)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200
    expect_error(api("POST", f"{base}/sent", city.responder_a, json=payload), 409, "conflict")
    listed = api("GET", _drafts(case_id), city.responder_a).get_json()
    assert listed["ledger"] == [] and listed["items"][0]["status"] == "submitted"


@pytest.mark.parametrize("payload, field", [
    ({}, "url"),
    ({"channel": "post"}, "url"),
    ({"channel": "website", "url": ""}, "url"),
    ({"url": "ftp://x.com/file"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "@ishinomaki_city"}, "url"),
    ({"url": 42}, "url"),
    ({"url": "https://x.com/a/status/1", "channel": "fax"}, "channel"),
    ({"url": "https://x.com/a/status/1", "channel": "form"}, "channel"),
    ({"url": "https://x.com/a/status/1", "sent_at": "2099-01-01T00:00:00+09:00"}, "sent_at"),
    ({"url": "https://x.com/a/status/1", "sent_at": "yesterday"}, "sent_at"),
    ({"url": "https://x.com/a/status/1", "sent_at": 1700000000}, "sent_at"),
    ({"url": "https://x.com/a/status/1", "reference": "x" * 201}, "reference"),
])
def test_sent_notice_validates(api, city, impersonation, expect_error, payload, field):
    case_id, _ = impersonation
    _, base = _approved(api, city, case_id, type="citizen_warning")
    expect_error(api("POST", f"{base}/sent", city.responder_a, json=payload), 422, "validation_failed", field)
    listed = api("GET", _drafts(case_id), city.responder_a).get_json()
    assert listed["ledger"] == [] and listed["items"][0]["status"] == "approved"
    assert _step(api, city.responder_a, case_id, "citizen_warning")["state"] != "done"


def test_sent_notice_records_publication_and_completes_its_step(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    url = "https://x.com/ishinomaki_city/status/1861234567890"
    draft, base = _approved(api, city, case_id, type="citizen_warning")
    response = api("POST", f"{base}/sent", city.responder_a2,
                   json={"url": url, "channel": "post", "sent_at": "2026-11-23T09:30:00+09:00", "note": "固定表示"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    publication = body["publication"]
    assert body["draft"]["status"] == "sent" and body["draft"]["follow_up_on"] is None
    assert publication["kind"] == "citizen_warning" and publication["url"] == url
    assert publication["channel"] == "post" and publication["draft_id"] == draft["id"]
    assert publication["revision_id"] == body["draft"]["approved_revision_id"]
    assert publication["published_at"] == "2026-11-23T00:30:00+00:00"
    assert publication["recorded_by"]["id"] == city.responder_a2.id
    assert publication["supersedes_id"] is None and publication["note"] == "固定表示"
    expect_error(api("POST", f"{base}/sent", city.responder_a, json={"url": url}), 409, "conflict")
    ledger = api("GET", _drafts(case_id), city.responder_a).get_json()["ledger"]
    assert [p["id"] for p in ledger] == [publication["id"]]
    step = _step(api, city.responder_a, case_id, "citizen_warning")
    assert step["state"] == "done" and step["last_event"]["data"]["draft_id"] == draft["id"]
    assert step["last_event"]["data"]["publication_id"] == publication["id"]


def test_sent_notice_without_url_through_the_press(api, city, impersonation):
    case_id, _ = impersonation
    _, _, body = _sent(api, city, case_id, {"channel": "press"}, type="press")
    assert body["publication"]["channel"] == "press" and body["publication"]["url"] == ""


def test_sent_by_other_department_is_404(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, base = _approved(api, city, case_id, type="citizen_warning")
    expect_error(api("POST", f"{base}/sent", city.responder_b, json={"url": "https://x.com/a/status/1"}),
                 404, "not_found")


def test_takedown_follow_up_defaults_to_seven_days_in_tokyo(api, city, impersonation):
    case_id, _ = impersonation
    # 20:00 UTC on the 20th is 05:00 on the 21st in Tokyo.
    _, _, body = _sent(api, city, case_id, {"sent_at": "2026-11-20T20:00:00Z", "reference": "X-1"}, type="takedown")
    assert body["draft"]["follow_up_on"] == "2026-11-28"
    assert body["publication"]["channel"] == "form" and body["publication"]["reference"] == "X-1"
    assert body["publication"]["kind"] == "takedown"
    assert _step(api, city.responder_a, case_id, "takedown_request")["state"] == "done"
    fakes = api("GET", "/api/v1/fake-accounts", city.responder_a).get_json()["items"]
    assert [f["state"] for f in fakes if f["url"] == "https://x.com/ishinomaki_clty"] == ["reported"]


def test_takedown_follow_up_may_be_given(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, base = _approved(api, city, case_id, type="takedown")
    expect_error(api("POST", f"{base}/sent", city.responder_a, json={"follow_up_on": "next week"}),
                 422, "validation_failed", "follow_up_on")
    expect_error(api("POST", f"{base}/sent", city.responder_a, json={"channel": "post"}),
                 422, "validation_failed", "channel")
    sent = api("POST", f"{base}/sent", city.responder_a,
               json={"channel": "email", "follow_up_on": "2026-12-01", "sent_at": "2026-11-23T10:00:00+09:00"})
    assert sent.status_code == 201, sent.get_data(as_text=True)
    assert sent.get_json()["draft"]["follow_up_on"] == "2026-12-01"
    assert sent.get_json()["publication"]["channel"] == "email"


# --- answer ---------------------------------------------------------------------------------------

def test_answer_only_on_a_sent_takedown(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, notice, _ = _sent(api, city, case_id, {"url": "https://x.com/ishinomaki_city/status/2"},
                         type="citizen_warning")
    expect_error(api("POST", f"{notice}/answer", city.responder_a, json={"outcome": "removed"}), 409, "conflict")
    _, takedown = _approved(api, city, case_id, type="takedown")
    expect_error(api("POST", f"{takedown}/answer", city.responder_a, json={"outcome": "removed"}), 409, "conflict")


@pytest.mark.parametrize("payload, field", [
    ({"outcome": "deleted"}, "outcome"),
    ({"outcome": 1}, "outcome"),
    ({}, "follow_up_on"),
    ({"answer": "審査中とのこと"}, "follow_up_on"),
    ({"follow_up_on": "2026/12/01"}, "follow_up_on"),
    ({"outcome": "removed", "answer": "x" * 2001}, "answer"),
])
def test_answer_validates(api, city, impersonation, expect_error, payload, field):
    case_id, _ = impersonation
    _, base, _ = _sent(api, city, case_id, {"sent_at": "2026-11-23T10:00:00+09:00"}, type="takedown")
    expect_error(api("POST", f"{base}/answer", city.responder_a, json=payload), 422, "validation_failed", field)
    draft = api("GET", base, city.responder_a).get_json()
    assert draft["outcome"] is None and draft["follow_up_on"] == "2026-11-30"


def test_answer_refuses_a_list_outcome_with_422(api, city, impersonation, expect_error):
    """Regression: a list as outcome was an unhashable `in {set}` test → TypeError → 500."""
    case_id, _ = impersonation
    _, base, _ = _sent(api, city, case_id, {"sent_at": "2026-11-23T10:00:00+09:00"}, type="takedown")
    expect_error(api("POST", f"{base}/answer", city.responder_a, json={"outcome": ["removed"]}),
                 422, "validation_failed", "outcome")


def test_answer_records_follow_up_then_outcome_once(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, base, _ = _sent(api, city, case_id, {"sent_at": "2026-11-23T10:00:00+09:00"}, type="takedown")
    waiting = api("POST", f"{base}/answer", city.responder_a,
                  json={"answer": "審査中との返信", "follow_up_on": "2099-12-07"})
    assert waiting.status_code == 200, waiting.get_data(as_text=True)
    assert waiting.get_json()["outcome"] is None and waiting.get_json()["follow_up_on"] == "2099-12-07"
    done = api("POST", f"{base}/answer", city.responder_a, json={"outcome": "removed", "answer": "削除されました"})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["outcome"] == "removed" and done.get_json()["status"] == "sent"
    expect_error(api("POST", f"{base}/answer", city.responder_a, json={"outcome": "refused"}), 409, "conflict")
    expect_error(api("POST", f"{base}/answer", city.responder_a, json={"follow_up_on": "2099-12-20"}),
                 409, "conflict")
    assert api("GET", base, city.responder_a).get_json()["outcome"] == "removed"
    expect_error(api("POST", f"{base}/answer", city.responder_b, json={"outcome": "removed"}), 404, "not_found")


# --- ledger withdraw ------------------------------------------------------------------------------

def test_withdraw_rules_and_the_ledger_keeps_the_original(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft, _, sent = _sent(api, city, case_id, {"url": "https://x.com/ishinomaki_city/status/3"},
                           type="citizen_warning")
    publication = sent["publication"]
    url = f"/api/v1/cases/{case_id}/ledger/{publication['id']}/withdraw"
    expect_error(api("POST", url, city.responder_a, json={"reason": "誤り"}), 403, "forbidden")
    expect_error(api("POST", url, city.supervisor_b, json={"reason": "誤り"}), 404, "not_found")
    for payload in ({}, {"reason": ""}, {"reason": "  "}, {"reason": 5}):
        expect_error(api("POST", url, city.supervisor_a, json=payload), 422, "validation_failed", "reason")
    expect_error(api("POST", url, city.supervisor_a, data="reason", content_type="text/plain"), 400, "bad_request")
    assert len(api("GET", _drafts(case_id), city.responder_a).get_json()["ledger"]) == 1
    response = api("POST", url, city.supervisor_a, json={"reason": "内容に誤りがあったため"})
    assert response.status_code == 201, response.get_data(as_text=True)
    entry = response.get_json()
    assert entry["kind"] == "withdrawal" and entry["supersedes_id"] == publication["id"]
    assert entry["draft_id"] == draft["id"] and entry["note"] == "内容に誤りがあったため"
    assert entry["recorded_by"]["id"] == city.supervisor_a.id and entry["id"] != publication["id"]
    expect_error(api("POST", url, city.supervisor_a, json={"reason": "もう一度"}), 409, "conflict")
    expect_error(api("POST", f"/api/v1/cases/{case_id}/ledger/{entry['id']}/withdraw", city.admin,
                     json={"reason": "取り下げの取り下げ"}), 409, "conflict")
    ledger = api("GET", _drafts(case_id), city.responder_a).get_json()["ledger"]
    assert [(p["id"], p["kind"]) for p in ledger] == [(publication["id"], "citizen_warning"),
                                                       (entry["id"], "withdrawal")]
    assert ledger[0] == publication


def test_withdraw_unknown_or_mismatched_entry_is_404(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    _, _, sent = _sent(api, city, case_id, {"url": "https://x.com/ishinomaki_city/status/4"}, type="citizen_warning")
    other = _other_case(api, city.responder_a)
    pid = sent["publication"]["id"]
    expect_error(api("POST", f"/api/v1/cases/{other}/ledger/{pid}/withdraw", city.supervisor_a,
                     json={"reason": "誤り"}), 404, "not_found")
    expect_error(api("POST", f"/api/v1/cases/{case_id}/ledger/999999/withdraw", city.supervisor_a,
                     json={"reason": "誤り"}), 404, "not_found")
    expect_error(api("POST", f"/api/v1/cases/{case_id}/ledger/{'9' * 30}/withdraw", city.supervisor_a,
                     json={"reason": "誤り"}), 404, "not_found")
    assert len(api("GET", _drafts(case_id), city.responder_a).get_json()["ledger"]) == 1


# --- unfilled placeholders (issue 12) --------------------------------------------------------------

def _blank_lines(body: str) -> list[str]:
    return [f"{b.line} 行目：{b.text}" for b in find_blanks(body)]


def test_submit_with_blanks_is_422_listing_each_with_its_line(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="interim_notice")
    base = f"{_drafts(case_id)}/{draft['id']}"
    listed = _blank_lines(draft["body"])
    assert listed and listed[0].startswith("1 行目：［確認している事柄")
    error = expect_error(api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}),
                         422, "validation_failed", "body")
    assert all(line in error["fields"]["body"] for line in listed), error
    assert "未記入" in error["message"]
    both = expect_error(api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS[:1]}),
                        422, "validation_failed", "body", "checks")
    # Generated for X, the notice is a short post and the long text for the website: each lists its blanks.
    assert set(both["fields"]) == {"body", "web_body", "checks"}
    assert _blank_lines(draft["web_body"])[0].split("：", 1)[1] in both["fields"]["web_body"]
    error = expect_error(api("POST", f"{base}/pre-approved", city.responder_a,
                             json={"scope": "a", "source": CITY_PAGE, "checks": CHECKS}), 422, "validation_failed", "body")
    assert listed[-1] in error["fields"]["body"]
    after = api("GET", base, city.responder_a).get_json()
    assert after["status"] == "editing" and after["route"] is None and after["approved_revision_id"] is None
    # Filled in, it goes through.
    _fill(api, city.responder_a, base)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).get_json()["status"] == "submitted"


def test_approving_or_sending_a_text_with_blanks_is_422(api, city, impersonation, expect_error):
    """A text submitted or approved with blanks before they were refused cannot be approved or go out."""
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="interim_notice")
    base = f"{_drafts(case_id)}/{draft['id']}"
    stored = db.session.get(Draft, draft["id"])
    stored.status, stored.route = DraftStatus.SUBMITTED, Route.SUPERVISOR
    stored.approved_revision_id = db.session.scalars(
        db.select(DraftRevision.id).where(DraftRevision.draft_id == draft["id"])).one()
    db.session.commit()
    error = expect_error(api("POST", f"{base}/approve", city.supervisor_a, json={}), 422, "validation_failed", "body")
    assert _blank_lines(draft["body"])[0] in error["fields"]["body"]
    assert api("GET", base, city.responder_a).get_json()["status"] == "submitted"
    stored = db.session.get(Draft, draft["id"])
    stored.status = DraftStatus.APPROVED
    db.session.commit()
    error = expect_error(api("POST", f"{base}/sent", city.responder_a, json={"url": "https://x.com/ishinomaki_city/status/7"}),
                         422, "validation_failed", "body")
    assert _blank_lines(draft["body"])[-1] in error["fields"]["body"]
    listed = api("GET", _drafts(case_id), city.responder_a).get_json()
    assert listed["ledger"] == [] and listed["items"][0]["status"] == "approved"


# --- PR disclosure checker ------------------------------------------------------------------------

def test_pr_disclosure_check_smoke(api, city, expect_error):
    good = api("POST", "/api/v1/pr-disclosure/check", city.responder_a, json={"text": "#PR #石巻市 牡鹿半島の秋"})
    assert good.status_code == 200 and good.get_json() == {"ok": True, "problems": []}
    bad = api("POST", "/api/v1/pr-disclosure/check", city.responder_a, json={"text": "牡鹿半島の秋 #石巻市 #PR"})
    assert bad.status_code == 200 and bad.get_json()["ok"] is False and bad.get_json()["problems"]
    expect_error(api("POST", "/api/v1/pr-disclosure/check", None, json={"text": "#PR #石巻市"}), 401, "unauthorized")


# --- query counts ---------------------------------------------------------------------------------

def test_list_runs_the_same_number_of_queries_for_2_and_8_drafts(api, city, impersonation, make, count_queries):
    """Regression: revisions and their authors were loaded one draft at a time (10 vs 22 queries)."""
    case_id, _ = impersonation

    def add_drafts(n: int) -> None:
        # Each draft by a different person, with a second revision by yet another, so that authors
        # loaded one by one show in the count.
        for k in range(n):
            author = make.user("responder", city.dept_a)
            editor = make.user("responder", city.dept_a)
            draft = _create(api, author, case_id, type="press")
            assert api("POST", f"{_drafts(case_id)}/{draft['id']}/revisions", editor,
                       json={"body": f"第{k}版"}).status_code == 201

    add_drafts(2)
    api("GET", _drafts(case_id), city.responder_a)  # first use of the token writes last_used_at
    db.session.expire_all()
    with count_queries() as few:
        response = api("GET", _drafts(case_id), city.responder_a)
    assert len(response.get_json()["items"]) == 2
    add_drafts(6)
    make.user()  # a commit, so that nothing stays loaded from the drafts just written
    db.session.expire_all()
    with count_queries() as many:
        response = api("GET", _drafts(case_id), city.responder_a)
    items = response.get_json()["items"]
    assert len(items) == 8 and len({i["revisions"][-1]["author"]["id"] for i in items}) == 8
    assert many.count == few.count, many.statements


# --- channels, the website rendition, several places (issue 12) --------------------------------------------

X_POST = "https://x.com/ishinomaki_city/status/1861234567890"
FB_POST = "https://www.facebook.com/ishinomaki.city/posts/1234567890"


def _short_warning(api, city, case_id: int, **create) -> tuple[dict, str]:
    """A citizen warning for X as generated (a short post, the long notice as its website rendition), with the
    blanks filled."""
    draft = _create(api, city.responder_a, case_id, type="citizen_warning", **create)
    base = f"{_drafts(case_id)}/{draft['id']}"
    _fill(api, city.responder_a, base)
    return api("GET", base, city.responder_a).get_json(), base


def test_draft_json_has_channel_website_text_and_lengths(api, city, impersonation):
    """Generated for X (the official account's platform), a warning is a short post within 280 with the long
    notice as its website rendition; generated for the website, it is the long notice alone."""
    case_id, _ = impersonation
    created = _create(api, city.responder_a, case_id, type="citizen_warning")
    assert created["channel"] == "x"
    count = length.weighted_length(created["body"])
    assert created["length"] == {"channel": "x", "count": count, "limit": 280, "over": False}
    assert "偽アカウント" in created["web_body"] and length.weighted_length(created["web_body"]) > 280
    assert created["web_length"]["channel"] == "website" and created["web_length"]["limit"] == 20000
    assert created["web_length"]["count"] == len(created["web_body"].strip())
    website = _create(api, city.responder_a, case_id, type="citizen_warning", channel="website")
    assert website["web_body"] == "" and website["web_length"] is None
    assert website["body"] == created["web_body"] and website["length"]["channel"] == "website"
    takedown = _create(api, city.responder_a, case_id, type="takedown")
    assert takedown["channel"] is None and takedown["length"] is None


def test_create_with_channel_and_website_text(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="interim_notice", channel="line", web_body="長文のお知らせ")
    assert draft["channel"] == "line" and draft["web_body"] == "長文のお知らせ\n"
    assert draft["length"]["limit"] == 500
    for payload, field in [({"type": "interim_notice", "channel": "myspace"}, "channel"),
                           ({"type": "interim_notice", "channel": 1}, "channel"),
                           ({"type": "takedown", "channel": "x"}, "channel"),
                           ({"type": "press", "web_body": "長文"}, "web_body"),
                           ({"type": "interim_notice", "web_body": ["a"]}, "web_body")]:
        expect_error(api("POST", _drafts(case_id), city.responder_a, json=payload), 422, "validation_failed", field)


def test_revise_channel_and_website_text(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft, base = _short_warning(api, city, case_id)
    changed = api("POST", f"{base}/revisions", city.responder_a, json={"body": draft["body"], "channel": "facebook"})
    assert changed.status_code == 201
    assert changed.get_json()["channel"] == "facebook" and changed.get_json()["revision"] == draft["revision"]
    assert changed.get_json()["web_body"] == draft["web_body"]  # left out: kept
    cleared = api("POST", f"{base}/revisions", city.responder_a, json={"body": SHORT_POST, "web_body": None})
    assert cleared.status_code == 201 and cleared.get_json()["web_body"] == ""
    expect_error(api("POST", f"{base}/revisions", city.responder_a, json={"body": SHORT_POST, "channel": "fax"}),
                 422, "validation_failed", "channel")


def test_submit_over_the_limit_is_422_with_the_count(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="citizen_warning")
    base = f"{_drafts(case_id)}/{draft['id']}"
    text = "偽アカウントにご注意ください。" * 20  # 15 × 20 = 300 full-width characters: 600
    assert api("POST", f"{base}/revisions", city.responder_a, json={"body": text, "web_body": ""}).status_code == 201
    error = expect_error(api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}),
                         422, "validation_failed")
    assert error["message"] == "X（旧Twitter） の上限 280 を超えています（現在 600）。"
    assert api("GET", base, city.responder_a).get_json()["status"] == "editing"
    moved = api("POST", f"{base}/revisions", city.responder_a, json={"body": text, "channel": "line"})
    assert moved.get_json()["length"] == {"channel": "line", "count": 300, "limit": 500, "over": False}
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200


def test_sent_in_several_places_then_one_more(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft, base = _short_warning(api, city, case_id)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200
    assert api("POST", f"{base}/approve", city.supervisor_a, json={}).status_code == 200
    response = api("POST", f"{base}/sent", city.responder_a, json={"places": [
        {"place": "x", "url": X_POST}, {"place": "line", "url": None}, {"place": "website", "url": CITY_PAGE}]})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    places = [(p["place"], p["url"], p["channel"]) for p in body["publications"]]
    assert places == [("x", X_POST, "post"), ("line", "", "post"), ("website", CITY_PAGE, "website")]
    assert body["publication"] == body["publications"][0] and body["draft"]["status"] == "sent"
    assert {p["revision_id"] for p in body["publications"]} == {body["draft"]["approved_revision_id"]}
    later = api("POST", f"{base}/sent", city.responder_a2, json={"places": [{"place": "facebook", "url": FB_POST}]})
    assert later.status_code == 201 and [p["place"] for p in later.get_json()["publications"]] == ["facebook"]
    ledger = api("GET", _drafts(case_id), city.responder_a).get_json()["ledger"]
    assert [p["place"] for p in ledger] == ["x", "line", "website", "facebook"]
    expect_error(api("POST", f"{base}/sent", city.responder_a, json={"places": [{"place": "x", "url": X_POST}]}),
                 409, "conflict")
    step = _step(api, city.responder_a, case_id, "citizen_warning")
    assert step["state"] == "done" and step["last_event"]["data"]["publication_id"] == ledger[0]["id"]


@pytest.mark.parametrize("places, field", [
    ("x", "places"),
    ({"place": "x"}, "places"),
    ([5], "places"),
    ([{}], "places"),
    ([{"place": "nope", "url": X_POST}], "places"),
    ([{"place": "x", "url": 5}], "places"),
    ([{"place": "x"}], "places.0.url"),
    ([{"place": "x", "url": "ftp://x.com/1"}], "places.0.url"),
    ([{"place": "website", "url": "https://example.com/"}], "places.0.url"),
    ([{"place": "line"}, {"place": "line"}], "places.1.place"),
    ([{"place": "line"}] * 6, "places"),
])
def test_sent_with_bad_places_is_422(api, city, impersonation, expect_error, places, field):
    case_id, _ = impersonation
    _draft, base = _short_warning(api, city, case_id)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200
    assert api("POST", f"{base}/approve", city.supervisor_a, json={}).status_code == 200
    expect_error(api("POST", f"{base}/sent", city.responder_a, json={"places": places}), 422, "validation_failed",
                 field)
    assert api("GET", base, city.responder_a).get_json()["status"] == "approved"


def test_sent_places_over_the_limit_and_from_another_department(api, city, impersonation, expect_error):
    case_id, _ = impersonation
    draft = _create(api, city.responder_a, case_id, type="citizen_warning", channel="website")
    base = f"{_drafts(case_id)}/{draft['id']}"
    _fill(api, city.responder_a, base)
    assert api("POST", f"{base}/submit", city.responder_a, json={"checks": CHECKS}).status_code == 200
    assert api("POST", f"{base}/approve", city.supervisor_a, json={}).status_code == 200
    expect_error(api("POST", f"{base}/sent", city.responder_b, json={"places": [{"place": "x", "url": X_POST}]}),
                 404, "not_found")
    error = expect_error(api("POST", f"{base}/sent", city.responder_a,
                             json={"places": [{"place": "x", "url": X_POST}]}), 422, "validation_failed")
    assert re.fullmatch(r"X（旧Twitter） の上限 280 を超えています（現在 \d+）。", error["message"])
    letter = _create(api, city.responder_a, case_id, type="press")
    expect_error(api("POST", f"{_drafts(case_id)}/{letter['id']}/sent", city.responder_b, json={}), 404, "not_found")
