"""Escalation pages: escalate a case, acknowledge an escalation, the supervisor's queue."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary, labels, pagination, policy
from incident.auth.forms import form_error
from incident.cases import service as cases
from incident.errors import CaseError, ValidationFailed
from incident.escalation import queries, service
from incident.escalation.forms import AcknowledgeForm, EscalateForm
from incident.escalation.models import Escalation
from incident.messages import flash_at
from incident.pagination import page_args

bp = Blueprint("escalation", __name__)


@bp.app_context_processor
def escalation_globals() -> dict[str, Any]:
    return {"escalation_trigger_labels": labels.ESCALATION_TRIGGER_LABELS, "escalation_level_labels": labels.ESCALATION_LEVEL_LABELS,
            "escalation_taken_by_labels": labels.ESCALATION_TAKEN_BY_LABELS, "escalation_levels": service.rules().levels}


@bp.app_template_global("case_escalations")
def case_escalations(case: Any) -> list[Escalation]:
    """The open escalations shown as a banner on the case page."""
    return queries.open_escalations(case)


@bp.app_template_global("escalations_taken_on")
def escalations_taken_on(case: Any) -> list[Escalation]:
    """The case's escalations someone has taken on, latest first, shown under the open ones."""
    return queries.taken_on(case)


@bp.app_template_global("escalation_start_levels")
def escalation_start_levels(case: Any) -> tuple[str, ...]:
    """Where the current user's escalation of the case may start (a choice when there are several)."""
    return policy.escalation_start_levels(current_user, case)


@bp.app_template_global("open_escalation_counts")
def open_escalation_counts(case_ids: list[int]) -> dict[int, int]:
    """For the case list: how many open escalations each case has (one query for the page)."""
    return queries.open_counts(case_ids)


@bp.route("/cases/<int:case_id>/escalations", methods=["POST"])
@login_required
def escalate(case_id: int):
    """Escalate the case to the next level with a reason."""
    case = cases.get_case(current_user, case_id)
    form = EscalateForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        escalation = service.escalate(current_user, case, form.reason.data, form.level.data)
    except (ValidationFailed, CaseError) as exc:  # no reason, a level the user may not choose, or a closed case
        boundary.refuse(exc, at="escalations")
    else:
        level = "on_call" if escalation.on_call_id is not None else service.rules().levels[escalation.level]
        flash_at("escalations", _("エスカレーションしました。%(who)sに知らせました。",
                                  who=labels.ESCALATION_LEVEL_LABELS[level]))
    return redirect(url_for("cases.show", case_id=case.id, _anchor="escalations"))


@bp.route("/escalations/<int:escalation_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(escalation_id: int):
    """Take the escalation on."""
    escalation = service.get_escalation(current_user, escalation_id)
    form = AcknowledgeForm()
    # From the case page, the message goes where the button was: いま行うこと lists the open escalations.
    anchor = None if form.next.data == "queue" else "next"
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.acknowledge(current_user, escalation)
    except (ValidationFailed, CaseError) as exc:  # taken on already, or resolved
        boundary.refuse(exc, at=anchor)
    else:
        flash_at(anchor, _("エスカレーションを受けました。"))
    if anchor is None:
        return redirect(url_for("escalation.queue"))
    return redirect(url_for("cases.show", case_id=escalation.case_id, _anchor=anchor))


@bp.route("/queue")
@login_required
def queue() -> str:
    """What waits for me: escalations I was told about, unassigned cases, drafts awaiting my approval; a page
    of each, or (`?show=<block>&page=<n>`) one block page by page."""
    show = request.args.get("show") or None
    if show is not None and (show not in queries.QUEUE_BLOCKS
                             or (show != "escalations" and not policy.sees_team_queue(current_user))):
        abort(404)
    page, _per_page = page_args(request.args)
    queue = queries.queue_for(current_user, show=show, page=page)
    return render_template("escalation/queue.html", escalations=queue.escalations, cases_by_id=queue.cases_by_id,
                           unassigned=queue.unassigned, approvals=queue.approvals, people=queue.people,
                           counts=queue.counts, more=queue.more, show=show, page=page, count_cap=pagination.COUNT_CAP,
                           can_assign=lambda c: policy.can_assign(current_user, c))
