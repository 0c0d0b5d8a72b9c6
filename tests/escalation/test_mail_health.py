"""Mail that cannot go out is visible: the PR office's warning on every page, and `flask doctor`."""
from __future__ import annotations

import types

import pytest
from sqlalchemy import insert
from test_mail import HOST, SMTPServer, free_port  # the real loopback SMTP server of the mail tests

from incident.dates import utcnow
from incident.extensions import db
from incident.notifications.models import OutboxMail
from incident.pagination import COUNT_CAP

WARNING = "メールが送信されていません。"


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        responder=make.user("responder", dept), supervisor=make.user("supervisor", dept),
        admin=make.user("admin", pr),
    )


def _queue_mail(**fields) -> OutboxMail:
    mail = OutboxMail(to_addr="kacho@example.jp", subject="件名", body="本文", kind="escalation", **fields)
    db.session.add(mail)
    db.session.commit()
    return mail


def test_pr_office_sees_on_every_page_that_no_mail_server_is_set(app, client, login, town):
    app.config["MAIL_HOST"] = None
    _queue_mail()
    login(town.admin)
    for path in ("/cases", "/accounts", "/notifications", "/settings"):
        page = client.get(path).get_data(as_text=True)
        assert WARNING in page, path
        assert "送信サーバー（SMTP）が設定されていない" in page
        assert "（1 件）" in page
        assert 'href="/admin/outbox"' in page


@pytest.mark.parametrize("who", ["responder", "supervisor"])
def test_others_do_not_get_the_warning(app, client, login, town, who):
    app.config["MAIL_HOST"] = None
    login(getattr(town, who))
    assert WARNING not in client.get("/cases").get_data(as_text=True)


def test_no_warning_when_mail_is_configured_and_flowing(app, client, login, town):
    app.config["MAIL_HOST"] = "127.0.0.1"
    _queue_mail()  # waiting for the worker's next round is normal
    login(town.admin)
    assert WARNING not in client.get("/cases").get_data(as_text=True)


def test_failing_delivery_is_shown_with_counts(app, client, login, town):
    app.config["MAIL_HOST"] = "127.0.0.1"
    _queue_mail(attempts=2, last_error="ConnectionRefusedError: [Errno 111] Connection refused")
    _queue_mail(attempts=10, failed_at=utcnow(), last_error="SMTPRecipientsRefused")
    login(town.admin)
    page = client.get("/cases").get_data(as_text=True)
    assert "配信に失敗している通知があります。" in page and WARNING not in page  # the mail server is set
    assert "再試行中 1 件、送信をあきらめたもの 1 件" in page


def test_the_header_stops_counting_a_long_outbox_and_doctor_counts_it_all(app, client, login, runner, town):
    """A mail server down for days leaves thousands waiting: every PR office page must not count them all."""
    app.config["MAIL_HOST"] = None
    db.session.execute(insert(OutboxMail), [
        {"to_addr": "kacho@example.jp", "subject": "件名", "body": "本文", "kind": "escalation"}
        for _ in range(COUNT_CAP + 5)])
    db.session.commit()
    login(town.admin)
    page = client.get("/cases").get_data(as_text=True)
    assert f"保存されています（{COUNT_CAP:,} 件以上）" in page
    assert f"{COUNT_CAP + 5:,}" not in page
    assert f"outbox: {COUNT_CAP + 5} waiting" in runner.invoke(args=["doctor"]).output


def test_outbox_page_states_the_setting_without_the_password(app, client, login, town):
    app.config.update(MAIL_HOST="smtp.city.example", MAIL_PORT=587, MAIL_SECURITY="starttls",
                      MAIL_USERNAME="incident", MAIL_PASSWORD="s3cret-Passw0rd")
    login(town.admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "smtp.city.example" in page and "587" in page and "starttls" in page
    assert "s3cret-Passw0rd" not in page
    app.config["MAIL_HOST"] = None
    assert "送信サーバー（SMTP）が設定されていません" in client.get("/admin/outbox").get_data(as_text=True)


def test_doctor_reports_missing_mail_server_and_exits_1(app, runner):
    app.config["MAIL_HOST"] = None
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "PROBLEM  mail" in result.output and "INCIDENT_MAIL_HOST is not set" in result.output
    assert "up to date" in result.output  # the schema check ran


def test_doctor_sends_a_real_test_mail_and_never_prints_the_password(app, runner):
    server = SMTPServer(free_port())
    server.start()
    try:
        app.config.update(MAIL_HOST=HOST, MAIL_PORT=server.port, MAIL_SECURITY="none", MAIL_USERNAME=None,
                          MAIL_PASSWORD="never-shown", MAIL_TIMEOUT=5)
        result = runner.invoke(args=["doctor", "--mail-to", "koho@example.jp"])
        assert result.exit_code == 0, result.output
        assert f"test mail to koho@example.jp accepted by {HOST}" in result.output
        assert "never-shown" not in result.output
        [message] = server.handler.messages()
        assert message["To"] == "koho@example.jp"
    finally:
        server.stop()


def test_doctor_says_when_the_mail_server_refuses(app, runner):
    port = free_port()  # nothing listens there
    app.config.update(MAIL_HOST=HOST, MAIL_PORT=port, MAIL_SECURITY="none", MAIL_TIMEOUT=2)
    result = runner.invoke(args=["doctor", "--mail-to", "koho@example.jp"])
    assert result.exit_code == 1
    assert "test mail to koho@example.jp FAILED" in result.output
