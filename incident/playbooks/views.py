"""Checklist actions on the case page: complete, decide, skip, waive and reopen a step."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from incident.cases.service import get_case
from incident.errors import CaseError, ValidationFailed
from incident.extensions import db
from incident.playbooks import service

bp = Blueprint("steps", __name__)

_INPUT_FIELDS = ("url", "where", "sent_at", "prohibited_item", "deleted", "handle", "platform", "display_name",
                 "first_seen")


_MESSAGES = {
    "complete": _l("手順を完了として記録しました。"),
    "decide": _l("判断を記録しました。"),
    "skip": _l("手順を省略として記録しました。"),
    "waive": _l("手順を免除しました。"),
    "reopen": _l("記録を取り消し、手順を未完了に戻しました（元の記録は残ります）。"),
}


def _back(case_id: int, key: str):
    return redirect(url_for("cases.show", case_id=case_id, _anchor=f"step-{key}"))


@bp.route("/cases/<int:case_id>/steps/<key>/<any(complete, decide, skip, waive, reopen):action>",
          methods=["POST"])
@login_required
def act(case_id: int, key: str, action: str):
    """Record one action on a step; rule violations come back as a message on the case page."""
    case = get_case(current_user, case_id)
    form = request.form
    payload = {name: form.get(name) for name in _INPUT_FIELDS if form.get(name) not in (None, "")}
    payload["note"] = form.get("note", "")
    payload["reason"] = form.get("reason", "")
    if action == "decide":
        payload["answer"] = {"yes": True, "no": False}.get(form.get("answer", ""))
    try:
        service.perform(current_user, case, key, action, payload)
        db.session.commit()
    except (ValidationFailed, CaseError) as exc:
        db.session.rollback()
        flash(exc.flash_text(), "error")
        return _back(case_id, key)
    flash(_MESSAGES[action], "success")
    return _back(case_id, key)
