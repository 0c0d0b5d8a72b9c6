"""Delivering chat messages from the outbox: each service's message, the generic webhook's signature, LINE
WORKS's access token, and the same claims, retries and back-off as mail."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from incident.dates import utcnow
from incident.extensions import db
from incident.notifications.mailer import DeliveryReport, claim, due_ids, record_failure, record_success
from incident.notifications.models import ChatChannel, OutboxMail

USER_AGENT = "incident-notifier/1"
#: LINE WORKS refuses text messages longer than this.
LINEWORKS_TEXT_MAX = 2000
SIGNATURE_HEADER = "X-Incident-Signature"
TIMESTAMP_HEADER = "X-Incident-Timestamp"
DELIVERY_HEADER = "X-Incident-Delivery"


class ChatError(Exception):
    """A message the service did not take; the text is safe to show (no webhook path, no token)."""


def _markdown_escaped(text: str) -> str:
    """Text shown literally by an Adaptive Card's Markdown (bold, italics and links are all it knows): a case
    title cannot become a link or change the emphasis."""
    return "".join(f"\\{c}" if c in "\\*_[]" else c for c in text)


def _slack_escaped(text: str) -> str:
    """Slack's three control characters; a title cannot make a link or mention everyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(mail: OutboxMail) -> dict[str, Any]:
    """A Teams Workflows webhook ("post to a channel when a webhook request is received"): an Adaptive Card."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": _markdown_escaped(mail.subject), "weight": "Bolder", "size": "Medium",
         "wrap": True}]
    if mail.body:
        body.append({"type": "TextBlock", "text": _markdown_escaped(mail.body), "wrap": True})
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard", "version": "1.4", "body": body}
    if mail.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": _("開く"), "url": mail.link}]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def _slack(mail: OutboxMail) -> dict[str, Any]:
    """A Slack incoming webhook: Block Kit with a plain-text fallback for notifications."""
    text = f"*{_slack_escaped(mail.subject)}*"
    if mail.body:
        text += f"\n{_slack_escaped(mail.body)}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if mail.link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": _("開く")}, "url": mail.link}]})
    return {"text": _slack_escaped(mail.subject), "blocks": blocks}


def _lineworks(mail: OutboxMail) -> dict[str, Any]:
    """A LINE WORKS bot's text message (plain text: nothing in it is markup)."""
    text = "\n".join(part for part in (mail.subject, mail.body, mail.link) if part)
    return {"content": {"type": "text", "text": text[:LINEWORKS_TEXT_MAX]}}


def _webhook(mail: OutboxMail) -> dict[str, Any]:
    """The generic webhook's JSON (README, "Chat"): for LoGoチャット or a city's own relay."""
    return {"id": mail.id, "kind": mail.kind, "title": mail.subject, "text": mail.body, "url": mail.link,
            "created_at": mail.created_at.isoformat()}


PAYLOADS = {"teams": _teams, "slack": _slack, "lineworks": _lineworks, "webhook": _webhook}


def payload(channel: ChatChannel, mail: OutboxMail) -> dict[str, Any]:
    """What is posted for this message, in the channel's language (a person's own, Japanese for a department)."""
    locale = (channel.user.locale if channel.user is not None else None) or "ja"
    with force_locale(locale):
        return PAYLOADS[channel.service](mail)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>" with the channel's key, as the receiver recomputes it."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _lineworks_setting(name: str) -> str:
    value = current_app.config.get(f"LINEWORKS_{name}")
    if value in (None, ""):
        raise ChatError(f"LINE WORKS is not configured: INCIDENT_LINEWORKS_{name} is not set")
    return str(value)


def _lineworks_token(refresh: bool = False) -> str:
    """The bot's access token (OAuth 2.0 JWT bearer with the service account's key), kept until shortly
    before it expires."""
    client_id, account = _lineworks_setting("CLIENT_ID"), _lineworks_setting("SERVICE_ACCOUNT")
    key = (client_id, account)
    with _tokens_lock:
        held = _tokens.get(key)
        if held is not None and not refresh and held[1] > time.time() + 60:
            return held[0]
    now = int(time.time())
    try:
        private_key = RSAKey.import_key(_lineworks_setting("PRIVATE_KEY"))
    except ValueError as exc:
        raise ChatError(f"LINE WORKS private key cannot be read: {type(exc).__name__}") from None
    assertion = jwt.encode({"alg": "RS256"}, {"iss": client_id, "sub": account, "iat": now, "exp": now + 3600},
                           private_key)
    response = _send("POST", _lineworks_setting("AUTH_URL"), data={
        "assertion": assertion, "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "client_id": client_id, "client_secret": _lineworks_setting("CLIENT_SECRET"), "scope": "bot"})
    try:
        answer = response.json()
        token, expires_in = str(answer["access_token"]), float(answer.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise ChatError("LINE WORKS token answer without access_token") from None
    with _tokens_lock:
        _tokens[key] = (token, time.time() + expires_in)
    return token


def _lineworks_url(channel: ChatChannel) -> str:
    kind, _, ident = channel.target.partition(":")
    place = "channels" if kind == "channel" else "users"
    bot = quote(_lineworks_setting("BOT_ID"), safe="")
    return f"{_lineworks_setting('API_URL').rstrip('/')}/bots/{bot}/{place}/{quote(ident, safe='@.')}/messages"


def _send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One HTTP call; ChatError with the host and what went wrong, never the URL's secret path."""
    host = urlsplit(url).hostname or "?"
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        response = requests.request(method, url, headers=headers, timeout=float(current_app.config["CHAT_TIMEOUT"]),
                                    allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        raise ChatError(f"{type(exc).__name__} ({host})") from None
    if not 200 <= response.status_code < 300:
        said = " ".join(response.text[:200].split())
        raise ChatError(f"HTTP {response.status_code} from {host}" + (f": {said}" if said else ""))
    return response


def post(channel: ChatChannel, mail: OutboxMail) -> None:
    """Post one message to its channel; ChatError when the service did not take it."""
    body = json.dumps(payload(channel, mail), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if channel.service == "lineworks":
        url = _lineworks_url(channel)
        headers["Authorization"] = f"Bearer {_lineworks_token()}"
        try:
            _send("POST", url, data=body, headers=headers)
        except ChatError as exc:
            if not str(exc).startswith("HTTP 401"):
                raise
            headers["Authorization"] = f"Bearer {_lineworks_token(refresh=True)}"  # the token was revoked early
            _send("POST", url, data=body, headers=headers)
        return
    if channel.service == "webhook":
        timestamp = str(int(time.time()))
        headers.update({DELIVERY_HEADER: str(mail.id), TIMESTAMP_HEADER: timestamp,
                        SIGNATURE_HEADER: signature(channel.secret, timestamp, body)})
    _send("POST", channel.url, data=body, headers=headers)


def deliver_chat_due(now: dt.datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Post every due chat message once, oldest first. A failure is retried after a back-off (given up after
    CHAT_MAX_ATTEMPTS); the channel's other messages wait for the next round, so an unreachable service
    costs one timeout per round, not one per message. A message retried later arrives after those sent
    meanwhile: each names its case and time, and none is lost."""
    report = DeliveryReport()
    now = now or utcnow()
    failing: set[int] = set()
    due = due_ids(now, limit, OutboxMail.channel_id.is_not(None))
    # Each message's channel, read once for the round (not a query per message).
    channel_of: dict[int, int | None] = {
        row.id: row.channel_id
        for row in db.session.execute(select(OutboxMail.id, OutboxMail.channel_id).where(OutboxMail.id.in_(due)))}
    db.session.commit()
    for mail_id in due:
        channel_id = channel_of[mail_id]
        if channel_id in failing or not claim(mail_id, now):
            continue
        mail = db.session.get_one(OutboxMail, mail_id)
        channel = db.session.get_one(ChatChannel, mail.channel_id)
        if channel.removed_at is not None:
            record_failure(mail, "channel removed", now, 0, report)
            db.session.commit()
            continue
        db.session.commit()  # nothing holds the database's write lock while the service answers
        try:
            post(channel, mail)
        except ChatError as exc:
            record_failure(mail, str(exc), now, int(current_app.config["CHAT_MAX_ATTEMPTS"]), report)
            failing.add(channel.id)
        else:
            record_success(mail, report)
        db.session.commit()
    return report
