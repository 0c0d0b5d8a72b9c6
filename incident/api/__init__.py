"""JSON API v1: personal-token authentication and the blueprint every API module registers on."""
from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, g, request
from flask_babel import lazy_gettext as _l

from incident.auth.models import User
from incident.errors import DomainError, ValidationFailed

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: The largest id a database column holds (signed 64-bit); larger numbers are refused, not sent to the
#: database (SQLite raises OverflowError and PostgreSQL a DataError on them, which would be a 500).
MAX_ID = 2**63 - 1
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
    db.session.commit()  # last_used_at, if it changed
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
    if _has_nul(data):
        # PostgreSQL cannot store NUL in text; no legitimate input carries one.
        raise BadRequest(_l("使用できない制御文字（NUL）が含まれています。"))
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def require_text(data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 1000) -> str:
    """A string field of a JSON body."""
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(_l("入力内容を確認してください。"), fields={name: _l("文字列で指定してください。")})
    value = value.strip()
    if required and not value:
        raise ValidationFailed(_l("入力内容を確認してください。"), fields={name: _l("入力してください。")})
    if len(value) > max_len:
        raise ValidationFailed(_l("入力内容を確認してください。"),
                               fields={name: _l("%(max)d 文字以内で入力してください。", max=max_len)})
    return value


def require_id(data: dict[str, Any], name: str) -> int | None:
    """An optional id field of a JSON body: null or a JSON integer in range (not a bool or a string)."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValidationFailed(_l("入力内容を確認してください。"), fields={name: _l("番号が正しくありません。")})
    return value


from incident.api import accounts, cases, disclosure, drafts, escalations, evidence, fakes, general, steps  # noqa: E402,F401  (routes register on bp)
