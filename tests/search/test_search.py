"""Issue 14: one search box over case numbers, titles, descriptions, notes, offending items, known fakes,
drafts and closing reviews; Japanese substrings of one, two and more characters; never what the user may not
see; current the moment a text is saved; a fixed number of queries; bulk-inserted data indexed too."""
from __future__ import annotations

import re
import types

import pytest
from sqlalchemy import func, select

from incident.cases import service as cases
from incident.cases.models import CaseReview
from incident.drafts import service as drafts
from incident.extensions import db
from incident.fakes import service as fakes
from incident.home import search
from incident.search import match
from incident.search.models import SearchEntry

#: One word per searchable field, each of characters used nowhere else in the data.
WORDS = {
    "title": "鰻丼騒動",
    "description": "鮪漁船団",
    "note": "鯛焼屋台",
    "item": "鰯雲展望",
    "fake": "鰆偽公式",
    "draft": "鰹節告知",
    "review": "鮭缶反省",
}
#: The source each field's entry is found under.
SOURCE = {"title": "case", "description": "case", "note": "note", "item": "item", "fake": "fake",
          "draft": "draft", "review": "review"}


@pytest.fixture
def w(make, city):
    """Department A's case holding every word, department B's case with a word of its own."""
    w = types.SimpleNamespace(city=city)
    w.case = make.case(city.responder_a, kind="impersonation", platform="x",
                       title=f"防災Xの{WORDS['title']}", description=f"市民から{WORDS['description']}の件")
    cases.add_note(city.responder_a, w.case, f"{WORDS['note']}の写真を確認した")
    cases.add_offending_item(city.responder_a, w.case, "@iwashi_kumo", note=f"{WORDS['item']}のスクショ")
    fakes.record_fake(city.responder_a, {"platform": "x", "handle": "@sawara_fake",
                                         "display_name": WORDS["fake"]}, case=w.case)
    w.draft = drafts.create_draft(city.responder_a, w.case, {"type": "press"})
    drafts.revise(city.responder_a, w.draft, f"報道機関各位\n{WORDS['draft']}について")
    db.session.add(CaseReview(case_id=w.case.id, author_id=city.supervisor_a.id, what_happened=WORDS["review"],
                              what_was_done="対応した"))
    w.other = make.case(city.responder_b, title="観光課の秘密の鰐案件", description="鰐園の件")
    cases.add_note(city.responder_b, w.other, "鰐の写真")
    db.session.commit()
    return w


def _found(user, q: str) -> dict[tuple[str, int], set[str]]:
    """{(kind, id): sources of its hits} for a query."""
    page = search.search(user, q)
    return {("case", r.case.id) if r.case else ("fake", r.fake.id): {h.source for h in r.hits}
            for r in page.results}


@pytest.mark.parametrize("field", list(WORDS))
@pytest.mark.parametrize("length", [1, 2, 4])
def test_each_field_is_found_by_substrings_of_one_two_and_more_characters(w, field, length):
    word = WORDS[field][:length] if length < 4 else WORDS[field]
    found = _found(w.city.responder_a, word)
    if field == "fake":
        (key,) = found
        assert key[0] == "fake" and found[key] == {"fake"}
    else:
        assert found == {("case", w.case.id): {SOURCE[field]}}


@pytest.mark.parametrize("q", ["iwashi_kumo", "IWASHI", "sawara_fake", "@sawara", "ku"])
def test_urls_and_handles_are_found_case_insensitively(w, q):
    found = _found(w.city.responder_a, q)
    assert found, q
    assert any(sources & {"item", "fake"} for sources in found.values())


def test_the_case_number_is_found(w):
    assert _found(w.city.responder_a, w.case.number) == {("case", w.case.id): {"case"}}
    assert _found(w.city.responder_a, w.case.number[-4:]) == {("case", w.case.id): {"case"}}


def test_every_word_must_be_in_the_same_text(w):
    assert _found(w.city.responder_a, f"{WORDS['note'][:2]}　写真") == {("case", w.case.id): {"note"}}
    assert _found(w.city.responder_a, f"{WORDS['note']} {WORDS['title']}") == {}
    assert _found(w.city.responder_a, "鯛 存在しない語") == {}


def test_nobody_finds_another_departments_case_not_even_as_a_count(w, client, login):
    city = w.city
    assert _found(city.responder_a, "鰐") == {}
    assert _found(city.responder_b, WORDS["title"]) == {}
    assert _found(city.responder_b, "鰐") == {("case", w.other.id): {"case", "note"}}
    assert set(_found(city.admin, "の")) >= {("case", w.case.id), ("case", w.other.id)}
    # The fake account register is shared: department B finds the fake, not the case it came from.
    assert [key[0] for key in _found(city.responder_b, WORDS["fake"])] == ["fake"]
    login(city.responder_a)
    page = client.get("/search", query_string={"q": "鰐"})
    assert page.status_code == 200
    assert "鰐" not in page.text.replace('value="鰐"', "").replace("「鰐」", "")
    assert "見つかりませんでした" in page.text


def test_an_outside_operator_finds_only_their_cases(make, w):
    operator_user = make.user("responder", w.city.dept_a, organisation="株式会社いしのまき広告")
    assert _found(operator_user, WORDS["note"]) == {}
    assert _found(operator_user, "鰐") == {}


def test_a_text_is_findable_the_moment_it_is_saved_and_edits_replace_it(w):
    city = w.city
    cases.add_note(city.responder_a, w.case, "鱈場の投稿を保存")
    assert _found(city.responder_a, "鱈場") == {("case", w.case.id): {"note"}}  # before any commit
    cases.update_case(city.responder_a, w.case, w.case.version, {"title": "鱚の件名に変更"})
    assert _found(city.responder_a, "鱚") == {("case", w.case.id): {"case"}}
    assert _found(city.responder_a, WORDS["title"]) == {}
    drafts.revise(city.responder_a, w.draft, "鯖の新しい文案")
    assert _found(city.responder_a, "鯖") == {("case", w.case.id): {"draft"}}
    assert _found(city.responder_a, WORDS["draft"]) == {}
    db.session.rollback()
    assert _found(city.responder_a, "鱈場") == {}  # gone with the transaction that wrote it
    assert db.session.scalar(select(func.count()).select_from(SearchEntry).where(
        SearchEntry.source == "draft", SearchEntry.source_id == w.draft.id)) == 1


def test_the_page_marks_the_match_and_escapes_the_text(w, client, login):
    cases.add_note(w.city.responder_a, w.case, "<script>alert(1)</script>鮫肌注意")
    db.session.commit()
    login(w.city.responder_a)
    page = client.get("/search", query_string={"q": "鮫肌"}).text
    # The passage starts 24 characters before the match, cut from the text before escaping it.
    assert "…script&gt;alert(1)&lt;/script&gt;<mark>鮫肌</mark>注意</a>" in page
    assert "<script>alert(1)" not in page
    assert f'href="/cases/{w.case.id}#note-' in page
    drafted = client.get("/search", query_string={"q": WORDS["draft"]}).text
    assert f'href="/cases/{w.case.id}/drafts/{w.draft.id}"' in drafted
    assert f"<mark>{WORDS['draft']}</mark>" in drafted
    # The header's box carries the words on the results page.
    assert 'value="' + WORDS["draft"] + '"' in drafted


def test_older_results_are_paged_without_overlap(w, make):
    city = w.city
    for n in range(search.WINDOW + 7):
        cases.add_note(city.responder_a, w.case, f"鰤起こし {n} 回目")
    db.session.commit()
    first = search.search(city.responder_a, "鰤起")
    assert first.next_before is not None
    first_hits = [h.source_id for r in first.results for h in r.hits]
    second = search.search(city.responder_a, "鰤起", before=first.next_before)
    second_hits = [h.source_id for r in second.results for h in r.hits]
    assert len(first_hits) == search.WINDOW and len(second_hits) == 7 and second.next_before is None
    assert not set(first_hits) & set(second_hits)
    assert first_hits == sorted(first_hits, reverse=True) and max(second_hits) < min(first_hits)


@pytest.mark.parametrize("q", ["鰤", "鰤網", "鰤網漁", "buri"])
@pytest.mark.parametrize("path", ["index", "recent entries", "recent entries, then index"])
def test_a_common_word_gives_the_newest_texts_the_user_may_see(w, count_queries, monkeypatch, q, path):
    """PostgreSQL looks for a common word's page among the newest entries, one by one, and in the index only
    when they hold too few: the same pages as from the index, newest first, and nothing of another department
    (SQLite, which has its own way, must give the same)."""
    city = w.city
    monkeypatch.setattr(match, "MAX_INDEXED", 10**9 if path == "index" else 0)
    monkeypatch.setattr(match, "RECENT_ENTRIES", 3 if path.endswith("then index") else 10**9)
    for n in range(search.WINDOW + 5):
        # Department B's texts are the newest: a walk that skipped the rule would show them first.
        cases.add_note(city.responder_a, w.case, f"鰤網漁の BURI 水揚げ {n}")
        cases.add_note(city.responder_b, w.other, f"鰤網漁の buri 水揚げ {n}")
    db.session.commit()

    def pages(user) -> list[list[int]]:
        first = search.search(user, q)
        second = search.search(user, q, before=first.next_before) if first.next_before else None
        return [[h.source_id for r in page.results for h in r.hits] for page in (first, second) if page]

    def notes(*case_ids: int) -> list[int]:
        return list(db.session.scalars(select(SearchEntry.source_id).where(
            SearchEntry.source == "note", SearchEntry.case_id.in_(case_ids), SearchEntry.body.contains("鰤網漁"))
            .order_by(SearchEntry.id.desc())))

    mine = pages(city.responder_a)
    assert [hit for page in mine for hit in page] == notes(w.case.id)
    assert [len(page) for page in mine] == [search.WINDOW, 5]
    latest = cases.add_note(city.responder_a, w.case, "鰤網漁の BURI 最新")  # found before any commit too
    with count_queries() as counter:
        assert search.search(city.responder_a, q).results[0].hits[0].source_id == latest.id
    if db.engine.dialect.name == "postgresql" and path == "recent entries":
        # The texts came from the newest entries: no statement sorted the entries holding the word found in an
        # index (pg_trgm's LIKE, the pairs' @@; an unsorted lookup of MAX_INDEXED + 1 says whether it is common)
        # but the query for matching cases (source IN): none among the newest entries, it falls back to the index.
        assert not [sql for sql in counter.statements if ("LIKE" in sql.upper() or "incident_pairs" in sql)
                    and "ORDER BY" in sql and "search_entry.source IN" not in sql]
    db.session.rollback()
    every = notes(w.case.id, w.other.id)  # the PR office's: grouped by case on the page, hence sorted here
    assert [sorted(page, reverse=True) for page in pages(city.admin)] == [every[:search.WINDOW],
                                                                          every[search.WINDOW:2 * search.WINDOW]]


@pytest.mark.parametrize("q", ['"', '""', "*", "鰻*", "NEAR(鰻 丼)", "a AND", "(", "'", "\\", "%", "_",
                               "鰻 OR 鮪", "-", "x" * 500, "　", "鰻\u3000\u3000丼", "^鰻"])
def test_odd_words_never_fail(w, client, login, q):
    login(w.city.responder_a)
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == 200
    assert client.get("/search", query_string={"q": "鰻", "before": "abc"}).status_code == 200
    assert client.get("/search", query_string={"q": "鰻", "before": "-5"}).status_code == 200


def test_a_nul_is_refused_as_everywhere(w, client, login):
    login(w.city.responder_a)
    assert client.get("/search", query_string={"q": "鰻\x00"}).status_code == 400


def test_fts_operators_are_words_not_syntax(w):
    cases.add_note(w.city.responder_a, w.case, 'と "引用" と NEAR(x) と 100% と a_b')
    db.session.commit()
    for q in ('"引用"', "NEAR(x)", "100%", "a_b"):
        assert _found(w.city.responder_a, q) == {("case", w.case.id): {"note"}}, q
    assert _found(w.city.responder_a, "a%b") == {}
    assert _found(w.city.responder_a, "100_") == {}


def test_the_queries_do_not_grow_with_the_data(w, make, count_queries):
    city = w.city

    def counted(q: str) -> int:
        db.session.expire_all()
        with count_queries() as counter:
            search.search(city.admin, q)
        return counter.count

    before = {q: counted(q) for q in ("鰐", "鰐園", "の写真")}
    for n in range(12):
        case = make.case(city.responder_b, title=f"鰐の追加案件 {n}")
        cases.add_note(city.responder_b, case, f"鰐園の写真 {n}")
    db.session.commit()
    assert {q: counted(q) for q in before} == before


def test_the_api_returns_the_same_results(w, api):
    response = api("GET", f"/api/v1/search?q={WORDS['note'][:2]}", w.city.responder_a)
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_before"] is None
    assert [(r["case_id"], [h["source"] for h in r["hits"]]) for r in body["results"]] == [(w.case.id, ["note"])]
    assert "<mark>鯛焼</mark>" in body["results"][0]["hits"][0]["snippet"]
    assert api("GET", "/api/v1/search?q=鰐", w.city.responder_a).get_json()["results"] == []
    assert api("GET", "/api/v1/search?q=鰐", None).status_code == 401
    assert api("GET", "/api/v1/search?q=鰐&before=0", w.city.responder_b).status_code == 422


def test_the_index_is_rebuilt_from_the_tables(w, app):
    """The migration's fill (also the way to rebuild after a manual repair) gives the same entries."""
    from incident.search.index import fill_statements

    def entries():
        return sorted((e.source, e.source_id, e.case_id, e.body) for e in db.session.scalars(select(SearchEntry)))

    kept = entries()
    for statement in fill_statements():
        db.session.execute(db.text(statement))
    assert entries() == kept
    assert _found(w.city.responder_a, WORDS["note"][:1]) == {("case", w.case.id): {"note"}}


def test_the_header_has_the_search_box(w, client, login):
    login(w.city.responder_a)
    home = client.get("/").text
    assert re.search(r'<form method="get" action="/search" role="search"', home)


def test_bulk_inserted_demo_data_is_searchable(app, runner, make):
    """`seed-demo --cases N` writes by bulk INSERT; the database's own triggers index every row."""
    result = runner.invoke(args=["seed-demo", "--cases", "30"])
    assert result.exit_code == 0, result.output
    from incident.cases.models import Case, Note

    note = db.session.scalars(select(Note).order_by(Note.id.desc())).first()
    case = db.session.get(Case, note.case_id)
    from incident.auth.models import Department

    admin = make.user("admin", db.session.scalar(select(Department).where(Department.code == "hisho-koho")))
    word = next(part for part in note.body.split() if len(part) >= 3)
    found = search.search(admin, word)
    assert any(r.case and r.case.id == case.id and "note" in {h.source for h in r.hits} for r in found.results)
    assert db.session.scalar(select(func.count()).select_from(SearchEntry).where(SearchEntry.source == "note")) \
        == db.session.scalar(select(func.count()).select_from(Note))
    assert any(r.case and r.case.id == case.id for r in search.search(admin, case.number).results)


def test_doctor_says_whether_postgresql_indexes_japanese(app, runner):
    result = runner.invoke(args=["doctor"])
    if db.engine.dialect.name == "postgresql":
        assert re.search(r"^ok +search +pg_trgm indexes Japanese text \(LC_CTYPE .*UTF-8\)$", result.output, re.M)
    else:
        assert not re.search(r"^\S+ +search ", result.output, re.M)
