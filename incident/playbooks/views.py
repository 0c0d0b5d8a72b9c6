"""Checklist actions on the case page: complete, decide, skip, waive and reopen a step."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident.cases.service import get_case
from incident.errors import CaseError, ValidationFailed
from incident.extensions import db
from incident.playbooks import service

bp = Blueprint("steps", __name__)

_INPUT_FIELDS = ("url", "where", "prohibited_item", "deleted", "handle", "platform", "display_name",
                 "first_seen")


def _back(case_id: int, key: str):
    return redirect(url_for("cases.show", case_id=case_id, _anchor=f"step-{key}"))


@bp.route("/cases/<int:case_id>/steps/<key>/<action>", methods=["POST"])
@login_required
def act(case_id: int, key: str, action: str):
    """Record one action on a step; rule violations come back as a message on the case page."""
    case = get_case(current_user, case_id)
    form = request.form
    try:
        if action == "complete":
            inputs = {name: form.get(name) for name in _INPUT_FIELDS if form.get(name) not in (None, "")}
            service.complete_step(current_user, case, key, form.get("note", ""), inputs)
            message = _("手順を完了として記録しました。")
        elif action == "decide":
            answer = {"yes": True, "no": False}.get(form.get("answer", ""))
            service.decide(current_user, case, key, answer, form.get("reason", ""))
            message = _("判断を記録しました。")
        elif action == "skip":
            service.skip_step(current_user, case, key, form.get("reason", ""))
            message = _("手順を省略として記録しました。")
        elif action == "waive":
            service.waive_step(current_user, case, key, form.get("reason", ""))
            message = _("手順を免除しました。")
        elif action == "reopen":
            service.reopen_step(current_user, case, key, form.get("reason", ""))
            message = _("記録を取り消し、手順を未完了に戻しました（元の記録は残ります）。")
        else:
            from incident.errors import NotFound

            raise NotFound()
        db.session.commit()
    except (ValidationFailed, CaseError) as exc:
        db.session.rollback()
        details = " ".join(str(v) for v in exc.fields.values()) if isinstance(exc, ValidationFailed) else ""
        flash(f"{exc.message} {details}".strip(), "error")
        return _back(case_id, key)
    flash(message, "success")
    return _back(case_id, key)
