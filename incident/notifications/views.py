"""Notification pages: my notifications with e-mail choices, and the PR office's view of the mail outbox."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary, labels, policy
from incident.auth.forms import EmptyForm, form_error
from incident.auth.models import Department
from incident.database import MAX_ID
from incident.errors import NotFound, ValidationFailed
from incident.extensions import db
from incident.messages import flash_at
from incident.notifications import chat, service
from incident.notifications.forms import ChatChannelForm, EmailChoicesForm
from incident.notifications.models import ChatChannel
from incident.pagination import COUNT_CAP, page_args

bp = Blueprint("notifications", __name__)


@bp.app_context_processor
def unread() -> dict[str, Any]:
    """The unread count in the header (one indexed count per page)."""
    if current_user and current_user.is_authenticated:
        return {"unread_notifications": service.unread_count(current_user)}
    return {"unread_notifications": 0}


@bp.app_context_processor
def mail_warning() -> dict[str, Any]:
    """For the PR office, on every page: mail that cannot go out (no SMTP server, or failing delivery)."""
    if current_user and current_user.is_authenticated and policy.can_view_outbox(current_user):
        health = service.mail_health()
        return {"mail_health": health if health.has_problem else None, "count_cap": COUNT_CAP}
    return {"mail_health": None}


@bp.route("/notifications")
@login_required
def index():
    """My notifications, newest first, and which kinds I also want by e-mail."""
    page, per_page = page_args(request.args)
    pagination = db.paginate(service.notifications_query(current_user), page=page, per_page=per_page,
                             error_out=False)
    return render_template("notifications/index.html", pagination=pagination,
                           choices=service.email_choices(current_user), kind_labels=labels.NOTIFICATION_KIND_LABELS)


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@login_required
def open_(notification_id: int):
    """Mark as read and go to what it is about."""
    row = service.get_notification(current_user, notification_id)
    service.mark_read(current_user, row)
    link = row.link if row.link.startswith("/") and not row.link.startswith("//") else url_for("notifications.index")
    return redirect(link)


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all():
    """Mark everything read."""
    count = service.mark_all_read(current_user)
    flash(_("%(n)d 件を既読にしました。", n=count), "success")
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/email", methods=["POST"])
@login_required
def email():
    """Save which kinds of notification also come by e-mail."""
    form = EmailChoicesForm()
    if form.validate_on_submit():
        service.set_email_choices(current_user, [k for k in form.kinds.data or [] if k in service.KINDS])
        flash(_("メール通知の設定を保存しました。"), "success")
    return redirect(url_for("notifications.index", _anchor="email"))


@bp.route("/admin/outbox")
@login_required
def outbox():
    """Mail not delivered yet or given up on (PR office): nothing is lost in an SMTP outage."""
    if not policy.can_view_outbox(current_user):
        abort(404)
    page, per_page = page_args(request.args)
    pagination = db.paginate(service.problem_mail_query(), page=page, per_page=per_page, error_out=False)
    return render_template("notifications/outbox.html", pagination=pagination, setting=service.mail_setting(),
                           chat_labels=labels.CHAT_SERVICE_LABELS)


@bp.route("/admin/outbox/<int:mail_id>/retry", methods=["POST"])
@login_required
def retry(mail_id: int):
    """Queue a failed mail again."""
    service.retry(service.get_unsent_mail(current_user, mail_id))
    flash(_("再送を予約しました。"), "success")
    return redirect(url_for("notifications.outbox"))


def _chat_page(form: ChatChannelForm, *, new_secret: str | None = None, status: int = 200):
    departments = chat.manageable_departments(current_user)
    form.owner.choices = [("me", _("自分（%(name)s）", name=current_user.name))] + [
        (str(d.id), _("所属：%(name)s", name=d.name)) for d in departments]
    return render_template(
        "notifications/chat.html", form=form, channels=chat.channels_for(current_user), host_of=chat.host_of,
        service_labels=labels.CHAT_SERVICE_LABELS, kind_labels=labels.NOTIFICATION_KIND_LABELS,
        department_kinds=service.DEPARTMENT_KINDS, new_secret=new_secret, action_form=EmptyForm(),
        lineworks_ready=bool(current_app.config.get("LINEWORKS_BOT_ID"))), status


@bp.route("/notifications/chat", methods=["GET", "POST"])
@login_required
def chat_channels():
    """Chat channels: my own, and my department's (supervisors, the PR office) — where notifications also go."""
    form = ChatChannelForm()
    if request.method == "GET":
        form.kinds.data = [kind for kind, default in service.KINDS.items() if default]
        return _chat_page(form)
    if not form.validate_on_submit():
        boundary.refuse(form_error(form), form, at="add-channel")
        return _chat_page(form, status=422)
    department = None
    if form.owner.data != "me":
        owner = form.owner.data or ""
        department = db.session.get(Department, int(owner)) if owner.isdigit() and int(owner) <= MAX_ID else None
        if department is None:
            abort(404)
    try:
        channel = chat.add_channel(current_user, service=form.service.data or "", name=form.name.data or "",
                                   kinds=form.kinds.data or [], url=form.url.data or "",
                                   target=form.target.data or "", department=department)
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        boundary.refuse(exc, form, at="add-channel")
        return _chat_page(form, status=422)
    db.session.commit()
    flash_at(f"channel-{channel.id}", _("チャンネル「%(name)s」を追加しました。「テスト送信」で届くか確かめてください。",
                                        name=channel.name), "success")
    if channel.secret:  # shown once, on this answer only (never stored in the session cookie)
        return _chat_page(ChatChannelForm(formdata=None), new_secret=channel.secret)
    return redirect(url_for("notifications.chat_channels", _anchor=f"channel-{channel.id}"))


@bp.route("/notifications/chat/<int:channel_id>/test", methods=["POST"])
@login_required
def test_chat_channel(channel_id: int):
    """Queue a test message; the worker posts it within a minute (the outbox shows a failure)."""
    channel = _own_channel(channel_id)
    if EmptyForm().validate_on_submit():
        chat.queue_test(current_user, channel)
        flash_at(f"channel-{channel.id}", _("テストメッセージを送信待ちにしました。1 分ほどで届きます。"), "success")
    return redirect(url_for("notifications.chat_channels", _anchor=f"channel-{channel.id}"))


@bp.route("/notifications/chat/<int:channel_id>/remove", methods=["POST"])
@login_required
def remove_chat_channel(channel_id: int):
    """Stop sending to a channel (its undelivered messages are given up)."""
    channel = _own_channel(channel_id)
    if EmptyForm().validate_on_submit():
        chat.remove_channel(current_user, channel)
        flash_at("channels", _("チャンネル「%(name)s」への送信をやめました。", name=channel.name), "success")
    return redirect(url_for("notifications.chat_channels", _anchor="channels"))


def _own_channel(channel_id: int) -> ChatChannel:
    try:
        return chat.get_channel(current_user, channel_id)
    except NotFound:
        abort(404)
