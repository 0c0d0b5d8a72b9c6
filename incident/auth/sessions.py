"""Signed-in sessions that really end: each login is a UserSession row named by a random token (only its
SHA-256 is stored). Flask-Login's user id is "<user id>:<token>", so the session cookie and the "remember
me" cookie both name the row; once the row is ended (logout, idle or absolute timeout, password change,
deactivation, "sign out everywhere") a copied cookie is refused."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from incident.audit import service as audit
from incident.auth.models import User, UserSession
from incident.database import in_own_transaction, may_write, write_briefly
from incident.dates import utcnow
from incident.errors import NotFound
from incident.extensions import db

logger = logging.getLogger(__name__)

#: The language chosen on the login page before signing in (a Flask session key): the pages before sign-in
#: (the MFA code, a reset link) speak it, and signing in makes it the user's.
LOGIN_LOCALE_KEY = "login_locale"

#: Why a session ended (UserSession.end_reason).
LOGOUT = "logout"
IDLE = "idle"
EXPIRED = "expired"
PASSWORD_CHANGED = "password_changed"
DEACTIVATED = "deactivated"
#: The PR office issued a temporary password.
PASSWORD_RESET = "password_reset"
#: Ended from another device: "sign out the other devices", "sign out everywhere", or one row's button.
ENDED_ELSEWHERE = "ended_elsewhere"

#: How precisely "last seen" is kept: at most one write per session in this time.
SEEN_RESOLUTION = dt.timedelta(minutes=1)
#: How long a read request waits to record "last seen" before it gives up (until the next request).
SEEN_WAIT_MS = 250

#: Marks "the actor is the session's own user" for end_sessions.
_SELF = object()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_of(login_id: str | None) -> str:
    """The session token inside a Flask-Login user id "<user id>:<token>" ("" when there is none)."""
    if not isinstance(login_id, str):
        return ""
    _user, sep, token = login_id.partition(":")
    return token if sep else ""


def start_session(user: User, user_agent: str | None, address: str | None) -> str:
    """Open a session for `user` (at login) and return the Flask-Login user id that names it."""
    token = secrets.token_urlsafe(32)
    row = UserSession(user_id=user.id, token_hash=_hash(token), user_agent=(user_agent or "")[:300],
                      address=(address or "")[:64])
    db.session.add(row)
    db.session.flush()
    return f"{user.id}:{token}"


def idle_limit() -> dt.timedelta:
    return dt.timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))


def age_limit() -> dt.timedelta:
    return dt.timedelta(hours=int(current_app.config["SESSION_MAX_HOURS"]))


def _expiry(row: UserSession, now: dt.datetime) -> str:
    """Why this open session is over by now ("" while it is still good)."""
    if now - row.created_at > age_limit():
        return EXPIRED
    if now - row.last_seen_at > idle_limit():
        return IDLE
    return ""


def _end(actor: User | None, row: UserSession, reason: str, now: dt.datetime | None = None) -> None:
    row.ended_at = now or utcnow()
    row.end_reason = reason
    db.session.flush()
    audit.record(actor, "session.end", "user_session", row.id,
                 changes={"ended": (None, reason), "user": (None, row.user_id)})


def resolve(login_id: str) -> tuple[User | None, str]:
    """The user of the session a Flask-Login user id names, or (None, why it is over: "" if unknown).

    A session past its idle or absolute limit, or of a user no longer active, is ended here (audited);
    "last seen" is noted at most once a minute, never through a read request's transaction."""
    user_part, _sep, token = login_id.partition(":") if isinstance(login_id, str) else ("", "", "")
    if not token or not user_part.isdigit():
        return None, ""
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None or str(row.user_id) != user_part:
        return None, ""
    if row.ended_at is not None:
        return None, row.end_reason
    now = utcnow()
    reason = DEACTIVATED if not row.user.active else _expiry(row, now)
    if reason:
        _end_now(row, reason, now)
        return None, reason
    if now - row.last_seen_at > SEEN_RESOLUTION:
        if may_write():
            row.last_seen_at = now  # the request's write transaction holds the lock already
        else:
            _note_seen(row, now)
    return row.user, ""


def _end_now(row: UserSession, reason: str, now: dt.datetime) -> None:
    """End a session found over during a request: in the request's transaction when it writes anyway, else
    in a short transaction of its own (a read request never writes through its own)."""
    if may_write():
        _end(None, row, reason, now)
        return
    row_id = row.id

    def work() -> None:
        fresh = db.session.get(UserSession, row_id)
        if fresh is not None and fresh.ended_at is None:
            _end(None, fresh, reason, now)

    try:
        in_own_transaction(work)
    except SQLAlchemyError as exc:  # the request goes on signed out; the next request ends it again
        logger.warning("session %s: end not recorded (%s)", row_id, type(exc).__name__)


def _note_seen(row: UserSession, now: dt.datetime) -> None:
    """Record "last seen" in a short transaction of its own that can never fail the request."""
    if write_briefly(update(UserSession)
                     .where(UserSession.id == row.id, UserSession.ended_at.is_(None),
                            UserSession.last_seen_at < now - SEEN_RESOLUTION)
                     .values(last_seen_at=now), SEEN_WAIT_MS):
        set_committed_value(row, "last_seen_at", now)  # the session's copy, without making it a change


def end_current(user: User, login_id: str | None, reason: str = LOGOUT) -> None:
    """End the session this login id names (logout); nothing when it is unknown or over already."""
    token = _token_of(login_id)
    if not token:
        return
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is not None and row.user_id == user.id and row.ended_at is None:
        _end(user, row, reason)


def end_sessions(user: User, reason: str, except_token: str | None = None, *,
                 actor: User | None | object = _SELF) -> int:
    """End every open session of `user` but the one `except_token` names (a token or a Flask-Login id):
    for a password change, deactivation, "sign out everywhere". Each end is audited, by `actor` (default:
    the user; None: the system). Returns how many were ended."""
    kept = (_token_of(except_token) or except_token) if except_token else ""
    query = select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if kept:
        query = query.where(UserSession.token_hash != _hash(kept))
    rows = list(db.session.scalars(query.order_by(UserSession.id)))
    who = user if actor is _SELF else actor
    now = utcnow()
    for row in rows:
        _end(who if isinstance(who, User) else None, row, reason, now)
    return len(rows)


def end_session_of(actor: User, session_id: int, login_id: str | None) -> bool:
    """End one of the actor's own open sessions (another's, or an ended one, is NotFound). True when it was
    the session making this request (the caller then signs out here too)."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != actor.id or row.ended_at is not None:
        raise NotFound()
    current = row.token_hash == _hash(_token_of(login_id) or "-")
    _end(actor, row, LOGOUT if current else ENDED_ELSEWHERE)
    return current


@dataclass(frozen=True)
class SessionView:
    """One open session as the settings page lists it."""

    id: int
    device: str
    address: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    current: bool


def active_sessions(user: User, login_id: str | None) -> list[SessionView]:
    """The user's open sessions still within their limits, most recently seen first; `current` marks the
    one `login_id` names."""
    now = utcnow()
    current_hash = _hash(_token_of(login_id) or "-")
    rows = db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None),
        UserSession.created_at > now - age_limit(), UserSession.last_seen_at > now - idle_limit(),
    ).order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return [SessionView(row.id, describe_agent(row.user_agent), row.address, row.created_at, row.last_seen_at,
                        row.token_hash == current_hash) for row in rows]


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
             ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_agent(user_agent: str) -> str:
    """A short name of the browser and system from a User-Agent: "Chrome / Windows"."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser or system:
        return " / ".join(part for part in (browser, system) if part)
    shortened = re.sub(r"\s+", " ", user_agent).strip()
    return shortened[:40] + ("…" if len(shortened) > 40 else "") if shortened else str(_l("不明な端末"))


def sign_out_message(reason: str | None) -> str | None:
    """What the login page tells a user whose session ended for `reason` (None: nothing to tell)."""
    if reason == IDLE:
        return str(_l("一定時間操作がなかったため、ログアウトしました。"))
    if reason == EXPIRED:
        return str(_l("ログインから %(h)d 時間が過ぎたため、ログアウトしました。",
                      h=int(current_app.config["SESSION_MAX_HOURS"])))
    if reason == ENDED_ELSEWHERE:
        return str(_l("ほかの端末でログアウトしたため、この端末もログアウトしました。"))
    if reason in (PASSWORD_CHANGED, PASSWORD_RESET):
        return str(_l("パスワードが変更されたため、ログアウトしました。もう一度ログインしてください。"))
    if reason == DEACTIVATED:
        return str(_l("アカウントが無効になったため、ログアウトしました。"))
    return None
