"""Reading page and per_page from a request, the same way for pages and the API."""
from __future__ import annotations

from typing import Any, Mapping

from flask import current_app
from flask_babel import lazy_gettext as _l

from incident.errors import ValidationFailed


def page_args(args: Mapping[str, Any], *, strict: bool) -> tuple[int, int]:
    """(page, per_page) from query arguments; strict mode rejects nonsense instead of correcting it."""
    default = int(current_app.config["PER_PAGE"])
    maximum = int(current_app.config["MAX_PER_PAGE"])
    errors: dict[str, Any] = {}

    def number(name: str, fallback: int, low: int, high: int) -> int:
        raw = args.get(name)
        if raw in (None, ""):
            return fallback
        try:
            value = int(raw)
        except (TypeError, ValueError):
            errors[name] = _l("整数で指定してください。")
            return fallback
        if not low <= value <= high:
            errors[name] = _l("%(low)d から %(high)d までで指定してください。", low=low, high=high)
            return min(max(value, low), high)
        return value

    page = number("page", 1, 1, 1_000_000)
    per_page = number("per_page", default, 1, maximum)
    if errors and strict:
        raise ValidationFailed(fields=errors)
    return page, per_page
