"""Reading page and per_page from a request, the same way for pages and the API; cursors for keyset paging."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from incident.extensions import db

#: Counts stop here ("1,000 件以上"): past it the exact number helps nobody, and counting every row of a long
#: list on each view would make the page slower as the city's data grows.
COUNT_CAP = 1000


def capped(statement: Any) -> Any:
    """SQL counting the statement's rows up to COUNT_CAP + 1 (the database stops reading there)."""
    return select(func.count()).select_from(statement.limit(COUNT_CAP + 1).subquery()).scalar_subquery()


def capped_count(statement: Any) -> int:
    """How many rows the statement has, up to COUNT_CAP + 1."""
    return int(db.session.scalar(select(capped(statement))) or 0)


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


#: The longest cursor accepted: a sort key of a few values, base64-encoded, is far shorter.
CURSOR_MAX = 300


class CursorError(ValueError):
    """A cursor this application did not make for this list (garbled, cut, or for another order)."""


@dataclasses.dataclass(frozen=True)
class Cursor:
    """A position in a list: the sort key of a row, which way to read from it, and the page reached."""

    order: str
    key: tuple[Any, ...]
    page: int
    backwards: bool = False

    def encode(self) -> str:
        """The cursor as an opaque, URL-safe string."""
        payload = json.dumps({"o": self.order, "k": list(self.key), "p": self.page, "b": int(self.backwards)},
                             separators=(",", ":"), ensure_ascii=True)
        return base64.urlsafe_b64encode(payload.encode("ascii")).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str, order: str) -> Cursor:
        """The cursor `encode` made for a list in `order`; CursorError for anything else."""
        if not token or len(token) > CURSOR_MAX or not token.isascii():
            raise CursorError(token)
        try:
            payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, binascii.Error):
            raise CursorError(token) from None
        if not isinstance(payload, dict) or payload.get("o") != order:
            raise CursorError(token)
        key, page, backwards = payload.get("k"), payload.get("p"), payload.get("b")
        if (not isinstance(key, list) or type(page) is not int or not 1 <= page <= 1_000_000
                or backwards not in (0, 1) or type(backwards) is not int):
            raise CursorError(token)
        return cls(order, tuple(key), page, bool(backwards))


@dataclasses.dataclass(frozen=True)
class KeysetPage:
    """One page of a list read by keyset: its rows, the total, and cursors to the pages either side."""

    items: list[Any]
    total: int
    page: int
    per_page: int
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def pages(self) -> int:
        """How many pages the list has (at least 1; a lower bound when the total is capped)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def capped(self) -> bool:
        """Whether counting stopped past COUNT_CAP (the total is then COUNT_CAP + 1: "1,000 件以上")."""
        return self.total > COUNT_CAP

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None
