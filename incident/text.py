"""Markdown to safe HTML: the one place the application renders user-written Markdown.

The renderer is cmark-gfm (GitHub's C implementation of CommonMark, through PyPA's `cmarkgfm`): its
parser is built to run in time linear in the input, and its test suite includes the pathological inputs
(nested brackets, emphasis runs, deep nesting) that make regex-driven renderers quadratic. Python-Markdown,
used before, took ~50 s on an 11 KB note of nested brackets. `bench/markdown_bench.py` measures it.
"""
from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markupsafe import Markup, escape

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

#: Rendered texts kept in memory per process, counted in characters of source and HTML: a case page shows
#: the same notes on every view, and a long case (500 notes) must fit whole, or each view would push out the
#: notes the next one needs. CPython keeps Japanese text at 2 bytes a character, so this is about 32 MB.
CACHE_CHARS = 16 * 1024 * 1024
#: What an entry costs besides its text (the string objects and the dictionary slot), in characters.
ENTRY_OVERHEAD = 100

# cmark-gfm can only omit raw HTML, not show it; users write notes, not markup, and expect
# `<b>` to read as `<b>`. So the parser never sees "<": it is swapped for a Unicode noncharacter
# (never valid in interchanged text, and removed from the input first) and turned back into an
# escaped "&lt;" (or "%3C" inside a link target) after rendering. Autolinks such as
# <https://example.jp/> are kept, since they are links, not HTML.
_HIDDEN_LT = "\ufdd0"
_HIDDEN_LT_IN_URL = "%EF%B7%90"
_AUTOLINK = re.compile("\ufdd0((?:https?://|mailto:)[^\\s>\ufdd0]*)>", re.IGNORECASE)
_OPTIONS = Options.CMARK_OPT_HARDBREAKS | Options.CMARK_OPT_VALIDATE_UTF8
#: Elements nested deeper than this make the sanitiser's HTML parser slow down quadratically (it walks
#: the stack of open elements); no real note nests 40 quotes or lists, so such a text is shown as plain text.
MAX_NESTING = 40
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
_VOID_TAGS = {"br", "hr", "img", "input"}
#: GitHub's tables, ~~strikethrough~~ and bare-URL links (no task lists: their checkboxes are not allowed).
_EXTENSIONS = ["table", "strikethrough", "autolink"]


def _hide_raw_html(source: str) -> str:
    """The source with every "<" hidden from the parser, except those opening an autolink."""
    hidden = source.replace(_HIDDEN_LT, "").replace("<", _HIDDEN_LT)
    # Linear: a match can only start at a hidden "<" and cannot run past the next one.
    return _AUTOLINK.sub(r"<\1>", hidden)


class SizedCache:
    """A thread-safe least-recently-used cache of `render(source)`, bounded by total characters, not entries."""

    #: The renderer itself, without the cache (bench/markdown_bench.py times it).
    __wrapped__: Callable[[str], str]

    def __init__(self, render: Callable[[str], str], limit: int) -> None:
        functools.update_wrapper(self, render)
        self._render = render
        self.limit = limit
        self.size = 0
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, source: str) -> str:
        with self._lock:
            html = self._entries.get(source)
            if html is not None:
                self._entries.move_to_end(source)
                return html
        # Rendered outside the lock so one long text does not hold up other threads; two threads rendering
        # the same text at once both store the same result, which is harmless.
        html = self._render(source)
        self._store(source, html)
        return html

    def _store(self, source: str, html: str) -> None:
        cost = self._cost(source, html)
        if cost > self.limit:
            return
        with self._lock:
            if source in self._entries:
                return
            self._entries[source] = html
            self.size += cost
            while self.size > self.limit:
                old_source, old_html = self._entries.popitem(last=False)
                self.size -= self._cost(old_source, old_html)

    @staticmethod
    def _cost(source: str, html: str) -> int:
        return len(source) + len(html) + ENTRY_OVERHEAD

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every rendered text."""
        with self._lock:
            self._entries.clear()
            self.size = 0


def _render_uncached(source: str) -> str:
    """Sanitised HTML for a Markdown source."""
    html = cmarkgfm.markdown_to_html_with_extensions(_hide_raw_html(source), options=_OPTIONS,
                                                     extensions=_EXTENSIONS)
    html = html.replace(_HIDDEN_LT_IN_URL, "%3C").replace(_HIDDEN_LT, "&lt;").strip()
    if _too_deep(html):
        html = _plain_text(source.replace(_HIDDEN_LT, ""))
    # Raw HTML never reaches the output above, and the output is sanitised anyway: two layers,
    # because a bug in either alone must not become an XSS.
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


#: Sanitised HTML for a Markdown source, cached: the same notes are shown on every view.
_render = SizedCache(_render_uncached, CACHE_CHARS)


def _too_deep(html: str) -> bool:
    """Whether elements nest deeper than MAX_NESTING in cmark's output (well-formed, so counting tags is exact)."""
    depth = 0
    for match in _TAG.finditer(html):
        if match.group(2).lower() in _VOID_TAGS:
            continue
        depth += -1 if match.group(1) else 1
        if depth > MAX_NESTING:
            return True
    return False


def _plain_text(source: str) -> str:
    """The text itself, escaped, line breaks kept: for input too deeply nested to render as Markdown."""
    return "<p>" + "<br>\n".join(str(escape(line)) for line in source.splitlines()) + "</p>"


def render_markdown(source: str | None) -> Markup:
    """Render Markdown and sanitise it with an allow-list, so no script or handler survives."""
    if not source:
        return Markup("")
    return Markup(_render(source))
