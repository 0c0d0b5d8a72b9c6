"""Case pages: the access matrix, forms, XSS, CSRF, stale edits and query counts."""
from __future__ import annotations

import pytest

from incident.cases import service
from incident.cases.models import Case, CaseStatus
from incident.extensions import db
from incident.playbooks import service as playbooks

ROLES = ["responder", "supervisor", "admin"]


@pytest.fixture
def world(make):
    """A case in department A with one note; users of each role in A and in B."""
    dept_a, dept_b = make.department(code="a"), make.department(code="b")
    users = {(role, "own"): make.user(role, dept_a) for role in ROLES}
    users.update({(role, "other"): make.user(role, dept_b) for role in ROLES})
    reporter = make.user("responder", dept_a)
    case = make.case(reporter)
    note = service.add_note(reporter, case, "最初のメモ")
    db.session.commit()
    return users, case, note, reporter


def _routes(case, note, reporter):
    return [
        ("GET", f"/cases/{case.id}", None),
        ("GET", f"/cases/{case.id}/edit", None),
        ("GET", f"/cases/{case.id}/notes/{note.id}/correct", None),
        ("POST", f"/cases/{case.id}/notes", {"body": "追記"}),
        ("POST", f"/cases/{case.id}/items", {"target": "https://x.com/fake"}),
        ("POST", f"/cases/{case.id}/acknowledge", {}),
        ("POST", f"/cases/{case.id}/assign", {"assignee_id": str(reporter.id)}),
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("where", ["own", "other"])
def test_access_matrix(world, client, login, role, where):
    users, case, note, reporter = world
    login(users[(role, where)])
    for method, url, data in _routes(case, note, reporter):
        response = client.open(url, method=method, data=data)
        if where == "other" and role != "admin":
            expected = {404}
        elif url.endswith("/assign") and role == "responder":
            expected = {403}
        else:
            expected = {200, 302}
        assert response.status_code in expected, (role, where, method, url, response.status_code)


def test_other_department_sees_nothing_in_list(world, client, login):
    users, case, _note, _reporter = world
    login(users[("supervisor", "other")])
    assert case.title not in client.get("/cases").text
    login(users[("admin", "other")])
    assert case.number in client.get("/cases").text


def test_unknown_case_and_note_are_404(world, client, login):
    users, case, _note, _reporter = world
    login(users[("admin", "own")])
    assert client.get("/cases/999999").status_code == 404
    assert client.get(f"/cases/{case.id}/notes/999999/correct").status_code == 404


def test_anonymous_is_sent_to_login(world, client):
    _users, case, _note, _reporter = world
    response = client.get(f"/cases/{case.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_open_case_through_form(make, client, login):
    responder = make.user()
    login(responder)
    response = client.post("/cases/new", data={
        "kind": "impersonation", "severity": "high", "title": "偽アカウント",
        "urls": "https://x.com/fake\n@fake", "detected_at": "2026-01-05T09:30",
    })
    assert response.status_code == 302
    case = db.session.scalars(db.select(Case)).one()
    assert case.kind.value == "impersonation"
    assert [i.target for i in case.offending_items] == ["https://x.com/fake", "@fake"]
    assert case.detected_at.isoformat() == "2026-01-05T00:30:00+00:00"  # 09:30 in Tokyo
    page = client.get(response.headers["Location"]).text
    assert case.number in page and "偽アカウント" in page


@pytest.mark.parametrize("data, field_text", [
    ({"kind": "flaming", "severity": "high", "title": ""}, "入力してください"),
    ({"kind": "bogus", "severity": "high", "title": "x"}, "選択肢が正しくありません"),
    ({"kind": "flaming", "severity": "high", "title": "x", "urls": "javascript:alert(1)"}, "1 行目"),
    ({"kind": "flaming", "severity": "high", "title": "x", "detected_at": "yesterday"}, ""),
    ({"kind": "flaming", "severity": "high", "title": "x", "official_account_id": "999"}, ""),
])
def test_bad_case_form_is_422_and_keeps_input(make, client, login, data, field_text):
    login(make.user())
    response = client.post("/cases/new", data=data)
    assert response.status_code == 422
    assert field_text in response.text
    assert db.session.scalars(db.select(Case)).first() is None


def test_xss_in_title_and_note_is_escaped(make, client, login):
    responder = make.user()
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    case = make.case(responder, title=payload)
    login(responder)
    client.post(f"/cases/{case.id}/notes", data={"body": payload})
    for url in (f"/cases/{case.id}", "/cases"):
        page = client.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_correction_page_shows_original_struck_through(make, client, login):
    responder = make.user()
    case = make.case(responder)
    note = service.add_note(responder, case, "誤った内容")
    db.session.commit()
    login(responder)
    response = client.post(f"/cases/{case.id}/notes/{note.id}/correct", data={"correction-body": "正しい内容"})
    assert response.status_code == 302
    page = client.get(f"/cases/{case.id}").text
    struck = page.split("<del", 1)[1].split("</del>", 1)[0]
    assert "誤った内容" in struck
    assert "正しい内容" in page and f'href="#note-{note.id}"' in page


def test_stale_edit_is_refused_and_keeps_typed_text(make, client, login):
    responder = make.user()
    case = make.case(responder, title="元の件名")
    stale_version = case.version
    service.update_case(responder, case, stale_version, {"title": "他の人が変えた件名"})
    db.session.commit()
    login(responder)
    response = client.post(f"/cases/{case.id}/edit", data={
        "version": str(stale_version), "kind": "flaming", "severity": "medium",
        "title": "私が入力した件名", "description": "私の説明",
    })
    assert response.status_code == 409
    assert "私が入力した件名" in response.text and "私の説明" in response.text
    assert "他の人が変えた件名" in response.text
    db.session.expire_all()
    assert db.session.get(Case, case.id).title == "他の人が変えた件名"
    # Saving again from the conflict page (it carries the new version) succeeds.
    version_now = db.session.get(Case, case.id).version
    response = client.post(f"/cases/{case.id}/edit", data={
        "version": str(version_now), "kind": "flaming", "severity": "medium", "title": "私が入力した件名",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).title == "私が入力した件名"


def test_status_change_and_close_need_supervisor(make, client, login):
    department = make.department()
    responder = make.user("responder", department)
    supervisor = make.user("supervisor", department)
    case = make.case(responder)
    login(responder)
    client.post(f"/cases/{case.id}/acknowledge")
    assert client.post(f"/cases/{case.id}/status", data={"status": "closed"}).status_code == 403
    login(supervisor)
    refused = client.post(f"/cases/{case.id}/status", data={"status": "closed"})
    assert refused.status_code == 422 and 'id="what_happened-error"' in refused.text  # the review is asked for
    review = {"what_happened": "誤報だった", "what_was_done": "確認して終了した"}
    refused = client.post(f"/cases/{case.id}/status", data={"status": "closed", **review})
    assert refused.status_code == 409 and "必須の手順が終わっていない" in refused.text  # other steps are open
    assert "「振り返りを記録する」" not in refused.text  # the review given completes its own step
    closed = client.post(f"/cases/{case.id}/status",
                         data={"status": "closed", "reason": "誤報", "waive_open_steps": "y",
                               "what_happened": "誤報だった", "what_was_done": "確認して終了した"})
    assert closed.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.CLOSED
    page = client.get(f"/cases/{case.id}").text
    assert "受付（対応開始）" in page and "状態を変更" in page


def test_post_without_csrf_token_is_refused(app, make, client, login):
    responder = make.user()
    case = make.case(responder)
    login(responder)
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/cases/{case.id}/notes", data={"body": "CSRFなし"})
    assert response.status_code == 400
    assert not case.notes


def test_list_pagination(make, client, login, app):
    app.config["PER_PAGE"] = 5
    responder = make.user()
    for n in range(12):
        make.case(responder, title=f"案件{n:02d}")
    login(responder)
    first = client.get("/cases").text
    assert "案件11" in first and "案件06" not in first and "1 / 3" in first
    third = client.get("/cases?page=3").text
    assert "案件00" in third and "案件11" not in third
    assert client.get("/cases?page=abc&per_page=-1").status_code == 200


def test_list_and_case_page_run_fixed_number_of_queries(make, client, login, count_queries):
    department = make.department()
    responder = make.user("responder", department)
    supervisor = make.user("supervisor", department)
    login(responder)

    def measure(url):
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    case = make.case(responder, urls=["https://x.com/1"])
    service.assign(supervisor, case, responder.id)
    service.add_note(responder, case, "1")
    db.session.commit()
    list_few, page_few = measure("/cases"), measure(f"/cases/{case.id}")
    for n in range(15):
        other = make.case(make.user("responder", department), urls=[f"https://x.com/{n}"])
        service.assign(supervisor, other, responder.id)
        note = service.add_note(responder, case, f"note {n}")
        service.add_note(responder, case, f"fix {n}", corrects=note)
        service.add_offending_item(responder, case, f"@h{n}")
        playbooks.decide(responder, case, "did_city_post_wrong", n % 2 == 0, "判断")
        playbooks.reopen_step(responder, case, "did_city_post_wrong", "見直し")
    db.session.commit()
    assert measure("/cases") == list_few
    assert measure(f"/cases/{case.id}") == page_few
