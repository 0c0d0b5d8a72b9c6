"""Slowing and locking password guessing. Every checked login attempt is a LoginAttempt row, counted per
account (the address typed) and per client address in the database, so the limits hold across workers.

The counts start after the last success (and, for an account, after its last lock ended); failures are
forgotten once LOGIN_WINDOW_MINUTES pass without another. After LOGIN_DELAY_AFTER failures a growing delay (1, 2, 4 … seconds, at
most LOGIN_DELAY_MAX_SECONDS) must pass after the last failure before the next attempt is checked."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.orm import InstrumentedAttribute

from incident.auth.models import LoginAttempt, User
from incident.extensions import db

#: The longest client address kept (the column's size).
ADDRESS_MAX = 64
EMAIL_MAX = 254


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where an attempt stands: failures counted for the account and the address, and the seconds still
    to wait before a password may be checked (0: it may)."""

    email_failures: int
    address_failures: int
    wait_seconds: int


def email_key(email: str) -> str:
    """The typed address as it is counted: trimmed, lower-cased, cut to the column's size."""
    return email.strip().lower()[:EMAIL_MAX]


def address_key(address: str | None) -> str:
    return (address or "")[:ADDRESS_MAX]


def serialise(email: str, address: str) -> None:
    """Make this transaction the only one counting and recording for this account and address until it
    ends. SQLite's single writer does this already (the caller writes in in_own_transaction, which runs the
    work again when another writer committed since it read); PostgreSQL takes advisory locks."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({_lock_key("email:" + email), _lock_key("address:" + address)})
    for key in keys:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def _failures(column: InstrumentedAttribute[str], value: str, now: dt.datetime,
              floor: dt.datetime | None) -> tuple[int, dt.datetime | None]:
    """(failures, time of the last one) for one key: those since its last success (and `floor`) that follow
    one another with no gap longer than the window, the last within the window of now. Only as many as
    any decision needs are read (the delay is at its longest, the lock reached, well before)."""
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.id)).where(column == value, LoginAttempt.succeeded.is_(True)))
    query = select(LoginAttempt.created_at).where(column == value, LoginAttempt.succeeded.is_(False))
    if last_success is not None:
        query = query.where(LoginAttempt.id > last_success)
    if floor is not None:
        query = query.where(LoginAttempt.created_at > floor)
    needed = max(lock_after(), int(current_app.config["LOGIN_DELAY_AFTER"]) + 32)
    times = db.session.scalars(query.order_by(LoginAttempt.id.desc()).limit(needed)).all()
    window = dt.timedelta(minutes=int(current_app.config["LOGIN_WINDOW_MINUTES"]))
    count, later = 0, now
    for at in times:
        if later - at > window:
            break
        count, later = count + 1, at
    return count, (times[0] if count else None)


def lock_floor(user: User | None, now: dt.datetime) -> dt.datetime | None:
    """An account's failures count from the end of its last lock (expired, or unlocked by the PR office)."""
    if user is None or user.locked_until is None or user.locked_until > now:
        return None
    return user.locked_until


def is_locked(user: User | None, now: dt.datetime) -> bool:
    return user is not None and user.locked_until is not None and user.locked_until > now


def standing(email: str, address: str, now: dt.datetime, user: User | None) -> Standing:
    """Count the failures of the account and of the address, and the delay they impose now."""
    email_count, email_last = _failures(LoginAttempt.email, email, now, lock_floor(user, now))
    address_count: int = 0
    address_last: dt.datetime | None = None
    if address:
        address_count, address_last = _failures(LoginAttempt.address, address, now, None)
    wait = max(_wait(email_count, email_last, now), _wait(address_count, address_last, now))
    return Standing(email_count, address_count, wait)


def delay_for(failures: int) -> int:
    """Seconds to wait after the last of `failures` failures: 0 below LOGIN_DELAY_AFTER, then 1, 2, 4 …
    up to LOGIN_DELAY_MAX_SECONDS."""
    after = int(current_app.config["LOGIN_DELAY_AFTER"])
    cap = int(current_app.config["LOGIN_DELAY_MAX_SECONDS"])
    if failures < after:
        return 0
    return min(2 ** min(failures - after, 30), cap)


def _wait(failures: int, last: dt.datetime | None, now: dt.datetime) -> int:
    delay = delay_for(failures)
    if not delay or last is None:
        return 0
    remaining = (last + dt.timedelta(seconds=delay) - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


def note_attempt(email: str, address: str, succeeded: bool, now: dt.datetime) -> LoginAttempt:
    attempt = LoginAttempt(email=email, address=address, succeeded=succeeded, created_at=now)
    db.session.add(attempt)
    db.session.flush()
    return attempt


def lock_after() -> int:
    return int(current_app.config["LOGIN_LOCK_AFTER"])


def lock_until(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(minutes=int(current_app.config["LOGIN_LOCK_MINUTES"]))


def locked_users(now: dt.datetime) -> list[User]:
    """Accounts locked now, the longest-locked first."""
    return list(db.session.scalars(select(User).where(User.locked_until > now).order_by(User.locked_until, User.id)))


def recent_failures(now: dt.datetime, limit: int = 50) -> list[LoginAttempt]:
    """Failed attempts within the window, newest first."""
    since = now - dt.timedelta(minutes=int(current_app.config["LOGIN_WINDOW_MINUTES"]))
    return list(db.session.scalars(
        select(LoginAttempt).where(LoginAttempt.succeeded.is_(False), LoginAttempt.created_at > since)
        .order_by(LoginAttempt.id.desc()).limit(limit)))


def history(page: int, per_page: int, email: str | None = None) -> Any:
    """Every recorded attempt, newest first, optionally for one typed address (case-insensitive)."""
    query = select(LoginAttempt).order_by(LoginAttempt.id.desc())
    if email:
        query = query.where(LoginAttempt.email == email_key(email))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)
