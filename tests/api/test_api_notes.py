"""API v1 notes: append-only notes and corrections, 405 on changing or deleting, and Markdown that
cannot carry script."""
from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest

from incident.dates import utcnow


@pytest.fixture
def case(make, city):
    return make.case(city.responder_a)


def post_note(api, user, case_id: int, body):
    return api("POST", f"/api/v1/cases/{case_id}/notes", user, json={"body": body})


def test_add_note(api, city, case):
    before = utcnow()
    response = post_note(api, city.responder_a2, case.id, "  **至急** 本文  ")
    assert response.status_code == 201
    note = response.get_json()
    assert set(note) == {"id", "body", "body_html", "author", "created_at", "corrects_id"}
    assert isinstance(note["id"], int)
    assert note["body"] == "**至急** 本文"
    assert note["body_html"] == "<p><strong>至急</strong> 本文</p>"
    assert note["author"] == {"id": city.responder_a2.id, "name": "担当A2"}
    assert note["corrects_id"] is None
    assert dt.datetime.fromisoformat(note["created_at"]) >= before - dt.timedelta(seconds=1)
    # It is on the case, and can be read back on its own.
    detail = api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()
    assert detail["notes"] == [note]
    assert api("GET", f"/api/v1/cases/{case.id}/notes/{note['id']}", city.responder_a).get_json() == note


def test_notes_keep_their_order(api, city, case):
    ids = [post_note(api, city.responder_a, case.id, f"メモ{n}").get_json()["id"] for n in range(3)]
    detail = api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()
    assert [n["id"] for n in detail["notes"]] == ids
    assert [n["body"] for n in detail["notes"]] == ["メモ0", "メモ1", "メモ2"]


def test_note_markdown_renders(api, city, case):
    body = "- 一つ目\n- 二つ目\n\n[市のサイト](https://www.city.example.jp/)\n\n`code`"
    html = post_note(api, city.responder_a, case.id, body).get_json()["body_html"]
    assert "<li>一つ目</li>" in html and "<li>二つ目</li>" in html
    assert '<a href="https://www.city.example.jp/"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<code>code</code>" in html


def test_correction(api, city, case):
    original = post_note(api, city.responder_a, case.id, "投稿は削除された").get_json()
    response = api("POST", f"/api/v1/cases/{case.id}/notes/{original['id']}/corrections",
                   city.supervisor_a, json={"body": "投稿は非公開になった（削除ではない）"})
    assert response.status_code == 201
    correction = response.get_json()
    assert correction["corrects_id"] == original["id"]
    assert correction["id"] != original["id"]
    assert correction["body"] == "投稿は非公開になった（削除ではない）"
    assert correction["author"] == {"id": city.supervisor_a.id, "name": "所属長A"}
    # The original stays as it was: corrections are appended, never overwrite.
    detail = api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()
    assert [n["id"] for n in detail["notes"]] == [original["id"], correction["id"]]
    assert detail["notes"][0] == original


def test_a_correction_can_itself_be_corrected(api, city, case):
    first = post_note(api, city.responder_a, case.id, "v1").get_json()
    second = api("POST", f"/api/v1/cases/{case.id}/notes/{first['id']}/corrections", city.responder_a,
                 json={"body": "v2"}).get_json()
    third = api("POST", f"/api/v1/cases/{case.id}/notes/{second['id']}/corrections", city.responder_a,
                json={"body": "v3"})
    assert third.status_code == 201 and third.get_json()["corrects_id"] == second["id"]


def test_a_note_is_corrected_only_once(api, city, case, expect_error):
    original = post_note(api, city.responder_a, case.id, "元").get_json()
    url = f"/api/v1/cases/{case.id}/notes/{original['id']}/corrections"
    assert api("POST", url, city.responder_a, json={"body": "訂正1"}).status_code == 201
    expect_error(api("POST", url, city.responder_a2, json={"body": "訂正2"}), 409, "conflict")
    bodies = [n["body"] for n in api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()["notes"]]
    assert bodies == ["元", "訂正1"]


def test_correcting_a_note_of_another_case_is_404(api, city, make, case, expect_error):
    other = make.case(city.responder_a)
    foreign = post_note(api, city.responder_a, other.id, "別の案件のメモ").get_json()
    response = api("POST", f"/api/v1/cases/{case.id}/notes/{foreign['id']}/corrections",
                   city.responder_a, json={"body": "x"})
    expect_error(response, 404, "not_found")
    expect_error(api("GET", f"/api/v1/cases/{case.id}/notes/{foreign['id']}", city.responder_a),
                 404, "not_found")
    assert api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()["notes"] == []


def test_correcting_a_missing_note_is_404(api, city, case, expect_error):
    expect_error(api("POST", f"/api/v1/cases/{case.id}/notes/999/corrections", city.responder_a,
                     json={"body": "x"}), 404, "not_found")
    expect_error(api("GET", f"/api/v1/cases/{case.id}/notes/999", city.responder_a), 404, "not_found")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_notes_cannot_be_changed_or_deleted(api, city, case, expect_error, method):
    note = post_note(api, city.responder_a, case.id, "消せないメモ").get_json()
    for user in (city.responder_a, city.supervisor_a, city.admin):
        response = api(method, f"/api/v1/cases/{case.id}/notes/{note['id']}", user, json={"body": "改変"})
        expect_error(response, 405, "method_not_allowed")
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert "GET" in allowed and not allowed & {"PUT", "PATCH", "DELETE"}
    # Nor through the collection, nor the corrections endpoint.
    for url in (f"/api/v1/cases/{case.id}/notes", f"/api/v1/cases/{case.id}/notes/{note['id']}/corrections"):
        expect_error(api(method, url, city.admin, json={"body": "改変"}), 405, "method_not_allowed")
    detail = api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()
    assert [n["body"] for n in detail["notes"]] == ["消せないメモ"]


@pytest.mark.parametrize("body", [None, "", "   ", "\n\t", 42, 0, True, ["本文"], {"text": "本文"}, "x" * 20_001])
def test_bad_note_body_is_422(api, city, case, expect_error, body):
    expect_error(post_note(api, city.responder_a, case.id, body), 422, "validation_failed", "body")
    original = post_note(api, city.responder_a, case.id, "元").get_json()
    response = api("POST", f"/api/v1/cases/{case.id}/notes/{original['id']}/corrections",
                   city.responder_a, json={"body": body})
    expect_error(response, 422, "validation_failed", "body")
    notes = api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()["notes"]
    assert [n["body"] for n in notes] == ["元"]


def test_note_without_body_key_is_422(api, city, case, expect_error):
    response = api("POST", f"/api/v1/cases/{case.id}/notes", city.responder_a, json={"text": "x"})
    expect_error(response, 422, "validation_failed", "body")


def test_longest_allowed_note_is_accepted(api, city, case):
    response = post_note(api, city.responder_a, case.id, "あ" * 20_000)
    assert response.status_code == 201 and len(response.get_json()["body"]) == 20_000


class _Tags(HTMLParser):
    """Collects the elements and attributes a browser would build from some HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend((name.lower(), value or "") for name, value in attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text += data


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">クリック</a>',
    "[クリック](javascript:alert(1))",
    "[クリック](JaVaScRiPt:alert(1))",
    "[クリック]( javascript:alert(1) )",
    "[クリック](&#106;avascript:alert(1))",
    "![画像](javascript:alert(1))",
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "```\n<script>alert(1)</script>\n```",
    "<<script>script>alert(1)<</script>/script>",
    "<details open ontoggle=alert(1)>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]


@pytest.mark.parametrize("body", XSS)
def test_script_in_a_note_is_neutralised(api, city, case, body):
    note = post_note(api, city.responder_a, case.id, body).get_json()
    assert note["body"] == body.strip()  # what the user wrote is kept verbatim
    html = note["body_html"]
    assert html  # the note is still shown, as text
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<svg" not in lowered
    assert "<iframe" not in lowered and "<details" not in lowered
    parsed = _Tags()
    parsed.feed(html)
    assert not {"script", "img", "svg", "iframe", "style", "object", "embed", "details"} & set(parsed.tags)
    for name, value in parsed.attributes:
        assert not name.startswith("on"), html
        assert name != "style", html
        assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), html
    # The same HTML is served on the case and on the note itself.
    detail = api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()
    assert detail["notes"][-1]["body_html"] == html


def test_escaped_markup_is_shown_as_text(api, city, case):
    html = post_note(api, city.responder_a, case.id, "<b>太字にならない</b> & <i>x</i>").get_json()["body_html"]
    assert "&lt;b&gt;太字にならない&lt;/b&gt;" in html
    assert "<b>" not in html and "<i>" not in html


def test_script_in_a_case_description_is_neutralised(api, city):
    response = api("POST", "/api/v1/cases", city.responder_a, json={
        "kind": "flaming", "title": "<script>alert(1)</script>", "severity": "low",
        "description": "<img src=x onerror=alert(1)> [x](javascript:alert(1))",
    })
    assert response.status_code == 201
    data = response.get_json()
    assert data["title"] == "<script>alert(1)</script>"  # plain text in JSON, for the client to escape
    parsed = _Tags()
    parsed.feed(data["description_html"])
    assert "img" not in parsed.tags
    assert all(not n.startswith("on") and not v.lower().startswith("javascript:") for n, v in parsed.attributes)
