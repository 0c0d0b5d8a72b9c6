"""How long a text is where it will be posted: X's weighted count, or plain characters (platforms.toml).

X counts by the twitter-text v3 configuration (github.com/twitter/twitter-text, config/v3.json): after NFC
normalisation each code point weighs 100 inside the ranges 0-4351 (Latin, Greek, Cyrillic, Hebrew, Arabic,
Indic...), 8192-8205, 8208-8223 and 8242-8247 (spaces, dashes, quotes, primes) and 200 outside them (CJK,
kana, hangul, emoji...); every URL weighs 23 × 100 whatever its length; an emoji sequence (a flag, a keycap,
a pictograph with its variation selector, skin tone, tags or zero-width-joined pictographs) weighs 200 as
a whole; the count is the sum divided by the scale, 100. The limit is 280, so 140 kanji or 280 ASCII
characters fit.

Written here rather than taken from PyPI: the Python ports of twitter-text (twitter-text-parser 3.0.0 of
2023, twitter-text 3.0 of 2017, twitter-text-python 1.1.1 of 2019) are single releases no one maintains,
and the editor's counter must count the same way in the browser anyway: RULES is handed to
static/draft-length.js as data, so the numbers and patterns live only here.

Where this is simpler than twitter-text: a URL without http(s):// counts as one only for the top-level
domains in BARE_TLDS (twitter-text knows about 1,500), its path ends before any non-ASCII character, and
a path ending in ")" loses it; emoji are recognised by the code point ranges in EMOJI (close to Unicode's
Extended_Pictographic) rather than by the twemoji list. Text is counted without leading or trailing
blanks, with CR LF and CR read as one line end (as the browser's textarea gives them).
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Any

#: The top-level domains a URL written without http(s):// may end in (city notices use these).
BARE_TLDS = ("com", "net", "org", "jp", "info", "biz", "io")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PATH_CHAR = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_PATH_END = r"[A-Za-z0-9\-_~/#=&%+@*$]"
#: A URL as twitter-text finds one (simplified, see above): ASCII only, so that Python's re (with
#: re.ASCII | re.IGNORECASE) and the browser's RegExp (flags "gi") read the same pattern the same way.
URL_PATTERN = (
    r"(?<![A-Za-z0-9@＠$#＃\u202A-\u202E])"
    r"(?:https?://(?:" + _LABEL + r"\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]"
    r"|(?<![\-_./])(?:" + _LABEL + r"\.)+(?:" + "|".join(BARE_TLDS) + r"))"
    r"(?![A-Za-z0-9\-_])(?::[0-9]{1,5})?"
    r"(?:[/?#](?:" + _PATH_CHAR + r"*" + _PATH_END + r")?)?"
)
_URL = re.compile(URL_PATTERN, re.ASCII | re.IGNORECASE)

#: twitter-text v3, and what makes an emoji sequence; code points as numbers, ranges inclusive.
RULES: dict[str, Any] = {
    "scale": 100,
    "default_weight": 200,
    "ranges": [[0, 4351, 100], [8192, 8205, 100], [8208, 8223, 100], [8242, 8247, 100]],
    "url_length": 23,
    "url_pattern": URL_PATTERN,
    #: Blanks at either end that are not counted (X and the other platforms drop them).
    "trim": " \t\r\n\u3000",
    "emoji": {
        #: Pictographs that start an emoji sequence (close to Extended_Pictographic).
        #: (© and ® alone are ordinary characters; followed by VS16 they are emoji too.)
        "pictographs": [[0x203C, 0x203C], [0x2049, 0x2049],
                        [0x2122, 0x2122], [0x2139, 0x2139], [0x2194, 0x21AA], [0x231A, 0x23FF],
                        [0x24C2, 0x24C2], [0x25AA, 0x25FE], [0x2600, 0x27BF], [0x2934, 0x2935],
                        [0x2B05, 0x2B55], [0x3030, 0x3030], [0x303D, 0x303D], [0x3297, 0x3299],
                        [0x1F000, 0x1FAFF]],
        #: What may follow a pictograph within one emoji: VS16, skin tones, tag characters.
        "extenders": [[0xFE0F, 0xFE0F], [0x1F3FB, 0x1F3FF], [0xE0020, 0xE007F]],
        #: Two regional indicators make a flag.
        "regional": [0x1F1E6, 0x1F1FF],
        #: A keycap: one of these, VS16 (optional), then U+20E3.
        "keycap_bases": "0123456789#*",
        "keycap": 0x20E3,
        "vs16": 0xFE0F,
        "zwj": 0x200D,
    },
}


def _within(code: int, ranges: list[list[int]]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def prepare(text: str) -> str:
    """The text as it is counted: NFC, one kind of line end, no blanks at either end."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.strip(RULES["trim"])


def _emoji_end(codes: list[int], start: int) -> int:
    """Where the emoji sequence starting at `start` ends (exclusive), or `start` when there is none."""
    emoji = RULES["emoji"]
    code = codes[start]
    following = codes[start + 1] if start + 1 < len(codes) else None
    low, high = emoji["regional"]
    if low <= code <= high and following is not None and low <= following <= high:
        return start + 2
    if chr(code) in emoji["keycap_bases"]:
        at = start + 1
        if at < len(codes) and codes[at] == emoji["vs16"]:
            at += 1
        return at + 1 if at < len(codes) and codes[at] == emoji["keycap"] else start
    if not (_within(code, emoji["pictographs"]) or following == emoji["vs16"]):
        return start
    at = start + 1
    while True:
        while at < len(codes) and _within(codes[at], emoji["extenders"]):
            at += 1
        if (at + 1 < len(codes) and codes[at] == emoji["zwj"]
                and _within(codes[at + 1], emoji["pictographs"])):
            at += 2
            continue
        return at


def _weight(code: int) -> int:
    for low, high, weight in RULES["ranges"]:
        if low <= code <= high:
            return int(weight)
    return int(RULES["default_weight"])


def _weighted_plain(text: str) -> int:
    """The weight (not yet scaled) of text holding no URL."""
    codes = [ord(c) for c in text]
    total = 0
    at = 0
    while at < len(codes):
        end = _emoji_end(codes, at)
        if end > at:
            total += int(RULES["default_weight"])
            at = end
        else:
            total += _weight(codes[at])
            at += 1
    return total


def weighted_length(text: str) -> int:
    """X's count of the text (twitter-text v3): 280 is the limit."""
    text = prepare(text)
    total = 0
    done = 0
    for match in _URL.finditer(text):
        total += _weighted_plain(text[done:match.start()]) + RULES["url_length"] * RULES["scale"]
        done = match.end()
    total += _weighted_plain(text[done:])
    return total // int(RULES["scale"])


def char_length(text: str) -> int:
    """Characters (Unicode code points) of the text, each line end one."""
    return len(prepare(text))


def count(text: str, counting: str) -> int:
    """The text's length by `counting` ("weighted" for X, "chars" otherwise)."""
    return weighted_length(text) if counting == "weighted" else char_length(text)


@dataclasses.dataclass(frozen=True)
class Measure:
    """A text's length against one channel's limit."""

    channel: str
    count: int
    limit: int

    @property
    def over(self) -> bool:
        return self.count > self.limit


def measure(text: str, channel: Any) -> Measure:
    """The text's length where `channel` (a ChannelFacts of platforms.toml) counts it."""
    return Measure(channel=channel.key, count=count(text, channel.counting), limit=channel.limit)
