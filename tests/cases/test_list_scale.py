"""The case list at scale: keyset (cursor) paging on the page and in the API, the 「未終了」 filter, the
indexes behind the list's order, and a statement count that does not grow with the cases."""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re

import pytest
from sqlalchemy import update

from incident.cases import queries
from incident.cases.models import Case, CaseStatus, Severity
from incident.extensions import db
from incident.pagination import Cursor

NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
PREV = re.compile(r'<a href="([^"]+)" rel="prev">')
TITLE = re.compile(r">(案件\d+)</a>")


def _titles(page: str) -> list[str]:
    return TITLE.findall(page)


def _link(pattern: re.Pattern[str], page: str) -> str | None:
    found = pattern.search(page)
    return html.unescape(found.group(1)) if found else None


def _walk(client, url: str | None) -> tuple[list[str], list[str]]:
    """Follow 「次へ」 from `url` to the last page: (titles seen, next links followed)."""
    seen: list[str] = []
    links: list[str] = []
    while url:
        page = client.get(url).text
        seen += _titles(page)
        url = _link(NEXT, page)
        links += [url] if url else []
    return seen, links


def _cases(make, actor, n: int, **overrides) -> list[Case]:
    """n cases titled 案件00.., a minute apart, oldest first."""
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    made = [make.case(actor, title=f"案件{k:02d}", **overrides) for k in range(n)]
    for k, case in enumerate(made):
        db.session.execute(update(Case).where(Case.id == case.id).values(created_at=start + dt.timedelta(minutes=k)))
    db.session.commit()
    return made


def _token(order: str, key: list, page: int = 2, backwards: int = 0) -> str:
    payload = json.dumps({"o": order, "k": key, "p": page, "b": backwards}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


# --- the page ------------------------------------------------------------------------------------

def test_the_pager_walks_the_list_by_cursor_both_ways(make, client, login, app):
    app.config["PER_PAGE"] = 5
    responder = make.user()
    _cases(make, responder, 12)
    login(responder)
    first = client.get("/cases").text
    assert _titles(first) == ["案件11", "案件10", "案件09", "案件08", "案件07"]
    assert "1 / 3 ページ（全 12 件）" in first and _link(PREV, first) is None
    forward = _link(NEXT, first)
    assert forward and forward.startswith("/cases?cursor=") and "page=" not in forward
    second = client.get(forward).text
    assert _titles(second) == ["案件06", "案件05", "案件04", "案件03", "案件02"]
    assert "2 / 3 ページ" in second
    third = client.get(_link(NEXT, second)).text
    assert _titles(third) == ["案件01", "案件00"] and "3 / 3 ページ" in third
    assert _link(NEXT, third) is None
    back = client.get(_link(PREV, third)).text
    assert _titles(back) == _titles(second) and "2 / 3 ページ" in back
    start = client.get(_link(PREV, back)).text
    assert _titles(start) == _titles(first) and "1 / 3 ページ" in start and _link(PREV, start) is None


def test_going_back_to_a_short_first_page_shows_it_whole(make, client, login, app):
    """Cases opened while reading the list: 「前へ」 from page 2 shows the first page full, newest first."""
    app.config["PER_PAGE"] = 5
    responder = make.user()
    _cases(make, responder, 7)
    login(responder)
    second = client.get(_link(NEXT, client.get("/cases").text)).text
    assert _titles(second) == ["案件01", "案件00"]
    back = client.get(_link(PREV, second)).text
    assert _titles(back) == ["案件06", "案件05", "案件04", "案件03", "案件02"] and "1 / 2 ページ" in back


def test_links_keep_the_filters_and_old_page_links_still_work(make, client, login, app):
    app.config["PER_PAGE"] = 3
    responder = make.user()
    _cases(make, responder, 8, severity="high")
    make.case(responder, title="案件99", severity="low")
    login(responder)
    second = client.get("/cases?severity=high&page=2").text  # an old link: OFFSET
    assert _titles(second) == ["案件04", "案件03", "案件02"] and "2 / 3 ページ（全 8 件）" in second
    forward, backward = _link(NEXT, second), _link(PREV, second)
    assert forward and backward and "severity=high" in forward and "severity=high" in backward
    assert "page=" not in forward + backward
    assert _titles(client.get(forward).text) == ["案件01", "案件00"]
    assert _titles(client.get(backward).text) == ["案件07", "案件06", "案件05"]


def test_a_page_number_deeper_than_the_limit_starts_at_the_first_page_and_says_why(make, client, login, app):
    """OFFSET reads every row before a page: old links deeper than MAX_PAGE_NUMBER open the first page."""
    from incident.cases import queries

    app.config["PER_PAGE"] = 1
    responder = make.user()
    _cases(make, responder, queries.MAX_PAGE_NUMBER + 2, severity="high")
    login(responder)
    deepest = client.get(f"/cases?page={queries.MAX_PAGE_NUMBER}").text
    assert _titles(deepest) == ["案件02"] and "ページ番号で開けるのは" not in deepest
    too_deep = client.get(f"/cases?page={queries.MAX_PAGE_NUMBER + 1}")
    assert too_deep.status_code == 200
    assert _titles(too_deep.text) == [f"案件{queries.MAX_PAGE_NUMBER + 1:02d}"]
    assert f"ページ番号で開けるのは {queries.MAX_PAGE_NUMBER} ページまでです" in too_deep.text
    assert "1 / " in too_deep.text


@pytest.mark.parametrize("cursor", [
    "garbage", "%%%", "", "x" * 400,
    _token("newest", ["2026-04-01T00:05:00+00:00"]),  # no id
    _token("newest", ["2026-04-01T00:05:00", 3]),  # no offset
    _token("newest", ["yesterday", 3]),
    _token("newest", ["2026-04-01T00:05:00+00:00", "3"]),
    _token("newest", ["2026-04-01T00:05:00+00:00", 2 ** 40]),
    _token("newest", ["2026-04-01T00:05:00+00:00", 3], page=0),
    _token("newest", ["2026-04-01T00:05:00+00:00", 3], backwards=2),
    _token("severity", [1, "2026-04-01T00:05:00+00:00", 3]),  # made for the other order
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_a_malformed_cursor_shows_the_first_page(make, client, login, app, cursor):
    app.config["PER_PAGE"] = 5
    responder = make.user()
    _cases(make, responder, 7)
    login(responder)
    response = client.get("/cases", query_string={"cursor": cursor})
    assert response.status_code == 200
    assert _titles(response.text) == ["案件06", "案件05", "案件04", "案件03", "案件02"]
    assert "1 / 2 ページ" in response.text


def test_severity_order_pages_by_rank_then_time(make, client, login, app):
    app.config["PER_PAGE"] = 2
    responder = make.user()
    severities = ["low", "critical", "medium", "high", "critical", "low", "high"]
    made = _cases(make, responder, len(severities))
    for case, severity in zip(made, severities, strict=True):
        db.session.execute(update(Case).where(Case.id == case.id).values(severity=Severity(severity)))
    db.session.commit()
    login(responder)
    seen, links = _walk(client, "/cases?sort=severity")
    assert links and all("sort=severity" in link for link in links)
    assert seen == ["案件04", "案件01", "案件06", "案件03", "案件02", "案件05", "案件00"]


def test_rows_with_the_same_time_are_neither_repeated_nor_skipped(make, client, login, app):
    app.config["PER_PAGE"] = 3
    responder = make.user()
    made = _cases(make, responder, 8)
    db.session.execute(update(Case).values(created_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)))
    db.session.commit()
    login(responder)
    seen, _links = _walk(client, "/cases")
    assert seen == [case.title for case in reversed(made)]  # same time: the newest id first


def test_a_cursor_pages_only_through_what_the_user_may_see(make, client, login, app):
    app.config["PER_PAGE"] = 2
    own, other = make.department(), make.department()
    responder = make.user("responder", own)
    visible = _cases(make, responder, 3)
    hidden = make.case(make.user("responder", other), title="案件50")
    assigned = make.case(make.user("responder", other), title="案件60")
    # Assigned across departments (as the PR office may): seen through the assignment alone.
    db.session.execute(update(Case).where(Case.id == assigned.id).values(assignee_id=responder.id))
    db.session.commit()
    assert hidden.department_id == assigned.department_id == other.id
    login(responder)
    seen, _links = _walk(client, "/cases")
    assert seen == ["案件60", *(case.title for case in reversed(visible))]


# --- 「未終了」 -------------------------------------------------------------------------------------

def _one_case_per_status(make, actor) -> dict[CaseStatus, Case]:
    made = {status: make.case(actor, title=f"案件{n}") for n, status in enumerate(CaseStatus)}
    for status, case in made.items():
        db.session.execute(update(Case).where(Case.id == case.id).values(status=status))
    db.session.commit()
    return made


def test_the_not_closed_filter_on_the_page(make, client, login):
    responder = make.user()
    made = _one_case_per_status(make, responder)
    login(responder)
    page = client.get("/cases?status=open").text
    assert sorted(_titles(page)) == sorted(c.title for s, c in made.items() if s != CaseStatus.CLOSED)
    assert '<option selected value="open">未終了</option>' in page
    assert _titles(client.get("/cases?status=closed").text) == [made[CaseStatus.CLOSED].title]
    everything = client.get("/cases").text
    assert len(_titles(everything)) == len(CaseStatus) and '<option value="open">未終了</option>' in everything
    csv = client.get("/cases.csv?status=open").text
    assert made[CaseStatus.NEW].number in csv and made[CaseStatus.CLOSED].number not in csv


def test_the_not_closed_filter_in_the_api(api, city, make, expect_error):
    made = _one_case_per_status(make, city.responder_a)
    response = api("GET", "/api/v1/cases?status=open", city.responder_a)
    assert response.status_code == 200
    assert {item["id"] for item in response.get_json()["items"]} == {
        c.id for s, c in made.items() if s != CaseStatus.CLOSED}
    assert response.get_json()["total"] == len(CaseStatus) - 1
    expect_error(api("GET", "/api/v1/cases?status=OPEN", city.responder_a), 422, "validation_failed", "status")


# --- the API -------------------------------------------------------------------------------------

def test_the_api_pages_by_next_cursor(api, city, make):
    made = _cases(make, city.responder_a, 23)
    newest_first = [case.id for case in reversed(made)]
    seen: list[int] = []
    cursor = None
    answers = []
    while True:
        query = "per_page=10" + (f"&cursor={cursor}" if cursor else "")
        response = api("GET", f"/api/v1/cases?{query}", city.responder_a)
        assert response.status_code == 200
        answer = response.get_json()
        answers.append(answer)
        seen += [item["id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    assert [(a["page"], a["total"], a["per_page"], len(a["items"])) for a in answers] == [
        (1, 23, 10, 10), (2, 23, 10, 10), (3, 23, 10, 3)]
    # `page` still works, and answers a cursor that goes on from it.
    by_number = api("GET", "/api/v1/cases?per_page=10&page=2", city.responder_a).get_json()
    assert [item["id"] for item in by_number["items"]] == newest_first[10:20]
    after = api("GET", f"/api/v1/cases?per_page=10&cursor={by_number['next_cursor']}", city.responder_a)
    assert [item["id"] for item in after.get_json()["items"]] == newest_first[20:]


def test_the_api_cursor_keeps_the_severity_order(api, city, make):
    made = _cases(make, city.responder_a, 5)
    for case, severity in zip(made, ["low", "critical", "low", "high", "critical"], strict=True):
        db.session.execute(update(Case).where(Case.id == case.id).values(severity=Severity(severity)))
    db.session.commit()
    first = api("GET", "/api/v1/cases?sort=severity&per_page=2", city.responder_a).get_json()
    rest = api("GET", f"/api/v1/cases?sort=severity&per_page=3&cursor={first['next_cursor']}",
               city.responder_a).get_json()
    ids = [item["id"] for item in first["items"] + rest["items"]]
    assert ids == [made[4].id, made[1].id, made[3].id, made[2].id, made[0].id] and rest["next_cursor"] is None
    # A cursor of one order is refused by the other.
    refused = api("GET", f"/api/v1/cases?cursor={first['next_cursor']}", city.responder_a)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("cursor", ["garbage", "eyJvIjoibmV3ZXN0In0", "%E3%81%82", "A" * 301,
                                    _token("newest", ["2026-04-01T00:05:00+00:00", -1])])
def test_the_api_refuses_a_malformed_cursor(api, city, make, expect_error, cursor):
    make.case(city.responder_a)
    response = api("GET", f"/api/v1/cases?cursor={cursor}", city.responder_a)
    error = expect_error(response, 400, "bad_request", "cursor")
    assert "cursor" in error["message"]


def test_the_api_cursor_is_documented(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/cases"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["cursor"]["in"] == "query"
    assert "open" in parameters["status"]["schema"]["enum"]
    page = document["components"]["schemas"]["CaseSummaryPageOut"]
    assert "next_cursor" in page["required"]


# --- statements and indexes ----------------------------------------------------------------------

def test_the_list_runs_as_many_statements_for_50_cases_as_for_5(make, client, login, api, count_queries, app):
    app.config["PER_PAGE"] = 100
    department = make.department()
    responder = make.user("responder", department)
    supervisor = make.user("supervisor", department)

    def add(n: int) -> None:
        # Each case with its own assignee and official account, so any loaded one by one would show.
        for _k in range(n):
            make.case(supervisor, platform="x", official_account_id=make.account(department).id,
                      assignee_id=make.user("responder", department).id)

    def counts() -> tuple[int, ...]:
        found = []
        for url in ("/cases", "/cases?status=open", "/cases?sort=severity"):
            with count_queries() as counter:
                assert client.get(url).status_code == 200
            found.append(counter.count)
        db.session.expire_all()
        with count_queries() as counter:
            answer = api("GET", "/api/v1/cases?per_page=100", responder)
        found.append(counter.count)
        cursor = Cursor("newest", (dt.datetime(2100, 1, 1, tzinfo=dt.UTC).isoformat(), 1), 2).encode()
        db.session.expire_all()
        with count_queries() as counter:
            assert api("GET", f"/api/v1/cases?cursor={cursor}", responder).status_code == 200
        found.append(counter.count)
        return (*found, len(answer.get_json()["items"]))

    login(responder)
    api("GET", "/api/v1/cases", responder)  # the token's first use writes last_used_at
    add(5)
    few = counts()
    add(45)
    many = counts()
    assert few[-1] == 5 and many[-1] == 50
    assert few[:-1] == many[:-1]


#: How the list may reach the cases table: in list order from an index, or by id from the rows found so.
LIST_ACCESS = re.compile(r"(SCAN cases USING INDEX ix_cases_created_at"
                         r"|SEARCH cases USING INDEX ix_cases_(created_at|department_created|assignee_created"
                         r"|severity_created) \(.*\)|SEARCH cases USING INTEGER PRIMARY KEY \(rowid=\?\))$")


@pytest.mark.parametrize("role", ["admin", "responder"])
@pytest.mark.parametrize("sort", [None, queries.CaseSort.SEVERITY])
def test_every_page_reads_cases_in_list_order_from_an_index(make, count_queries, role, sort):
    """The first page and a page from a cursor both ways: no statement sorts every visible case."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan (PostgreSQL plans tiny test tables as sequential scans)")
    user = make.user(role)
    made = _cases(make, user, 6)
    filters = queries.CaseFilters(sort=sort)
    order = sort.value if sort else "newest"
    key = queries._sort_key(made[3], sort)
    for cursor in (None, Cursor(order, key, 2).encode(), Cursor(order, key, 2, backwards=True).encode()):
        with count_queries() as counter:
            found = queries.case_list_page(user, filters, 2, cursor=cursor)
        assert len(found.items) == 2
        rows = [(statement, parameters) for statement, parameters in counter.sent if "ORDER BY" in statement]
        assert rows, counter.sent
        for statement, parameters in rows:
            plan = [row[-1] for row in db.session.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters)]
            access = [line for line in plan if " cases " in line + " "]
            assert access and all(LIST_ACCESS.match(line) for line in access), plan
            if role == "admin" and sort is None:
                assert not any("TEMP B-TREE" in line for line in plan), plan


def test_the_list_stops_counting_past_the_cap_and_the_api_counts_exactly(make, client, login, app, monkeypatch,
                                                                          token_for):
    """Counting every match of a broad filter grows with the city's data: past COUNT_CAP the list says
    「N 件以上」 (still paging on with 「次へ」); the API's `total` stays exact."""
    from incident import pagination

    app.config["PER_PAGE"] = 2
    responder = make.user()
    _cases(make, responder, 5, severity="high")
    headers = token_for(responder)
    login(responder)
    assert "1 / 3 ページ（全 5 件）" in client.get("/cases?severity=high").text
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)
    page = client.get("/cases?severity=high").text
    assert "1 ページ目（3 件以上）" in page and "全 5 件" not in page
    seen, _links = _walk(client, "/cases?severity=high")
    assert seen == ["案件04", "案件03", "案件02", "案件01", "案件00"]
    assert client.get("/api/v1/cases?severity=high", headers=headers).get_json()["total"] == 5
