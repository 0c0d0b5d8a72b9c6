"""The April personnel reshuffle (人事異動): a CSV previewed change by change, applied exactly as previewed,
history kept (who was where when), every change audited; PR office only."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from incident.audit.models import AuditLog
from incident.auth import postings, reshuffle, reshuffle_csv
from incident.auth.models import Department, Posting, Reshuffle, Role, User
from incident.dates import TOKYO, UTC
from incident.extensions import db

HEADER = "メールアドレス,所属,役割,委託業者・指定管理者名,組織の種類\r\n"
LONG_AGO = dt.datetime(2024, 1, 5, tzinfo=UTC)


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(row + "\r\n" for row in rows)).encode("utf-8")


def upload_page(client, data: bytes, effective_on: str = "", name: str = "april.csv"):
    return client.post("/admin/reshuffles", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name), "effective_on": effective_on})


def stored() -> int:
    return db.session.scalar(select(func.count()).select_from(Reshuffle))


def placement(user: User) -> tuple[str, str, str | None]:
    db.session.refresh(user)
    return user.department.code, user.role.value, user.organisation


@pytest.fixture
def april(city):
    """The city's people as of long ago (their first postings start then), and a reshuffle CSV for them:
    担当A to 観光課 as supervisor, 所属長A to a responder of a designated manager, 担当B unchanged."""
    for user in (city.responder_a, city.supervisor_a, city.responder_b, city.responder_a2):
        user.created_at = LONG_AGO
        postings.open_posting(None, user, at=LONG_AGO)  # as create_user does
    db.session.commit()
    city.csv = csv_of(f"{city.responder_a.email},dept-b,所属長,,",
                      f"{city.supervisor_a.email},防災課,担当者,石巻ビル管理,指定管理者",
                      f"{city.responder_b.email},dept-b,responder,,")
    return city


def test_the_preview_lists_exactly_the_changes_and_applying_applies_exactly_them(client, login, april):
    city = april
    login(city.admin)
    response = upload_page(client, city.csv)
    assert response.status_code == 302
    item = db.session.scalar(select(Reshuffle))
    page = client.get(response.headers["Location"]).text
    assert "変更 2 人" in page and "変更なし 1 人" in page
    changes = page.split('id="changes"')[1].split("</section>")[0]
    assert "担当A" in changes and "所属長A" in changes and "担当B" not in changes
    assert "観光課（dept-b）・所属長" in changes and "石巻ビル管理" in changes
    # Nothing moved by previewing.
    assert placement(city.responder_a) == ("dept-a", "responder", None)
    planned = {row["user_id"]: row for row in item.plan}
    assert {uid for uid, row in planned.items() if row["changed"]} == {city.responder_a.id, city.supervisor_a.id}

    refused = client.post(f"/admin/reshuffles/{item.id}/apply", data={})
    assert refused.status_code == 422 and "確認のチェックを入れてください。" in refused.text
    assert placement(city.responder_a) == ("dept-a", "responder", None)
    applied = client.post(f"/admin/reshuffles/{item.id}/apply", data={"confirm": "y"})
    assert applied.status_code == 302
    for user in (city.responder_a, city.supervisor_a, city.responder_b):
        to = planned[user.id]["to"]
        assert placement(user) == (to["department_code"], to["role"], to["organisation"])
    assert city.supervisor_a.operator.kind.value == "designated_manager"
    assert "反映済み" in client.get(f"/admin/reshuffles/{item.id}").text
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions.count("user.move") == 2 and "reshuffle.upload" in actions and "reshuffle.apply" in actions
    applied_row = db.session.scalar(select(AuditLog).where(AuditLog.action == "reshuffle.apply"))
    assert applied_row.changes == {"moved": [None, 2], "unchanged": [None, 1]}


def test_history_answers_who_was_where_before_and_after(client, login, april):
    city = april
    login(city.admin)
    upload_page(client, city.csv, effective_on="2025-04-01")
    item = db.session.scalar(select(Reshuffle))
    assert item.effective_on == dt.date(2025, 4, 1)
    assert client.post(f"/admin/reshuffles/{item.id}/apply", data={"confirm": "y"}).status_code == 302
    history = postings.history_of(city.responder_a.id)
    assert [(p.department_id, p.role) for p in history] == [(city.dept_b.id, Role.SUPERVISOR),
                                                            (city.dept_a.id, Role.RESPONDER)]
    new, old = history
    start = dt.datetime(2025, 4, 1, tzinfo=TOKYO)
    assert old.started_at == LONG_AGO and old.ended_at == start and new.started_at == start
    assert new.ended_at is None and new.reshuffle_id == item.id
    before, after = dt.datetime(2025, 3, 31, 12, tzinfo=TOKYO), dt.datetime(2025, 4, 1, 9, tzinfo=TOKYO)
    assert city.responder_a.id in postings.members_on(city.dept_a.id, before)
    assert city.responder_a.id not in postings.members_on(city.dept_a.id, after)
    assert city.responder_a.id in postings.members_on(city.dept_b.id, after)
    # The page: 「この日の所属」 for 防災課 on each day.
    on_the_eve = client.get(f"/admin/postings?department={city.dept_a.id}&day=2025-03-31").text
    on_the_day = client.get(f"/admin/postings?department={city.dept_a.id}&day=2025-04-02").text
    assert ">担当A<" in on_the_eve and ">担当A<" not in on_the_day and ">担当A2<" in on_the_day
    assert ">担当A<" in client.get(f"/admin/postings?department={city.dept_b.id}&day=2025-04-02").text
    person = client.get(f"/admin/postings?user={city.responder_a.id}").text
    assert "担当A さんの所属の履歴" in person and person.count("<tr>") == 3  # header and two periods
    assert client.get("/admin/postings?department=x&day=nonsense&page=-3").status_code == 200


def test_a_plan_gone_stale_is_refused_naming_who_changed(client, login, april):
    city = april
    login(city.admin)
    upload_page(client, city.csv)
    item = db.session.scalar(select(Reshuffle))
    # Someone moves 担当A between the preview and the apply.
    postings.move_user(city.admin, city.responder_a, department=city.pr, role=Role.RESPONDER, operator=None)
    db.session.commit()
    response = client.post(f"/admin/reshuffles/{item.id}/apply", data={"confirm": "y"})
    assert response.status_code == 409
    assert "担当A" in response.text and "もう一度アップロード" in response.text
    assert placement(city.supervisor_a) == ("dept-a", "supervisor", None)  # nobody else moved either
    db.session.refresh(item)
    assert item.applied_at is None


@pytest.mark.parametrize(("row", "line_message"), [
    ("ghost@example.jp,dept-b,担当者,,", "ghost@example.jp という利用者はいません。"),
    ("{email},no-such-dept,担当者,,", "所属「no-such-dept」はありません"),
    ("{email},dept-b,部長,,", "役割「部長」は使えません"),
    ("{supervisor},dept-b,所属長,石巻ビル管理,", "所属長と秘書広報課の職員は、委託業者・指定管理者の所属にできません。"),
    ("{email},dept-b,担当者,業者,下請け", "組織の種類は委託業者か指定管理者を選んでください。"),
    ("{inactive},dept-b,担当者,,", "のアカウントは無効です。"),
])
def test_row_errors_are_listed_by_csv_line_and_nothing_is_stored(client, login, city, make, row, line_message):
    inactive = make.user(department=city.dept_a, active=False)
    login(city.admin)
    line = row.format(email=city.responder_a.email, supervisor=city.supervisor_a.email, inactive=inactive.email)
    response = upload_page(client, csv_of(f"{city.responder_b.email},dept-a,担当者,,", line))
    assert response.status_code == 422
    problems = response.text.split('id="problems"')[1]
    assert "3 行目" in problems and line_message in problems and "2 行目" not in problems
    assert stored() == 0


def test_duplicates_and_several_errors_are_all_reported(client, login, city):
    login(city.admin)
    response = upload_page(client, csv_of(
        f"{city.responder_a.email},dept-b,担当者,,",
        f'"{city.responder_b.email}","観光課","担当者",,',
        f"{city.responder_a.email.upper()},dept-a,担当者,,",
        "nobody@example.jp,nowhere,boss,,"))
    assert response.status_code == 422
    assert "は 2 行目にもあります。" in response.text and "4 行目" in response.text
    assert response.text.count('class="error"') >= 4  # row 5: e-mail, department and role
    assert stored() == 0


@pytest.mark.parametrize(("data", "message"), [
    (b"", "ファイルが空です。"),
    (b"\r\n\r\n", "ファイルが空です。"),
    (HEADER.encode("utf-8"), "異動する人の行がありません。"),
    ("氏名,所属\r\n広報,dept-a\r\n".encode(), "メールアドレス・役割 の列がありません"),
    (b"\xff\xfe\x00\x80\xfd" * 10, "文字コードを読み取れません。"),
    (b"\xef\xbb\xbf\xe3\x81" + HEADER.encode(), "文字コードを読み取れません。"),
    (b"email,department,role\r\nx@y,a,\0b\r\n", "文字コードを読み取れません。"),
    (b"email,department,role\r\n" + b"a,b,c\r\n" * 6, "行が多すぎます（5 行まで）"),
    (b"email,department,role\r\n" + b"x" * 2000, "ファイルが大きすぎます（2000 バイトまで）"),
])
def test_files_that_are_not_a_reshuffle_csv_are_refused_never_a_500(client, login, city, monkeypatch, data, message):
    monkeypatch.setattr(reshuffle_csv, "MAX_ROWS", 5)  # the real limits (5,000 rows, 1 MB) work the same way
    monkeypatch.setattr(reshuffle_csv, "MAX_BYTES", 2000)
    login(city.admin)
    response = upload_page(client, data)
    assert response.status_code == 422, response.text[:500]
    assert message in response.text
    assert stored() == 0
    assert upload_page(client, b"", name="").status_code == 422  # no file chosen


def test_shift_jis_and_bom_files_parse(client, login, city):
    login(city.admin)
    text = HEADER + f"{city.responder_a.email},観光課,所属長,,\r\n"
    for data in (text.encode("cp932"), b"\xef\xbb\xbf" + text.encode("utf-8")):
        plan = reshuffle.build_plan(data)
        assert [(row["email"], row["to"]["department_code"], row["to"]["role"]) for row in plan] == [
            (city.responder_a.email, "dept-b", "supervisor")]
    english = b"Email,Department,Role\r\n" + f"{city.responder_a.email},dept-b,Supervisor\r\n".encode()
    assert reshuffle.build_plan(english)[0]["to"]["role"] == "supervisor"
    wide = city.responder_a.email.upper().replace("@", "＠").replace("USER", "ＵＳＥＲ")  # typed in full width
    assert reshuffle.build_plan(csv_of(f"{wide},dept-b,PR office,,"))[0]["user_id"] == city.responder_a.id
    assert upload_page(client, text.encode("cp932"), name="異動.csv").status_code == 302
    assert db.session.scalar(select(Reshuffle)).filename == "異動.csv"


def test_applied_and_cancelled_plans_are_read_only(client, login, april):
    city = april
    login(city.admin)
    upload_page(client, city.csv)
    upload_page(client, city.csv)
    first, second = db.session.scalars(select(Reshuffle).order_by(Reshuffle.id)).all()
    assert client.post(f"/admin/reshuffles/{first.id}/apply", data={"confirm": "y"}).status_code == 302
    again = client.post(f"/admin/reshuffles/{first.id}/apply", data={"confirm": "y"})
    assert again.status_code == 409 and "すでに反映されています" in again.text
    assert client.post(f"/admin/reshuffles/{first.id}/cancel").status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Posting).where(Posting.reshuffle_id == first.id)) == 2
    assert client.post(f"/admin/reshuffles/{second.id}/cancel").status_code == 302
    page = client.get(f"/admin/reshuffles/{second.id}").text
    assert "取り消し済み" in page and "この内容で反映する" not in page
    assert client.post(f"/admin/reshuffles/{second.id}/apply", data={"confirm": "y"}).status_code == 409
    listing = client.get("/admin/reshuffles").text
    assert "反映済み" in listing and "取り消し" in listing
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert actions.count("reshuffle.apply") == 1 and actions.count("reshuffle.cancel") == 1


def test_applying_before_the_effective_date_is_refused(client, login, april):
    city = april
    login(city.admin)
    tomorrow = (reshuffle.tokyo_today() + dt.timedelta(days=1)).isoformat()
    upload_page(client, city.csv, effective_on=tomorrow)
    item = db.session.scalar(select(Reshuffle))
    assert "になるまで反映できません" in client.get(f"/admin/reshuffles/{item.id}").text
    response = client.post(f"/admin/reshuffles/{item.id}/apply", data={"confirm": "y"})
    assert response.status_code == 409 and f"発令日（{tomorrow}）より前には反映できません" in response.text
    assert placement(city.responder_a) == ("dept-a", "responder", None)
    bad_date = upload_page(client, city.csv, effective_on="2026-02-30")
    assert bad_date.status_code == 422 and "発令日は YYYY-MM-DD" in bad_date.text


def test_moving_people_with_open_cases_shows_a_handover_warning(client, login, april, make):
    city = april
    case = make.case(city.responder_a, assignee_id=None)
    case.assignee_id = city.responder_a.id
    db.session.commit()
    login(city.admin)
    upload_page(client, city.csv)
    item = db.session.scalar(select(Reshuffle))
    page = client.get(f"/admin/reshuffles/{item.id}").text
    warning = page.split('id="handover"')[1].split("</section>")[0]
    assert "対応中の案件 1 件" in warning and f"assignee_id={city.responder_a.id}" in warning
    assert "所属長A" not in warning  # no cases assigned


def test_only_the_pr_office_sees_any_of_it(client, login, api, april, make):
    city = april
    login(city.admin)
    upload_page(client, city.csv)
    item = db.session.scalar(select(Reshuffle))
    for user in (city.supervisor_b, city.responder_b):
        login(user)
        for url in ("/admin/reshuffles", f"/admin/reshuffles/{item.id}", "/admin/reshuffles/sample.csv",
                    "/admin/postings", f"/admin/postings?user={city.admin.id}"):
            assert client.get(url).status_code == 404, url
        assert upload_page(client, city.csv).status_code == 404
        for action in ("apply", "cancel"):
            assert client.post(f"/admin/reshuffles/{item.id}/{action}", data={"confirm": "y"}).status_code == 404
        assert api("POST", "/api/v1/reshuffles", user, data=city.csv, content_type="text/csv").status_code == 404
        assert api("GET", f"/api/v1/reshuffles/{item.id}", user).status_code == 404
        assert api("POST", f"/api/v1/reshuffles/{item.id}/apply", user, json={"confirm": True}).status_code == 404
    assert "/admin/reshuffles" not in client.get("/settings").text
    assert stored() == 1
    db.session.refresh(item)
    assert item.applied_at is None and item.cancelled_at is None


def test_the_sample_is_the_current_staff_guarded_and_uploads_back_unchanged(client, login, city, make):
    make.user(department=city.dept_a, name="=HYPERLINK(\"http://evil\")", email="+x@example.jp",
              organisation="@業者")
    login(city.admin)
    response = client.get("/admin/reshuffles/sample.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    text = response.data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+x@example.jp" in text and "'@業者" in text
    assert ",=" not in text and ",+" not in text and ",@" not in text and "\n=" not in text
    assert text.splitlines()[0] == "メールアドレス,氏名,所属,所属名,役割,委託業者・指定管理者名,組織の種類"
    assert f"{city.supervisor_a.email},所属長A,dept-a,防災課,所属長,," in text
    uploaded = upload_page(client, response.data, name="sample.csv")
    assert uploaded.status_code == 302
    item = db.session.scalar(select(Reshuffle))
    assert len(item.plan) == 7 and not any(row["changed"] for row in item.plan)
    # Nothing changes, so nothing is offered or done.
    assert "反映するものはありません" in client.get(f"/admin/reshuffles/{item.id}").text
    refused = client.post(f"/admin/reshuffles/{item.id}/apply", data={"confirm": "y"})
    assert refused.status_code == 409
    db.session.refresh(item)
    assert item.applied_at is None


def test_the_api_previews_and_applies_the_same_plan(api, april, expect_error):
    city = april
    bad = api("POST", "/api/v1/reshuffles", city.admin, data=csv_of("ghost@example.jp,dept-b,担当者,,"),
              content_type="text/csv")
    assert expect_error(bad, 422, "validation_failed", "line 2")["fields"]["line 2"].startswith("ghost@")
    assert expect_error(api("POST", "/api/v1/reshuffles", city.admin, json={}), 422, "validation_failed", "file")
    multipart = api("POST", "/api/v1/reshuffles", city.admin, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(city.csv), "a.csv"), "effective_on": "2025-04-01"})
    assert multipart.status_code == 201 and multipart.get_json()["filename"] == "a.csv"
    created = api("POST", "/api/v1/reshuffles?effective_on=2025-04-01", city.admin, data=city.csv,
                  content_type="text/csv")
    assert created.status_code == 201, created.get_json()
    preview = created.get_json()
    assert preview["state"] == "preview" and preview["effective_on"] == "2025-04-01"
    assert (preview["changes"], preview["unchanged"]) == (2, 1)
    moving = {row["user_id"]: row["to"] for row in preview["rows"] if row["changed"]}
    assert set(moving) == {city.responder_a.id, city.supervisor_a.id}
    path = f"/api/v1/reshuffles/{preview['id']}"
    assert api("GET", path, city.admin).get_json() == preview
    expect_error(api("POST", f"{path}/apply", city.admin, json={}), 422, "validation_failed", "confirm")
    applied = api("POST", f"{path}/apply", city.admin, json={"confirm": True})
    assert applied.status_code == 200 and applied.get_json()["state"] == "applied"
    for user_id, to in moving.items():
        user = db.session.get(User, user_id)
        assert placement(user) == (to["department_code"], to["role"], to["organisation"])
    expect_error(api("POST", f"{path}/apply", city.admin, json={"confirm": True}), 409, "conflict")
    # The same CSV uploaded before the first was applied: its "from" is no longer true.
    stale = api("POST", f"/api/v1/reshuffles/{multipart.get_json()['id']}/apply", city.admin, json={"confirm": True})
    assert "担当A" in expect_error(stale, 409, "conflict", "stale")["fields"]["stale"]


def test_the_cli_prints_the_preview_and_applies_only_when_asked(runner, april, tmp_path):
    city = april
    path = tmp_path / "april.csv"
    path.write_bytes(city.csv)
    preview = runner.invoke(args=["user", "reshuffle", str(path)])
    assert preview.exit_code == 0, preview.output
    assert "2 change(s), 1 unchanged" in preview.output and "dept-a responder -> dept-b supervisor" in preview.output
    assert placement(city.responder_a) == ("dept-a", "responder", None) and stored() == 0
    assert runner.invoke(args=["user", "reshuffle", str(path), "--apply"]).exit_code != 0
    applied = runner.invoke(args=["user", "reshuffle", str(path), "--apply", "--by", city.admin.email])
    assert applied.exit_code == 0, applied.output
    assert "applied: 2 moved" in applied.output
    db.session.expire_all()
    assert placement(city.responder_a) == ("dept-b", "supervisor", None)
    path.write_bytes(csv_of("ghost@example.jp,dept-b,担当者,,"))
    failed = runner.invoke(args=["user", "reshuffle", str(path)])
    assert failed.exit_code == 1 and "line 2: ghost@example.jp" in failed.output


def test_a_reshuffle_may_not_leave_the_pr_office_empty(city):
    data = csv_of(f"{city.admin.email},dept-a,担当者,,")
    with pytest.raises(reshuffle.ReshuffleRejected) as info:
        reshuffle.build_plan(data)
    assert "秘書広報課の職員が一人もいなくなります" in str(info.value.problems[0].message)
    assert db.session.get(Department, city.pr.id) is not None


def test_a_department_name_that_disagrees_with_the_code_is_refused(client, login, city):
    """The sample shows 所属 (code) and 所属名: editing only the name in a spreadsheet must not be ignored."""
    login(city.admin)
    header = "メールアドレス,所属,所属名,役割\r\n"
    data = csv_of(f"{city.responder_a.email},dept-a,観光課,担当者", header=header)
    response = upload_page(client, data)
    assert response.status_code == 422 and stored() == 0
    assert "2 行目" in response.text and "所属名「観光課」が一致しません" in response.text
    agreeing = csv_of(f"{city.responder_a.email},dept-b,観光課,担当者", header=header)
    assert upload_page(client, agreeing).status_code == 302 and stored() == 1
