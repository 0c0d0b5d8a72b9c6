"""The PR office's personnel reshuffle pages (人事異動): upload a CSV, preview every change, apply or cancel;
the history of reshuffles; who was where when. 404 for everyone else."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired
from wtforms.widgets import DateInput

from incident import boundary, policy
from incident.auth import reshuffle as service
from incident.auth import reshuffle_csv
from incident.auth.forms import EmptyForm
from incident.auth.models import Reshuffle, User
from incident.auth.service import all_departments, all_operators
from incident.auth.views import bp
from incident.cases.models import OPEN_STATUSES, Case
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.extensions import db
from incident.pagination import page_args
from incident.validation import parse_id


class UploadForm(FlaskForm):
    """The reshuffle CSV and the date it takes effect."""

    file = FileField(_l("CSV ファイル（UTF-8 または Shift_JIS、%(max)d 行まで）", max=reshuffle_csv.MAX_ROWS))
    effective_on = StringField(_l("発令日"), widget=DateInput())


class ApplyForm(FlaskForm):
    """Applying a previewed reshuffle needs a tick: it moves people at once."""

    confirm = BooleanField(_l("上の変更をすべて確認しました。この内容で反映します。"),
                           validators=[DataRequired(_l("確認のチェックを入れてください。"))])


def _pr_office_only() -> None:
    if not policy.can_manage_users(current_user):
        raise NotFound()


def open_cases_of(user_ids: list[int]) -> dict[int, int]:
    """How many open (not closed) cases are assigned to each of these people: the handover warning."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(Case.assignee_id, func.count()).where(
        Case.assignee_id.in_(user_ids), Case.status.in_(OPEN_STATUSES)).group_by(Case.assignee_id))
    return {int(assignee): int(count) for assignee, count in rows}


def handover(reshuffle: Reshuffle) -> dict[int, int]:
    """Open cases of each person the plan moves out of their department (only those with any)."""
    leaving = [row["user_id"] for row in reshuffle.plan
               if row["changed"] and row["from"]["department_id"] != row["to"]["department_id"]]
    return open_cases_of(leaving)


def _read_upload(storage: Any) -> bytes:
    """At most one byte over the limit of the uploaded file (the service refuses a larger one)."""
    if storage is None or not getattr(storage, "filename", None):
        message = _l("ファイルを選んでください。")
        raise ValidationFailed(message, fields={"file": message})
    return storage.stream.read(reshuffle_csv.MAX_BYTES + 1)


@bp.route("/admin/reshuffles", methods=["GET", "POST"])
@login_required
def reshuffles() -> Any:
    """The history of reshuffles and the form to upload a new one (errors listed by CSV line)."""
    _pr_office_only()
    form = UploadForm()
    problems: list[service.Problem] = []
    status = 200
    if request.method == "GET":
        form.effective_on.data = service.tokyo_today().isoformat()
    elif form.validate_on_submit():
        storage = form.file.data
        try:
            data = _read_upload(storage)
            created = service.upload(current_user, data, storage.filename or "", form.effective_on.data)
        except service.ReshuffleRejected as exc:
            boundary.abandon()
            problems, status = exc.problems, 422
            flash(str(exc.message), "error")
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
            status = 422
        else:
            flash(_("CSV を読み込みました。変更の内容を確認してから反映してください。"), "success")
            return redirect(url_for("auth.reshuffle", reshuffle_id=created.id))
    page, per_page = page_args(request.args)
    history = service.reshuffles_page(current_user, page, per_page)
    names = service.people({r.uploaded_by_id for r in history.items} | {r.applied_by_id for r in history.items})
    return render_template("admin/reshuffles.html", form=form, problems=problems, history=history, people=names,
                           counts={r.id: service.counts(r) for r in history.items},
                           state_of=service.state_of, max_bytes=reshuffle_csv.MAX_BYTES), status


@bp.route("/admin/reshuffles/sample.csv")
@login_required
def reshuffle_sample():
    """The current staff as a CSV to edit in Excel and upload back (UTF-8 with a BOM, cells guarded)."""
    _pr_office_only()
    return Response(service.sample_csv(current_user), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="reshuffle-sample.csv"', "Cache-Control": "no-store"})


def _preview(reshuffle: Reshuffle, form: ApplyForm | None = None, status: int = 200):
    moving, unchanged = service.counts(reshuffle)
    names = service.people({reshuffle.uploaded_by_id, reshuffle.applied_by_id})
    return render_template(
        "admin/reshuffle.html", reshuffle=reshuffle, state=service.state_of(reshuffle), moving=moving,
        unchanged=unchanged, handover=handover(reshuffle) if service.state_of(reshuffle) == "preview" else {},
        people=names, apply_form=form or ApplyForm(formdata=None), cancel_form=EmptyForm(),
        too_early=reshuffle.effective_on > service.tokyo_today()), status


@bp.route("/admin/reshuffles/<int:reshuffle_id>")
@login_required
def reshuffle(reshuffle_id: int):
    """One reshuffle: every change (from → to), the unchanged people, handover warnings; apply or cancel."""
    _pr_office_only()
    return _preview(service.get_reshuffle(current_user, reshuffle_id))


@bp.route("/admin/reshuffles/<int:reshuffle_id>/apply", methods=["POST"])
@login_required
def apply_reshuffle(reshuffle_id: int):
    """Apply the previewed plan exactly (409 when it is stale, applied, cancelled or not yet effective)."""
    _pr_office_only()
    item = service.get_reshuffle(current_user, reshuffle_id)
    form = ApplyForm()
    if not form.validate_on_submit():
        boundary.abandon()
        return _preview(item, form, 422)
    try:
        moved = service.apply(current_user, item)
    except Conflict as exc:
        boundary.refuse(exc)
        db.session.refresh(item)
        return _preview(item, status=409)
    flash(_("人事異動を反映しました（%(n)d 人）。", n=moved), "success")
    return redirect(url_for("auth.reshuffle", reshuffle_id=item.id))


@bp.route("/admin/reshuffles/<int:reshuffle_id>/cancel", methods=["POST"])
@login_required
def cancel_reshuffle(reshuffle_id: int):
    """Discard a plan that has not been applied (409 once applied or cancelled)."""
    _pr_office_only()
    item = service.get_reshuffle(current_user, reshuffle_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        boundary.abandon()
        return _preview(item, status=400)
    try:
        service.cancel(current_user, item)
    except Conflict as exc:
        boundary.refuse(exc)
        db.session.refresh(item)
        return _preview(item, status=409)
    flash(_("この人事異動を取り消しました（反映していません）。"), "info")
    return redirect(url_for("auth.reshuffle", reshuffle_id=item.id))


def _filters(args: Any) -> tuple[service.PostingFilter, dict[str, str]]:
    """Posting filters from the query (nonsense ignored) and the arguments to keep in page links."""
    def number(name: str) -> int | None:
        try:
            return parse_id(args.get(name))
        except ValueError:
            return None

    day: dt.date | None = None
    try:
        day = dt.date.fromisoformat((args.get("day") or "").strip()) if args.get("day") else None
    except ValueError:
        day = None
    filters = service.PostingFilter(department_id=number("department"), day=day, user_id=number("user"))
    kept = {"department": filters.department_id, "day": day.isoformat() if day else None, "user": filters.user_id}
    return filters, {key: str(value) for key, value in kept.items() if value is not None}


@bp.route("/admin/postings")
@login_required
def postings():
    """Who was where when: postings by department, on a day (この日の所属) and per person."""
    _pr_office_only()
    filters, args = _filters(request.args)
    page, per_page = page_args(request.args)
    result = service.postings_page(current_user, filters, page, per_page)
    names = service.people({p.user_id for p in result.items} | {p.changed_by_id for p in result.items})
    person = db.session.get(User, filters.user_id) if filters.user_id else None
    return render_template("admin/postings.html", postings=result, people=names, person=person,
                           departments=all_departments(), filters=filters, args=args,
                           operators={o.id: o.name for o in all_operators()})
