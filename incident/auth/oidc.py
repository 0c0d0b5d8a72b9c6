"""Single sign-on with OpenID Connect: the identity provider's client (Authlib), and matching the person it
signed in to a user of the app — by subject, else by e-mail — with every outcome audited."""
from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Mapping
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped]
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth  # type: ignore[import-untyped]
from flask import current_app
from flask.sansio.app import App
from flask_babel import lazy_gettext as _l
from joserfc.errors import JoseError
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from incident.audit import service as audit
from incident.auth.models import Department, Role, User
from incident.config import ConfigurationError
from incident.dates import utcnow
from incident.extensions import db

logger = logging.getLogger(__name__)

#: The app extension holding the Authlib registry (one per app: its client caches the provider's metadata).
EXTENSION = "incident.oidc"
#: The name of the client in the registry (also the prefix of Authlib's state keys in the session).
CLIENT_NAME = "sso"
#: The session key marking a browser signed in by single sign-on (no temporary-password rule for it).
SIGNED_IN_KEY = "signed_in_by_sso"
#: What can go wrong talking to the identity provider: an error answer or a bad state (Authlib), an ID
#: token that fails validation (joserfc), a network failure or an answer that is not JSON.
PROVIDER_ERRORS = (AuthlibBaseError, JoseError, requests.RequestException, ValueError)

#: Why a single sign-on was refused: the `reason` of the auth.sso_refused audit row.
UNKNOWN = "unknown"
INACTIVE = "inactive"
PENDING = "pending"
SUBJECT_MISMATCH = "subject_mismatch"
NO_EMAIL = "no_email"
NO_PENDING_DEPARTMENT = "no_pending_department"
BAD_SUBJECT = "bad_subject"
PROVIDER_ERROR = "provider_error"

#: OIDC_UNKNOWN_USERS values.
REFUSE_UNKNOWN, PENDING_UNKNOWN = "refuse", "pending"

_NAME_MAX = 200
_EMAIL_MAX = 254
_SUBJECT_MAX = 255


def init_app(app: App) -> None:
    """Check the single sign-on settings and, when OIDC_ISSUER is set, register the provider's client."""
    issuer = (app.config.get("OIDC_ISSUER") or "").strip().rstrip("/")
    if not issuer:
        if not app.config.get("PASSWORD_LOGIN", True):
            raise ConfigurationError("PASSWORD_LOGIN = False needs single sign-on: set OIDC_ISSUER too.")
        return
    if not app.config.get("OIDC_CLIENT_ID"):
        raise ConfigurationError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not.")
    if app.config.get("OIDC_UNKNOWN_USERS") not in (REFUSE_UNKNOWN, PENDING_UNKNOWN):
        raise ConfigurationError('OIDC_UNKNOWN_USERS must be "refuse" or "pending".')
    oauth = OAuth(app)
    oauth.register(
        CLIENT_NAME,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config.get("OIDC_SCOPES") or "openid email profile",
            "code_challenge_method": "S256",  # PKCE, on top of the client secret
            "default_timeout": app.config.get("OIDC_TIMEOUT") or 10,
        },
    )
    app.extensions[EXTENSION] = oauth


def client() -> FlaskOAuth2App | None:
    """The identity provider's client of the current app, or None when single sign-on is off."""
    oauth = current_app.extensions.get(EXTENSION)
    return oauth.create_client(CLIENT_NAME) if oauth is not None else None


def button_label() -> str | None:
    """The login page's single sign-on button text, or None when single sign-on is off."""
    if current_app.extensions.get(EXTENSION) is None:
        return None
    return current_app.config.get("OIDC_BUTTON_LABEL") or str(_l("シングルサインオンでログイン"))


def password_login_allowed() -> bool:
    """Whether the login page offers (and accepts) e-mail and password; the CLI is never affected."""
    return bool(current_app.config.get("PASSWORD_LOGIN", True))


@dataclasses.dataclass(frozen=True)
class SsoResult:
    """The user a single sign-on signs in, or None with the reason it was refused (already audited)."""

    user: User | None
    refused: str | None = None


def log_in(claims: Mapping[str, Any], address: str | None) -> SsoResult:
    """Match the provider's validated ID token claims to a user: by subject, else by e-mail (then the subject
    is stored). Refused: inactive or pending users, an e-mail whose user holds another subject, unknown
    people (or, with OIDC_UNKNOWN_USERS = "pending", made an inactive user awaiting the PR office).
    Audited: auth.login (method sso), user.oidc_linked, user.pending, auth.sso_refused."""
    subject = claims.get("sub")
    email = _email_of(claims)
    if not isinstance(subject, str) or not subject or len(subject) > _SUBJECT_MAX:
        return refuse(BAD_SUBJECT, address, email=email)
    user = db.session.scalar(select(User).where(User.oidc_subject == subject))
    if user is None and email:
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if user is not None and user.oidc_subject is not None:
            # The address is someone's whose account is tied to another identity: never take it over.
            return refuse(SUBJECT_MISMATCH, address, subject=subject, email=email, user=user)
    if user is None:
        return _unknown(subject, email, claims, address)
    if not user.active:
        return refuse(PENDING if user.pending_since else INACTIVE, address, subject=subject, email=email, user=user)
    if user.oidc_subject is None:
        user.oidc_subject = subject
        db.session.flush()
        audit.record(user, "user.oidc_linked", "user", user.id, changes={"oidc_subject": (None, subject)})
    audit.record(user, "auth.login", "user", user.id,
                 changes={"address": (None, address or ""), "method": (None, "sso")})
    return SsoResult(user)


def refuse(reason: str, address: str | None, *, subject: str = "", email: str = "", user: User | None = None,
           detail: str = "") -> SsoResult:
    """Record a refused single sign-on (auth.sso_refused) and say so."""
    changes: dict[str, tuple[Any, Any]] = {"reason": (None, reason), "address": (None, address or "")}
    if subject:
        changes["subject"] = (None, subject[:255])
    if email:
        changes["email"] = (None, email)
    if detail:
        changes["detail"] = (None, detail[:100])
    audit.record(None, "auth.sso_refused", "user", user.id if user else None, changes=changes)
    return SsoResult(None, reason)


def _email_of(claims: Mapping[str, Any]) -> str:
    """The e-mail address in the configured claim, lower-cased ("" when absent, malformed or unverified)."""
    claim = current_app.config.get("OIDC_EMAIL_CLAIM") or "email"
    value = claims.get(claim)
    if not isinstance(value, str):
        return ""
    email = value.strip().lower()
    if "@" not in email or len(email) > _EMAIL_MAX or any(c.isspace() for c in email):
        return ""
    if claim == "email" and claims.get("email_verified") is False:
        return ""  # the provider says it has not checked the address: matching by it could hand over an account
    return email


def _unknown(subject: str, email: str, claims: Mapping[str, Any], address: str | None) -> SsoResult:
    """A person the app does not know: refused, or made a pending user for the PR office to approve."""
    if current_app.config.get("OIDC_UNKNOWN_USERS") != PENDING_UNKNOWN:
        return refuse(UNKNOWN, address, subject=subject, email=email)
    if not email:
        return refuse(NO_EMAIL, address, subject=subject)
    department = _pending_department()
    if department is None:
        logger.warning("single sign-on: no department for pending users (OIDC_PENDING_DEPARTMENT, or an admin)")
        return refuse(NO_PENDING_DEPARTMENT, address, subject=subject, email=email)
    user = create_pending_user(subject, email, _name_of(claims, email), department)
    return refuse(PENDING, address, subject=subject, email=email, user=user)


def create_pending_user(subject: str, email: str, name: str, department: Department) -> User:
    """An inactive responder made by a first single sign-on, waiting for the PR office (audited user.pending);
    its password is random and never shown, so only single sign-on can ever sign it in."""
    user = User(email=email, name=name, role=Role.RESPONDER, department_id=department.id, active=False,
                pending_since=utcnow(), oidc_subject=subject,
                password_hash=generate_password_hash(secrets.token_urlsafe(32)))
    db.session.add(user)
    db.session.flush()
    audit.record(None, "user.pending", "user", user.id, changes={
        "email": (None, email), "name": (None, name), "department": (None, department.code),
        "oidc_subject": (None, subject)})
    return user


def _name_of(claims: Mapping[str, Any], email: str) -> str:
    """The person's name from the "name" claim (else the e-mail address), on one line."""
    name = claims.get("name")
    text = " ".join(name.split()) if isinstance(name, str) else ""
    return (text or email)[:_NAME_MAX]


def _pending_department() -> Department | None:
    """OIDC_PENDING_DEPARTMENT's department, or the PR office's (the department of its first active admin)."""
    code = current_app.config.get("OIDC_PENDING_DEPARTMENT")
    if code:
        return db.session.scalar(select(Department).where(Department.code == code))
    return db.session.scalar(
        select(Department).join(User, User.department_id == Department.id)
        .where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id).limit(1))
