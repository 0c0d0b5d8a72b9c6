"""Checking and converting case input, shared by the pages, the API and the CLI."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l

from incident.accounts.models import Platform
from incident.cases.models import CaseKind, Severity
from incident.database import MAX_ID
from incident.dates import parse_iso, utcnow
from incident.errors import ValidationFailed

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
SOURCE_MAX = 200
TARGET_MAX = 500
NOTE_MAX = 20_000
MAX_TARGETS = 50
#: A detection time may be this far in the future (clock skew between a phone and the server).
FUTURE_LEEWAY = dt.timedelta(minutes=10)
_HANDLE = re.compile(r"^@[A-Za-z0-9_.\-]{1,100}$")
_CASE_FIELDS = (
    "kind", "title", "severity", "description", "platform",
    "official_account_id", "detected_at", "source",
)


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
    if not _is_web_url(text):
        raise ValueError(
            _l("http:// または https:// で始まる URL か、@ で始まるハンドルを入力してください。")
        )
    return text


def _is_web_url(text: str) -> bool:
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
    if not _is_web_url(text) or len(text) > TARGET_MAX:
        raise ValueError(_l("http:// または https:// で始まる URL を入力してください。"))
    return text


def _enum_value(enum_class: type, raw: Any, label: Any) -> Any:
    try:
        return enum_class(raw)
    except ValueError:
        raise ValueError(_l("%(label)sの値が正しくありません。", label=label)) from None


def _text(raw: Any, max_len: int, required: bool) -> str:
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
    from incident.dates import as_utc

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
    if isinstance(raw, bool) or isinstance(raw, float):
        raise ValueError(_l("番号が正しくありません。"))
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_l("番号が正しくありません。")) from None
    if not 0 <= value <= MAX_ID:
        raise ValueError(_l("番号が正しくありません。"))
    return value


def _optional_id(raw: Any) -> int | None:
    value = parse_id(raw)
    return None if value == 0 else value


def clean_case_fields(raw: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate case fields; with partial=True only the keys present are checked and returned."""
    cleaners = {
        "kind": lambda v: _enum_value(CaseKind, v, _l("種別")),
        "title": lambda v: _text(v, TITLE_MAX, required=True),
        "severity": lambda v: _enum_value(Severity, v, _l("重大度")),
        "description": lambda v: _text(v, DESCRIPTION_MAX, required=False),
        "platform": lambda v: None if v in (None, "") else _enum_value(Platform, v, _l("媒体")),
        "official_account_id": _optional_id,
        "detected_at": past_time,
        "source": lambda v: _text(v, SOURCE_MAX, required=False),
    }
    cleaned: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name in _CASE_FIELDS:
        if name not in raw:
            if not partial and name in ("kind", "title", "severity"):
                errors[name] = _l("入力してください。")
            continue
        try:
            cleaned[name] = cleaners[name](raw[name])
        except ValueError as exc:
            errors[name] = exc.args[0]
    if errors:
        raise ValidationFailed(_l("入力内容を確認してください。"), fields=errors)
    return cleaned


def clean_targets(raw: Any) -> list[str]:
    """Validate a list of offending URLs / handles, dropping blanks and duplicates."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list):
        raise ValidationFailed(
            _l("入力内容を確認してください。"), fields={"urls": _l("URL の一覧を指定してください。")}
        )
    targets: list[str] = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and not item.strip():
            continue
        try:
            target = normalise_target(item)
        except ValueError as exc:
            raise ValidationFailed(
                _l("入力内容を確認してください。"),
                fields={"urls": _l("%(n)d 行目: %(error)s", n=index + 1, error=exc.args[0])},
            ) from None
        if target not in targets:
            targets.append(target)
    if len(targets) > MAX_TARGETS:
        raise ValidationFailed(
            _l("入力内容を確認してください。"),
            fields={"urls": _l("一度に登録できるのは %(max)d 件までです。", max=MAX_TARGETS)},
        )
    return targets


def clean_note_body(raw: Any) -> str:
    """A note's Markdown body: required, bounded."""
    try:
        return _text(raw, NOTE_MAX, required=True)
    except ValueError as exc:
        raise ValidationFailed(_l("入力内容を確認してください。"), fields={"body": exc.args[0]}) from None


def city_url(raw: Any, field: str = "url") -> str:
    """A URL on the city's own website (CITY_WEB_DOMAINS), e.g. the page with the correct information."""
    domains = [d.lower() for d in current_app.config["CITY_WEB_DOMAINS"]]
    text = raw.strip() if isinstance(raw, str) else ""
    parts = urlsplit(text)
    host = (parts.hostname or "").lower() if parts.scheme else ""
    if parts.scheme not in ("http", "https") or not any(host == d or host.endswith("." + d) for d in domains):
        raise ValidationFailed(
            _l("入力内容を確認してください。"),
            fields={field: _l("市のホームページ（%(domains)s）の URL を入力してください。", domains="、".join(domains))},
        )
    if len(text) > TARGET_MAX:
        raise ValidationFailed(_l("入力内容を確認してください。"),
                               fields={field: _l("%(max)d 文字以内で入力してください。", max=TARGET_MAX)})
    return text
