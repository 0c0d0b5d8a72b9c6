"""Evidence files: content-type sniffing, size limit, safe storage, access, withdrawal, append-only."""
from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from incident.cases.models import Evidence, EvidenceWithdrawal
from incident.evidence import service
from incident.extensions import db


def image(kind: str) -> bytes:
    """A real 4×4 image (Pillow checks that uploads open as what their bytes claim)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, kind)
    return out.getvalue()


def pdf() -> bytes:
    """A real one-page PDF without scripts or attachments."""
    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    writer.write(out)
    return out.getvalue()


PNG, JPEG, WEBP, PDF = image("PNG"), image("JPEG"), image("WEBP"), pdf()


@pytest.fixture
def setup(make, login):
    department = make.department()
    responder = make.user("responder", department)
    case = make.case(responder, urls=["https://x.com/fake_city"])
    client = login(responder)
    return responder, case, client


def upload(client, case_id, data=PNG, name="shot.png", **form):
    return client.post(f"/cases/{case_id}/evidence",
                       data={"file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("payload,kind", [(PNG, "image/png"), (JPEG, "image/jpeg"),
                                          (WEBP, "image/webp"), (PDF, "application/pdf")])
def test_upload_detects_type_by_content(setup, upload_dir, payload, kind):
    responder, case, client = setup
    response = upload(client, case.id, payload, "whatever.bin", note="投稿のスクリーンショット",
                      captured_at="2026-11-20T10:30")
    assert response.status_code == 302
    evidence = db.session.scalars(db.select(Evidence)).one()
    assert evidence.content_type == kind
    assert evidence.size == len(payload)
    assert evidence.sha256 == hashlib.sha256(payload).hexdigest()
    assert evidence.note == "投稿のスクリーンショット"
    assert evidence.captured_at is not None
    assert (upload_dir / evidence.stored_name).read_bytes() == payload
    page = client.get(f"/cases/{case.id}").text
    extension = service.EXTENSIONS[kind]
    assert evidence.original_name == "whatever" + extension  # the extension of the detected type
    assert evidence.stored_name.endswith(extension)
    assert evidence.sha256 in page and "whatever" + extension in page and "whatever.bin" not in page
    assert "証拠ファイルを添付" in page  # the timeline names the event


@pytest.mark.parametrize("payload", [
    b"<!DOCTYPE html><html><script>alert(1)</script></html>",
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"<svg onload=alert(1)>",
    b"",
])
def test_html_or_svg_named_png_is_refused(setup, upload_dir, payload):
    _responder, case, client = setup
    response = upload(client, case.id, payload, "shot.png")
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_oversize_gets_413(app, setup, upload_dir, token_for):
    responder, case, client = setup
    app.config["EVIDENCE_MAX_BYTES"] = 1000
    assert upload(client, case.id, PNG + b"\x00" * 1000).status_code == 413
    api = client.post(f"/api/v1/cases/{case.id}/evidence", headers=token_for(responder),
                      data={"file": (io.BytesIO(PNG + b"\x00" * 1000), "big.png")},
                      content_type="multipart/form-data")
    assert api.status_code == 413
    assert api.json["error"]["code"] == "too_large"
    # Beyond Flask's own request limit the answer is still a 413.
    app.config["MAX_CONTENT_LENGTH"] = 2000
    assert upload(client, case.id, PNG + b"\x00" * 5000).status_code == 413
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["../../etc/passwd.png", "..\\x.png", "/etc/passwd", 'a"b\r\nX-Evil: 1.png',
                                  "スクリーンショット 2026.png"])
def test_path_like_names_cannot_escape(setup, upload_dir, name):
    _responder, case, client = setup
    assert upload(client, case.id, PNG, name).status_code == 302
    evidence = db.session.scalars(db.select(Evidence)).one()
    assert [p.name for p in upload_dir.iterdir()] == [evidence.stored_name]
    assert "/" not in evidence.original_name and "\\" not in evidence.original_name
    assert "\r" not in evidence.original_name and "\n" not in evidence.original_name
    response = client.get(f"/cases/{case.id}/evidence/{evidence.id}/file")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition
    assert "X-Evil" not in response.headers


def test_download_is_attachment_with_detected_type(setup):
    _responder, case, client = setup
    upload(client, case.id, PDF, "report.png")
    evidence = db.session.scalars(db.select(Evidence)).one()
    response = client.get(f"/cases/{case.id}/evidence/{evidence.id}/file")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_other_department_gets_404(setup, make, login, token_for, client):
    responder, case, own = setup
    upload(own, case.id)
    evidence = db.session.scalars(db.select(Evidence)).one()
    outsider = make.user("responder", make.department())
    login(outsider)
    assert client.get(f"/cases/{case.id}/evidence/{evidence.id}/file").status_code == 404
    assert upload(client, case.id).status_code == 404
    assert client.post(f"/cases/{case.id}/evidence/{evidence.id}/withdraw", data={"reason": "x"}).status_code == 404
    headers = token_for(outsider)
    assert client.get(f"/api/v1/cases/{case.id}/evidence/{evidence.id}/file", headers=headers).status_code == 404
    assert client.get(f"/api/v1/cases/{case.id}/evidence", headers=headers).status_code == 404
    # A real evidence id under the wrong case is a 404 too.
    other_case = make.case(outsider)
    assert client.get(f"/cases/{other_case.id}/evidence/{evidence.id}/file").status_code == 404


def test_withdrawn_stays_listed_and_downloadable(setup, client):
    responder, case, _ = setup
    upload(client, case.id)
    evidence = db.session.scalars(db.select(Evidence)).one()
    assert client.post(f"/cases/{case.id}/evidence/{evidence.id}/withdraw", data={"reason": ""}).status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(EvidenceWithdrawal)) == 0
    assert client.post(f"/cases/{case.id}/evidence/{evidence.id}/withdraw",
                       data={"reason": "別の案件の画像でした"}).status_code == 302
    page = client.get(f"/cases/{case.id}").text
    assert "別の案件の画像でした" in page and "shot.png" in page
    assert client.get(f"/cases/{case.id}/evidence/{evidence.id}/file").status_code == 200
    # Withdrawn once only.
    client.post(f"/cases/{case.id}/evidence/{evidence.id}/withdraw", data={"reason": "again"})
    assert db.session.scalar(db.select(db.func.count()).select_from(EvidenceWithdrawal)) == 1
    rows = service.evidence_list(case)
    assert rows == []
    assert service.evidence_list(case, include_withdrawn=True)[0]["withdrawn"] is True


def test_evidence_rows_are_append_only(setup):
    responder, case, client = setup
    upload(client, case.id)
    evidence = db.session.scalars(db.select(Evidence)).one()
    service.withdraw(responder, evidence, "誤り")
    db.session.commit()
    for statement in ("UPDATE evidence SET note = 'x'", "DELETE FROM evidence",
                      "UPDATE evidence_withdrawal SET reason = 'x'", "DELETE FROM evidence_withdrawal"):
        with pytest.raises(DatabaseError):
            db.session.execute(text(statement))
        db.session.rollback()


def test_api_upload_list_download_withdraw(setup, client, token_for):
    responder, case, _ = setup
    headers = token_for(responder)
    item = case.offending_items[0]
    created = client.post(f"/api/v1/cases/{case.id}/evidence", headers=headers,
                          data={"file": (io.BytesIO(JPEG), "../a.jpg"), "note": "n",
                                "captured_at": "2026-11-20T10:30:00+09:00", "offending_item_id": str(item.id)},
                          content_type="multipart/form-data")
    assert created.status_code == 201, created.json
    body = created.json
    assert body["content_type"] == "image/jpeg" and body["original_name"] == "a.jpg"
    assert body["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert body["offending_item_id"] == item.id
    assert body["captured_at"].startswith("2026-11-20T01:30")
    listed = client.get(f"/api/v1/cases/{case.id}/evidence", headers=headers).json["items"]
    assert [e["id"] for e in listed] == [body["id"]]
    file = client.get(body["file_url"], headers=headers)
    assert file.status_code == 200 and file.data == JPEG and file.mimetype == "image/jpeg"
    withdrawn = client.post(f"/api/v1/cases/{case.id}/evidence/{body['id']}/withdraw", headers=headers,
                            json={"reason": "重複"})
    assert withdrawn.status_code == 200 and withdrawn.json["withdrawal"]["reason"] == "重複"
    again = client.post(f"/api/v1/cases/{case.id}/evidence/{body['id']}/withdraw", headers=headers,
                        json={"reason": "重複"})
    assert again.status_code == 409


@pytest.mark.parametrize("fields", [
    {},
    {"file": (io.BytesIO(PNG), "")},
    {"file": (io.BytesIO(PNG), "a.png"), "captured_at": "yesterday"},
    {"file": (io.BytesIO(PNG), "a.png"), "captured_at": "0001-01-01T00:00"},
    {"file": (io.BytesIO(PNG), "a.png"), "captured_at": "2999-01-01T00:00"},
    {"file": (io.BytesIO(PNG), "a.png"), "offending_item_id": "abc"},
    {"file": (io.BytesIO(PNG), "a.png"), "offending_item_id": "99999999999999999999999"},
    {"file": (io.BytesIO(PNG), "a.png"), "offending_item_id": "999"},
    {"file": (io.BytesIO(PNG), "a.png"), "note": "x" * 1001},
])
def test_bad_input_never_500(setup, client, token_for, fields):
    responder, case, _ = setup

    def form():  # a fresh stream for each request
        return {k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}

    api = client.post(f"/api/v1/cases/{case.id}/evidence", headers=token_for(responder), data=form(),
                      content_type="multipart/form-data")
    assert api.status_code == 422, api.json
    assert "error" in api.json
    page = client.post(f"/cases/{case.id}/evidence", data=form(), content_type="multipart/form-data")
    assert page.status_code == 422


def test_api_withdraw_bad_bodies(setup, client, token_for):
    responder, case, _ = setup
    upload(client, case.id)
    evidence = db.session.scalars(db.select(Evidence)).one()
    headers = token_for(responder)
    url = f"/api/v1/cases/{case.id}/evidence/{evidence.id}/withdraw"
    assert client.post(url, headers=headers, data="x").status_code == 400
    assert client.post(url, headers=headers, json={"reason": 5}).status_code == 422
    assert client.post(url, headers=headers, json={}).status_code == 422
    assert client.post(f"/api/v1/cases/{case.id}/evidence/99999/withdraw", headers=headers,
                       json={"reason": "x"}).status_code == 404


def test_case_page_queries_fixed_with_more_evidence(setup, client, count_queries):
    responder, case, _ = setup
    case_id = case.id

    def measure():
        with count_queries() as counter:
            assert client.get(f"/cases/{case_id}").status_code == 200
        return counter.count

    for n in range(2):
        upload(client, case.id, PNG + bytes([n]), f"{n}.png")
    few = measure()
    for n in range(8):
        upload(client, case.id, PNG + bytes([n + 10]), f"x{n}.png",
               offending_item_id=str(case.offending_items[0].id))
    rows = db.session.scalars(db.select(Evidence)).all()
    service.withdraw(responder, rows[0], "誤り")
    service.withdraw(responder, rows[5], "誤り")
    db.session.commit()
    assert len(rows) == 10
    assert measure() == few
