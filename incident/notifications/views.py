"""Notification pages: my notifications with e-mail choices, and the PR office's view of the mail outbox."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import labels, policy
from incident.extensions import db
from incident.notifications import service
from incident.notifications.forms import EmailChoicesForm
from incident.pagination import page_args

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
        return {"mail_health": health if health.has_problem else None}
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
    return render_template("notifications/outbox.html", pagination=pagination, setting=service.mail_setting())


@bp.route("/admin/outbox/<int:mail_id>/retry", methods=["POST"])
@login_required
def retry(mail_id: int):
    """Queue a failed mail again."""
    service.retry(service.get_unsent_mail(current_user, mail_id))
    flash(_("再送を予約しました。"), "success")
    return redirect(url_for("notifications.outbox"))
