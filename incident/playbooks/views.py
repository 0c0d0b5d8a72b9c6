"""Checklist actions on the case page: complete, decide, skip, waive and reopen a step."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from incident import boundary, policy
from incident.accounts.service import MFA_METHODS
from incident.auth.forms import form_error
from incident.cases.models import Case
from incident.cases.service import get_case
from incident.errors import CaseError, ValidationFailed
from incident.messages import flash_at
from incident.playbooks import facts, service
from incident.playbooks.forms import StepForm

bp = Blueprint("steps", __name__)

_MESSAGES = {
    "complete": _l("手順を完了として記録しました。"),
    "decide": _l("判断を記録しました。"),
    "skip": _l("手順を省略として記録しました。"),
    "waive": _l("手順を免除しました。"),
    "reopen": _l("記録を取り消し、手順を未完了に戻しました（元の記録は残ります）。"),
}


@bp.app_template_global("case_checklist")
def case_checklist(case: Case) -> tuple[list[service.StepState], tuple[int, int]]:
    """The case page's checklist: every step with its state, and (done, total) of the required ones."""
    steps = service.checklist(case)
    return steps, service.progress(steps)


@bp.app_template_global("step_facts")
def step_facts(case: Case, steps: list[service.StepState]) -> facts.StepFacts:
    """What the checklist's open steps are offered — the URLs the case holds, the accounts an MFA step may
    name — computed once for the page; nothing for a reader who may not change the case."""
    if not policy.can_change_content(current_user, case):
        return facts.StepFacts({}, {}, [])
    return facts.for_steps(case, steps)


@bp.app_context_processor
def step_labels() -> dict[str, Any]:
    """The MFA methods an MFA step offers and its record names."""
    return {"mfa_methods": MFA_METHODS}


def _back(case_id: int, key: str):
    return redirect(url_for("cases.show", case_id=case_id, _anchor=f"step-{key}"))


@bp.route("/cases/<int:case_id>/steps/<key>/<any(complete, decide, skip, waive, reopen):action>",
          methods=["POST"])
@login_required
def act(case_id: int, key: str, action: str):
    """Record one action on a step; rule violations come back as a message on the case page."""
    case = get_case(current_user, case_id)
    form = StepForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        payload = form.payload()
        if action == "decide":
            payload["answer"] = {"yes": True, "no": False}.get(form.answer.data or "")
        service.perform(current_user, case, key, action, payload)
    except (ValidationFailed, CaseError) as exc:  # a missing input or reason, or a step not open to this
        boundary.refuse(exc, at=f"step-{key}")
        return _back(case_id, key)
    flash_at(f"step-{key}", str(_MESSAGES[action]))
    return _back(case_id, key)
