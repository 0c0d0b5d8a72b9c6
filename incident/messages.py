"""Messages shown where the user acted: at the part of the page a redirect opens, not at the page's top."""
from __future__ import annotations

from typing import cast

from flask import Flask, flash, g, get_flashed_messages

#: A flash category "success@step-x" is shown by the part of the page whose anchor is "step-x".
_SEPARATOR = "@"


def flash_at(anchor: str | None, message: str, category: str = "success") -> None:
    """Flash `message` to be shown at `anchor` (the id the redirect opens), or at the page's top for None."""
    flash(message, category if anchor is None else f"{category}{_SEPARATOR}{anchor}")


def _split(category: str) -> tuple[str, str | None]:
    kind, _, anchor = category.partition(_SEPARATOR)
    return kind, anchor or None


def messages_at(anchor: str) -> list[tuple[str, str]]:
    """The (category, message) pairs flashed for `anchor`; the page shows them there."""
    g.setdefault("placed_anchors", set()).add(anchor)
    return [(kind, message) for kind, message, at in _flashed() if at == anchor]


def messages_on_top() -> list[tuple[str, str]]:
    """The messages for the top of the page: those flashed for no place."""
    return [(kind, message) for kind, message, at in _flashed() if at is None]


def messages_not_placed() -> list[tuple[str, str]]:
    """Messages for a place the page did not show (rendered at the end, so none is ever lost)."""
    placed = g.get("placed_anchors", set())
    return [(kind, message) for kind, message, at in _flashed() if at is not None and at not in placed]


def _flashed() -> list[tuple[str, str, str | None]]:
    # get_flashed_messages pops them from the session once and keeps them for the rest of the request.
    pairs = cast(list[tuple[str, str]], get_flashed_messages(with_categories=True))
    flashed = []
    for category, message in pairs:
        kind, anchor = _split(category)
        flashed.append((kind, message, anchor))
    return flashed


def init_app(app: Flask) -> None:
    """Make the helpers available to templates; each request starts with no place shown."""
    app.jinja_env.globals.update(messages_at=messages_at, messages_on_top=messages_on_top,
                                 messages_not_placed=messages_not_placed)

    @app.before_request
    def forget_places() -> None:
        g.pop("placed_anchors", None)
