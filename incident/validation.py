"""Checking and converting input shared by every domain: ids, URLs and @handles, past times, bounded text."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l

from incident.database import MAX_ID
from incident.dates import as_utc, parse_iso, utcnow
from incident.errors import ValidationFailed

#: Longest URL or @handle accepted anywhere (offending items, account addresses, city pages).
TARGET_MAX = 500
#: A time may be this far in the future (clock skew between a phone and the server).
FUTURE_LEEWAY = dt.timedelta(minutes=10)
_HANDLE = re.compile(r"^@[A-Za-z0-9_.\-]{1,100}$")


def normalise_target(raw: Any) -> str:
    """Accept an http(s) URL or an @handle for an offending post or account; raise ValueError."""
    if not isinstance(raw, str):
        raise ValueError(_l("URL か @ハンドルを文字列で入力してください。"))
    text = raw.strip()
    if not text:
        raise ValueError(_l("URL か @ハンドルを入力してください。"))
    if len(text) > TARGET_MAX:
        raise ValueError(_l("%(max)d 文字以内で入力してください。", max=TARGET_MAX))
    if text.startswith("@"):
        if not _HANDLE.match(text):
            raise ValueError(_l("@ハンドルに使えるのは英数字・_・.・- だけです。"))
        return text
    if not is_web_url(text):
        raise ValueError(
            _l("http:// または https:// で始まる URL か、@ で始まるハンドルを入力してください。")
        )
    return text


def is_web_url(text: str) -> bool:
    """An http(s) URL with a host, a valid port if any, and no spaces or control characters."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname)
            and not any(c.isspace() or ord(c) < 32 for c in text))


def normalise_url(raw: Any) -> str | None:
    """An optional http(s) URL (e.g. an official account's address); raise ValueError if malformed."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError(_l("URL を文字列で入力してください。"))
    text = raw.strip()
    if not is_web_url(text) or len(text) > TARGET_MAX:
        raise ValueError(_l("http:// または https:// で始まる URL を入力してください。"))
    return text


def enum_value(enum_class: type, raw: Any, label: Any) -> Any:
    """`raw` as a member of `enum_class`; ValueError naming the field (`label`) otherwise."""
    try:
        return enum_class(raw)
    except ValueError:
        raise ValueError(_l("%(label)sの値が正しくありません。", label=label)) from None


def bounded_text(raw: Any, max_len: int, required: bool) -> str:
    """Stripped text of at most `max_len` characters without NUL; ValueError otherwise."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValueError(_l("文字列で入力してください。"))
    text = raw.strip()
    if "\x00" in text:
        raise ValueError(_l("使用できない制御文字（NUL）が含まれています。"))
    if required and not text:
        raise ValueError(_l("入力してください。"))
    if len(text) > max_len:
        raise ValueError(_l("%(max)d 文字以内で入力してください。", max=max_len))
    return text


def past_time(raw: Any) -> dt.datetime:
    """A moment from a form or JSON (ISO 8601; naive is Japan time) that is not in the future; else ValueError."""
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = parse_iso(raw)
        except (ValueError, OverflowError):
            raise ValueError(_l("日時は 2026-11-23T10:30 のような形式で入力してください。")) from None
    else:
        raise ValueError(_l("日時は 2026-11-23T10:30 のような形式で入力してください。"))
    try:
        value = as_utc(value)
    except OverflowError:
        raise ValueError(_l("日時が正しくありません。")) from None
    if value > utcnow() + FUTURE_LEEWAY:
        raise ValueError(_l("未来の日時は指定できません。"))
    return value


def parse_id(raw: Any) -> int | None:
    """A database id from a form or JSON value: None for empty, ValueError when not a usable id."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, (bool, float)):
        raise ValueError(_l("番号が正しくありません。"))
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_l("番号が正しくありません。")) from None
    if not 0 <= value <= MAX_ID:
        raise ValueError(_l("番号が正しくありません。"))
    return value


def optional_id(raw: Any) -> int | None:
    """Like parse_id, with 0 meaning none (a form's empty choice)."""
    value = parse_id(raw)
    return None if value == 0 else value


def is_city_url(text: str) -> bool:
    """Whether `text` is an http(s) URL on the city's own website (CITY_WEB_DOMAINS or a subdomain)."""
    domains = [d.lower() for d in current_app.config["CITY_WEB_DOMAINS"]]
    parts = urlsplit(text)
    host = (parts.hostname or "").lower() if parts.scheme else ""
    return parts.scheme in ("http", "https") and any(host == d or host.endswith("." + d) for d in domains)


def city_url(raw: Any, field: str = "url") -> str:
    """A URL on the city's own website (CITY_WEB_DOMAINS), e.g. the page with the correct information."""
    domains = [d.lower() for d in current_app.config["CITY_WEB_DOMAINS"]]
    text = raw.strip() if isinstance(raw, str) else ""
    if not is_city_url(text):
        raise ValidationFailed(fields={field: _l("市のホームページ（%(domains)s）の URL を入力してください。", domains="、".join(domains))},
        )
    if len(text) > TARGET_MAX:
        raise ValidationFailed(fields={field: _l("%(max)d 文字以内で入力してください。", max=TARGET_MAX)})
    return text

