"""The audit log page pages by id: no count over the log, page 2000 costs what page 1 costs, filters kept."""
from __future__ import annotations

import re

import pytest

from incident.audit import service as audit
from incident.extensions import db


@pytest.fixture
def logged(make, client, login):
    admin = make.user("admin")
    login(admin)  # signing in is audited too: before the rows the tests page through
    for n in range(23):
        audit.record(admin, "test.even" if n % 2 == 0 else "test.odd", "thing", n + 1, case_id=None)
    db.session.commit()
    return admin


def object_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r"thing #(\d+)", page)]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_walking_older_then_newer_shows_every_row_once(logged, client):
    page = client.get("/audit?per_page=5&action=").text
    seen = object_ids(page)
    assert seen == [23, 22, 21, 20, 19]
    assert link(page, "prev") is None
    pages = 1
    while (older := link(page, "next")) is not None:
        page = client.get(older).text
        seen += object_ids(page)
        pages += 1
    assert seen == list(range(23, 0, -1)) and pages == 5
    back = []
    while (newer := link(page, "prev")) is not None:
        page = client.get(newer).text
        back.append(object_ids(page))
    assert back == [[8, 7, 6, 5, 4], [13, 12, 11, 10, 9], [18, 17, 16, 15, 14], [23, 22, 21, 20, 19]]


def test_filters_stay_on_the_links(logged, client):
    page = client.get("/audit?per_page=4&action=test.odd").text
    assert object_ids(page) == [22, 20, 18, 16]
    older = link(page, "next")
    assert older is not None and "action=test.odd" in older and "per_page=4" in older
    assert object_ids(client.get(older).text) == [14, 12, 10, 8]


def test_a_deep_page_costs_what_the_first_costs_and_nothing_is_counted(logged, client, count_queries):
    page = client.get("/audit?per_page=5").text  # warm up (session, locale)
    with count_queries() as first:
        assert client.get("/audit?per_page=5").status_code == 200
    while (older := link(page, "next")) is not None:
        last_url, page = older, client.get(older).text
    with count_queries() as deep:
        page = client.get(last_url)
    assert page.status_code == 200 and object_ids(page.text) == [3, 2, 1]
    assert deep.count <= first.count + 1  # one look for newer rows
    audit_reads = [s for s in first.statements + deep.statements if "audit_log" in s]
    assert not [s for s in audit_reads if re.search(r"count\(", s, re.I)]


@pytest.mark.parametrize("query", ["before=abc", "after=-1", "before=99999999999", "before=&after=",
                                   "after=1&before=3"])
def test_nonsense_cursors_show_a_page_not_an_error(logged, client, query):
    answer = client.get(f"/audit?{query}")
    assert answer.status_code == 200


def test_past_the_end_says_so(logged, client):
    page = client.get("/audit?before=1").text
    assert object_ids(page) == [] and "この条件の記録はありません。" in page
    assert link(page, "prev") is not None  # back to the rows there are


def test_only_the_pr_office_sees_it(make, client, login):
    login(make.user("supervisor"))
    assert client.get("/audit?before=5").status_code == 404
