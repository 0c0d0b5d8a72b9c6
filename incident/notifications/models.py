"""Notifications shown in the app, per-user e-mail choices, and the outbox of mail to deliver."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import Department, User
from incident.database import UTCDateTime
from incident.dates import utcnow
from incident.extensions import Model


class Notification(Model):
    """Something a user should look at, linking to the case; unread until opened."""

    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    #: case_opened, escalation, approval_requested, draft_decided, assigned.
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    #: A path inside the app, e.g. /cases/7#escalations.
    link: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EmailPreference(Model):
    """Whether a user also wants e-mail for one kind of notification (no row: the kind's default)."""

    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_email_preference_user_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    email: Mapped[bool] = mapped_column()


class OutboxMail(Model):
    """A mail written in the same transaction as its cause, delivered later by the worker with retries."""

    __table_args__ = (Index("ix_outbox_mail_due", "sent_at", "failed_at", "next_attempt_at"),
                      # The PR office's header counts the mail being retried on every page.
                      Index("ix_outbox_mail_attempts", "sent_at", "failed_at", "attempts"))

    id: Mapped[int] = mapped_column(primary_key=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A worker holds the mail until then while it talks to the SMTP server (so two never send it).
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Given up after MAIL_MAX_ATTEMPTS; admins see it and may retry.
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: A chat message (Teams, Slack, LINE WORKS, a webhook) to this channel instead of a mail to to_addr.
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("chat_channel.id"), index=True)
    #: The page the message is about, as a full URL (a chat message's button).
    link: Mapped[str] = mapped_column(String(500), default="", server_default="")

    channel: Mapped[ChatChannel | None] = relationship()


class ChatChannel(Model):
    """Where notifications also go by chat: a department's channel (every case of the department) or one
    person's, for the notification kinds chosen. Removed channels stay (their messages refer to them)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Exactly one of department_id and user_id is set.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: teams, slack, lineworks or webhook (incident.notifications.chat.SERVICES).
    service: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    #: The incoming-webhook URL (Teams Workflows, Slack, a webhook); empty for LINE WORKS. A secret: anyone
    #: holding it may post, so pages show only its host.
    url: Mapped[str] = mapped_column(String(1000), default="")
    #: LINE WORKS: "channel:<channel id>" or "user:<user id>" of the city's bot.
    target: Mapped[str] = mapped_column(String(200), default="")
    #: The generic webhook's HMAC-SHA256 key, made by the app and shown once.
    secret: Mapped[str] = mapped_column(String(100), default="")
    #: Comma-separated notification kinds (incident.notifications.service.KINDS).
    kinds: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    @property
    def kind_list(self) -> list[str]:
        return [kind for kind in self.kinds.split(",") if kind]
