"""Telling people: in-app notifications, e-mail preferences, and writing mail to the outbox."""
from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Iterable
from typing import Any, cast

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import joinedload

from incident import pagination, policy
from incident.auth.models import User
from incident.dates import utcnow
from incident.errors import NotFound
from incident.extensions import db
from incident.notifications.models import ChatChannel, EmailPreference, Notification, OutboxMail

#: The kinds of notification, with whether e-mail is on when the user has not chosen.
KINDS = {
    "case_opened": True,
    "escalation": True,
    "approval_requested": True,
    "draft_decided": False,
    "assigned": True,
}
#: The kinds a department's chat channel may take: news of the department's cases, not one person's
#: ("you were assigned", "your draft was returned").
DEPARTMENT_KINDS = ("case_opened", "escalation", "approval_requested")
TITLE_MAX = 300
#: C0 and C1 controls and the Unicode line/paragraph separators: none may reach a mail header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int = TITLE_MAX) -> str:
    """A title safe for a mail Subject: control characters (CR/LF included) become spaces."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def email_choices(user: User) -> dict[str, bool]:
    """The user's e-mail choice for every kind (defaults filled in)."""
    chosen = {p.kind: p.email for p in db.session.scalars(
        select(EmailPreference).where(EmailPreference.user_id == user.id))}
    return {kind: chosen.get(kind, default) for kind, default in KINDS.items()}


def set_email_choices(user: User, wanted: Iterable[str]) -> None:
    """Store the kinds the user wants e-mail for (every other kind: no e-mail)."""
    wanted = set(wanted)
    existing = {p.kind: p for p in db.session.scalars(
        select(EmailPreference).where(EmailPreference.user_id == user.id))}
    for kind in KINDS:
        row = existing.get(kind)
        if row is None:
            db.session.add(EmailPreference(user_id=user.id, kind=kind, email=kind in wanted))
        else:
            row.email = kind in wanted


def _wants_email(users: list[User], kind: str) -> set[int]:
    if not users:
        return set()
    chosen = {(p.user_id): p.email for p in db.session.scalars(
        select(EmailPreference).where(EmailPreference.kind == kind,
                                      EmailPreference.user_id.in_([u.id for u in users])))}
    return {u.id for u in users if chosen.get(u.id, KINDS[kind])}


def base_url() -> str:
    """The address people open the app at, for links in mail."""
    return str(current_app.config["BASE_URL"]).rstrip("/")


def notify(users: Iterable[User], kind: str, title: Any, body: Any, *, case_id: int | None = None,
           department_id: int | None = None, link: str = "") -> list[Notification]:
    """Notify each active user once in the app, by mail (outbox) when they want it for this kind, and on
    the chat channels that take this kind: the users' own, and those of the case's department.

    `title` and `body` may be lazy strings: each mail is rendered in its recipient's language.
    """
    recipients = list({u.id: u for u in users if u is not None and u.active}.values())
    mail_to = _wants_email(recipients, kind)
    rows = []
    for user in recipients:
        locale = user.locale or "ja"
        with force_locale(locale):
            title_text, body_text = one_line(str(title)), str(body)
        row = Notification(user_id=user.id, case_id=case_id, kind=kind, title=title_text, body=body_text,
                           link=link)
        db.session.add(row)
        rows.append(row)
        if user.id in mail_to and user.email:
            mail_body = f"{body_text}\n\n{base_url()}{link}\n" if link else f"{body_text}\n"
            db.session.add(OutboxMail(to_addr=user.email, subject=title_text, body=mail_body, kind=kind,
                                      next_attempt_at=utcnow()))
    _queue_chat(recipients, kind, title, body, link, department_id)
    db.session.flush()
    return rows


def _queue_chat(recipients: list[User], kind: str, title: Any, body: Any, link: str,
                department_id: int | None) -> None:
    """A message in the outbox for each chat channel that takes this kind: the recipients' own channels (in
    their language) and the department's (in Japanese). One query per notification (none without recipients
    or a department)."""
    owners: list[Any] = [ChatChannel.user_id.in_([u.id for u in recipients])] if recipients else []
    if department_id is not None and kind in DEPARTMENT_KINDS:
        owners.append(ChatChannel.department_id == department_id)
    if not owners:
        return
    language = {u.id: u.locale or "ja" for u in recipients}
    for channel in db.session.scalars(select(ChatChannel).where(ChatChannel.removed_at.is_(None), or_(*owners))
                                      .order_by(ChatChannel.id)):
        if kind not in channel.kind_list:
            continue
        with force_locale(language.get(channel.user_id or 0, "ja")):
            title_text, body_text = one_line(str(title)), str(body)
        db.session.add(OutboxMail(to_addr="", channel_id=channel.id, kind=kind, subject=title_text,
                                  body=body_text, link=f"{base_url()}{link}" if link else "",
                                  next_attempt_at=utcnow()))


def unread_count(user: User) -> int:
    """How many notifications the user has not opened (one indexed count)."""
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def notifications_query(user: User, unread_only: bool = False):
    """The user's notifications, newest first."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.id.desc())


def get_notification(user: User, notification_id: int) -> Notification:
    """One of the user's own notifications, or NotFound (others' do not exist for them)."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound()
    return row


def mark_read(user: User, notification: Notification) -> Notification:
    """Mark as read (reading twice keeps the first time)."""
    if notification.user_id != user.id:
        raise NotFound()
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification


def mark_all_read(user: User) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = cast(CursorResult[Any], db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=utcnow())))
    return result.rowcount or 0


def problem_mail_query():
    """Mail and chat messages that failed for good or are still waiting, for the PR office's outbox page
    (failed first)."""
    return (select(OutboxMail).where(OutboxMail.sent_at.is_(None)).options(joinedload(OutboxMail.channel))
            .order_by(OutboxMail.failed_at.is_(None), OutboxMail.id.desc()))


def get_unsent_mail(actor: User, mail_id: int) -> OutboxMail:
    """A mail of the outbox not delivered yet, for the PR office; NotFound for anyone else or a sent mail."""
    mail = db.session.get(OutboxMail, mail_id) if policy.can_view_outbox(actor) else None
    if mail is None or mail.sent_at is not None:
        raise NotFound()
    return mail


def retry(mail: OutboxMail) -> None:
    """Put a failed mail back in the queue."""
    mail.failed_at = None
    mail.attempts = 0
    mail.next_attempt_at = utcnow()
    mail.claimed_until = None


@dataclasses.dataclass(frozen=True)
class MailHealth:
    """Whether mail can leave: the SMTP setting and what the outbox holds."""

    configured: bool
    #: Mail not delivered yet (waiting or retrying).
    waiting: int
    #: Mail whose last attempt failed and that will be tried again.
    retrying: int
    #: Mail given up on after MAIL_MAX_ATTEMPTS (until someone retries it).
    failed: int
    #: The newest delivery error, without addresses or credentials beyond what the SMTP server said.
    last_error: str

    @property
    def has_problem(self) -> bool:
        return not self.configured or bool(self.retrying or self.failed)


def mail_health(exact: bool = False) -> MailHealth:
    """The mail setting and the outbox's state, in at most two queries (one when all is well).

    The counts stop at COUNT_CAP + 1 unless `exact`: the PR office's header reads them on every page, and a
    mail server down for a week leaves tens of thousands of mails waiting."""
    unsent = OutboxMail.sent_at.is_(None)
    # Waiting: mail only (without a mail server it never leaves; chat messages go out meanwhile).
    wheres = ((unsent, OutboxMail.failed_at.is_(None), OutboxMail.channel_id.is_(None)),
              (unsent, OutboxMail.failed_at.is_(None), OutboxMail.attempts > 0),
              (unsent, OutboxMail.failed_at.is_not(None)))
    if exact:
        counts = select(*(func.count().filter(*where) for where in wheres)).select_from(OutboxMail)
    else:
        counts = select(*(pagination.capped(select(OutboxMail.id).where(*where)) for where in wheres))
    waiting, retrying, failed = db.session.execute(counts).one()
    last_error = ""
    if retrying or failed:
        last_error = db.session.scalar(
            select(OutboxMail.last_error).where(unsent, OutboxMail.last_error != "")
            .order_by(OutboxMail.id.desc()).limit(1)) or ""
    return MailHealth(configured=bool(current_app.config.get("MAIL_HOST")), waiting=waiting or 0,
                      retrying=retrying or 0, failed=failed or 0, last_error=last_error)


def mail_setting() -> types.SimpleNamespace:
    """The SMTP setting as people may see it: server, port, security, sender, whether a login is used.

    Never the password."""
    config = current_app.config
    return types.SimpleNamespace(host=config.get("MAIL_HOST") or "", port=config.get("MAIL_PORT"),
                                 security=config.get("MAIL_SECURITY"), sender=config.get("MAIL_FROM"),
                                 username=config.get("MAIL_USERNAME") or "",
                                 has_password=bool(config.get("MAIL_PASSWORD")))
