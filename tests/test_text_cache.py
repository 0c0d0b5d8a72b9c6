"""The rendered-Markdown cache (incident.text): bounded by size, so a long case is rendered once per process."""
from __future__ import annotations

import threading
import uuid

import pytest

from incident import text
from incident.cases import service
from incident.extensions import db
from incident.text import ENTRY_OVERHEAD, SizedCache, render_markdown


@pytest.fixture
def renders(monkeypatch):
    """Counts the calls of the Markdown parser behind render_markdown."""
    calls: list[str] = []
    parse = text.cmarkgfm.markdown_to_html_with_extensions

    def counting(source, *args, **kwargs):
        calls.append(source)
        return parse(source, *args, **kwargs)

    monkeypatch.setattr(text.cmarkgfm, "markdown_to_html_with_extensions", counting)
    return calls


def _note(n: int, tag: str) -> str:
    # A realistic note: a few paragraphs and a list, about 1,500 characters, distinct per test run.
    return f"**記録 {n}** {tag}\n\n" + "市民から電話があり、投稿の内容を確認した。" * 30 + "\n\n- 対応済み\n- 経過観察\n"


def test_500_notes_are_rendered_once(renders):
    tag = uuid.uuid4().hex
    notes = [_note(n, tag) for n in range(500)]
    first = [render_markdown(note) for note in notes]
    assert len(renders) == 500
    second = [render_markdown(note) for note in notes]
    assert len(renders) == 500  # the second view of the long case parses nothing
    assert second == first
    assert f"<strong>記録 499</strong> {tag}" in first[499]


def test_a_case_page_with_500_notes_renders_them_on_the_first_view_only(make, client, login, renders):
    responder = make.user()
    case = make.case(responder)
    tag = uuid.uuid4().hex
    for n in range(500):
        service.add_note(responder, case, _note(n, tag))
    db.session.commit()
    login(responder)
    # The page with every note (the case page itself shows the newest: tests/cases/test_case_page_long.py).
    first = client.get(f"/cases/{case.id}?all=1")
    assert first.status_code == 200 and f"<strong>記録 499</strong> {tag}" in first.text
    rendered = len(renders)
    assert rendered >= 500
    second = client.get(f"/cases/{case.id}?all=1")
    assert second.status_code == 200 and f"<strong>記録 0</strong> {tag}" in second.text
    assert len(renders) == rendered


def test_the_least_recently_used_text_goes_first_when_full():
    calls: list[str] = []

    def render(source: str) -> str:
        calls.append(source)
        return source.upper()

    cost = 10 + 10 + ENTRY_OVERHEAD  # a 10-character source and its 10-character "HTML"
    cache = SizedCache(render, limit=3 * cost)
    for source in ("aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"):
        assert cache(source) == source.upper()
    assert (len(cache), cache.size) == (3, 3 * cost)
    cache("aaaaaaaaaa")  # used again: now "b" is the oldest
    cache("dddddddddd")
    assert (len(cache), cache.size) == (3, 3 * cost)
    calls.clear()
    cache("aaaaaaaaaa")
    cache("cccccccccc")
    cache("dddddddddd")
    assert calls == []
    assert cache("bbbbbbbbbb") == "BBBBBBBBBB"
    assert calls == ["bbbbbbbbbb"]


def test_a_text_larger_than_the_whole_cache_is_rendered_but_not_kept():
    cache = SizedCache(str.upper, limit=1000)
    cache("small")
    assert cache("x" * 2000) == "X" * 2000
    assert len(cache) == 1 and cache.size == 2 * len("small") + ENTRY_OVERHEAD


def test_the_cache_is_bounded_by_characters_not_entries():
    assert text.CACHE_CHARS >= 16 * 1024 * 1024
    cache = SizedCache(str.upper, limit=text.CACHE_CHARS)
    for n in range(2000):  # far more than the 256 entries the cache used to hold
        cache(f"note {n}")
    assert len(cache) == 2000


def test_threads_share_the_cache_without_losing_count():
    cache = SizedCache(lambda source: source * 2, limit=40 * (30 + ENTRY_OVERHEAD))
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2000):
                source = f"t{(n * 7 + offset) % 97:09d}"  # 10 characters: an entry costs 30 + overhead
                assert cache(source) == source * 2
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) == 40 and cache.size == 40 * (30 + ENTRY_OVERHEAD)


def test_the_bench_can_still_render_without_the_cache():
    source = f"*{uuid.uuid4().hex}*"
    assert text._render.__wrapped__(source) == f"<p><em>{source[1:-1]}</em></p>"
    assert source not in text._render._entries
