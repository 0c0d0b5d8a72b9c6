"""API v1 drafts: generation from the case, revisions, approval rules, sending, the ledger."""
from __future__ import annotations

import pytest

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
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    import io
    upload = api("POST", f"/api/v1/cases/{case_id}/evidence", city.responder_a,
                 data={"file": (io.BytesIO(png), "fake_profile.png"), "note": "プロフィール",
                       "captured_at": "2026-11-20T09:05:00+09:00"},
                 content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_data(as_text=True)
    return case_id, upload.get_json()["sha256"]


def _approved(api, city, case_id, body=None, **create):
    created = api("POST", f"/api/v1/cases/{case_id}/drafts", city.responder_a, json=create)
    assert created.status_code == 201, created.get_data(as_text=True)
    draft = created.get_json()
    base = f"/api/v1/cases/{case_id}/drafts/{draft['id']}"
    if body:
        assert api("POST", f"{base}/revisions", city.responder_a, json={"body": body}).status_code == 201
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
