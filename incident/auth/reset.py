"""One-time password-reset links the PR office issues (issue 13).

A link carries the user's id and a fingerprint of their current password hash, signed with the app's
secret key and timed (itsdangerous). Nothing is stored: the link stops working after PASSWORD_RESET_HOURS,
and as soon as the password changes in any way (this link used, a temporary password, the user's own
change), since the fingerprint then no longer matches: one-time by construction."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from incident.audit import service as audit
from incident.auth import service
from incident.auth.models import User
from incident.auth.sessions import PASSWORD_RESET, end_sessions
from incident.dates import utcnow
from incident.errors import Conflict, DomainError
from incident.extensions import db

#: Keeps these signatures apart from any other use of the secret key.
SALT = "password-reset"
#: A longer "link" is not one of ours; it is refused before any decoding.
MAX_TOKEN_LENGTH = 400


class ResetLinkInvalid(DomainError):
    """A reset link that expired, was used, or was overtaken by a password change."""

    status = 410
    code = "gone"


class ResetLinkMalformed(ResetLinkInvalid):
    """Not a link this app made (altered, cut short, or made with another key)."""

    status = 400
    code = "bad_request"


@dataclasses.dataclass(frozen=True)
class ResetLink:
    """A link just issued: shown once to the PR office, never stored."""

    user: User
    token: str
    expires_at: dt.datetime


def max_age() -> dt.timedelta:
    """How long a link stays valid (PASSWORD_RESET_HOURS)."""
    return dt.timedelta(hours=float(current_app.config["PASSWORD_RESET_HOURS"]))


def serializer() -> URLSafeTimedSerializer:
    """The signer of reset links: the app's secret key, with this module's salt."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def fingerprint(user: User) -> str:
    """A digest of the user's current password hash: it changes whenever the password does."""
    return hashlib.sha256(f"reset:{user.id}:{user.password_hash}".encode()).hexdigest()[:32]


def issue_reset_link(actor: User, user_id: Any) -> ResetLink:
    """The PR office issues a user a one-time reset link; the password stays as it is until the link is
    used. Audited without the link. NotFound for anyone but the PR office."""
    user = service.user_for_admin(actor, user_id)
    if not user.active:
        raise Conflict(_l("%(name)s さんのアカウントは無効になっています。", name=user.name))
    token = serializer().dumps({"u": user.id, "f": fingerprint(user)})
    expires_at = utcnow() + max_age()
    audit.record(actor, "user.reset_link", "user", user.id, changes={"expires_at": (None, expires_at)})
    return ResetLink(user, token, expires_at)


def user_for_link(token: Any) -> User:
    """The user a valid, unused, unexpired link names; ResetLinkInvalid with the reason otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise _malformed()
    try:
        data = serializer().loads(token, max_age=int(max_age().total_seconds()))
    except SignatureExpired:
        raise ResetLinkInvalid(_l("このリンクは有効期限が切れています。秘書広報課に新しいリンクの発行を依頼してください。")) from None
    except BadData:
        raise _malformed() from None
    user_id = data.get("u") if isinstance(data, dict) else None
    user = db.session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or not isinstance(data.get("f"), str):
        raise _malformed()
    if not user.active or data["f"] != fingerprint(user):
        raise ResetLinkInvalid(_l("このリンクはすでに使われたか、パスワードが変更されたため使えません。"
                                  "秘書広報課に新しいリンクの発行を依頼してください。"))
    return user


def _malformed() -> ResetLinkInvalid:
    return ResetLinkMalformed(_l("このリンクは正しくありません。届いたリンクを省略せずに開いてください。"))


def reset_password(token: Any, new: Any, confirm: Any) -> User:
    """Set a new password from a reset link (typed twice, held to the rule): the must-change mark is cleared
    and every signed-in browser of the user is signed out. The link then no longer works. Audited."""
    user = user_for_link(token)
    new, confirm = (value if isinstance(value, str) else "" for value in (new, confirm))
    service.check_new_password(new, confirm, user.email)
    forced_before = service.replace_password(user, new, must_change=False)
    audit.record(user, "user.password_reset_by_link", "user", user.id,
                 changes={"must_change_password": (forced_before, False)})
    end_sessions(user, PASSWORD_RESET)
    return user
