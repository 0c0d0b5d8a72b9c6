"""Reading page and per_page from a request, the same way for pages and the API."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app


def page_args(args: Mapping[str, Any]) -> tuple[int, int]:
    """(page, per_page) from a page's query arguments, nonsense corrected rather than refused (the API
    declares and checks its own in incident/api)."""
    default = int(current_app.config["PER_PAGE"])
    maximum = int(current_app.config["MAX_PER_PAGE"])

    def number(name: str, fallback: int, low: int, high: int) -> int:
        raw = args.get(name)
        if raw in (None, ""):
            return fallback
        try:
            value = int(raw)
        except (TypeError, ValueError):
            return fallback
        return min(max(value, low), high)

    return number("page", 1, 1, 1_000_000), number("per_page", default, 1, maximum)
