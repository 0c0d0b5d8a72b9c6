"""JSON API v1: personal-token authentication and the blueprint every API module registers on."""
from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, g, request
from flask_babel import lazy_gettext as _l

from incident.auth.models import User
from incident.database import MAX_ID
from incident.errors import DomainError, ValidationFailed

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Route converter for ids in URLs: an out-of-range id is simply a 404.
ID = f"int(max={MAX_ID})"


class Unauthorized(DomainError):
    """No valid token."""

    status = 401
    code = "unauthorized"


class BadRequest(DomainError):
    """The body is not JSON, or not a JSON object."""

    status = 400
    code = "bad_request"


@bp.before_request
def authenticate() -> None:
    """Every API call needs `Authorization: Bearer <token>`, except the public list of official
    accounts (`GET /api/v1/public/accounts`, see incident/api/accounts.py), matched by endpoint name."""
    from incident.api.accounts import PUBLIC_ENDPOINTS
    from incident.auth.service import user_for_token
    from incident.extensions import db

    if request.endpoint in PUBLIC_ENDPOINTS and request.method in ("GET", "HEAD", "OPTIONS"):
        return

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_l("API トークンが必要です（Authorization: Bearer <token>）。"))
    user = user_for_token(token.strip())
    if user is None:
        raise Unauthorized(_l("API トークンが無効です。"))
    # Ends the read snapshot taken to find the token (so that it is not older than the token-use
    # write of a read request) and, for a write request, records the token use.
    db.session.commit()
    g.api_user = user


def api_user() -> User:
    """The user the current API request acts for."""
    return g.api_user


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def json_body() -> dict[str, Any]:
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


#: How deeply a request body may nest: no API field is more than a list of objects deep.
MAX_JSON_DEPTH = 32


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


def require_text(data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 1000) -> str:
    """A string field of a JSON body."""
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(fields={name: _l("文字列で指定してください。")})
    value = value.strip()
    if required and not value:
        raise ValidationFailed(fields={name: _l("入力してください。")})
    if len(value) > max_len:
        raise ValidationFailed(fields={name: _l("%(max)d 文字以内で入力してください。", max=max_len)})
    return value


def require_id(data: dict[str, Any], name: str) -> int | None:
    """An optional id field of a JSON body: null or a JSON integer in range (not a bool or a string)."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValidationFailed(fields={name: _l("番号が正しくありません。")})
    return value


from incident.api import accounts, cases, disclosure, drafts, escalations, evidence, fakes, general, steps  # noqa: E402,F401  (routes register on bp)
