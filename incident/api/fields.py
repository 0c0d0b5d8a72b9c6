"""Marshmallow fields and base schemas of API v1: JSON types checked strictly, messages in the user's
language (the same wording the services use), and each rule written so that the OpenAPI document shows it."""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

import marshmallow as ma
from flask import current_app
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident.database import MAX_ID
from incident.dates import isoformat

#: The generic messages (the services word the same cases the same way).
REQUIRED = _l("入力してください。")
NOT_TEXT = _l("文字列で入力してください。")
BAD_VALUE = _l("値が正しくありません。")
BAD_ID = _l("番号が正しくありません。")
NOT_BOOLEAN = _l("true か false で指定してください。")
BAD_MOMENT = _l("日時は 2026-11-23T10:30 のような形式で入力してください。")


def too_long(limit: int) -> Any:
    """The message for text over `limit` characters."""
    return _l("%(max)d 文字以内で入力してください。", max=limit)


def _one_message(kwargs: dict[str, Any], message: Any) -> dict[str, Any]:
    """`kwargs` with `message` for every problem of the field (missing, null, wrong), when given."""
    if message is not None:
        kwargs["error_messages"] = {"required": message, "null": message, "invalid": message,
                                    **kwargs.get("error_messages", {})}
    return kwargs


def _error(message: Any) -> ma.ValidationError:
    # A list, so that marshmallow keeps a lazy (not yet translated) message as one message.
    return ma.ValidationError([message])


class Input(ma.Schema):
    """A request body or query: keys it does not declare are ignored, as they always were."""

    class Meta:
        unknown = ma.EXCLUDE


class Output(ma.Schema):
    """A response body: exactly the declared keys (the document says `additionalProperties: false`)."""


class Text(fields.String):
    """Text, stripped; null reads as empty (as in the forms). `blank=False` makes it required content."""

    default_error_messages = {"required": REQUIRED, "null": REQUIRED, "invalid": NOT_TEXT}

    def __init__(self, max_len: int, *, blank: bool = True, message: Any = None, **kwargs: Any) -> None:
        self.max_len, self.blank = max_len, blank
        _one_message(kwargs, message)
        metadata = {"maxLength": max_len, **({} if blank else {"minLength": 1}), **kwargs.pop("metadata", {})}
        super().__init__(allow_none=kwargs.pop("allow_none", True), metadata=metadata, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        return super().deserialize("" if value is None and self.allow_none else value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        if not self.blank and not text:
            raise self.make_error("required")
        if len(text) > self.max_len:
            raise _error(too_long(self.max_len))
        return text


class Str(fields.String):
    """Text passed on as sent once it is text: the service checks its content and words the message."""

    default_error_messages = {"required": REQUIRED, "null": NOT_TEXT, "invalid": NOT_TEXT}

    def __init__(self, message: Any = None, **kwargs: Any) -> None:
        if message is not None:
            kwargs["error_messages"] = {"null": message, "invalid": message, **kwargs.get("error_messages", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


def moment(**kwargs: Any) -> Str:
    """An ISO 8601 time as text (without an offset it is Japan time); the service parses it."""
    return Str(BAD_MOMENT, metadata={"format": "date-time", **kwargs.pop("metadata", {})}, **kwargs)


def day(message: Any, **kwargs: Any) -> Str:
    """A calendar date as text, `YYYY-MM-DD`; the service parses it (`message` when it is not text)."""
    return Str(message, metadata={"format": "date", **kwargs.pop("metadata", {})}, **kwargs)


def url(message: Any = None, *, max_len: int = 500, **kwargs: Any) -> Str:
    """An address as text; the service checks it is an http(s) URL."""
    return Str(message, metadata={"format": "uri", "maxLength": max_len, **kwargs.pop("metadata", {})}, **kwargs)


class Id(fields.Integer):
    """A database id in a JSON body: a JSON integer from 0 to MAX_ID (not a bool, a float or a string)."""

    default_error_messages = {"required": REQUIRED, "null": BAD_ID, "invalid": BAD_ID}

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"minimum": 0, "maximum": MAX_ID, **kwargs.pop("metadata", {})}
        super().__init__(strict=True, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
            raise self.make_error("invalid")
        return value


class Whole(fields.Integer):
    """A JSON integer from `low` to `high` (not a bool, a float or a string), with the service's message."""

    def __init__(self, low: int, high: int, message: Any, **kwargs: Any) -> None:
        self.low, self.high = low, high
        kwargs["error_messages"] = {"null": message, "invalid": message}
        metadata = {"minimum": low, "maximum": high, **kwargs.pop("metadata", {})}
        super().__init__(strict=True, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise self.make_error("invalid")
        return value


class FormId(fields.Integer):
    """A database id in a form field: digits, or empty for none."""

    default_error_messages = {"invalid": BAD_ID}

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"minimum": 0, "maximum": MAX_ID, **kwargs.pop("metadata", {})}
        super().__init__(allow_none=True, metadata=metadata, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        return super().deserialize(None if value == "" else value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
            raise self.make_error("invalid")
        return int(value)


class Flag(fields.Boolean):
    """A JSON true or false, nothing else."""

    default_error_messages = {"required": NOT_BOOLEAN, "null": NOT_BOOLEAN, "invalid": NOT_BOOLEAN}

    def __init__(self, *, message: Any = None, **kwargs: Any) -> None:
        super().__init__(**_one_message(kwargs, message))

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Choice(fields.String):
    """One of a fixed set of strings. `blank=True` lets "" through (the service reads it as "not given")."""

    default_error_messages = {"required": REQUIRED, "null": BAD_VALUE, "invalid": BAD_VALUE}

    def __init__(self, choices: Iterable[Any], *, blank: bool = False, message: Any = None, **kwargs: Any) -> None:
        _one_message(kwargs, message)
        self.choices = tuple(dict.fromkeys(getattr(c, "value", c) for c in choices))
        self.blank = blank
        nullable = kwargs.get("allow_none", False)
        listed = [*self.choices, *([""] if blank else []), *([None] if nullable else [])]
        super().__init__(metadata={"enum": listed, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or (value not in self.choices and not (self.blank and value == "")):
            raise self.make_error("invalid")
        return value


def labelled_choice(choices: Iterable[Any], label: Any, **kwargs: Any) -> Choice:
    """A Choice whose message names the field, as the case forms do (「種別の値が正しくありません。」)."""
    message = _l("%(label)sの値が正しくありません。", label=label)
    return Choice(choices, error_messages={"null": message, "invalid": message}, **kwargs)


class TextList(fields.List):
    """A list of strings (each checked further by the service, e.g. as a URL)."""

    default_error_messages = {"invalid": BAD_VALUE, "null": BAD_VALUE}

    def __init__(self, item: fields.Field | None = None, **kwargs: Any) -> None:
        super().__init__(item or fields.String(), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise _error(_l("%(n)d 行目: %(error)s", n=index + 1, error=NOT_TEXT))
        return super()._deserialize(value, attr, data, **kwargs)


# --- query strings: every value is text, and an empty one means "not given" ---

class QueryChoice(Choice):
    """A query filter, one member of an enum by its value; empty means no filter."""

    def __init__(self, enum_class: type[enum.Enum], **kwargs: Any) -> None:
        self.enum_class = enum_class
        super().__init__(enum_class, blank=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        return self.enum_class(text) if text else None


class QueryText(fields.String):
    """Free text in a query, stripped and cut to `max_len` characters; empty means not given."""

    def __init__(self, max_len: int | None = None, **kwargs: Any) -> None:
        self.max_len = max_len
        metadata = {**({"maxLength": max_len} if max_len else {}), **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:  # None: not given
        text = str(value).strip()[: self.max_len] if self.max_len else str(value).strip()
        return text or None


class QueryFlag(fields.Boolean):
    """A switch in a query: `1` or `true` turns it on; anything else leaves it off."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        return value in ("1", "true")


class QueryNumber(fields.Integer):
    """A whole number in a query, within [low, high]; empty means the default."""

    def __init__(self, low: int, high: int | None = None, **kwargs: Any) -> None:
        self.low, self.high = low, high
        metadata = {"minimum": low, **({"maximum": high} if high is not None else {})}
        super().__init__(metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:  # None: the default
        if value in (None, ""):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise _error(_l("整数で指定してください。")) from None
        high = self.high if self.high is not None else self.upper()
        if not self.low <= number <= high:
            raise _error(_l("%(low)d から %(high)d までで指定してください。", low=self.low, high=high))
        return number

    def upper(self) -> int:
        """The highest value when it is not fixed (see PageQuery.per_page)."""
        raise NotImplementedError


class PerPage(QueryNumber):
    """Rows per page: 1 to MAX_PER_PAGE (configuration, 100 by default)."""

    def upper(self) -> int:
        return int(current_app.config["MAX_PER_PAGE"])


class PageQuery(Input):
    """`page` and `per_page`, as every list takes them."""

    page = QueryNumber(1, 1_000_000, metadata={"description": "Page number, from 1."})
    per_page = PerPage(1, metadata={"description": "Rows per page (PER_PAGE by default, at most MAX_PER_PAGE: "
                                                   "25 and 100 unless configured)."})

    @ma.post_load
    def defaults(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """Fill in the first page and the configured page size."""
        data["page"] = data.get("page") or 1
        data["per_page"] = data.get("per_page") or int(current_app.config["PER_PAGE"])
        return data


# --- responses ---

class Extended:
    """An object seen with more attributes than its own, e.g. what its page shows besides its fields."""

    def __init__(self, base: Any, **extra: Any) -> None:
        self._base = base
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


class Timestamp(fields.DateTime):
    """A stored time as ISO 8601 in UTC with its offset (`2026-11-23T01:30:00+00:00`)."""

    def _serialize(self, value: dt.datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return isoformat(value)


class Day(fields.Date):
    """A calendar date, `YYYY-MM-DD`."""


def enum_field(enum_class: Any, **kwargs: Any) -> fields.Field:
    """An enum member shown by its value, with every value listed in the document (and null when nullable)."""
    values: list[Any] = [member.value for member in enum_class]
    if kwargs.get("allow_none"):
        values.append(None)
    return fields.Enum(enum_class, by_value=True, metadata={"type": "string", "enum": values}, **kwargs)


def page_of(item: type[ma.Schema], **extra: fields.Field) -> type[ma.Schema]:
    """A list response `{"items", "total", "page", "per_page"}` of `item` (plus `extra` keys)."""
    attributes: dict[str, Any] = {
        "items": fields.List(fields.Nested(item), required=True),
        "total": fields.Integer(required=True),
        "page": fields.Integer(required=True),
        "per_page": fields.Integer(required=True),
        **extra,
    }
    return type(f"{item.__name__.removesuffix('Out')}PageOut", (Output,), attributes)


def list_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A response `{"items": [...]}` of `item`."""
    return type(name, (Output,), {"items": fields.List(fields.Nested(item), required=True)})
