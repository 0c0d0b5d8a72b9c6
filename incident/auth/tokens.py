"""Personal API tokens: creating them with an expiry and a scope, checking them, revoking them (their owner,
or the PR office for anyone's), and the PR office's list of every user's tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from incident import policy
from incident.audit import service as audit
from incident.auth.models import ApiToken, User
from incident.database import may_write, write_briefly
from incident.dates import utcnow
from incident.errors import DomainError, NotFound, ValidationFailed
from incident.extensions import db
from incident.validation import parse_id

TOKEN_PREFIX = "inc_"
#: The longest token name (the column's size).
TOKEN_NAME_MAX = 100
#: The expiries offered on 設定, in days (those above API_TOKEN_MAX_DAYS are left out).
EXPIRY_CHOICES = (30, 90, 180, 365)
#: How precisely "last used" is kept: at most one write per token in this time.
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)
#: How long a read request waits to record a token's use before it gives up (until the next use).
TOKEN_USE_WAIT_MS = 250


class TokenRefused(DomainError):
    """The token is unknown, revoked, expired, or its user inactive: the API answers 401."""

    status = 401
    code = "unauthorized"


def default_days() -> int:
    """How long a new token lasts unless another expiry is chosen (API_TOKEN_DAYS)."""
    return int(current_app.config["API_TOKEN_DAYS"])


def max_days() -> int:
    """The longest expiry a token may be given (API_TOKEN_MAX_DAYS)."""
    return int(current_app.config["API_TOKEN_MAX_DAYS"])


def expiry_choices() -> list[int]:
    """The expiries offered on 設定: the usual ones within the maximum, and the default."""
    return sorted({days for days in EXPIRY_CHOICES if days <= max_days()} | {default_days()})


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _days(raw: Any) -> int:
    """The expiry asked for, in whole days from 1 to max_days() (None or "": the default)."""
    if raw is None or raw == "":
        return default_days()
    message = _l("有効期限は 1 日から %(max)d 日までの日数で選んでください。", max=max_days())
    try:
        days = int(raw) if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw).strip())
    except ValueError:
        raise ValidationFailed(message, fields={"days": message}) from None
    if not 1 <= days <= max_days():
        raise ValidationFailed(message, fields={"days": message})
    return days


def create_token(actor: User, name: str, days: Any = None, *, read_only: bool = False) -> tuple[ApiToken, str]:
    """Create a personal API token lasting `days` (default API_TOKEN_DAYS), read-only if asked; the plain
    token is returned once and never stored."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > TOKEN_NAME_MAX or "\x00" in name:
        message = _l("トークンの名前を 100 文字以内で入力してください。")
        raise ValidationFailed(message, fields={"name": message})
    lasting = _days(days)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(user_id=actor.id, name=name, token_hash=_hash_token(plain), prefix=plain[:10],
                     created_at=now, expires_at=now + dt.timedelta(days=lasting), read_only=bool(read_only))
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "token.create", "api_token", token.id, changes={
        "name": (None, name), "expires_at": (None, token.expires_at), "read_only": (None, token.read_only)})
    return token, plain


def _revoke(actor: User | None, token: ApiToken, now: dt.datetime) -> None:
    token.revoked_at = now
    token.revoked_by_id = actor.id if actor is not None else None
    audit.record(actor, "token.revoke", "api_token", token.id, changes={
        "revoked": (False, True), "owner": (None, token.user.email),
        "revoked_by": (None, actor.email if actor is not None else "system")})


def revoke_token(actor: User | None, token_id: Any) -> ApiToken:
    """Revoke a token: its owner may, the PR office may revoke anyone's (the CLI, `actor` None, acts as the
    system); to anyone else the token does not exist (NotFound). Revoking twice changes nothing."""
    try:
        wanted = parse_id(token_id)
    except ValueError:
        wanted = None
    token = db.session.get(ApiToken, wanted) if wanted else None
    if token is None or (actor is not None and not policy.can_revoke_token(actor, token.user_id)):
        raise NotFound()
    if token.revoked_at is None:
        _revoke(actor, token, utcnow())
        db.session.flush()
    return token


def revoke_for_pr_office(actor: User, token_id: Any) -> ApiToken:
    """The PR office revokes any user's token from /admin/tokens (NotFound for everyone else)."""
    if not policy.can_manage_users(actor):
        raise NotFound()
    return revoke_token(actor, token_id)


def revoke_all_of(actor: User | None, user: User) -> int:
    """Revoke every unrevoked token of `user` (deactivation), each audited; returns how many."""
    now = utcnow()
    tokens = list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                            ApiToken.revoked_at.is_(None))))
    for token in tokens:
        _revoke(actor, token, now)
    db.session.flush()
    return len(tokens)


def check_token(plain: str) -> ApiToken:
    """The active token with this text (unrevoked, unexpired, of an active user), noting when it was last
    used; TokenRefused otherwise (an expired token is told so, to be replaced)."""
    token = None
    if isinstance(plain, str) and plain.startswith(TOKEN_PREFIX):
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(plain)))
    if token is None or token.revoked_at is not None or not token.user.active:
        raise TokenRefused(_l("API トークンが無効です。"))
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused(_l("API トークンの有効期限が切れています。設定で新しいトークンを作成してください。"))
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION:
        if may_write():
            token.last_used_at = now  # the caller's write transaction holds the lock already
        else:
            _note_token_use(token, now)
    return token


def user_for_token(plain: str) -> User | None:
    """The active user owning this active token, or None; notes when it was last used."""
    try:
        return check_token(plain).user
    except TokenRefused:
        return None


def _note_token_use(token: ApiToken, now: dt.datetime) -> None:
    """Record when a token was used, in its own short transaction that can never fail the request."""
    if write_briefly(update(ApiToken)
                     .where(ApiToken.id == token.id)
                     .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOKEN_USE_RESOLUTION))
                     .values(last_used_at=now), TOKEN_USE_WAIT_MS):
        set_committed_value(token, "last_used_at", now)  # the session's copy, without making it a change


def tokens_of(actor: User) -> list[ApiToken]:
    """The actor's tokens, newest first."""
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.id.desc())
    ))


def _active_clause(now: dt.datetime) -> Any:
    return (ApiToken.revoked_at.is_(None)) & (or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))


def tokens_for_admin(actor: User, page: int, per_page: int, email: str | None = None) -> Any:
    """Every user's tokens for the PR office, active first then newest, optionally of the users whose e-mail
    address contains `email` (case-insensitive); a page of them. NotFound for everyone else."""
    if not policy.can_manage_users(actor):
        raise NotFound()
    now = utcnow()
    query = (select(ApiToken).join(User, ApiToken.user_id == User.id)
             .order_by(case((_active_clause(now), 0), else_=1), ApiToken.id.desc()))
    if email:
        query = query.where(func.lower(User.email).contains(email.strip().lower(), autoescape=True))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def all_tokens(email: str | None = None) -> list[ApiToken]:
    """Every token (of one user when `email` is given), newest first: for the CLI."""
    query = select(ApiToken).join(User, ApiToken.user_id == User.id).order_by(ApiToken.id.desc())
    if email:
        query = query.where(func.lower(User.email) == email.strip().lower())
    return list(db.session.scalars(query))


def state_of(token: ApiToken, now: dt.datetime | None = None) -> str:
    """"active", "expired" or "revoked" (a revoked token is revoked whatever its expiry)."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def revoked_by_office(token: ApiToken) -> bool:
    """Whether someone other than the owner (the PR office) revoked the token."""
    return token.revoked_at is not None and token.revoked_by_id is not None and token.revoked_by_id != token.user_id
