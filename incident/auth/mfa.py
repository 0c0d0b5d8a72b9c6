"""Multi-factor authentication (TOTP, RFC 6238, through pyotp): enrolment with a QR code drawn by segno,
the code at login, ten one-time recovery codes, turning it off, and the PR office's reset.

Every event is audited (auth.mfa_enabled, auth.mfa_disabled, auth.mfa_ok, auth.mfa_failed,
auth.mfa_recovery_used, auth.mfa_codes_regenerated, user.mfa_reset), never with a code or the secret.
A wrong code counts as a failed login for the account (incident.auth.throttle): guessing codes locks the
account as guessing passwords does. Since the password step's success would restart the throttle's count,
wrong codes are also counted from the audit log since the last right one, so starting the login again
does not give a guesser a fresh allowance."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from typing import Any, cast

import pyotp
import segno
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from incident import policy
from incident.audit import service as audit
from incident.audit.models import AuditLog
from incident.auth import throttle
from incident.auth.models import RecoveryCode, User
from incident.auth.sessions import end_sessions
from incident.database import in_own_transaction
from incident.dates import utcnow
from incident.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.roles import Role

#: How many recovery codes a user gets (each usable once).
RECOVERY_CODE_COUNT = 10
#: Characters of a recovery code (lower-case base32 without the look-alikes 0/1/8/9): 16 of them, 80 bits.
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz234567"
_RECOVERY_LENGTH = 16
#: The longest code input looked at (anything longer is simply wrong).
CODE_INPUT_MAX = 64
#: Why the user's sessions ended (UserSession.end_reason) when the PR office reset their MFA.
MFA_RESET = "mfa_reset"
#: Events after which wrong codes count afresh.
_FRESH_START = ("auth.mfa_ok", "auth.mfa_recovery_used", "auth.mfa_enabled", "user.mfa_reset", "auth.unlocked")
_SECRET_PATTERN = re.compile(r"[A-Z2-7]{32}")

WRONG_CODE = _l("コードが違います。認証アプリに表示されている 6 桁のコードを入力してください。")


def required_roles() -> frozenset[Role]:
    """The roles that must use MFA: MFA_REQUIRED_ROLES when MFA_REQUIRED is on (production's default), else none."""
    if not current_app.config.get("MFA_REQUIRED"):
        return frozenset()
    return frozenset(Role(name) for name in current_app.config.get("MFA_REQUIRED_ROLES") or ())


def must_enrol(user: User) -> bool:
    """Whether `user` may do nothing (pages or API) until they set up MFA."""
    return policy.must_enrol_mfa(user, required_roles())


def has_mfa(user: User) -> bool:
    return user.totp_secret is not None


def new_secret() -> str:
    """A fresh shared secret (160 bits, base32) for an authenticator app."""
    return pyotp.random_base32()


def valid_secret(secret: Any) -> bool:
    """Whether `secret` (kept in the browser's session until confirmed) is one new_secret() makes."""
    return isinstance(secret, str) and bool(_SECRET_PATTERN.fullmatch(secret))


@dataclasses.dataclass(frozen=True)
class Provisioning:
    """What the enrolment page shows: the QR code (an SVG data: URI) and the same data for typing in."""

    qr_data_uri: str
    grouped_secret: str
    issuer: str
    account: str


def provisioning(user: User, secret: str) -> Provisioning:
    """The otpauth:// URI for `secret` drawn as a QR code by segno, and the secret in groups of four."""
    issuer = str(current_app.config.get("MFA_ISSUER") or "incident")
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)
    qr = segno.make(uri, error="m")
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return Provisioning(qr.svg_data_uri(scale=5, border=4), grouped, issuer, user.email)


# Codes.


def _normalise(code: Any) -> str:
    if not isinstance(code, str) or len(code) > CODE_INPUT_MAX:
        return ""
    return re.sub(r"[\s\-]", "", code).lower()


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step whose code `code` is, within one step either side (pyotp's valid_window=1, tried step by
    step so that the step is known for the replay guard), or None."""
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        at = now + dt.timedelta(seconds=offset * totp.interval)
        if totp.verify(code, for_time=at):
            return totp.timecode(at)
    return None


def _claim_step(user: User, step: int) -> bool:
    """Accept a code's time step once: only a step later than the last accepted one (atomic, so two requests
    with the same code cannot both pass)."""
    result = cast(CursorResult[Any], db.session.execute(
        update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)))
    if result.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def _accept_totp(user: User, code: str, now: dt.datetime) -> bool:
    step = _matching_step(user.totp_secret or "", code, now)
    return step is not None and _claim_step(user, step)


def _hash_recovery(user_id: int, code: str) -> str:
    # Recovery codes are 80 random bits made by the server, not passwords people choose: no dictionary or
    # brute force reaches them, so a fast hash (SHA-256, salted with the user's id) is enough, and it lets
    # a code be found by its hash in one query.
    return hashlib.sha256(f"{user_id}:{code}".encode("ascii", "replace")).hexdigest()


def _use_recovery_code(user: User, code: str, now: dt.datetime) -> bool:
    """Spend one unused recovery code (atomic: a code works once, even with two requests at once)."""
    if len(code) != _RECOVERY_LENGTH:
        return False
    result = cast(CursorResult[Any], db.session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
                                   RecoveryCode.code_hash == _hash_recovery(user.id, code))
        .values(used_at=now).execution_options(synchronize_session=False)))
    return result.rowcount == 1


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones, returned once in the clear (stored hashed)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    now = utcnow()
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery(user.id, code), created_at=now))
    db.session.flush()
    return [format_recovery_code(code) for code in codes]


def format_recovery_code(code: str) -> str:
    """A recovery code as shown: groups of four joined by hyphens (hyphens and spaces are ignored when typed)."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


# Counting wrong codes.


def _wrong_codes(user: User, now: dt.datetime) -> int:
    """Wrong codes for the user since the last right one (or enrolment, reset, unlock), within the window."""
    fresh = db.session.scalar(select(func.max(AuditLog.id)).where(
        AuditLog.object_type == "user", AuditLog.object_id == user.id, AuditLog.action.in_(_FRESH_START)))
    since = now - dt.timedelta(minutes=int(current_app.config["LOGIN_WINDOW_MINUTES"]))
    floor = throttle.lock_floor(user, now)
    query = select(func.count()).select_from(AuditLog).where(
        AuditLog.object_type == "user", AuditLog.object_id == user.id, AuditLog.action == "auth.mfa_failed",
        AuditLog.created_at > (max(since, floor) if floor else since))
    if fresh is not None:
        query = query.where(AuditLog.id > fresh)
    return db.session.scalar(query) or 0


def _note_wrong_code(user: User, stage: str, address: str, now: dt.datetime, email_failures: int = 0) -> bool:
    """Audit a wrong code and lock the account at LOGIN_LOCK_AFTER of them (True when it locked now)."""
    audit.record(None, "auth.mfa_failed", "user", user.id,
                 changes={"stage": (None, stage), "address": (None, address)})
    db.session.flush()
    failures = max(email_failures, _wrong_codes(user, now))
    if throttle.is_locked(user, now) or failures < throttle.lock_after():
        return False
    user.locked_until = throttle.lock_until(now)
    db.session.flush()
    audit.record(None, "auth.locked", "user", user.id,
                 changes={"locked_until": (None, user.locked_until), "failures": (None, failures)})
    return True


def _refuse_wrong_code(user: User, stage: str, field: str = "code") -> ValidationFailed:
    """Record a wrong code on 設定 in its own transaction (the refused request's is rolled back), counted
    towards the lock; the error to raise."""
    user_id = user.id

    def work() -> None:
        fresh = db.session.get(User, user_id)
        if fresh is not None:
            _note_wrong_code(fresh, stage, "", utcnow())

    in_own_transaction(work)
    return ValidationFailed(fields={field: WRONG_CODE})


# Enrolment, recovery codes, turning off (the user's own, on 設定).


def confirm_enrolment(actor: User, secret: Any, code: Any) -> list[str]:
    """Turn MFA on with `secret` once the authenticator app shows a right code for it; the ten recovery
    codes are returned once (only their hashes are kept)."""
    if has_mfa(actor):
        raise Conflict(_l("多要素認証はすでに有効です。"))
    if not valid_secret(secret):
        raise ValidationFailed(_l("設定の有効期限が切れました。もう一度 QR コードを読み取ってください。"))
    now = utcnow()
    step = _matching_step(secret, _normalise(code), now)
    if step is None:
        user_id = actor.id
        in_own_transaction(lambda: audit.record(db.session.get(User, user_id), "auth.mfa_failed", "user", user_id,
                                                changes={"stage": (None, "enrol")}))
        raise ValidationFailed(fields={"code": WRONG_CODE})
    actor.totp_secret = secret
    actor.mfa_enabled_at = now
    actor.totp_last_step = step
    db.session.flush()
    codes = _new_recovery_codes(actor)
    audit.record(actor, "auth.mfa_enabled", "user", actor.id, changes={"mfa": (False, True)})
    return codes


def regenerate_recovery_codes(actor: User, code: Any) -> list[str]:
    """Replace one's recovery codes (the old ones stop working) after a right code from the app."""
    if not has_mfa(actor):
        raise Conflict(_l("多要素認証が有効ではありません。"))
    if throttle.is_locked(actor, utcnow()) or not _accept_totp(actor, _normalise(code), utcnow()):
        raise _refuse_wrong_code(actor, "regenerate")
    codes = _new_recovery_codes(actor)
    audit.record(actor, "auth.mfa_codes_regenerated", "user", actor.id,
                 changes={"recovery_codes": (None, RECOVERY_CODE_COUNT)})
    return codes


def turn_off(actor: User, password: Any, code: Any) -> None:
    """Turn one's own MFA off with the current password and a right code; refused for roles that must use it."""
    if not has_mfa(actor):
        raise Conflict(_l("多要素認証が有効ではありません。"))
    if not policy.may_turn_off_mfa(actor, required_roles()):
        raise PermissionDenied(_l("この役割では多要素認証が必須のため、無効にできません。"))
    if not isinstance(password, str) or len(password) > 200 or not actor.check_password(password):
        message = _l("現在のパスワードが違います。")
        raise ValidationFailed(message, fields={"password": message})
    if throttle.is_locked(actor, utcnow()) or not _accept_totp(actor, _normalise(code), utcnow()):
        raise _refuse_wrong_code(actor, "disable")
    _clear(actor)
    audit.record(actor, "auth.mfa_disabled", "user", actor.id, changes={"mfa": (True, False)})


def _clear(user: User) -> None:
    user.totp_secret = None
    user.mfa_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()


def reset(actor: User | None, user: User) -> User:
    """The PR office (or the CLI, `actor` None) turns a user's MFA off (a lost phone): secret and recovery
    codes are removed and the user's browsers signed out; they set it up again at the next login.
    NotFound for anyone else."""
    if actor is not None and not policy.can_manage_users(actor):
        raise NotFound()
    if not has_mfa(user):
        raise Conflict(_l("%(name)s さんは多要素認証を設定していません。", name=user.name))
    _clear(user)
    audit.record(actor, "user.mfa_reset", "user", user.id, changes={"mfa": (True, False)})
    end_sessions(user, MFA_RESET, actor=actor)
    return user


# The second step of a login.


@dataclasses.dataclass(frozen=True)
class CodeCheck:
    """The outcome of a code at login: the user (signed in by the caller), or why not. `ended`: the login
    must start again (the account was locked, deactivated, or has no MFA any more)."""

    user: User | None
    recovery_used: bool = False
    wait_seconds: int = 0
    ended: bool = False


def complete_login(user_id: int, code: Any, address: str | None) -> CodeCheck:
    """Check the code (or a recovery code) of a login whose password was right, in a transaction of its own
    (committed at once, so a wrong code counts whatever becomes of the request). Audited: auth.mfa_ok,
    auth.mfa_recovery_used, auth.mfa_failed, auth.locked."""
    typed = _normalise(code)

    def work() -> tuple[int | None, bool, int, bool]:
        user = db.session.get(User, user_id)
        if user is None or not user.active or user.totp_secret is None:
            return None, False, 0, True
        key, where = throttle.email_key(user.email), throttle.address_key(address)
        throttle.serialise(key, where)
        now = utcnow()
        if throttle.is_locked(user, now):  # locked since the password was checked: the code is not looked at
            audit.record(None, "auth.login_failed", "user", user.id, changes={
                "email": (None, key), "address": (None, where), "reason": (None, "locked")})
            return None, False, 0, True
        standing = throttle.standing(key, where, now, user)
        if standing.wait_seconds:
            audit.record(None, "auth.login_failed", "user", user.id, changes={
                "email": (None, key), "address": (None, where), "reason": (None, "throttled")})
            return None, False, standing.wait_seconds, False
        if _accept_totp(user, typed, now):
            audit.record(user, "auth.mfa_ok", "user", user.id, changes={"address": (None, where)})
            return user.id, False, 0, False
        if _use_recovery_code(user, typed, now):
            audit.record(user, "auth.mfa_recovery_used", "user", user.id, changes={
                "address": (None, where), "recovery_codes_left": (None, recovery_codes_left(user))})
            return user.id, True, 0, False
        throttle.note_attempt(key, where, False, now)
        locked = _note_wrong_code(user, "login", where, now, standing.email_failures + 1)
        return None, False, 0, locked

    accepted, recovery, wait, ended = in_own_transaction(work)
    user = db.session.get(User, accepted) if accepted is not None else None
    return CodeCheck(user, recovery, wait, ended)

