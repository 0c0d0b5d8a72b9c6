"""Markdown rendering: linear cost on hostile input, raw HTML shown as text, deep nesting as plain text."""
from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest

from incident.text import MAX_NESTING, render_markdown

#: The note from the report: ~11 KB of nested brackets took ~50 s with the old renderer.
PATHOLOGICAL = "[" * 9000 + "](" * 1000


@contextmanager
def must_finish_within(seconds: int):
    """Fail (instead of hanging the suite) when the block runs for minutes, as the old renderer did.

    Not a speed goal (that is `make bench`): the budget is ~1000 times what the renderer needs."""
    def timeout(*_):
        raise AssertionError(f"rendering did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_pathological_note_does_not_take_the_case_down(api, city):
    case = api("POST", "/api/v1/cases", city.responder_a,
               json={"kind": "flaming", "severity": "low", "title": "括弧"}).get_json()
    with must_finish_within(10):
        posted = api("POST", f"/api/v1/cases/{case['id']}/notes", city.responder_a,
                     json={"body": PATHOLOGICAL})
        assert posted.status_code == 201
        detail = api("GET", f"/api/v1/cases/{case['id']}", city.responder_a)
    assert detail.status_code == 200
    assert detail.get_json()["notes"][-1]["body_html"].startswith("<p>[[[")


@pytest.mark.parametrize("source", [
    "[" * 20_000,
    "*a_" * 6_600,
    ">" * 20_000,
    "|a" * 6_000 + "\n" + "|-" * 6_000 + "\n" + "|b" * 6_000,
    "**~~" * 2_500 + "a" + "~~**" * 2_500,
])
def test_largest_hostile_texts_render(source):
    with must_finish_within(5):
        assert str(render_markdown(source))


def test_raw_html_is_shown_as_text_even_in_code():
    html = str(render_markdown("<b>太字</b> `<i>` <!-- c -->\n\n```\n<script>x</script>\n```"))
    assert "&lt;b&gt;太字&lt;/b&gt;" in html
    assert "<code>&lt;i&gt;</code>" in html
    assert "&lt;!-- c --&gt;" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<b>" not in html and "<script" not in html


def test_autolinks_and_bare_urls_become_links():
    html = str(render_markdown("<https://www.city.ishinomaki.lg.jp/a?b=1> と www.city.ishinomaki.lg.jp"))
    assert 'href="https://www.city.ishinomaki.lg.jp/a?b=1"' in html
    assert 'href="http://www.city.ishinomaki.lg.jp"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_angle_bracket_in_a_link_target_stays_an_angle_bracket():
    html = str(render_markdown("[市](https://example.jp/?q=<x>)"))
    assert 'href="https://example.jp/?q=%3Cx%3E"' in html


def test_the_internal_placeholder_character_cannot_be_smuggled_in():
    html = str(render_markdown("a\ufdd0<b>x"))
    assert "\ufdd0" not in html
    assert "a&lt;b&gt;x" in html


def test_line_breaks_tables_and_strikethrough_still_work():
    html = str(render_markdown("一行目\n二行目\n\n| 項目 | 値 |\n|---|---|\n| 件数 | 3 |\n\n~~誤~~"))
    assert "一行目<br>" in html
    assert "<td>件数</td>" in html
    assert "<del>誤</del>" in html


def test_too_deep_nesting_is_shown_as_plain_text():
    source = "> " * (MAX_NESTING + 5) + "<b>深い</b>\n二行目"
    html = str(render_markdown(source))
    assert "<blockquote>" not in html
    assert "&lt;b&gt;深い&lt;/b&gt;" in html and "<br>" in html and "二行目" in html
    # Nesting within the limit still renders.
    assert str(render_markdown("> > 引用")).count("<blockquote>") == 2
