"""Chat notifications (issue 16): channels per department and person, delivered from the outbox to real HTTP
receivers on 127.0.0.1 — Teams, Slack, LINE WORKS (with its token endpoint) and the signed webhook — with
retries when a receiver fails, nothing lost and nothing sent twice."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import types
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from incident.cases import service as cases
from incident.dates import utcnow
from incident.errors import NotFound, ValidationFailed
from incident.escalation import service as escalation
from incident.extensions import db
from incident.notifications import chat, chat_delivery, mailer
from incident.notifications.models import ChatChannel, OutboxMail

BASE_URL = "https://incident.city.example"


class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps what it is sent; `fail` answers the next n posts with 500."""

    def __init__(self) -> None:
        self.received: list[types.SimpleNamespace] = []
        self.failed: list[str] = []
        self.fail = 0
        self.answers: dict[str, tuple[int, dict]] = {}
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        if self.fail > 0:
            self.fail -= 1
            self.failed.append(request.path)
            return Response("temporarily down", status=500)(environ, start_response)
        self.received.append(types.SimpleNamespace(path=request.path, headers=dict(request.headers), body=body))
        status, answer = self.answers.get(request.path, (200, {"ok": True}))
        return Response(json.dumps(answer), status=status, mimetype="application/json")(environ, start_response)

    def json(self, index: int = -1) -> dict:
        return json.loads(self.received[index].body)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(app) -> Iterator[Receiver]:
    app.config.update(CHAT_ALLOW_LOOPBACK=True, BASE_URL=BASE_URL, CHAT_TIMEOUT=5)
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    other = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        dept=dept, other=other,
        responder=make.user("responder", dept, name="担当"),
        supervisor=make.user("supervisor", dept, name="課長"),
        other_supervisor=make.user("supervisor", other, name="観光課長"),
        contractor=make.user("responder", dept, name="委託", organisation="株式会社委託"),
        admin=make.user("admin", pr, name="広報"),
    )


def open_case(actor, title="偽アカウントが市を名乗っています"):
    case = cases.open_case(actor, {"kind": "impersonation", "severity": "high", "title": title})
    db.session.commit()
    return case


def deliver(now: dt.datetime | None = None):
    report = chat_delivery.deliver_chat_due(now=now)
    db.session.expire_all()
    return report


def messages(**where) -> list[OutboxMail]:
    db.session.expire_all()
    query = select(OutboxMail).where(OutboxMail.channel_id.is_not(None)).order_by(OutboxMail.id)
    for name, value in where.items():
        query = query.where(getattr(OutboxMail, name) == value)
    return list(db.session.scalars(query))


# ---- what each service gets ------------------------------------------------------------------------------


def test_a_new_case_reaches_the_departments_teams_and_a_supervisors_own_slack(town, receiver):
    chat.add_channel(town.supervisor, service="teams", name="防災課 Teams", kinds=["case_opened", "escalation"],
                     url=f"{receiver.url}/teams", department=town.dept)
    chat.add_channel(town.supervisor, service="slack", name="課長の Slack", kinds=["case_opened"],
                     url=f"{receiver.url}/slack")
    chat.add_channel(town.other_supervisor, service="slack", name="観光課", kinds=["case_opened"],
                     url=f"{receiver.url}/kanko", department=town.other)
    db.session.commit()
    case = open_case(town.responder, "市を名乗る <b>偽</b> [アカウント](https://evil.example)")

    report = deliver()
    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    assert sorted(r.path for r in receiver.received) == ["/slack", "/teams"]  # never the other department's
    teams = next(json.loads(r.body) for r in receiver.received if r.path == "/teams")
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    title = card["content"]["body"][0]["text"]
    # The title is shown as written: Markdown in it cannot make a link in the city's channel.
    assert "\\[アカウント\\](https://evil.example)" in title and case.number in title
    assert card["content"]["actions"] == [
        {"type": "Action.OpenUrl", "title": "開く", "url": f"{BASE_URL}/cases/{case.id}"}]
    slack = next(json.loads(r.body) for r in receiver.received if r.path == "/slack")
    assert "&lt;b&gt;偽&lt;/b&gt;" in slack["text"] and "<b>" not in json.dumps(slack)
    assert slack["blocks"][1]["elements"][0]["url"] == f"{BASE_URL}/cases/{case.id}"
    assert all(m.sent_at is not None for m in messages())
    assert deliver().sent == 0 and len(receiver.received) == 2  # nothing sent twice


def test_a_person_gets_their_own_kinds_in_their_language_and_a_department_only_its_cases_news(town, receiver):
    town.supervisor.locale = "en"
    chat.add_channel(town.supervisor, service="slack", name="mine", kinds=["escalation"],
                     url=f"{receiver.url}/mine")
    with pytest.raises(ValidationFailed):  # "you were assigned" means nothing in a department's channel
        chat.add_channel(town.supervisor, service="slack", name="課", kinds=["assigned"],
                         url=f"{receiver.url}/dept", department=town.dept)
    db.session.commit()
    case = open_case(town.responder)  # case_opened: not a kind the person chose
    assert messages() == []
    escalation.escalate(town.responder, case, "判断に迷う")
    db.session.commit()
    [message] = messages()
    assert message.subject.startswith("[Escalation]") or "Escalation" in message.subject
    deliver()
    assert receiver.json()["blocks"][1]["elements"][0]["text"]["text"] == "Open"


def test_the_generic_webhook_is_signed_with_a_key_shown_once(town, receiver, client, login):
    login(town.supervisor)
    page = client.post("/notifications/chat", data={
        "owner": str(town.dept.id), "service": "webhook", "name": "LoGoチャット中継",
        "url": f"{receiver.url}/relay", "kinds": ["case_opened", "escalation"]})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    secret = re.search(r'<code class="token">([^<]+)</code>', text).group(1)
    assert "チャンネル「LoGoチャット中継」を追加しました" in text
    assert secret not in client.get("/notifications/chat").get_data(as_text=True)  # shown once
    case = open_case(town.responder)

    deliver()
    [sent] = receiver.received
    timestamp = sent.headers["X-Incident-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["X-Incident-Signature"] == f"sha256={expected}"
    body = json.loads(sent.body)
    [message] = messages()
    assert sent.headers["X-Incident-Delivery"] == str(message.id) == str(body["id"])
    assert body["kind"] == "case_opened" and body["url"] == f"{BASE_URL}/cases/{case.id}"
    assert case.title in body["title"]


def test_lineworks_signs_in_with_the_service_account_then_posts_as_the_bot(app, town, receiver):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    app.config.update(LINEWORKS_BOT_ID="2000001", LINEWORKS_CLIENT_ID="client-1", LINEWORKS_CLIENT_SECRET="cs",
                      LINEWORKS_SERVICE_ACCOUNT="abc.serviceaccount@city", LINEWORKS_PRIVATE_KEY=pem,
                      LINEWORKS_AUTH_URL=f"{receiver.url}/oauth2/v2.0/token", LINEWORKS_API_URL=f"{receiver.url}/v1.0")
    receiver.answers["/oauth2/v2.0/token"] = (200, {"access_token": "tok-1", "expires_in": "86400"})
    chat_delivery._tokens.clear()
    chat.add_channel(town.supervisor, service="lineworks", name="防災課トーク", kinds=["case_opened"],
                     target="channel:753449a5-7716", department=town.dept)
    db.session.commit()
    open_case(town.responder, "一件目")
    open_case(town.responder, "二件目")

    assert deliver().sent == 2
    token_call, first, second = receiver.received
    form = parse_qs(token_call.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["client_id"] == ["client-1"] and form["scope"] == ["bot"]
    claims = jwt.decode(form["assertion"][0], RSAKey.import_key(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))).claims
    assert claims["iss"] == "client-1" and claims["sub"] == "abc.serviceaccount@city"
    assert first.path == second.path == "/v1.0/bots/2000001/channels/753449a5-7716/messages"
    assert first.headers["Authorization"] == second.headers["Authorization"] == "Bearer tok-1"  # token kept
    assert "一件目" in json.loads(first.body)["content"]["text"]
    assert json.loads(second.body)["content"]["type"] == "text"


# ---- outages: retried, visible, never lost, never twice ---------------------------------------------------


def test_a_receiver_that_fails_gets_every_message_later_and_once(town, receiver, client, login):
    chat.add_channel(town.supervisor, service="slack", name="防災課 Slack", kinds=["case_opened"],
                     url=f"{receiver.url}/services/T0/B0/very-secret-path", department=town.dept)
    db.session.commit()
    for title in ("一件目", "二件目", "三件目"):
        open_case(town.responder, title)
    receiver.fail = 1
    now = utcnow()

    report = deliver(now)
    assert (report.sent, report.retried) == (0, 1)  # the rest wait: the service is failing
    first, second, third = messages()
    assert first.attempts == 1 and first.next_attempt_at > now and "HTTP 500" in first.last_error
    assert "very-secret-path" not in first.last_error  # the webhook's path is a secret
    assert second.attempts == third.attempts == 0

    login(town.admin)
    outbox_page = client.get("/admin/outbox").get_data(as_text=True)
    assert "チャット：防災課 Slack" in outbox_page and "HTTP 500 from 127.0.0.1" in outbox_page
    assert "very-secret-path" not in outbox_page
    assert "配信に失敗している通知があります。" in client.get("/cases").get_data(as_text=True)

    assert deliver(now).sent == 2  # the two that never tried go now; the failed one waits its back-off
    assert deliver(now + dt.timedelta(minutes=2)).sent == 1
    assert deliver(now + dt.timedelta(minutes=10)).sent == 0
    titles = [json.loads(r.body)["text"] for r in receiver.received]
    assert [t[t.index("件目") - 1] for t in titles] == ["二", "三", "一"]
    assert all(m.sent_at is not None for m in messages())


def test_a_message_is_given_up_after_the_last_attempt_and_can_be_sent_again(app, town, receiver, client, login):
    app.config["CHAT_MAX_ATTEMPTS"] = 2
    chat.add_channel(town.supervisor, service="teams", name="Teams", kinds=["case_opened"],
                     url=f"{receiver.url}/teams", department=town.dept)
    db.session.commit()
    open_case(town.responder)
    receiver.fail = 5
    now = utcnow()
    deliver(now)
    report = deliver(now + dt.timedelta(minutes=5))
    assert report.failed == 1
    [message] = messages()
    assert message.failed_at is not None
    receiver.fail = 0
    login(town.admin)
    assert client.post(f"/admin/outbox/{message.id}/retry").status_code == 302
    assert deliver().sent == 1 and receiver.received[0].path == "/teams"


def test_an_unreachable_service_costs_one_attempt_per_round(town, receiver):
    chat.add_channel(town.supervisor, service="slack", name="止まった", kinds=["case_opened"],
                     url="http://127.0.0.1:9/hooks", department=town.dept)  # nothing listens on port 9
    chat.add_channel(town.supervisor, service="slack", name="動いている", kinds=["case_opened"],
                     url=f"{receiver.url}/ok", department=town.dept)
    db.session.commit()
    open_case(town.responder, "一件目")
    open_case(town.responder, "二件目")
    report = deliver()
    assert (report.sent, report.retried) == (2, 1)  # the other channel is not held up
    down = [m for m in messages() if m.sent_at is None]
    assert [m.attempts for m in down] == [1, 0]
    assert down[0].last_error.startswith("ConnectionError (127.0.0.1)")


def test_mail_delivery_leaves_chat_messages_to_the_chat_worker(app, town, receiver):
    app.config["MAIL_HOST"] = "127.0.0.1"
    app.config["MAIL_PORT"] = 9
    chat.add_channel(town.supervisor, service="slack", name="課", kinds=["case_opened"],
                     url=f"{receiver.url}/ok", department=town.dept)
    db.session.commit()
    open_case(town.responder)
    mailer.deliver_due()
    [message] = messages()
    assert message.attempts == 0 and message.last_error == ""


def test_removing_a_channel_gives_up_its_waiting_messages(town, receiver, client, login):
    channel = chat.add_channel(town.supervisor, service="slack", name="古い", kinds=["case_opened"],
                               url=f"{receiver.url}/old", department=town.dept)
    db.session.commit()
    open_case(town.responder)
    login(town.supervisor)
    assert client.post(f"/notifications/chat/{channel.id}/remove").status_code == 302
    assert deliver().sent == 0 and receiver.received == []
    [message] = messages()
    assert message.failed_at is not None and message.last_error == "channel removed"
    open_case(town.responder, "次の案件")
    assert messages(sent_at=None, failed_at=None) == []


# ---- who may set up what ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "service"), [
    ("http://hooks.slack.com/services/T/B/X", "slack"),              # not https
    ("https://hooks.slack.com.evil.example/services/X", "slack"),    # not Slack's host
    ("https://user:pw@hooks.slack.com/services/X", "slack"),         # credentials in the URL
    ("https://example.com/workflows/1", "teams"),                    # not a Teams Workflows host
    ("https://hooks.slack.com/services/T/B/X Y", "slack"),           # a space
    ("", "teams"),
])
def test_webhook_urls_must_be_the_services_own_over_https(town, url, service):
    with pytest.raises(ValidationFailed) as refused:
        chat.add_channel(town.supervisor, service=service, name="x", kinds=["escalation"], url=url)
    assert "url" in refused.value.fields


def test_real_service_urls_are_accepted(town):
    teams = "https://prod-12.japaneast.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s"
    made = chat.add_channel(town.supervisor, service="teams", name="t", kinds=["escalation"], url=teams)
    assert chat.host_of(made) == "prod-12.japaneast.logic.azure.com"
    chat.add_channel(town.supervisor, service="slack", name="s", kinds=["escalation"],
                     url="https://hooks.slack.com/services/T0/B0/XYZ")


def test_who_may_set_up_a_departments_channel(town):
    def add(actor, department, service="slack"):
        return chat.add_channel(actor, service=service, name="課", kinds=["escalation"],
                                url="https://hooks.slack.com/services/T/B/X", department=department)

    add(town.supervisor, town.dept)
    add(town.admin, town.other)
    for actor, department in ((town.responder, town.dept), (town.other_supervisor, town.dept),
                              (town.contractor, town.dept)):
        with pytest.raises(NotFound):
            add(actor, department)
    with pytest.raises(ValidationFailed) as refused:  # a signed webhook to any host: departments only
        chat.add_channel(town.responder, service="webhook", name="私", kinds=["escalation"],
                         url="https://relay.example/hook")
    assert "service" in refused.value.fields
    with pytest.raises(ValidationFailed):
        chat.add_channel(town.responder, service="lineworks", name="私", kinds=["escalation"], target="room-1")


def test_the_page_adds_tests_and_removes_and_others_get_404(town, receiver, client, login):
    login(town.responder)
    page = client.get("/notifications/chat").get_data(as_text=True)
    assert "チャンネルを追加" in page and f'value="{town.dept.id}"' not in page  # no department for a responder
    refused = client.post("/notifications/chat", data={
        "owner": "me", "service": "slack", "name": "私の Slack", "url": "http://example.com/x",
        "kinds": ["escalation"]})
    assert refused.status_code == 422
    assert "https:// で始まる URL を入力してください" in refused.get_data(as_text=True)
    assert client.post("/notifications/chat", data={
        "owner": str(town.dept.id), "service": "slack", "name": "課", "url": f"{receiver.url}/x",
        "kinds": ["escalation"]}).status_code == 404
    for owner in ("9" * 30, "-1", "abc"):  # nonsense is a department that does not exist, never a 500
        assert client.post("/notifications/chat", data={
            "owner": owner, "service": "slack", "name": "課", "url": f"{receiver.url}/x",
            "kinds": ["escalation"]}).status_code == 404
    added = client.post("/notifications/chat", data={
        "owner": "me", "service": "slack", "name": "私の Slack", "url": f"{receiver.url}/mine",
        "kinds": ["escalation", "assigned"]})
    assert added.status_code == 302
    channel = db.session.scalars(select(ChatChannel)).one()
    assert channel.user_id == town.responder.id and channel.kind_list == ["assigned", "escalation"]
    listing = client.get("/notifications/chat").get_data(as_text=True)
    assert "私の Slack" in listing and "/mine" not in listing  # the URL's path is never shown again

    assert client.post(f"/notifications/chat/{channel.id}/test").status_code == 302
    assert deliver().sent == 1 and "テスト" in receiver.json()["text"]

    login(town.supervisor)  # another person's own channel does not exist for them
    assert client.post(f"/notifications/chat/{channel.id}/test").status_code == 404
    assert client.post(f"/notifications/chat/{channel.id}/remove").status_code == 404
    assert "私の Slack" not in client.get("/notifications/chat").get_data(as_text=True)
