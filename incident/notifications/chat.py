"""Chat channels: where notifications also go (Teams, Slack, LINE WORKS, a signed webhook), who may set
them up, and their checks. notify() writes their messages to the outbox; chat_delivery posts them."""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from incident import policy
from incident.audit import service as audit
from incident.auth.models import Department, User
from incident.dates import utcnow
from incident.errors import NotFound, ValidationFailed
from incident.extensions import db
from incident.notifications.models import ChatChannel, OutboxMail
from incident.notifications.service import DEPARTMENT_KINDS, KINDS, base_url

SERVICES = ("teams", "slack", "lineworks", "webhook")
#: Where each service's incoming webhooks live: a Teams Workflows URL (Power Automate) or a Slack
#: incoming webhook. A URL elsewhere is refused, so a channel cannot be pointed at an inside address.
SERVICE_HOSTS = {
    "teams": (".logic.azure.com", ".powerplatform.com", ".powerautomate.com"),
    "slack": ("hooks.slack.com",),
}
NAME_MAX = 100
URL_MAX = 1000
TARGET_MAX = 200


def _is_loopback_allowed(parts: SplitResult) -> bool:
    return bool(current_app.config.get("CHAT_ALLOW_LOOPBACK")) and parts.scheme in ("http", "https") \
        and parts.hostname == "127.0.0.1"


def check_url(service: str, raw: str) -> str:
    """The channel's webhook URL, checked: https, no user name or password, the service's own host (a
    generic webhook may be any https host); ValidationFailed otherwise."""
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(fields={"url": _l("Webhook の URL を入力してください。")})
    if len(text) > URL_MAX or any(c.isspace() or ord(c) < 32 for c in text):
        raise ValidationFailed(fields={"url": _l("URL が長すぎるか、空白を含んでいます。")})
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        raise ValidationFailed(fields={"url": _l("URL の形式が正しくありません。")}) from None
    if _is_loopback_allowed(parts):
        return text
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise ValidationFailed(fields={"url": _l("https:// で始まる URL を入力してください（ユーザー名やパスワードは含めません）。")})
    hosts = SERVICE_HOSTS.get(service)
    if hosts and not any(parts.hostname == h or parts.hostname.endswith(h) for h in hosts):
        raise ValidationFailed(fields={"url": _l(
            "このサービスの Webhook の URL ではありません（%(hosts)s）。", hosts="、".join(h.lstrip(".") for h in hosts))})
    return text


def check_target(raw: str) -> str:
    """A LINE WORKS destination: "channel:<channel id>" (a talk room the bot is in) or "user:<user id>"."""
    text = (raw or "").strip()
    kind, _, ident = text.partition(":")
    if kind not in ("channel", "user") or not ident or len(text) > TARGET_MAX \
            or any(c.isspace() or c in "/?#%" or ord(c) < 32 for c in ident):
        raise ValidationFailed(fields={"target": _l(
            "送り先は channel:トークルームID か user:ユーザーID の形で入力してください。")})
    return text


def host_of(channel: ChatChannel) -> str:
    """What a page may show of where the channel posts: the host, never the secret path."""
    if channel.service == "lineworks":
        return channel.target
    return urlsplit(channel.url).hostname or ""


def manageable_departments(actor: User) -> list[Department]:
    """The departments whose channels the actor sets up: their own for a supervisor, every one for the PR office."""
    query = select(Department).order_by(Department.id)
    if not policy.lists_every_department(actor):
        query = query.where(Department.id == actor.department_id)
    return [d for d in db.session.scalars(query) if policy.can_manage_department_chat(actor, d)]


def channels_for(actor: User) -> list[ChatChannel]:
    """The actor's own channels and those of the departments they manage (removed ones left out)."""
    departments = [d.id for d in manageable_departments(actor)]
    return list(db.session.scalars(select(ChatChannel).where(
        ChatChannel.removed_at.is_(None),
        or_(ChatChannel.user_id == actor.id, ChatChannel.department_id.in_(departments)))
        .order_by(ChatChannel.department_id.is_(None), ChatChannel.id)))


def add_channel(actor: User, *, service: str, name: str, kinds: Iterable[str], url: str = "", target: str = "",
                department: Department | None = None) -> ChatChannel:
    """A new channel: the actor's own, or a department's (its supervisor or the PR office). A generic webhook
    gets a new signing key, returned once in `secret`."""
    if department is not None and not policy.can_manage_department_chat(actor, department):
        raise NotFound()
    if service not in SERVICES:
        raise ValidationFailed(fields={"service": _l("送り先のサービスを選んでください。")})
    if service == "webhook" and department is None:
        # A person's messages go to a service they chose, at a host the city knows; any host is for a
        # department's relay, set up by its supervisor or the PR office.
        raise ValidationFailed(fields={"service": _l("汎用 Webhook は所属のチャンネルとしてだけ設定できます。")})
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(fields={"name": _l("名前を %(max)d 文字以内で入力してください。", max=NAME_MAX)})
    chosen = sorted(set(kinds) & set(KINDS if department is None else DEPARTMENT_KINDS))
    if not chosen:
        raise ValidationFailed(fields={"kinds": _l("送る通知を一つ以上選んでください。")})
    channel = ChatChannel(
        service=service, name=name, kinds=",".join(chosen), created_by_id=actor.id,
        department_id=department.id if department is not None else None,
        user_id=actor.id if department is None else None,
        url=check_url(service, url) if service != "lineworks" else "",
        target=check_target(target) if service == "lineworks" else "",
        secret=secrets.token_urlsafe(32) if service == "webhook" else "")
    db.session.add(channel)
    db.session.flush()
    audit.record(actor, "chat_channel.add", "chat_channel", channel.id,
                 changes={"service": (None, service), "name": (None, name), "host": (None, host_of(channel)),
                          "department_id": (None, channel.department_id), "kinds": (None, channel.kinds)})
    return channel


def get_channel(actor: User, channel_id: int) -> ChatChannel:
    """One of the channels the actor may manage; NotFound for any other (or a removed one)."""
    channel = db.session.get(ChatChannel, channel_id)
    if channel is None or channel.removed_at is not None or not may_manage(actor, channel):
        raise NotFound()
    return channel


def may_manage(actor: User, channel: ChatChannel) -> bool:
    """A person manages their own channels; a department's are its supervisors' and the PR office's."""
    if channel.user_id is not None:
        return channel.user_id == actor.id
    department = db.session.get(Department, channel.department_id)
    return department is not None and policy.can_manage_department_chat(actor, department)


def remove_channel(actor: User, channel: ChatChannel) -> None:
    """Stop sending to the channel; its undelivered messages are given up (the outbox shows them failed)."""
    now = utcnow()
    channel.removed_at = now
    for mail in db.session.scalars(select(OutboxMail).where(
            OutboxMail.channel_id == channel.id, OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None))):
        mail.failed_at = now
        mail.last_error = "channel removed"
    audit.record(actor, "chat_channel.remove", "chat_channel", channel.id,
                 changes={"removed_at": (None, now)})


def queue_test(actor: User, channel: ChatChannel) -> OutboxMail:
    """A test message to the channel, through the outbox like any other."""
    message = OutboxMail(to_addr="", channel_id=channel.id, kind="test",
                         subject=str(_l("【テスト】SNSトラブル対応システムからの通知")),
                         body=str(_l("%(who)s さんが送ったテストです。このチャンネルに通知が届きます。", who=actor.name)),
                         link=f"{base_url()}/notifications/chat", next_attempt_at=utcnow())
    db.session.add(message)
    db.session.flush()
    return message
