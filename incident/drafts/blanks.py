"""Unfilled placeholders (blanks) in a draft's text: what staff must still write before it may go out.

The rule, read off the templates in playbooks/drafts/:

- Every Japanese placeholder is a run in full-width square brackets whose words ask staff to fill
  something in: 「［確認している事柄を記入］」, 「［本市の対応を記入］」. A blank is a ［…］ pair whose own
  text contains 記入 or 入力, or holds nothing but filler (spaces, ○, ＿, …, ？): 「［　］」, 「［○○］」.
  A pair holding other words (「［PR］」, 「［再掲］」) is the city's own prose and is left alone.
- A placeholder half deleted on its line still counts: 「［確認している事柄を記入 について」 (no ］) or
  「確認している事柄を記入］」 (no ［), when the unmatched bracket's stretch of the line asks to fill in.
- Nested pairs: the innermost blank is reported; an outer pair is reported only when its own words
  ask to fill in and it holds no blank of its own.
- Half-width brackets are ordinary text ([PR], [1], Markdown links), except the exact placeholders
  of the English template (takedown.en.txt), listed in ENGLISH_PLACEHOLDERS.

Lines are numbered from 1 as the editor shows them (CR LF, CR and LF each end a line).
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from incident.errors import ValidationFailed

#: Words of the Japanese templates' placeholders: each asks staff to write something in.
MARKERS = ("記入", "入力")
#: Characters that only hold a place (「［　］」, 「［○○］」, 「［＿＿］」): a pair of nothing but these is a blank.
FILLER = frozenset(" \t\u3000○〇●◯×＿_…‥・?？")
#: The English templates' placeholders, exactly (half-width brackets are otherwise ordinary text);
#: tests/drafts/test_blanks.py checks that the *.en.txt templates have no other.
ENGLISH_PLACEHOLDERS = frozenset({
    "[platform name]", "[phone number or other contact]", "[form or in-app report to use]", "[name]",
    "[@handle]", "[display name]", "[URL]", "[date and time]",
    "[@handle, URL, display name and first-seen time of each fake account]",
    "[name of the genuine account]", "[URL of the genuine account]",
    "[Describe it: copied name or icon, the city's posts copied without permission, the sites it sends people "
    "to, etc.]",
    "[Attach screenshots and list each file's name, capture time and SHA-256]",
    "[email address]",
    # takedown.en.txt since issue 12: the city's own former (dormant) account. Wordings the templates no
    # longer print stay listed above: drafts generated before still hold them.
    "[URL of the account]", "[when the city stopped operating it, or how it lies dormant]",
    "[name and URL of the former official account]",
    "[Describe how the account is shown or used now: posts by someone else, a changed profile, etc.]",
    # recovery.en.txt (a taken-over account).
    "[email address and phone number registered before the takeover]",
    "[What happened: password or registered email changed, posts or messages the city did not send, etc.]",
})
#: How many blanks a refusal names before it says "and N more".
LISTED_MAX = 20

_OPEN, _CLOSE = "［", "］"
_LINE_END = re.compile(r"\r\n|\r|\n")
_HALF_WIDTH = re.compile(r"\[[^\[\]\r\n]+\]")


class Blank(NamedTuple):
    """One unfilled placeholder: the line it is on (from 1) and its text as written."""

    line: int
    text: str


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(number, offset of its first character, line without its end) for each line of the text."""
    start = 0
    number = 1
    for end in _LINE_END.finditer(text):
        yield number, start, text[start:end.start()]
        start = end.end()
        number += 1
    yield number, start, text[start:]


def _asks_to_fill(words: str) -> bool:
    return any(marker in words for marker in MARKERS)


class _Pair:
    """A ［ seen on the line and not yet closed: where it opened and what it holds so far."""

    __slots__ = ("start", "own", "has_inner", "holds_blank")

    def __init__(self, start: int) -> None:
        self.start = start
        self.own: list[str] = []  # its own characters, without those of pairs nested in it
        self.has_inner = False
        self.holds_blank = False


def _line_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each blank on one line, in order of position (one pass: lines may be long)."""
    spans: list[tuple[int, int]] = []
    brackets: list[int] = []
    unopened: list[int] = []
    stack: list[_Pair] = []
    for index, char in enumerate(line):
        if char == _OPEN:
            brackets.append(index)
            stack.append(_Pair(index))
        elif char == _CLOSE:
            brackets.append(index)
            if not stack:
                unopened.append(index)
                continue
            pair = stack.pop()
            own = "".join(pair.own)
            blank = not pair.holds_blank and (
                _asks_to_fill(own) or (not pair.has_inner and all(c in FILLER for c in own)))
            if blank:
                spans.append((pair.start, index + 1))
            if stack:  # an inner blank is reported instead of the pair around it
                stack[-1].has_inner = True
                stack[-1].holds_blank = stack[-1].holds_blank or blank or pair.holds_blank
        elif stack:
            stack[-1].own.append(char)
    for pair in stack:  # ［ never closed: its stretch runs to the next bracket or the end of the line
        after = bisect.bisect_right(brackets, pair.start)
        end = brackets[after] if after < len(brackets) else len(line)
        if _asks_to_fill(line[pair.start:end]):
            spans.append((pair.start, len(line[:end].rstrip())))
    for close in unopened:  # ］ never opened: its stretch starts after the previous bracket
        before = bisect.bisect_left(brackets, close)
        start = brackets[before - 1] + 1 if before else 0
        start += len(line[start:close]) - len(line[start:close].lstrip())
        if _asks_to_fill(line[start:close]):
            spans.append((start, close + 1))
    for match in _HALF_WIDTH.finditer(line):
        if match.group() in ENGLISH_PLACEHOLDERS:
            spans.append(match.span())
    return sorted(spans)


def _spans(text: str) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) of each blank, as offsets into the whole text."""
    for number, offset, line in _lines(text):
        for start, end in _line_spans(line):
            yield number, offset + start, offset + end


def find_blanks(text: str) -> list[Blank]:
    """Every unfilled placeholder of the text, with its line, top to bottom."""
    return [Blank(number, text[start:end]) for number, start, end in _spans(text)]


def segments(text: str) -> list[tuple[str, bool]]:
    """The text cut into pieces, each saying whether it is a blank; joined, the pieces are the text."""
    pieces: list[tuple[str, bool]] = []
    done = 0
    for _number, start, end in _spans(text):
        if start > done:
            pieces.append((text[done:start], False))
        pieces.append((text[start:end], True))
        done = end
    if done < len(text) or not pieces:
        pieces.append((text[done:], False))
    return pieces


def _listing(blanks: list[Blank]) -> str:
    shown = [_("%(line)d 行目：%(text)s", line=b.line, text=b.text) for b in blanks[:LISTED_MAX]]
    if len(blanks) > LISTED_MAX:
        shown.append(_("ほか %(n)d 件", n=len(blanks) - LISTED_MAX))
    return _("、").join(shown)


def blanks_message(blanks: list[Blank], label: Any = None) -> Any:
    """「未記入の箇所：3 行目：［…］、9 行目：［…］」, in the reader's language when it is shown; with a label
    (which text of a draft): 「市ホームページ用（長文）の未記入の箇所：…」."""
    if label is not None:
        return LazyString(lambda: _("%(text)sの未記入の箇所：%(blanks)s", text=label, blanks=_listing(blanks)))
    return LazyString(lambda: _("未記入の箇所：%(blanks)s", blanks=_listing(blanks)))


#: The summary of a refusal: no blank may be submitted, approved or recorded as gone out.
REFUSED = _l("本文に未記入の箇所（［ ］）が残っています。すべて埋めた版でなければ、承認の依頼・承認・公開の記録はできません。")


def refusal(text: str, name: str = "body") -> ValidationFailed | None:
    """The 422 refusing a text with blanks (the field `name` lists each with its line); None when filled."""
    blanks = find_blanks(text)
    if not blanks:
        return None
    return ValidationFailed(REFUSED, fields={name: blanks_message(blanks)})


def require_filled(text: str, name: str = "body") -> None:
    """Raise ValidationFailed listing each blank of the text with its line, unless it has none."""
    error = refusal(text, name)
    if error is not None:
        raise error


#: The same refusal when a draft has more than one text (the body and the website rendition).
REFUSED_ANY = _l("文案に未記入の箇所（［ ］）が残っています。すべて埋めた版でなければ、承認の依頼・承認・公開の記録はできません。")


def refusal_in(texts: list[tuple[str, Any, str]]) -> ValidationFailed | None:
    """The 422 refusing blanks in any of several texts, given as (field, label or None, text): each field
    lists its own blanks, its label saying which text they are in; None when all are filled."""
    fields = {}
    for name, label, text in texts:
        found = find_blanks(text)
        if found:
            fields[name] = blanks_message(found, label)
    if not fields:
        return None
    return ValidationFailed(REFUSED if len(texts) == 1 else REFUSED_ANY, fields=fields)


def require_filled_in(texts: list[tuple[str, Any, str]]) -> None:
    """Raise the 422 of `refusal_in` unless every text is filled."""
    error = refusal_in(texts)
    if error is not None:
        raise error
