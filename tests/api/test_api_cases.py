"""API v1 case endpoints: open, read, list (filters, pagination, query count), edit with versions,
acknowledge, status, assignment, offending items and the timeline."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from incident.dates import tokyo_year, utcnow
from incident.extensions import db

SUMMARY_KEYS = {
    "id", "number", "kind", "severity", "status", "title", "platform", "official_account_id",
    "department", "assignee", "detected_at", "created_at", "updated_at", "version",
}
DETAIL_KEYS = SUMMARY_KEYS | {
    "description", "description_html", "source", "reporter", "acknowledged_at", "acknowledged_by",
    "closed_at", "official_account", "notes", "offending_items",
}


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"{text} has no UTC offset"
    return value


def open_case(api, user, **fields):
    body = {"kind": "flaming", "title": "市公式Xへの批判投稿", "severity": "medium", **fields}
    response = api("POST", "/api/v1/cases", user, json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# --- POST /cases ---------------------------------------------------------------------------------

def test_open_minimal_case(api, city):
    before = utcnow()
    response = api("POST", "/api/v1/cases", city.responder_a,
                   json={"kind": "impersonation", "title": "  なりすましアカウント  ", "severity": "high"})
    assert response.status_code == 201
    case = response.get_json()
    assert set(case) >= DETAIL_KEYS
    assert isinstance(case["id"], int)
    assert re.fullmatch(rf"{tokyo_year(utcnow())}-\d{{4}}", case["number"])
    assert case["kind"] == "impersonation"
    assert case["severity"] == "high"
    assert case["status"] == "new"
    assert case["title"] == "なりすましアカウント"  # trimmed
    assert case["description"] == "" and case["description_html"] == ""
    assert case["platform"] is None and case["official_account"] is None
    assert case["department"] == {"code": "dept-a", "name": "防災課"}
    assert case["reporter"] == {"id": city.responder_a.id, "name": "担当A"}
    assert case["assignee"] is None
    assert case["acknowledged_at"] is None and case["acknowledged_by"] is None
    assert case["closed_at"] is None
    assert case["notes"] == [] and case["offending_items"] == []
    assert case["version"] == 1
    # Detection time defaults to now.
    assert parse_time(case["detected_at"]) >= before - dt.timedelta(seconds=1)
    assert parse_time(case["created_at"]) >= before - dt.timedelta(seconds=1)


def test_open_full_case(api, city, make):
    account = make.account(city.dept_a, platform="x", name="石巻市防災", url="https://x.com/bousai")
    case = open_case(
        api, city.responder_a,
        kind="false_information",
        title="避難所閉鎖のデマ",
        severity="low",
        description="**拡散中**の投稿",
        platform="x",
        official_account_id=account.id,
        detected_at="2024-04-01T09:30:00+09:00",
        urls=["https://x.com/someone/status/1", "@fake_city", "https://x.com/someone/status/1", "  "],
    )
    assert case["kind"] == "false_information"
    assert case["platform"] == "x"
    assert case["official_account_id"] == account.id
    assert case["official_account"]["name"] == "石巻市防災"
    assert case["official_account"]["url"] == "https://x.com/bousai"
    assert case["description"] == "**拡散中**の投稿"
    assert "<strong>拡散中</strong>" in case["description_html"]
    assert parse_time(case["detected_at"]) == dt.datetime(2024, 4, 1, 0, 30, tzinfo=dt.UTC)
    # Duplicates and blank lines are dropped, order kept; who captured them is recorded.
    assert [i["target"] for i in case["offending_items"]] == ["https://x.com/someone/status/1", "@fake_city"]
    for item in case["offending_items"]:
        assert item["captured_by"] == {"id": city.responder_a.id, "name": "担当A"}
        assert parse_time(item["captured_at"])
    # And it is stored: reading it back gives the same thing.
    again = api("GET", f"/api/v1/cases/{case['id']}", city.responder_a).get_json()
    assert again == case


def test_naive_detected_at_is_tokyo_time(api, city):
    case = open_case(api, city.responder_a, detected_at="2024-04-01T09:30")
    assert parse_time(case["detected_at"]) == dt.datetime(2024, 4, 1, 0, 30, tzinfo=dt.UTC)


def test_detected_at_a_few_minutes_ahead_is_clock_skew_and_accepted(api, city):
    soon = (utcnow() + dt.timedelta(minutes=3)).isoformat()
    case = open_case(api, city.responder_a, detected_at=soon)
    assert parse_time(case["detected_at"]) == dt.datetime.fromisoformat(soon)


def test_case_numbers_are_sequential(api, city):
    first = open_case(api, city.responder_a)
    second = open_case(api, city.responder_b)
    year = tokyo_year(utcnow())
    assert first["number"] == f"{year}-0001"
    assert second["number"] == f"{year}-0002"


def test_case_opens_in_the_callers_department(api, city):
    case = open_case(api, city.responder_b)
    assert case["department"]["code"] == "dept-b"


def test_admin_opens_a_case_for_another_department_and_assigns_it(api, city):
    case = open_case(api, city.admin, department="dept-a", assignee_id=city.responder_a.id)
    assert case["department"]["code"] == "dept-a"
    assert case["assignee"] == {"id": city.responder_a.id, "name": "担当A"}
    # Department A can now see it.
    assert api("GET", f"/api/v1/cases/{case['id']}", city.responder_a).status_code == 200


def test_responder_may_name_their_own_department(api, city):
    case = open_case(api, city.responder_a, department="dept-a")
    assert case["department"]["code"] == "dept-a"


def test_responder_cannot_open_a_case_for_another_department(api, city, expect_error):
    response = api("POST", "/api/v1/cases", city.responder_a,
                   json={"kind": "flaming", "title": "x", "severity": "low", "department": "dept-b"})
    expect_error(response, 403, "forbidden")
    assert api("GET", "/api/v1/cases", city.admin).get_json()["total"] == 0


def test_unknown_department_code_is_a_validation_error(api, city, expect_error):
    response = api("POST", "/api/v1/cases", city.admin,
                   json={"kind": "flaming", "title": "x", "severity": "low", "department": "nope"})
    expect_error(response, 422, "validation_failed", "department")
    assert api("GET", "/api/v1/cases", city.admin).get_json()["total"] == 0


# --- GET /cases/<id> -----------------------------------------------------------------------------

def test_get_case_includes_notes_and_offending_items(api, city, make):
    case = make.case(city.responder_a, urls=["https://x.com/a/status/1"])
    api("POST", f"/api/v1/cases/{case.id}/notes", city.responder_a, json={"body": "一件目"})
    api("POST", f"/api/v1/cases/{case.id}/notes", city.responder_a2, json={"body": "二件目"})
    response = api("GET", f"/api/v1/cases/{case.id}", city.supervisor_a)
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) >= DETAIL_KEYS
    assert data["id"] == case.id and data["number"] == case.number
    assert [n["body"] for n in data["notes"]] == ["一件目", "二件目"]
    assert [n["author"]["name"] for n in data["notes"]] == ["担当A", "担当A2"]
    assert [i["target"] for i in data["offending_items"]] == ["https://x.com/a/status/1"]


def test_get_unknown_case_is_404(api, city, expect_error):
    expect_error(api("GET", "/api/v1/cases/999", city.admin), 404, "not_found")


def test_get_case_with_absurd_id_is_404_not_500(api, city, expect_error):
    expect_error(api("GET", "/api/v1/cases/" + "9" * 30, city.admin), 404, "not_found")


def test_detail_query_count_does_not_grow_with_notes(api, city, make, count_queries):
    case = make.case(city.responder_a)
    url = f"/api/v1/cases/{case.id}"
    first = api("POST", f"{url}/notes", city.responder_a, json={"body": "first"}).get_json()
    db.session.expire_all()  # as in a fresh request: nothing already loaded
    with count_queries() as one:
        assert api("GET", url, city.responder_a).status_code == 200
    # Ten more notes, each by a different person, some of them corrections.
    previous = first["id"]
    for n in range(10):
        author = make.user("responder", city.dept_a)
        if n % 3 == 0:
            previous = api("POST", f"{url}/notes/{previous}/corrections", author,
                           json={"body": f"correction {n}"}).get_json()["id"]
        else:
            assert api("POST", f"{url}/notes", author, json={"body": f"note {n}"}).status_code == 201
    make.user()  # a commit, so that nothing stays loaded from the notes just written
    db.session.expire_all()
    with count_queries() as eleven:
        response = api("GET", url, city.responder_a)
    notes = response.get_json()["notes"]
    assert len(notes) == 11 and len({n["author"]["id"] for n in notes}) == 11
    assert eleven.count == one.count, eleven.statements


# --- GET /cases ----------------------------------------------------------------------------------

def test_list_shape(api, city, make):
    case = make.case(city.responder_a, title="一覧の案件")
    response = api("GET", "/api/v1/cases", city.responder_a)
    assert response.status_code == 200
    data = response.get_json()
    assert data["total"] == 1 and data["page"] == 1 and data["per_page"] == 25
    [item] = data["items"]
    assert set(item) >= SUMMARY_KEYS
    assert item["id"] == case.id and item["title"] == "一覧の案件" and item["status"] == "new"
    assert item["department"]["code"] == "dept-a"


def test_list_is_newest_first(api, city, make):
    ids = [make.case(city.responder_a, title=f"案件{n}").id for n in range(3)]
    items = api("GET", "/api/v1/cases", city.responder_a).get_json()["items"]
    assert [i["id"] for i in items] == ids[::-1]


def test_list_filters(api, city, make):
    a1 = make.case(city.responder_a, kind="flaming", severity="high", title="炎上 A")
    a2 = make.case(city.responder_a, kind="impersonation", severity="low", title="なりすまし B")
    a3 = make.case(city.responder_a, kind="false_information", severity="high", title="デマ 100% C_1")
    api("POST", f"/api/v1/cases/{a2.id}/acknowledge", city.responder_a)
    api("POST", f"/api/v1/cases/{a3.id}/assignment", city.supervisor_a,
        json={"assignee_id": city.responder_a2.id})
    b1 = make.case(city.responder_b, kind="flaming", severity="high", title="炎上 B")

    def ids(query: str, user=city.admin) -> set[int]:
        response = api("GET", f"/api/v1/cases?{query}", user)
        assert response.status_code == 200, response.get_data(as_text=True)
        data = response.get_json()
        assert data["total"] == len(data["items"])
        return {i["id"] for i in data["items"]}

    assert ids("") == {a1.id, a2.id, a3.id, b1.id}
    assert ids("kind=flaming") == {a1.id, b1.id}
    assert ids("severity=high") == {a1.id, a3.id, b1.id}
    assert ids("status=responding") == {a2.id}
    assert ids("status=new") == {a1.id, a3.id, b1.id}
    assert ids(f"assignee_id={city.responder_a2.id}") == {a3.id}
    assert ids("assignee_id=none") == {a1.id, a2.id, b1.id}
    assert ids("department=dept-b") == {b1.id}
    assert ids("department=no-such-dept") == set()
    assert ids("q=炎上") == {a1.id, b1.id}
    assert ids("q=b") == {a2.id, b1.id}  # case-insensitive
    assert ids("q=100%25") == {a3.id}  # "%" is literal, not a wildcard
    assert ids("q=%25") == {a3.id}
    assert ids("q=C_1") == {a3.id}
    assert ids("q=C__") == set()  # "_" is literal too
    assert ids("kind=flaming&severity=high&department=dept-a") == {a1.id}
    # Filters only narrow what the caller may see.
    assert ids("department=dept-b", city.responder_a) == set()
    assert ids("kind=flaming", city.responder_a) == {a1.id}


@pytest.mark.parametrize("query, field", [
    ("kind=bogus", "kind"),
    ("status=closed-ish", "status"),
    ("severity=urgent", "severity"),
    ("assignee_id=abc", "assignee_id"),
    ("assignee_id=" + "9" * 30, "assignee_id"),
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=abc", "page"),
    ("page=1.5", "page"),
    ("page=" + "9" * 30, "page"),
    ("per_page=0", "per_page"),
    ("per_page=101", "per_page"),
    ("per_page=1000", "per_page"),
    ("per_page=ten", "per_page"),
])
def test_list_rejects_bad_arguments(api, city, make, expect_error, query, field):
    make.case(city.responder_a)
    response = api("GET", f"/api/v1/cases?{query}", city.responder_a)
    expect_error(response, 422, "validation_failed", field)


def test_pagination(api, city, make):
    ids = [make.case(city.responder_a, title=f"案件{n}").id for n in range(30)]
    newest_first = ids[::-1]

    def page(query: str):
        response = api("GET", f"/api/v1/cases?{query}", city.responder_a)
        assert response.status_code == 200
        return response.get_json()

    default = page("")
    assert default["total"] == 30 and default["page"] == 1 and default["per_page"] == 25
    assert [i["id"] for i in default["items"]] == newest_first[:25]
    second = page("page=2")
    assert [i["id"] for i in second["items"]] == newest_first[25:]
    assert second["total"] == 30 and second["page"] == 2

    small = [page(f"per_page=10&page={n}") for n in (1, 2, 3)]
    assert [i["id"] for p in small for i in p["items"]] == newest_first
    assert all(p["per_page"] == 10 and p["total"] == 30 for p in small)

    beyond = page("per_page=10&page=4")
    assert beyond["items"] == [] and beyond["total"] == 30 and beyond["page"] == 4

    everything = page("per_page=100")
    assert len(everything["items"]) == 30 and everything["per_page"] == 100


def test_list_runs_the_same_number_of_queries_for_3_and_30_cases(api, city, make, count_queries):
    def add_cases(n: int) -> None:
        # Every case has its own reporter, assignee and official account, so that any of them
        # loaded one by one would show in the count.
        for k in range(n):
            reporter = make.user("supervisor", city.dept_a)
            make.case(reporter, title=f"案件{k}", platform="x",
                      official_account_id=make.account(city.dept_a).id,
                      assignee_id=make.user("responder", city.dept_a).id)

    add_cases(3)
    api("GET", "/api/v1/cases", city.responder_a)  # first use of the token writes last_used_at
    db.session.expire_all()  # as in a fresh request: nothing already loaded
    with count_queries() as few:
        response = api("GET", "/api/v1/cases?per_page=100", city.responder_a)
    assert len(response.get_json()["items"]) == 3
    add_cases(27)
    db.session.expire_all()
    with count_queries() as many:
        response = api("GET", "/api/v1/cases?per_page=100", city.responder_a)
    items = response.get_json()["items"]
    assert len(items) == 30
    assert len({i["assignee"]["id"] for i in items}) == 30
    assert many.count == few.count, many.statements


# --- PATCH /cases/<id> ---------------------------------------------------------------------------

def test_patch_changes_fields_and_bumps_version(api, city, make):
    account = make.account(city.dept_a)
    case = open_case(api, city.responder_a)
    response = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a2, json={
        "version": case["version"], "title": "題名を変更", "severity": "high",
        "description": "詳細", "platform": "facebook", "official_account_id": account.id,
        "kind": "impersonation", "source": "市民からの電話", "detected_at": "2024-05-01T10:00:00+09:00",
    })
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["title"] == "題名を変更"
    assert data["severity"] == "high"
    assert data["kind"] == "impersonation"
    assert data["description"] == "詳細"
    assert data["platform"] == "facebook"
    assert data["official_account_id"] == account.id
    assert data["source"] == "市民からの電話"
    assert parse_time(data["detected_at"]) == dt.datetime(2024, 5, 1, 1, 0, tzinfo=dt.UTC)
    assert data["version"] > case["version"]  # so that a save from the old version is refused
    assert data["number"] == case["number"] and data["status"] == "new"
    assert api("GET", f"/api/v1/cases/{case['id']}", city.responder_a).get_json() == data


def test_patch_only_touches_given_fields(api, city):
    case = open_case(api, city.responder_a, description="残す説明", severity="low")
    data = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a,
               json={"version": 1, "title": "新しい題名"}).get_json()
    assert data["title"] == "新しい題名"
    assert data["description"] == "残す説明" and data["severity"] == "low"


def test_patch_clears_optional_fields(api, city, make):
    account = make.account(city.dept_a)
    case = open_case(api, city.responder_a, platform="x", official_account_id=account.id)
    data = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a,
               json={"version": 1, "platform": None, "official_account_id": None}).get_json()
    assert data["platform"] is None and data["official_account_id"] is None
    assert data["official_account"] is None


def test_stale_patch_is_409_with_the_current_case(api, city, expect_error):
    case = open_case(api, city.responder_a, title="元の題名")
    # Two people open the case at version 1; the first saves.
    first = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a,
                json={"version": 1, "title": "Aさんの題名"})
    assert first.status_code == 200
    # The second saves from the version they read.
    second = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a2,
                 json={"version": 1, "title": "Bさんの題名", "severity": "high"})
    error = expect_error(second, 409, "conflict")
    current = error["current"]
    assert current["id"] == case["id"]
    assert current["title"] == "Aさんの題名"
    assert current["version"] == 2
    assert set(current) >= DETAIL_KEYS
    # Nothing of the stale save was applied.
    now = api("GET", f"/api/v1/cases/{case['id']}", city.responder_a).get_json()
    assert now["title"] == "Aさんの題名" and now["severity"] == "medium" and now["version"] == 2
    # Saving again from the current version works.
    retry = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a2,
                json={"version": current["version"], "title": "Bさんの題名"})
    assert retry.status_code == 200 and retry.get_json()["title"] == "Bさんの題名"


def test_patch_from_a_future_version_is_409(api, city, expect_error):
    case = open_case(api, city.responder_a)
    expect_error(api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a,
                     json={"version": 7, "title": "x"}), 409, "conflict")


@pytest.mark.parametrize("body, field", [
    ({"title": "no version"}, "version"),
    ({"version": None, "title": "x"}, "version"),
    ({"version": "abc", "title": "x"}, "version"),
    ({"version": True, "title": "x"}, "version"),
    ({"version": 1.5, "title": "x"}, "version"),
    ({"version": [1], "title": "x"}, "version"),
    ({"version": 1, "status": "closed"}, "status"),
    ({"version": 1, "number": "2020-0001"}, "number"),
    ({"version": 1, "department_id": 99}, "department_id"),
    ({"version": 1, "reporter_id": 1}, "reporter_id"),
    ({"version": 1, "title": ""}, "title"),
    ({"version": 1, "title": None}, "title"),
    ({"version": 1, "title": "x" * 201}, "title"),
    ({"version": 1, "kind": "spam"}, "kind"),
    ({"version": 1, "kind": None}, "kind"),
    ({"version": 1, "severity": "urgent"}, "severity"),
    ({"version": 1, "platform": "myspace"}, "platform"),
    ({"version": 1, "official_account_id": 424242}, "official_account_id"),
    ({"version": 1, "official_account_id": True}, "official_account_id"),
    ({"version": 1, "official_account_id": "abc"}, "official_account_id"),
    ({"version": 1, "detected_at": "yesterday"}, "detected_at"),
    ({"version": 1, "detected_at": None}, "detected_at"),
    ({"version": 1, "detected_at": "2999-01-01T00:00:00+09:00"}, "detected_at"),
    ({"version": 1, "description": 42}, "description"),
])
def test_bad_patch_is_422_and_changes_nothing(api, city, expect_error, body, field):
    case = open_case(api, city.responder_a, title="そのまま")
    response = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a, json=body)
    expect_error(response, 422, "validation_failed", field)
    now = api("GET", f"/api/v1/cases/{case['id']}", city.responder_a).get_json()
    assert now == case


def test_closed_case_cannot_be_edited(api, city, expect_error):
    case = open_case(api, city.responder_a)
    closed = api("POST", f"/api/v1/cases/{case['id']}/status", city.supervisor_a,
                 json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    assert closed.status_code == 200, closed.get_data(as_text=True)
    version = closed.get_json()["version"]
    response = api("PATCH", f"/api/v1/cases/{case['id']}", city.supervisor_a,
                   json={"version": version, "title": "閉じた後の変更"})
    expect_error(response, 409, "conflict")
    assert api("GET", f"/api/v1/cases/{case['id']}", city.admin).get_json()["title"] == case["title"]


# --- acknowledge / status / assignment -----------------------------------------------------------

def test_acknowledge_moves_a_new_case_to_responding(api, city, make):
    case = make.case(city.responder_a)
    before = utcnow()
    response = api("POST", f"/api/v1/cases/{case.id}/acknowledge", city.responder_a2)
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "responding"
    assert data["acknowledged_by"] == {"id": city.responder_a2.id, "name": "担当A2"}
    assert parse_time(data["acknowledged_at"]) >= before - dt.timedelta(seconds=1)


def test_acknowledging_twice_is_409(api, city, make, expect_error):
    case = make.case(city.responder_a)
    assert api("POST", f"/api/v1/cases/{case.id}/acknowledge", city.responder_a).status_code == 200
    expect_error(api("POST", f"/api/v1/cases/{case.id}/acknowledge", city.supervisor_a), 409, "conflict")
    data = api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()
    assert data["acknowledged_by"]["id"] == city.responder_a.id  # the first one stays


def test_status_walks_the_transition_table(api, city, make):
    case = make.case(city.responder_a)
    url = f"/api/v1/cases/{case.id}/status"

    def move(user, **body):
        response = api("POST", url, user, json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    assert move(city.responder_a, status="responding")["status"] == "responding"
    assert move(city.responder_a, status="monitoring")["status"] == "monitoring"
    assert move(city.responder_a2, status="responding")["status"] == "responding"
    assert move(city.responder_a, status="monitoring")["status"] == "monitoring"
    closed = move(city.supervisor_a, status="closed", reason="沈静化", waive_open_steps=True)
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    reopened = move(city.supervisor_a, status="responding", reason="再燃")
    assert reopened["status"] == "responding" and reopened["closed_at"] is None


def test_admin_closes_and_reopens_any_departments_case(api, city, make):
    case = make.case(city.responder_b)
    url = f"/api/v1/cases/{case.id}/status"
    closed = api("POST", url, city.admin, json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    reopened = api("POST", url, city.admin, json={"status": "responding", "reason": "再確認"})
    assert reopened.status_code == 200 and reopened.get_json()["status"] == "responding"


@pytest.mark.parametrize("path, target", [
    ([], "monitoring"),
    ([], "new"),
    (["responding"], "new"),
    (["responding"], "responding"),
    (["closed"], "monitoring"),
    (["closed"], "new"),
    (["closed"], "closed"),
])
def test_forbidden_transitions_are_409(api, city, make, expect_error, path, target):
    case = make.case(city.responder_a)
    url = f"/api/v1/cases/{case.id}/status"
    for status in path:
        body = {"status": status, "reason": "理由", "waive_open_steps": True}
        assert api("POST", url, city.supervisor_a, json=body).status_code == 200
    before = api("GET", f"/api/v1/cases/{case.id}", city.supervisor_a).get_json()
    response = api("POST", url, city.supervisor_a, json={"status": target, "reason": "理由"})
    expect_error(response, 409, "conflict")
    after = api("GET", f"/api/v1/cases/{case.id}", city.supervisor_a).get_json()
    assert after["status"] == before["status"] and after["version"] == before["version"]


def test_responder_gets_409_not_403_for_a_transition_that_never_exists(api, city, make, expect_error):
    case = make.case(city.responder_a)
    expect_error(api("POST", f"/api/v1/cases/{case.id}/status", city.responder_a,
                     json={"status": "monitoring"}), 409, "conflict")


def test_closing_a_new_case_needs_a_reason(api, city, make, expect_error):
    case = make.case(city.responder_a)
    url = f"/api/v1/cases/{case.id}/status"
    for reason in (None, "", "   "):
        body = {"status": "closed", "reason": reason, "waive_open_steps": True}
        expect_error(api("POST", url, city.supervisor_a, json=body), 422, "validation_failed", "reason")
    assert api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()["status"] == "new"


def test_reopening_needs_a_reason(api, city, make, expect_error):
    case = make.case(city.responder_a)
    url = f"/api/v1/cases/{case.id}/status"
    api("POST", url, city.supervisor_a, json={"status": "closed", "reason": "誤報", "waive_open_steps": True})
    expect_error(api("POST", url, city.supervisor_a, json={"status": "responding"}), 422,
                 "validation_failed", "reason")
    assert api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()["status"] == "closed"


@pytest.mark.parametrize("body, field", [
    ({}, "status"),
    ({"status": None}, "status"),
    ({"status": "done"}, "status"),
    ({"status": "CLOSED"}, "status"),
    ({"status": 3}, "status"),
    ({"status": ["responding"]}, "status"),
    ({"status": {"v": "responding"}}, "status"),
    ({"status": "responding", "reason": 5}, "reason"),
    ({"status": "responding", "reason": ["x"]}, "reason"),
    ({"status": "responding", "reason": "x" * 1001}, "reason"),
])
def test_bad_status_body_is_422(api, city, make, expect_error, body, field):
    case = make.case(city.responder_a)
    response = api("POST", f"/api/v1/cases/{case.id}/status", city.supervisor_a, json=body)
    expect_error(response, 422, "validation_failed", field)
    assert api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()["status"] == "new"


def test_supervisor_assigns_reassigns_and_unassigns(api, city, make):
    case = make.case(city.responder_a)
    url = f"/api/v1/cases/{case.id}/assignment"
    response = api("POST", url, city.supervisor_a, json={"assignee_id": city.responder_a.id})
    assert response.status_code == 200
    assert response.get_json()["assignee"] == {"id": city.responder_a.id, "name": "担当A"}
    response = api("POST", url, city.supervisor_a, json={"assignee_id": city.responder_a2.id})
    assert response.get_json()["assignee"]["id"] == city.responder_a2.id
    response = api("POST", url, city.supervisor_a, json={"assignee_id": None})
    assert response.status_code == 200 and response.get_json()["assignee"] is None


def test_admin_assigns_anyone_active(api, city, make):
    case = make.case(city.responder_a)
    response = api("POST", f"/api/v1/cases/{case.id}/assignment", city.admin,
                   json={"assignee_id": city.responder_b.id})
    assert response.status_code == 200
    assert response.get_json()["assignee"]["id"] == city.responder_b.id


@pytest.mark.parametrize("value", ["other-department", "inactive", 424242, -1, True, False, "abc",
                                   "1", 1.0, [1], {"id": 1}, 10**30])
def test_bad_assignee_is_422(api, city, make, expect_error, value):
    inactive = make.user("responder", city.dept_a, active=False)
    value = {"other-department": city.responder_b.id, "inactive": inactive.id}.get(value, value) \
        if isinstance(value, str) else value
    case = make.case(city.responder_a)
    response = api("POST", f"/api/v1/cases/{case.id}/assignment", city.supervisor_a,
                   json={"assignee_id": value})
    expect_error(response, 422, "validation_failed", "assignee_id")
    assert api("GET", f"/api/v1/cases/{case.id}", city.admin).get_json()["assignee"] is None


def test_assignment_needs_the_assignee_id_key(api, city, make, expect_error):
    case = make.case(city.responder_a)
    expect_error(api("POST", f"/api/v1/cases/{case.id}/assignment", city.supervisor_a, json={}),
                 422, "validation_failed", "assignee_id")


# --- offending items -----------------------------------------------------------------------------

def test_add_offending_item(api, city, make):
    case = make.case(city.responder_a)
    response = api("POST", f"/api/v1/cases/{case.id}/items", city.responder_a2,
                   json={"target": "https://www.instagram.com/p/abc/", "note": "スクショ保存済み"})
    assert response.status_code == 201
    item = response.get_json()
    assert item["target"] == "https://www.instagram.com/p/abc/"
    assert item["note"] == "スクショ保存済み"
    assert item["captured_by"] == {"id": city.responder_a2.id, "name": "担当A2"}
    detail = api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()
    assert [i["id"] for i in detail["offending_items"]] == [item["id"]]


@pytest.mark.parametrize("target", [None, "", "javascript:alert(1)", "ftp://x", "not a url", 5,
                                    "@bad handle", "https://", "http://[::1"])
def test_bad_offending_item_is_422(api, city, make, expect_error, target):
    case = make.case(city.responder_a)
    response = api("POST", f"/api/v1/cases/{case.id}/items", city.responder_a, json={"target": target})
    expect_error(response, 422, "validation_failed", "target")
    assert api("GET", f"/api/v1/cases/{case.id}", city.responder_a).get_json()["offending_items"] == []


# --- timeline ------------------------------------------------------------------------------------

CORE_EVENTS = {"opened", "acknowledged", "assigned", "status_changed", "note_added", "note_corrected",
               "edited", "item_added"}


def test_timeline_records_everything_in_order(api, city):
    case = open_case(api, city.responder_a)
    cid = case["id"]
    assert api("POST", f"/api/v1/cases/{cid}/acknowledge", city.responder_a).status_code == 200
    assert api("POST", f"/api/v1/cases/{cid}/assignment", city.supervisor_a,
               json={"assignee_id": city.responder_a2.id}).status_code == 200
    assert api("POST", f"/api/v1/cases/{cid}/status", city.responder_a2,
               json={"status": "monitoring", "reason": "様子見"}).status_code == 200
    note = api("POST", f"/api/v1/cases/{cid}/notes", city.responder_a2, json={"body": "投稿は削除済み"})
    assert note.status_code == 201
    note_id = note.get_json()["id"]
    correction = api("POST", f"/api/v1/cases/{cid}/notes/{note_id}/corrections", city.responder_a2,
                     json={"body": "投稿は非公開化（削除ではない）"})
    assert correction.status_code == 201

    response = api("GET", f"/api/v1/cases/{cid}/timeline", city.responder_a)
    assert response.status_code == 200
    items = response.get_json()["items"]
    for item in items:
        assert {"id", "event", "actor", "data", "note_id", "created_at"} <= set(item)
        parse_time(item["created_at"])
    core = [i for i in items if i["event"] in CORE_EVENTS]
    assert [i["event"] for i in core] == [
        "opened", "acknowledged", "assigned", "status_changed", "note_added", "note_corrected",
    ]
    opened, acknowledged, assigned, status_changed, note_added, note_corrected = core
    assert opened["actor"] == {"id": city.responder_a.id, "name": "担当A"}
    assert opened["data"]["number"] == case["number"]
    assert acknowledged["actor"]["id"] == city.responder_a.id
    assert assigned["actor"]["id"] == city.supervisor_a.id
    assert assigned["data"]["new_id"] == city.responder_a2.id and assigned["data"]["old_id"] is None
    assert status_changed["data"]["old"] == "responding" and status_changed["data"]["new"] == "monitoring"
    assert status_changed["data"]["reason"] == "様子見"
    assert note_added["note_id"] == note_id
    assert note_corrected["note_id"] == correction.get_json()["id"]
    assert note_corrected["data"]["corrects_id"] == note_id
    times = [parse_time(i["created_at"]) for i in items]
    assert times == sorted(times)


def test_timeline_records_edits_with_field_names(api, city):
    case = open_case(api, city.responder_a)
    api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a,
        json={"version": 1, "title": "新題名", "severity": "high"})
    items = api("GET", f"/api/v1/cases/{case['id']}/timeline", city.responder_a).get_json()["items"]
    [edited] = [i for i in items if i["event"] == "edited"]
    assert edited["data"]["fields"] == ["severity", "title"]


def test_a_no_op_patch_leaves_no_trace(api, city):
    case = open_case(api, city.responder_a, title="同じ")
    response = api("PATCH", f"/api/v1/cases/{case['id']}", city.responder_a,
                   json={"version": 1, "title": "同じ"})
    assert response.status_code == 200 and response.get_json()["version"] == 1
    items = api("GET", f"/api/v1/cases/{case['id']}/timeline", city.responder_a).get_json()["items"]
    assert "edited" not in [i["event"] for i in items]
