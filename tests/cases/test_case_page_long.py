"""A case followed for months: its page shows the newest notes and timeline entries and says how many older
ones it leaves out, with a link to everything; the cost of the page does not grow with the notes."""
from __future__ import annotations

import re

from incident.cases import queries
from incident.cases import service as cases
from incident.extensions import db

NOTE = re.compile(r'<article class="note[^"]*" id="note-(\d+)">')


def _noted(make, count: int):
    responder = make.user()
    case = make.case(responder)
    notes = [cases.add_note(responder, case, f"経過メモ {n}") for n in range(count)]
    db.session.commit()
    return responder, case, notes


def test_the_newest_notes_are_shown_and_the_rest_one_link_away(make, client, login):
    responder, case, notes = _noted(make, queries.PAGE_NOTES + 12)
    first = cases.add_note(responder, case, "訂正します", corrects=notes[0])  # corrects a note left out
    db.session.commit()
    login(responder)
    page = client.get(f"/cases/{case.id}").text
    shown = [int(n) for n in NOTE.findall(page)]
    assert shown == [n.id for n in [*notes, first][-queries.PAGE_NOTES:]]  # the newest, oldest first
    assert "古いメモ 13 件は表示していません。" in page
    assert f'href="/cases/{case.id}?all=1#notes"' in page
    # The correction names a note that is left out: its link opens the page with everything.
    assert f'href="/cases/{case.id}?all=1#note-{notes[0].id}"' in page
    everything = client.get(f"/cases/{case.id}?all=1").text
    assert [int(n) for n in NOTE.findall(everything)] == [n.id for n in [*notes, first]]
    assert "表示していません" not in everything
    assert f'href="#note-{notes[0].id}"' in everything


def test_the_timeline_shows_its_newest_entries(make, client, login):
    responder, case, _notes = _noted(make, queries.PAGE_EVENTS + 5)
    login(responder)
    page = client.get(f"/cases/{case.id}").text
    timeline = page.split('id="h-timeline"', 1)[1]
    assert len(re.findall(r'<li id="event-\d+"', timeline)) == queries.PAGE_EVENTS
    assert "古い経過 6 件は表示していません。" in page  # the opening and the 5 oldest notes' entries
    assert "経過メモ 104" in page and "経過メモ 0" not in page.split('id="notes"', 1)[1]


def test_a_short_case_shows_everything_without_a_notice(make, client, login):
    responder, case, notes = _noted(make, 3)
    login(responder)
    page = client.get(f"/cases/{case.id}").text
    assert [int(n) for n in NOTE.findall(page)] == [n.id for n in notes]
    assert "表示していません" not in page


def test_the_page_costs_the_same_with_120_or_400_notes(make, client, login, count_queries):
    def cost(count: int) -> tuple[int, int]:
        responder, case, _notes = _noted(make, count)
        login(responder)
        with count_queries() as counter:
            page = client.get(f"/cases/{case.id}")
        assert page.status_code == 200
        return counter.count, len(NOTE.findall(page.text))

    few = cost(120)
    assert cost(400) == few and few[1] == queries.PAGE_NOTES


def test_an_old_note_can_still_be_corrected(make, client, login):
    responder, case, notes = _noted(make, queries.PAGE_NOTES + 3)
    login(responder)
    page = client.get(f"/cases/{case.id}/notes/{notes[0].id}/correct").text
    assert f'action="/cases/{case.id}/notes/{notes[0].id}/correct"' in page
