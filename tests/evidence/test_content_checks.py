"""Evidence content: names follow the detected type; image bombs, corrupt files, PDFs with scripts or files."""
from __future__ import annotations

import io
import struct
import zlib
from urllib.parse import quote

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript, PageTrigger
from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

from incident.cases.models import Evidence
from incident.dates import utcnow
from incident.errors import ValidationFailed
from incident.evidence import service
from incident.extensions import db


@pytest.fixture
def setup(make, login, token_for):
    responder = make.user("responder", make.department())
    case = make.case(responder)
    return responder, case, login(responder), token_for(responder)


def image(kind: str = "PNG", size: tuple[int, int] = (4, 4)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, kind)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose IHDR header says width × height (CRC recomputed); the pixels stay tiny."""
    data = image("PNG")
    assert data[12:16] == b"IHDR"
    chunk = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


def pdf(build=None, **encrypt) -> bytes:
    """A one-page PDF made with pypdf; `build(writer, page)` adds what a test needs."""
    writer = PdfWriter()
    page = writer.add_blank_page(72, 72)
    if build is not None:
        build(writer, page)
    if encrypt:
        writer.encrypt(**encrypt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def post_web(client, case_id, data, name):
    return client.post(f"/cases/{case_id}/evidence", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def post_api(client, case_id, headers, data, name):
    return client.post(f"/api/v1/cases/{case_id}/evidence", headers=headers,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def assert_refused(setup, upload_dir, data, message, name="upload.bin"):
    """Both the page and the API answer 422 naming `file`; nothing is stored."""
    _responder, case, client, headers = setup
    api = post_api(client, case.id, headers, data, name)
    assert api.status_code == 422, api.json
    assert api.json["error"]["code"] == "validation_failed"
    assert message in api.json["error"]["fields"]["file"]
    page = post_web(client, case.id, data, name)
    assert page.status_code == 422
    assert message in page.text
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


# ---- names ----

@pytest.mark.parametrize("name,content,expected", [
    ("poly.html", pdf(), "poly.pdf"),
    ("report.png", pdf(), "report.pdf"),
    ("shot.pdf", image("PNG"), "shot.png"),
    ("photo.jpeg", image("JPEG"), "photo.jpeg"),
    ("Photo.JPG", image("JPEG"), "Photo.JPG"),
    ("photo.png", image("JPEG"), "photo.jpg"),
    ("anim.gif", image("WEBP"), "anim.webp"),
    ("スクリーンショット 2026.11.20", image("PNG"), "スクリーンショット 2026.11.20.png"),
    ("noextension", pdf(), "noextension.pdf"),
    ("../../etc/passwd", image("PNG"), "passwd.png"),
])
def test_name_takes_the_extension_of_the_detected_type(setup, upload_dir, name, content, expected):
    _responder, case, client, headers = setup
    created = post_api(client, case.id, headers, content, name)
    assert created.status_code == 201, created.json
    assert created.json["original_name"] == expected and created.json["file_name"] == expected
    evidence = db.session.get(Evidence, created.json["id"])
    assert evidence.original_name == expected
    assert evidence.stored_name.endswith(service.EXTENSIONS[evidence.content_type])
    assert [p.name for p in upload_dir.iterdir()] == [evidence.stored_name]
    for url in (f"/cases/{case.id}/evidence/{evidence.id}/file", created.json["file_url"]):
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and response.data == content
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert f'filename="{service.ascii_fallback(expected)}"' in disposition
        assert disposition.endswith("''" + quote(expected, safe=""))
    assert expected in client.get(f"/cases/{case.id}").text


def test_long_name_keeps_its_extension(setup):
    _responder, case, client, headers = setup
    created = post_api(client, case.id, headers, pdf(), "あ" * 300 + ".html")
    name = created.json["original_name"]
    assert len(name) == service.NAME_MAX and name.endswith(".pdf")


def test_rows_stored_before_the_fix_download_with_the_right_extension(setup, upload_dir):
    """A row stored as poly.html holding a PDF (as uploads were named before) is shown and downloaded
    as poly.pdf: the name is derived from the stored content type at download time."""
    responder, case, client, headers = setup
    upload_dir.mkdir(parents=True, exist_ok=True)
    (upload_dir / "0123456789abcdef").write_bytes(pdf())
    evidence = Evidence(case_id=case.id, original_name="poly.html", stored_name="0123456789abcdef",
                        content_type="application/pdf", size=len(pdf()), sha256="0" * 64, note="",
                        purpose="capture", uploaded_by_id=responder.id, uploaded_at=utcnow())
    db.session.add(evidence)
    db.session.commit()
    for url in (f"/cases/{case.id}/evidence/{evidence.id}/file",
                f"/api/v1/cases/{case.id}/evidence/{evidence.id}/file"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        disposition = response.headers["Content-Disposition"]
        assert 'filename="poly.pdf"' in disposition and disposition.endswith("''poly.pdf")
    listed = client.get(f"/api/v1/cases/{case.id}/evidence", headers=headers).json["items"][0]
    assert listed["original_name"] == "poly.html" and listed["file_name"] == "poly.pdf"
    page = client.get(f"/cases/{case.id}").text
    assert ">poly.pdf</a>" in page
    assert service.evidence_list(case)[0]["name"] == "poly.pdf"  # takedown drafts list it so too


# ---- images ----

def test_image_over_the_pixel_limit_is_refused(app, setup, upload_dir):
    app.config["EVIDENCE_MAX_PIXELS"] = 15
    assert_refused(setup, upload_dir, image("PNG", (4, 4)), "画素数が多すぎます（上限 15 画素）")
    assert_refused(setup, upload_dir, image("WEBP", (4, 4)), "画素数が多すぎます")
    assert_refused(setup, upload_dir, image("JPEG", (4, 4)), "画素数が多すぎます")
    app.config["EVIDENCE_MAX_PIXELS"] = 16
    _responder, case, client, headers = setup
    assert post_api(client, case.id, headers, image("PNG", (4, 4)), "ok.png").status_code == 201


def test_default_limit_reads_the_header_only(app, setup, upload_dir):
    """A 200-byte PNG claiming 7100 × 7100 (50.4 million pixels) is refused without decoding it;
    one claiming 7000 × 7000 (49 million) passes the limit (its pixels are never decoded)."""
    assert app.config["EVIDENCE_MAX_PIXELS"] == 50_000_000
    assert_refused(setup, upload_dir, png_claiming(7100, 7100), "上限 50,000,000 画素")
    _responder, case, client, headers = setup
    assert post_api(client, case.id, headers, png_claiming(7000, 7000), "big.png").status_code == 201


@pytest.mark.parametrize("width,height", [(10_000, 10_000), (100_000, 100_000), (2**31 - 1, 2**31 - 1)])
def test_decompression_bombs_are_refused(app, setup, upload_dir, width, height):
    """Beyond Pillow's own limits (a DecompressionBombWarning, an error here, then DecompressionBombError)."""
    app.config["EVIDENCE_MAX_PIXELS"] = 10**12  # let Pillow's checks be the ones that fire
    assert_refused(setup, upload_dir, png_claiming(width, height), "画素数が多すぎます")


def test_bomb_refused_when_warnings_are_not_errors(app, setup):
    """Outside the tests Pillow only warns beyond MAX_IMAGE_PIXELS; the upload is refused all the same."""
    responder, case, _client, _headers = setup
    app.config["EVIDENCE_MAX_PIXELS"] = 100_000_000
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ValidationFailed) as refused:
        service.add_evidence(responder, case, io.BytesIO(png_claiming(10_001, 10_000)), "bomb.png")
    assert "画素数が多すぎます" in str(refused.value.fields["file"])


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    image("PNG")[:40],  # truncated in the header
    image("PNG")[:16] + b"\xff" * 13 + image("PNG")[29:],  # IHDR with a wrong CRC
    b"\xff\xd8\xff\xe0" + b"\x00" * 64,
    b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32,
])
def test_corrupt_images_are_refused(setup, upload_dir, data):
    assert_refused(setup, upload_dir, data, "画像ファイルが壊れているため開けません。")


# ---- PDFs ----

def _open_action_js(writer, _page):
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})


def _launch_action(writer, _page):
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(DictionaryObject({
        NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")}))


def _file_attachment_annotation(writer, page):
    annotation = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/FileAttachment"),
        NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(10), FloatObject(10)]),
        NameObject("/FS"): TextStringObject("payload.exe"),
    })
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])


@pytest.mark.parametrize("build", [
    lambda w, p: w.add_open_action(JavaScript("app.alert(1)")),  # the document-level JavaScript name tree
    lambda w, p: p.add_action(PageTrigger.OPEN, JavaScript("app.alert(2)")),  # a page's /AA
    _open_action_js,
    _launch_action,
], ids=["names-javascript", "page-aa", "open-action-js", "launch"])
def test_pdf_with_javascript_is_refused(setup, upload_dir, build):
    assert_refused(setup, upload_dir, pdf(build), "JavaScript など自動で動く内容を含む PDF は添付できません。",
                   name="doc.pdf")


@pytest.mark.parametrize("build", [
    lambda w, p: w.add_attachment("invoice.exe", b"MZ\x90\x00"),
    _file_attachment_annotation,
], ids=["embedded-files", "file-attachment-annotation"])
def test_pdf_with_embedded_files_is_refused(setup, upload_dir, build):
    assert_refused(setup, upload_dir, pdf(build), "ファイルを埋め込んだ PDF は添付できません。", name="doc.pdf")


def test_scripts_hidden_by_encryption_are_found(setup, upload_dir):
    """An owner-password PDF opens with the empty user password, so its content is still inspected."""
    build = lambda w, p: w.add_attachment("a.txt", b"x")  # noqa: E731
    assert_refused(setup, upload_dir, pdf(build, user_password="", owner_password="owner", algorithm="AES-256"),
                   "ファイルを埋め込んだ PDF", name="doc.pdf")


def test_restricted_pdf_without_a_user_password_is_accepted(setup):
    _responder, case, client, headers = setup
    data = pdf(user_password="", owner_password="owner", algorithm="AES-256")
    assert post_api(client, case.id, headers, data, "permissions.pdf").status_code == 201


def test_password_protected_pdf_is_refused(setup, upload_dir):
    assert_refused(setup, upload_dir, pdf(user_password="secret", owner_password="owner", algorithm="AES-256"),
                   "パスワードで保護された PDF は添付できません。", name="doc.pdf")


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n" + b"0" * 64,
    pdf()[:60],  # truncated
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 1 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF",
])
def test_unreadable_pdf_is_refused(setup, upload_dir, data):
    assert_refused(setup, upload_dir, data, "PDF を読み取れません", name="doc.pdf")


def test_plain_pdf_and_images_are_accepted(setup):
    _responder, case, client, headers = setup
    for data, name in ((pdf(), "a.pdf"), (image("PNG"), "a.png"), (image("JPEG"), "a.jpg"),
                       (image("WEBP"), "a.webp")):
        assert post_api(client, case.id, headers, data, name).status_code == 201
        assert post_web(client, case.id, data, name).status_code == 302
