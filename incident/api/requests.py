"""Reading API v1 requests: strict JSON, schemas through webargs, and the blueprint that declares them.

Validation failures become the app's own errors (`{"error": {"code", "message", "fields"}}`, 400 or 422),
never webargs' or flask-smorest's shapes, so the handlers in incident/setup.py answer them as before."""
from __future__ import annotations

import copy
import functools
import http
import json
import math
from collections.abc import Callable
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import request
from flask_babel import lazy_gettext as _l
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from incident.errors import DomainError, ValidationFailed
from incident.extensions import db

#: How deeply a request body may nest: no API field is more than a list of objects deep.
MAX_JSON_DEPTH = 32

#: What a view declared with `Blueprint.body` receives: call it to read and check the body.
Body = Callable[[], dict[str, Any]]


class Unauthorized(DomainError):
    """No valid token."""

    status = 401
    code = "unauthorized"


class BadRequest(DomainError):
    """The body is not JSON, or not a JSON object."""

    status = 400
    code = "bad_request"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def read_json() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong."""
    if not request.is_json:
        raise BadRequest(_l("Content-Type: application/json の JSON オブジェクトを送ってください。"))
    try:
        # Strict JSON: NaN / Infinity (and numbers that overflow to them) are refused, and a deeply
        # nested document is a 400 rather than a RecursionError.
        data = json.loads(request.get_data(cache=True), parse_constant=_refuse_constant,
                          parse_float=_finite_float)
    except (ValueError, RecursionError):
        data = None
    if data is None:
        raise BadRequest(_l("JSON として読めません。"))
    if not isinstance(data, dict):
        raise BadRequest(_l("JSON オブジェクトを送ってください。"))
    _check_values(data)
    return data


def _check_values(data: dict[str, Any]) -> None:
    """Refuse deep nesting (400), NUL (400) and lone surrogates (422, naming the top-level field).

    Iterative, so that no body can exhaust Python's recursion limit here or in any code after it."""
    stack: list[tuple[Any, str, int]] = []
    for key, value in data.items():
        field = key.encode("utf-8", "backslashreplace").decode("utf-8")  # printable even if it is the culprit
        stack += [(value, field, 1), (key, field, 1)]
    while stack:
        value, field, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(_l("JSON の入れ子が深すぎます。"))
        if isinstance(value, str):
            if "\x00" in value:
                # PostgreSQL cannot store NUL in text; no legitimate input carries one.
                raise BadRequest(_l("使用できない制御文字（NUL）が含まれています。"))
            if _has_lone_surrogate(value):
                raise ValidationFailed(fields={field: _l("文字として読めない値（単独のサロゲート）が含まれています。")})
        elif isinstance(value, dict):
            stack += [(v, field, depth + 1) for v in value.values()]
            stack += [(k, field, depth + 1) for k in value]
        elif isinstance(value, list):
            stack += [(v, field, depth + 1) for v in value]


def _has_lone_surrogate(text: str) -> bool:
    """JSON's \\ud800 escapes decode to half a character, which no database can store as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_message(messages: Any) -> Any:
    """One message for a field from marshmallow's nesting (lists, and dicts by list index or key)."""
    while isinstance(messages, (list, dict)) and messages:
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return messages


class Parser(FlaskParser):
    """webargs' Flask parser reading JSON strictly and failing with ValidationFailed."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        return read_json()

    def load_multipart(self, req: Any, schema: ma.Schema) -> Any:
        """The fields and files of a multipart/form-data body, as one mapping."""
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)

    def handle_error(self, error: ma.ValidationError, req: Any, schema: ma.Schema, *,
                     error_status_code: int | None, error_headers: Any) -> Any:
        per_location = error.messages if isinstance(error.messages, dict) else {}
        fields: dict[str, Any] = {}
        for messages in per_location.values():
            for name, text in (messages.items() if isinstance(messages, dict) else []):
                fields.setdefault(str(name), _first_message(text))
        raise ValidationFailed(fields=fields)


def as_stored() -> None:
    """Send the request's writes and forget what the session remembers, so that an answer read next is
    built from the rows as the commit will store them (as when handlers committed before answering),
    not from collections loaded before a service added rows to them."""
    db.session.flush()
    db.session.expire_all()


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint with this API's parser and a request body read when the view asks."""

    ARGUMENTS_PARSER = Parser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }

    def body(self, schema: type[ma.Schema] | ma.Schema, *, location: str = "json") -> Callable[[Any], Any]:
        """Declare the request body; the view gets `body`, a function that reads and checks it.

        The view calls it after loading the objects its path names and checking the caller may act on
        them, so an id that does not exist answers 404, and a forbidden call 403, whatever the body."""
        instance = schema() if isinstance(schema, type) else schema
        parameter = {"in": location, "required": True, "schema": instance}
        status = http.HTTPStatus.UNPROCESSABLE_ENTITY

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                read = functools.partial(self.ARGUMENTS_PARSER.parse, instance, location=location)
                return view(*args, body=read, **kwargs)

            # The documentation flask-smorest's `arguments` would record (it reads `_apidoc`).
            wrapper._apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))  # type: ignore[attr-defined]
            docs = wrapper._apidoc.setdefault("arguments", {})  # type: ignore[attr-defined]
            docs.setdefault("parameters", []).append(parameter)
            docs.setdefault("responses", {})[int(status)] = status.name
            return wrapper

        return decorator
