"""Departments, users and personal API tokens."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from incident.database import UTCDateTime, enum_column
from incident.dates import utcnow
from incident.extensions import Model
from incident.roles import Role


class Department(Model):
    """A department of the city (所属), e.g. 総務部 秘書広報課."""

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Short stable code used by the CLI and the API, e.g. "hisho-koho".
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: How the public and the press reach the department (phone, email), printed on notices.
    contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Working hours, Asia/Tokyo minutes after midnight (08:30 = 510, 17:15 = 1035): outside them an
    #: escalation goes to the on-call person first, and low-severity timers wait (escalation.toml).
    work_start_minute: Mapped[int] = mapped_column(default=510, server_default="510")
    work_end_minute: Mapped[int] = mapped_column(default=1035, server_default="1035")
    #: Working weekdays as digits, 0 = Monday ("01234": Monday to Friday).
    work_weekdays: Mapped[str] = mapped_column(String(7), default="01234", server_default="01234")
    #: The department's own closed dates besides public holidays (a facility's 休館日), ISO dates, one a line.
    closed_dates: Mapped[str] = mapped_column(Text, default="", server_default="")

    def __repr__(self) -> str:
        return f"<Department {self.code}>"


class OperatorType(enum.StrEnum):
    """Who runs an account for the city (section 2 of the guideline)."""

    CITY = "city"
    DESIGNATED_MANAGER = "designated_manager"
    CONTRACTOR = "contractor"


#: Display labels of the operators; here, not in incident.labels (which re-uses them), because draft
#: templates name them.
OPERATOR_LABELS = {
    OperatorType.CITY: _l("市（担当課）"),
    OperatorType.DESIGNATED_MANAGER: _l("指定管理者"),
    OperatorType.CONTRACTOR: _l("委託業者"),
}


class Operator(Model):
    """An outside organisation that runs official accounts for the city: a designated manager (指定管理者)
    or a contractor (委託業者). Its users see only the cases of the accounts it runs."""

    __tablename__ = "operator_organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: designated_manager or contractor (never city).
    kind: Mapped[OperatorType] = mapped_column(enum_column(OperatorType))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Operator {self.name}>"


class User(UserMixin, Model):
    """A person who logs in; contractors and designated managers are responders with an organisation."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    #: For contractors (委託業者) and designated managers (指定管理者): the organisation they work for.
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_organisation.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    #: UI language chosen by the user; None means the default (Japanese).
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the password was last set; None for accounts made before this was recorded.
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: A temporary password issued by the PR office: it must be changed at the next login.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Too many failed logins: refused until this time (or until the PR office unlocks it).
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The TOTP shared secret (base32) once the user has confirmed an authenticator app; None = no MFA.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: When MFA was turned on (None = off).
    mfa_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The last TOTP time step accepted, so one code cannot be used twice.
    totp_last_step: Mapped[int | None] = mapped_column()
    #: The OpenID Connect subject ("sub") of this person at the city's identity provider, once matched.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: Created by a first single sign-on and waiting for the PR office to give a role (inactive until then).
    pending_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    operator: Mapped[Operator | None] = relationship(lazy="joined")

    @property
    def organisation(self) -> str | None:
        """The name of the outside operator this user works for, if any."""
        return self.operator.name if self.operator else None

    @property
    def is_active(self) -> bool:
        return self.active

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class ApiToken(Model):
    """A personal API token; only its SHA-256 is stored, the token itself is shown once."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the token, so a user can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: After this time the token is refused (chosen at creation, 90 days by default).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: A read-only token may only GET.
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Who revoked it (the owner, or the PR office).
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


class RecoveryCode(Model):
    """One of the ten one-time MFA recovery codes; only a hash is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Reshuffle(Model):
    """A personnel reshuffle (人事異動) uploaded as CSV: the planned changes are stored at preview, and
    applying applies exactly them."""

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    #: The date the moves take effect (e.g. 4月1日), shown in the history.
    effective_on: Mapped[dt.date] = mapped_column()
    #: The validated plan: [{"user_id", "email", "from": {...}, "to": {...}}, ...].
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Discarded without applying.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Posting(Model):
    """Who was where when: one row per period a person held a department and role (history of 人事異動)."""

    __table_args__ = (Index("ix_posting_user_started", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_organisation.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: None while current.
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reshuffle_id: Mapped[int | None] = mapped_column(ForeignKey("reshuffle.id"), index=True)

    department: Mapped[Department] = relationship()


class UserSession(Model):
    """One signed-in browser: the session cookie names it by token (only the SHA-256 is stored), so logging
    out, a password change or deactivation ends it on the server, and idle / absolute timeouts apply."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The browser as its User-Agent names it (shortened), and the client address, for "active sessions".
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: logout, idle, expired, password_changed, deactivated, signed_out_everywhere...
    end_reason: Mapped[str] = mapped_column(String(30), default="")

    user: Mapped[User] = relationship()


class LoginAttempt(Model):
    """One login attempt, counted per account and per client address to slow and lock guessing across
    every worker (the counts live in the database, not in one process)."""

    __table_args__ = (
        Index("ix_login_attempt_email_created", "email", "created_at"),
        Index("ix_login_attempt_address_created", "address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The address typed, lower-cased (whether or not such a user exists).
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64), default="")
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
