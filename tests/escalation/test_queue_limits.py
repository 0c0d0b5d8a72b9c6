"""対応待ち at scale: each block shows a page with a count and a link to the rest, in a fixed number of queries."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from incident import pagination
from incident.escalation import queries, sweeping
from incident.extensions import db


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    return {"responder": make.user("responder", dept, name="担当"),
            "supervisor": make.user("supervisor", dept, name="課長")}


def backlog(town, make, n: int) -> None:
    """`n` unassigned high cases nobody acknowledged, each escalated to the supervisors."""
    opened = [make.case(town["responder"], severity="high", title=f"未対応{k:02d}") for k in range(n)]
    assert sweeping.sweep(max(c.created_at for c in opened) + dt.timedelta(minutes=16)).raised == n
    db.session.commit()


def section(page: str, anchor: str) -> str:
    found = re.search(rf'<section class="card" id="{anchor}".*?</section>', page, re.S)
    return found.group(0) if found else ""


def test_each_block_shows_twenty_with_the_count_and_a_link_to_the_rest(town, make, client, login, monkeypatch):
    backlog(town, make, 25)
    login(town["supervisor"])
    page = client.get("/queue").text
    for anchor, block in (("my-escalations", "escalations"), ("unassigned", "unassigned")):
        shown = section(page, anchor)
        assert len(re.findall(r"未対応\d\d", shown)) == 20, anchor
        assert "25 件" in shown
        assert f'href="/queue?show={block}"' in shown
    first = client.get("/queue?show=escalations").text
    assert len(re.findall(r"未対応\d\d", section(first, "my-escalations"))) == 25  # 50 to a page
    assert 'rel="next"' not in first
    monkeypatch.setattr(queries, "QUEUE_PAGE", 20)
    rest = client.get("/queue?show=unassigned&page=2").text
    assert len(re.findall(r"未対応\d\d", section(rest, "unassigned"))) == 5
    assert section(rest, "my-escalations") == ""  # one block at a time
    assert 'href="/queue?show=unassigned&amp;page=1"' in rest and "page=3" not in rest


def test_the_queue_costs_the_same_for_3_and_30(town, make, client, login, count_queries):
    backlog(town, make, 3)
    login(town["supervisor"])
    client.get("/queue")
    with count_queries() as small:
        assert client.get("/queue").status_code == 200
    backlog(town, make, 27)
    with count_queries() as large:
        page = client.get("/queue").text
    assert "30 件" in section(page, "unassigned")
    assert large.count == small.count, (small.count, large.count)


def test_counts_stop_at_the_cap(town, make, client, login, monkeypatch):
    backlog(town, make, 4)
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)
    login(town["supervisor"])
    assert "3 件以上" in section(client.get("/queue").text, "unassigned")


@pytest.mark.parametrize("query, status", [("show=nothing", 404), ("show=unassigned&page=abc", 200),
                                           ("show=escalations&page=999999", 200), ("page=-3", 200)])
def test_bad_arguments(town, make, client, login, query, status):
    backlog(town, make, 1)
    login(town["supervisor"])
    assert client.get(f"/queue?{query}").status_code == status


def test_a_responder_has_no_team_blocks_to_page_through(town, make, client, login):
    backlog(town, make, 1)
    login(town["responder"])
    assert client.get("/queue?show=unassigned").status_code == 404
    assert client.get("/queue?show=approvals").status_code == 404
    assert client.get("/queue?show=escalations").status_code == 200
