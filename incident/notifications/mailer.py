"""Delivering the outbox over SMTP, with retries and back-off; an outage loses nothing."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime as mail_date
from email.utils import make_msgid
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, or_, select, update

from incident.dates import utcnow
from incident.extensions import db
from incident.notifications.models import OutboxMail
from incident.notifications.service import one_line

#: How long a worker holds a mail it is sending before another may try it.
CLAIM = dt.timedelta(minutes=5)


@dataclasses.dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: str = ""


def backoff(attempts: int) -> dt.timedelta:
    """Wait 1, 2, 4 … minutes after each failure, at most an hour."""
    return dt.timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def record_failure(mail: OutboxMail, error: str, now: dt.datetime, max_attempts: int, report: DeliveryReport) -> None:
    """A failed attempt: tried again after a back-off, or given up after `max_attempts` (the outbox shows it)."""
    mail.last_error = error[:2000]
    mail.claimed_until = None
    if mail.attempts >= max_attempts:
        mail.failed_at = now
        report.failed += 1
    else:
        mail.next_attempt_at = now + backoff(mail.attempts)
        report.retried += 1


def record_success(mail: OutboxMail, report: DeliveryReport) -> None:
    """Delivered: never sent again."""
    mail.sent_at = utcnow()
    mail.claimed_until = None
    mail.last_error = ""
    report.sent += 1


def due_ids(now: dt.datetime, limit: int, *where: Any) -> list[int]:
    """The outbox entries (matching `where`) due for an attempt that no worker holds, oldest first."""
    ids = list(db.session.scalars(
        select(OutboxMail.id)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None), OutboxMail.next_attempt_at <= now,
               or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now), *where)
        .order_by(OutboxMail.id).limit(limit)))
    db.session.commit()
    return ids


def build_message(mail: OutboxMail) -> EmailMessage:
    """The MIME message; headers are single lines (CR/LF cannot inject headers)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = one_line(config["MAIL_FROM"])
    message["To"] = one_line(mail.to_addr)
    message["Subject"] = one_line(mail.subject)
    message["Date"] = mail_date(utcnow())
    message["Message-ID"] = make_msgid(domain=str(config["MAIL_FROM"]).rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body, charset="utf-8")
    return message


def _connect() -> smtplib.SMTP:
    config = current_app.config
    host, port, timeout = config["MAIL_HOST"], int(config["MAIL_PORT"]), float(config["MAIL_TIMEOUT"])
    security = config["MAIL_SECURITY"]
    if security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            server.starttls(context=ssl.create_default_context())
    if config.get("MAIL_USERNAME"):
        server.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    return server


def claim(mail_id: int, now: dt.datetime) -> bool:
    """Take one due mail for this worker; False when another worker has it (conditional update)."""
    result = cast(CursorResult[Any], db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail_id, OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None),
               or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now))
        .values(claimed_until=now + CLAIM, attempts=OutboxMail.attempts + 1)))
    db.session.commit()
    return result.rowcount == 1


def deliver_due(now: dt.datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send every due mail once; failures are retried later, and given up after MAIL_MAX_ATTEMPTS."""
    report = DeliveryReport()
    config = current_app.config
    if not config.get("MAIL_HOST"):
        report.skipped = "MAIL_HOST is not set: mail stays in the outbox"
        return report
    now = now or utcnow()
    due = due_ids(now, limit, OutboxMail.channel_id.is_(None))  # chat messages: incident.notifications.chat_delivery
    server = None
    try:
        for mail_id in due:
            if not claim(mail_id, now):
                continue
            mail = db.session.get_one(OutboxMail, mail_id)  # the claim above just matched it
            try:
                message: EmailMessage | ValueError = build_message(mail)
            except ValueError as exc:
                message = exc
            # Nothing holds the database's write lock while the mail server is slow or unreachable;
            # the result is recorded below in a short transaction of its own.
            db.session.commit()
            connecting = server is None
            try:
                if isinstance(message, ValueError):
                    raise message
                if server is None:
                    server = _connect()
                server.send_message(message)
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                _close(server)
                server = None
                record_failure(mail, f"{type(exc).__name__}: {exc}", now, int(config["MAIL_MAX_ATTEMPTS"]), report)
                if connecting and not isinstance(exc, ValueError):
                    # The server is unreachable: leave the rest for the next round instead of
                    # waiting MAIL_TIMEOUT once per mail.
                    db.session.commit()
                    break
            else:
                record_success(mail, report)
            db.session.commit()
    finally:
        _close(server)
    return report


def _close(server: smtplib.SMTP | None) -> None:
    if server is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):  # the mail is sent; a failed goodbye is no matter
            server.quit()


def send_test(to_addr: str) -> None:
    """Send one test mail straight to `to_addr` (not through the outbox); raises what the server said."""
    mail = OutboxMail(to_addr=to_addr, subject="incident: test mail / テストメール",
                      body="This is a test from `flask --app incident doctor --mail-to`.\n"
                           "このメールは、SNSトラブル対応システムの送信テストです。\n", kind="test")
    server = _connect()
    try:
        server.send_message(build_message(mail))
    finally:
        _close(server)
