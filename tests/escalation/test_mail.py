"""Mail through a real SMTP server on 127.0.0.1 (aiosmtpd): the outbox is written with its cause,
delivered by the worker, kept through an outage and retried with back-off, and never lets a title
inject a header."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import signal
import socket
import types

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from incident.cases import service as cases
from incident.cases.models import Case
from incident.dates import utcnow
from incident.escalation import service as escalation
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.notifications import mailer
from incident.notifications.models import Notification, OutboxMail

HOST = "127.0.0.1"
BASE_URL = "https://incident.city.example"


class Collector:
    """An aiosmtpd handler that keeps every envelope it receives."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class SMTPServer:
    """Start and stop a real SMTP server on one loopback port (stopping it is the outage)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = Collector()
        self.controller: Controller | None = None

    def start(self) -> None:
        assert self.controller is None
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app):
    server = SMTPServer(free_port())
    server.start()
    app.config.update(MAIL_HOST=HOST, MAIL_PORT=server.port, MAIL_SECURITY="none", MAIL_USERNAME=None,
                      MAIL_TIMEOUT=5, BASE_URL=BASE_URL, MAIL_FROM="incident@city.ishinomaki.lg.jp")
    yield server
    server.stop()


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        responder=make.user("responder", dept, name="担当", email="tanto@example.jp"),
        supervisor=make.user("supervisor", dept, name="課長", email="kacho@example.jp"),
        admin=make.user("admin", pr, name="広報", email="koho@example.jp"),
    )


def outbox(**where) -> list[OutboxMail]:
    db.session.expire_all()
    query = select(OutboxMail).order_by(OutboxMail.id)
    for name, value in where.items():
        query = query.where(getattr(OutboxMail, name) == value)
    return list(db.session.scalars(query))


def open_case(actor, title="炎上しています", **data) -> Case:
    case = cases.open_case(actor, {"kind": "flaming", "severity": "high", "title": title, **data})
    db.session.commit()
    return case


# ---- the outbox is part of the transaction ------------------------------------------------------


def test_mail_is_written_in_the_same_transaction_as_its_cause(town):
    case = cases.open_case(town.responder, {"kind": "flaming", "severity": "high", "title": "取り消される"})
    db.session.flush()
    pending = [m.to_addr for m in db.session.scalars(select(OutboxMail))]
    assert pending == [town.supervisor.email]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 0
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0

    case = open_case(town.responder, "残る")
    escalation.escalate(town.responder, case, "相談したい")
    db.session.rollback()  # the escalation is rolled back, and its mail with it
    assert db.session.scalar(select(func.count()).select_from(Escalation)) == 0
    assert [m.kind for m in outbox()] == ["case_opened"]
    escalation.escalate(town.responder, case, "相談したい")
    db.session.commit()
    assert sorted(m.kind for m in outbox()) == ["case_opened", "escalation"]


# ---- delivery ----------------------------------------------------------------------------------


def test_deliver_due_sends_with_recipient_japanese_subject_and_case_link(smtp, town):
    case = open_case(town.responder, "市の投稿に批判が集中")
    escalation.escalate(town.responder, case, "一人では判断できません")
    db.session.commit()
    report = mailer.deliver_due()
    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    assert all(m.sent_at is not None and m.attempts == 1 and m.last_error == "" for m in outbox())
    assert [e.rcpt_tos for e in smtp.handler.envelopes] == [[town.supervisor.email]] * 2
    opened, escalated = smtp.handler.messages()
    for message in (opened, escalated):
        assert message["To"] == town.supervisor.email
        assert message["From"] == "incident@city.ishinomaki.lg.jp"
        assert message.get_content_charset() == "utf-8"
    assert opened["Subject"] == f"【新しい案件】{case.number} 市の投稿に批判が集中"
    assert escalated["Subject"] == f"【エスカレーション】{case.number} 市の投稿に批判が集中"
    # Non-ASCII subjects travel RFC 2047-encoded, not as raw 8-bit headers.
    raw_subject = re.search(rb"^Subject:(.*(?:\r?\n[ \t].*)*)", smtp.handler.envelopes[1].content, re.M).group(1)
    assert raw_subject.isascii() and b"=?utf-8?" in raw_subject.lower()
    body = escalated.get_content()
    assert "一人では判断できません" in body
    assert f"{BASE_URL}/cases/{case.id}#escalations" in body
    assert f"{BASE_URL}/cases/{case.id}\n" in opened.get_content()
    # Sent mail is not sent again.
    assert mailer.deliver_due().sent == 0
    assert len(smtp.handler.envelopes) == 2


def test_without_mail_host_mail_waits_in_the_outbox(app, town):
    app.config["MAIL_HOST"] = None
    open_case(town.responder)
    report = mailer.deliver_due()
    assert report.sent == 0 and "MAIL_HOST" in report.skipped
    [mail] = outbox()
    assert mail.sent_at is None and mail.attempts == 0


def test_an_outage_loses_nothing_and_mail_goes_out_after_the_server_is_back(smtp, town):
    open_case(town.responder, "停止中")
    smtp.stop()
    now = utcnow()
    report = mailer.deliver_due(now)
    assert (report.sent, report.retried) == (0, 1)
    [mail] = outbox()
    assert mail.sent_at is None and mail.failed_at is None
    assert mail.attempts == 1 and mail.last_error  # e.g. ConnectionRefusedError: ...
    assert mail.next_attempt_at > now  # back-off: not before a minute has passed
    assert mail.next_attempt_at == now + mailer.backoff(1)

    smtp.start()
    # The server is back, but the mail is not due yet.
    assert mailer.deliver_due(now + dt.timedelta(seconds=30)).sent == 0
    assert smtp.handler.envelopes == []
    report = mailer.deliver_due(mail.next_attempt_at)
    assert report.sent == 1
    [mail] = outbox()
    assert mail.sent_at is not None and mail.attempts == 2 and mail.last_error == ""
    [message] = smtp.handler.messages()
    assert message["To"] == town.supervisor.email and "停止中" in message["Subject"]


def test_an_unreachable_server_is_tried_once_per_round_not_once_per_mail(smtp, town):
    """With the server down, the round stops after the first connection failure (no timeout per mail)."""
    open_case(town.responder, "一件目")
    open_case(town.responder, "二件目")
    smtp.stop()
    report = mailer.deliver_due()
    assert (report.sent, report.retried) == (0, 1)
    assert sorted(m.attempts for m in outbox()) == [0, 1]


def test_backoff_grows_and_is_capped():
    assert [mailer.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4, 7, 8, 20)] == [1, 2, 4, 8, 60, 60, 60]


def test_after_max_attempts_mail_is_failed_shown_to_admins_and_can_be_retried(app, smtp, town, client, login):
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    open_case(town.responder, "届かない")
    smtp.stop()
    now = utcnow()
    for attempt in range(1, 4):
        [mail] = outbox()
        report = mailer.deliver_due(mail.next_attempt_at)
        [mail] = outbox()
        assert mail.attempts == attempt
        if attempt < 3:
            assert report.retried == 1 and mail.failed_at is None
    assert report.failed == 1 and mail.failed_at is not None and mail.last_error
    # A failed mail is not tried again by the worker.
    assert mailer.deliver_due(now + dt.timedelta(days=1)).failed == 0
    assert outbox()[0].attempts == 3

    login(town.admin)
    page = client.get("/admin/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert town.supervisor.email in html and "送信失敗" in html and "届かない" in html
    assert f"/admin/outbox/{mail.id}/retry" in html
    login(town.responder)
    assert client.get("/admin/outbox").status_code == 404
    assert client.post(f"/admin/outbox/{mail.id}/retry").status_code == 404
    assert outbox()[0].failed_at is not None

    login(town.admin)
    response = client.post(f"/admin/outbox/{mail.id}/retry")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/outbox")
    [mail] = outbox()
    assert mail.failed_at is None and mail.attempts == 0
    smtp.start()
    assert mailer.deliver_due(utcnow() + dt.timedelta(seconds=1)).sent == 1
    assert [e.rcpt_tos for e in smtp.handler.envelopes] == [[town.supervisor.email]]
    assert "未送信のメールはありません" in client.get("/admin/outbox").get_data(as_text=True)


# ---- header injection --------------------------------------------------------------------------


@pytest.mark.parametrize("title", [
    "炎上\r\nBcc: evil@example.com",
    "炎上\nBcc: evil@example.com",
    "炎上\rBcc: evil@example.com\r\n\r\n本文の偽装",
], ids=["crlf", "lf", "cr-and-blank-line"])
def test_a_title_cannot_inject_headers(smtp, town, title):
    case = open_case(town.responder, title)
    note = db.session.scalars(select(Notification).where(Notification.user_id == town.supervisor.id)).one()
    assert "\n" not in note.title and "\r" not in note.title
    assert mailer.deliver_due().sent == 1
    [envelope] = smtp.handler.envelopes
    assert envelope.rcpt_tos == [town.supervisor.email]
    assert b"evil@example.com" not in b"".join(
        line for line in envelope.content.split(b"\n") if re.match(rb"(?i)(bcc|cc|to):", line))
    assert not re.search(rb"(?im)^bcc:", envelope.content)
    [message] = smtp.handler.messages()
    assert message["Bcc"] is None and message["Cc"] is None
    assert message.get_all("To") == [town.supervisor.email]
    subject = message["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith(f"【新しい案件】{case.number} 炎上") and "Bcc: evil@example.com" in subject
    assert "本文の偽装" not in message.get_content()


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=["U+2028", "U+2029", "U+0085"])
def test_a_title_with_a_unicode_line_separator_is_still_delivered(smtp, town, separator):
    open_case(town.responder, f"炎上{separator}続報")
    report = mailer.deliver_due()
    assert report.sent == 1, outbox()[0].last_error
    [message] = smtp.handler.messages()
    assert "続報" in message["Subject"] and message["Bcc"] is None


# ---- e-mail choices ----------------------------------------------------------------------------


def test_unticking_escalation_mail_keeps_the_in_app_notification_only(smtp, town, make, client, login):
    other_supervisor = make.user("supervisor", town.supervisor.department, name="副課長", email="fuku@example.jp")
    login(town.supervisor)
    page = client.get("/notifications").get_data(as_text=True)
    assert 'name="kinds" value="escalation" checked' in page
    wanted = ["case_opened", "approval_requested", "assigned"]
    response = client.post("/notifications/email", data={"kinds": wanted})
    assert response.status_code == 302
    page = client.get("/notifications").get_data(as_text=True)
    assert 'name="kinds" value="escalation" checked' not in page
    assert 'name="kinds" value="case_opened" checked' in page

    case = open_case(town.responder, "設定の確認")
    escalation.escalate(town.responder, case, "見てください")
    db.session.commit()
    for supervisor in (town.supervisor, other_supervisor):
        kinds = sorted(db.session.scalars(select(Notification.kind).where(Notification.user_id == supervisor.id)))
        assert kinds == ["case_opened", "escalation"]
    assert sorted(m.kind for m in outbox(to_addr=town.supervisor.email)) == ["case_opened"]
    assert sorted(m.kind for m in outbox(to_addr=other_supervisor.email)) == ["case_opened", "escalation"]
    mailer.deliver_due()
    received = sorted((e.rcpt_tos[0], m["Subject"].split("】")[0]) for e, m in
                      zip(smtp.handler.envelopes, smtp.handler.messages(), strict=True))
    assert received == [(other_supervisor.email, "【エスカレーション"), (other_supervisor.email, "【新しい案件"),
                        (town.supervisor.email, "【新しい案件")]


# ---- the worker --------------------------------------------------------------------------------


@pytest.fixture
def keep_signal_handlers():
    """`flask worker` installs SIGTERM/SIGINT handlers; put pytest's back afterwards."""
    saved = {name: signal.getsignal(getattr(signal, name)) for name in ("SIGTERM", "SIGINT")}
    yield
    for name, handler in saved.items():
        signal.signal(getattr(signal, name), handler)


def test_worker_once_sweeps_and_delivers(smtp, town, runner, keep_signal_handlers):
    case = open_case(town.responder, "ワーカー")
    case_id = case.id
    escalation.escalate(town.responder, case, "至急")
    db.session.commit()
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "mail sent 2" in result.output and "escalations raised" in result.output
    assert len(smtp.handler.envelopes) == 2
    subjects = sorted(m["Subject"] for m in smtp.handler.messages())
    assert all("ワーカー" in s for s in subjects)
    assert all(m.sent_at is not None for m in outbox())
    assert db.session.get(Case, case_id) is not None
    # A second round finds nothing to send.
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0 and "mail sent 0" in result.output
    assert len(smtp.handler.envelopes) == 2


def test_worker_once_with_the_server_down_keeps_the_mail(smtp, town, runner, keep_signal_handlers):
    open_case(town.responder, "停止")
    smtp.stop()
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "retry later 1" in result.output
    [mail] = outbox()
    assert mail.sent_at is None and mail.attempts == 1 and mail.last_error
