"""The working hours and on-call page of a department (its supervisors and the PR office)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from incident import boundary, policy
from incident.auth.forms import EmptyForm, form_error
from incident.auth.models import Department
from incident.auth.service import all_departments
from incident.dates import format_datetime, utcnow
from incident.errors import ValidationFailed
from incident.escalation import on_call
from incident.escalation.forms import HoursForm, ShiftForm
from incident.escalation.levels import rules
from incident.extensions import db
from incident.labels import SEVERITY_LABELS, options
from incident.messages import flash_at
from incident.pagination import page_args

bp = Blueprint("on_call", __name__)

#: Monday first, as Japanese office calendars are read.
WEEKDAY_LABELS = (_l("月曜日"), _l("火曜日"), _l("水曜日"), _l("木曜日"), _l("金曜日"), _l("土曜日"), _l("日曜日"))


def _department() -> Department:
    """The department asked for (`?department=`), the user's own by default; 404/403 as on_call decides."""
    return on_call.get_department(current_user, request.args.get("department") or current_user.department_id)


def _page(department: Department, shift_form: ShiftForm, hours_form: HoursForm, status: int = 200) -> Any:
    shift_form.user_id.choices = options([("", _("選んでください"))] + [
        (str(p.id), p.name if p.department_id == department.id else _("%(name)s（秘書広報課）", name=p.name))
        for p in on_call.candidates(department)])
    now = utcnow()
    page, per_page = page_args(request.args)
    shifts = db.paginate(on_call.shifts(department, now), page=page, per_page=per_page, error_out=False)
    departments = all_departments() if policy.lists_every_department(current_user) else []
    return render_template(
        "escalation/on_call.html", department=department, shift_form=shift_form, hours_form=hours_form,
        shifts=shifts, now=now, on_call_now=on_call.on_call_at(department, now), departments=departments,
        weekday_labels=WEEKDAY_LABELS, action_form=EmptyForm(), format_datetime=format_datetime,
        # The severities whose timers count working hours only, as escalation.toml says today.
        working_hours_only="・".join(str(label) for severity, label in SEVERITY_LABELS.items()
                                    if rules().timings[severity.value].working_hours_only)), status


def _hours_form(department: Department) -> HoursForm:
    form = HoursForm(formdata=None)
    form.start.data = f"{department.work_start_minute // 60:02d}:{department.work_start_minute % 60:02d}"
    form.end.data = f"{department.work_end_minute // 60:02d}:{department.work_end_minute % 60:02d}"
    form.weekdays.data = list(department.work_weekdays)
    form.closed_dates.data = department.closed_dates
    return form


@bp.route("/on-call", methods=["GET", "POST"])
@login_required
def page():
    """A department's working hours and on-call rota; POST adds a shift."""
    department = _department()
    if request.method == "GET":
        return _page(department, ShiftForm(formdata=None), _hours_form(department))
    form = ShiftForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        shift = on_call.add_shift(current_user, department, user_id=form.user_id.data,
                                  starts=form.starts_at.data, ends=form.ends_at.data)
    except ValidationFailed as exc:
        boundary.refuse(exc, form, at="add-shift")
        return _page(department, form, _hours_form(department), status=422)
    flash_at("shifts", _("%(name)s さんの当番（%(start)s〜%(end)s）を登録しました。", name=shift.user.name,
                         start=format_datetime(shift.starts_at), end=format_datetime(shift.ends_at)))
    return redirect(url_for("on_call.page", department=department.id, _anchor="shifts"))


@bp.route("/on-call/hours", methods=["POST"])
@login_required
def hours():
    """Save a department's working hours."""
    department = _department()
    form = HoursForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        on_call.set_hours(current_user, department, start=form.start.data, end=form.end.data,
                          weekdays=form.weekdays.data, closed=form.closed_dates.data)
    except ValidationFailed as exc:
        boundary.refuse(exc, form, at="hours")
        return _page(department, ShiftForm(formdata=None), form, status=422)
    flash_at("hours", _("勤務時間を保存しました。"))
    return redirect(url_for("on_call.page", department=department.id, _anchor="hours"))


@bp.route("/on-call/<int:shift_id>/remove", methods=["POST"])
@login_required
def remove(shift_id: int):
    """Take a shift off the rota (the page asks for confirmation first)."""
    shift = on_call.get_shift(current_user, shift_id)
    department_id = shift.department_id
    if EmptyForm().validate_on_submit():
        name = shift.user.name
        on_call.remove_shift(current_user, shift)
        flash_at("shifts", _("%(name)s さんの当番を取り消しました。", name=name))
    return redirect(url_for("on_call.page", department=department_id, _anchor="shifts"))
