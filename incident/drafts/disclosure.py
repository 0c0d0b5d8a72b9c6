"""Guideline 5: does a post the city paid a third party for show who is behind it (#PR #石巻市 or a sentence)?"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

# A hashtag ends at white space (full-width too), the next '#', or punctuation: SNS apps end it
# there as well, so "#PR #石巻市。" still carries the tag #石巻市.
_HASHTAG = re.compile(r"[#＃][^\s#＃、。，．,.！？!?「」『』（）()【】]+")
_SENTENCE_END = re.compile(r"[。！？!?\n]")
#: Words that, after the city name in one sentence, state a commissioned relationship (5(2)).
RELATION_WORDS = ("案件", "依頼", "委託", "広告制作", "プロモーション")


@dataclass(frozen=True)
class Problem:
    """One way the post fails guideline 5; `token` is the offending hashtag, as written."""

    code: str
    message: Any  # a lazy string: rendered in the reader's language
    token: str | None = None


def _norm(text: str) -> str:
    """Compare as a reader would: ＃ＰＲ is #PR, #pr is #PR."""
    return unicodedata.normalize("NFKC", text).casefold()


def _tag(raw: str) -> str:
    return "#" + _norm(raw).strip().lstrip("#")


def shown_tag(raw: str) -> str:
    """A configured tag as the author should type it, with its '#'."""
    return "#" + raw.strip().lstrip("#＃")


def _word_pattern(words: list[str]) -> str:
    # An ASCII word must stand alone, so that "pr" does not match inside "print".
    parts = [rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])" if w.isascii() else re.escape(w) for w in words]
    return "|".join(parts)


def _has_sentence(text: str, words: list[str], city: str) -> bool:
    """5(2): 【PR】石巻市, or one sentence naming the city and then the relationship."""
    bare = _HASHTAG.sub(" ", _norm(text))  # so that "#石巻市PR" is not read as a sentence
    if re.search(rf"【\s*(?:{_word_pattern(words)})\s*】\s*{re.escape(city)}", bare):
        return True
    relation = re.compile(_word_pattern(words + list(RELATION_WORDS)))
    for sentence in _SENTENCE_END.split(bare):
        at = sentence.find(city)
        if at >= 0 and relation.search(sentence, at + len(city)):
            return True
    return False


def _hashtag_problems(tokens: list[str], rel: dict[str, str], city_tag: str, shown_city: str) -> list[Problem]:
    """5(1): the relationship tag, then the city tag, ahead of every other hashtag."""
    tags = [_tag(t) for t in tokens]
    city_bare = city_tag[1:]
    problems = []
    for token, tag in zip(tokens, tags, strict=True):
        for rel_tag, shown in rel.items():
            word = rel_tag[1:]
            if tag in (f"#{city_bare}{word}", f"#{word}{city_bare}"):
                problems.append(Problem("glued", _l(
                    "「%(tag)s」は関係タグと情報元が 1 つのハッシュタグにつながっています。"
                    "「%(example)s」のように 2 つのハッシュタグに分けて書いてください。",
                    tag=token, example=f"{shown} {shown_city}"), token))
    first = next((i for i, tag in enumerate(tags) if tag in rel), None)
    if first is None:
        return problems
    shown_rel = rel[tags[first]]
    example = f"{shown_rel} {shown_city}"
    cities = [i for i, tag in enumerate(tags) if tag == city_tag]
    if first + 1 < len(tags) and tags[first + 1] == city_tag:
        if first > 0:  # イ: the pair must lead all hashtags
            problems.append(Problem("not_first", _l(
                "「%(example)s」はすべてのハッシュタグの先頭に書いてください。前に「%(tag)s」があります。",
                example=example, tag=tokens[0]), tokens[0]))
    elif any(i < first for i in cities):
        problems.append(Problem("order_reversed", _l(
            "ハッシュタグの順番が逆です。関係タグを先に、情報元を後に「%(example)s」の順で書いてください。",
            example=example), tokens[min(cities)]))
    elif cities:
        problems.append(Problem("city_not_next", _l(
            "関係タグ「%(rel)s」の直後に情報元「%(city)s」を書いてください。間に「%(tag)s」が入っています。",
            rel=tokens[first], city=shown_city, tag=tokens[first + 1]), tokens[first + 1]))
    else:
        problems.append(Problem("city_missing", _l(
            "関係タグ「%(rel)s」だけでは情報元がわかりません。「%(example)s」のように続けて書いてください。",
            rel=tokens[first], example=example), tokens[first]))
    return problems


def check_disclosure(text: str, relationship_tags: list[str], city_tag: str, city_name: str) -> list[Problem]:
    """The problems of a third-party post under guideline 5; an empty list means acceptable."""
    if not text or not text.strip():
        return [Problem("empty", _l("投稿文が空です。"))]
    rel = {_tag(t): shown_tag(t) for t in relationship_tags if _tag(t) != "#"}
    tokens = _HASHTAG.findall(text)
    tags = [_tag(t) for t in tokens]
    city = _tag(city_tag)
    if len(tags) >= 2 and tags[0] in rel and tags[1] == city:
        return []
    words = [t[1:] for t in rel]
    problems = _hashtag_problems(tokens, rel, city, shown_tag(city_tag))
    if problems or _has_sentence(text, words, _norm(city_name)):
        return problems  # a sentence suffices, but a wrong tag next to it still misleads
    # The guideline's own example is #PR; fall back to the first configured tag.
    example = f"{rel.get('#pr') or next(iter(rel.values()), '#PR')} {shown_tag(city_tag)}"
    return [Problem("missing", _l(
        "%(city)sとの関係が明示されていません。ハッシュタグの先頭に「%(example)s」と書くか、"
        "「%(city)sのPR案件としての投稿です。」のように関係を文章で書いてください。",
        city=city_name, example=example))]


def check_with_config(text: str) -> list[Problem]:
    """check_disclosure with the tags and city name of the running application."""
    config = current_app.config
    tags = config["PR_RELATIONSHIP_TAGS"]
    if isinstance(tags, str):  # INCIDENT_PR_RELATIONSHIP_TAGS=#PR is not JSON: one tag, not its letters
        tags = [tags]
    return check_disclosure(text, list(tags), config["PR_CITY_TAG"], config["CITY_NAME"])
