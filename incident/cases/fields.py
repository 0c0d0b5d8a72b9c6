"""Checking case fields, offending targets and notes, for the pages, the API and the CLI."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from incident.accounts.models import Platform
from incident.cases.models import CaseKind, Severity
from incident.errors import ValidationFailed
from incident.validation import bounded_text, enum_value, normalise_target, optional_id, past_time

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
SOURCE_MAX = 200
NOTE_MAX = 20_000
MAX_TARGETS = 50
_CASE_FIELDS = (
    "kind", "title", "severity", "description", "platform",
    "official_account_id", "detected_at", "source",
)


def clean_case_fields(raw: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate case fields; with partial=True only the keys present are checked and returned."""
    cleaners = {
        "kind": lambda v: enum_value(CaseKind, v, _l("種別")),
        "title": lambda v: bounded_text(v, TITLE_MAX, required=True),
        "severity": lambda v: enum_value(Severity, v, _l("重大度")),
        "description": lambda v: bounded_text(v, DESCRIPTION_MAX, required=False),
        "platform": lambda v: None if v in (None, "") else enum_value(Platform, v, _l("媒体")),
        "official_account_id": optional_id,
        "detected_at": past_time,
        "source": lambda v: bounded_text(v, SOURCE_MAX, required=False),
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
        raise ValidationFailed(fields=errors)
    return cleaned


def clean_targets(raw: Any) -> list[str]:
    """Validate a list of offending URLs / handles, dropping blanks and duplicates."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list):
        raise ValidationFailed(fields={"urls": _l("URL の一覧を指定してください。")}
        )
    targets: list[str] = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and not item.strip():
            continue
        try:
            target = normalise_target(item)
        except ValueError as exc:
            raise ValidationFailed(fields={"urls": _l("%(n)d 行目: %(error)s", n=index + 1, error=exc.args[0])},
            ) from None
        if target not in targets:
            targets.append(target)
    if len(targets) > MAX_TARGETS:
        raise ValidationFailed(fields={"urls": _l("一度に登録できるのは %(max)d 件までです。", max=MAX_TARGETS)},
        )
    return targets


def clean_note_body(raw: Any) -> str:
    """A note's Markdown body: required, bounded."""
    try:
        return bounded_text(raw, NOTE_MAX, required=True)
    except ValueError as exc:
        raise ValidationFailed(fields={"body": exc.args[0]}) from None


