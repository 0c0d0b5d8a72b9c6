"""Escalation pages: escalate a case, acknowledge an escalation, the supervisor's queue."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from incident import boundary, labels, policy
from incident.auth.forms import form_error
from incident.auth.models import User
from incident.cases import service as cases
from incident.cases.models import Case, CaseStatus
from incident.drafts.models import Draft, DraftStatus, Route
from incident.drafts.service import is_own
from incident.errors import CaseError, ValidationFailed
from incident.escalation import service
from incident.escalation.forms import AcknowledgeForm, EscalateForm
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db

bp = Blueprint("escalation", __name__)


@bp.app_context_processor
def escalation_globals() -> dict[str, Any]:
    return {"escalation_trigger_labels": labels.ESCALATION_TRIGGER_LABELS, "escalation_level_labels": labels.ESCALATION_LEVEL_LABELS,
            "escalation_levels": service.rules().levels}


@bp.app_template_global("case_escalations")
def case_escalations(case: Any) -> list[Escalation]:
    """The open escalations shown as a banner on the case page."""
    return service.open_escalations(case)


@bp.app_template_global("open_escalation_counts")
def open_escalation_counts(case_ids: list[int]) -> dict[int, int]:
    """For the case list: how many open escalations each case has (one query for the page)."""
    return service.open_counts(case_ids)


@bp.route("/cases/<int:case_id>/escalations", methods=["POST"])
@login_required
def escalate(case_id: int):
    """Escalate the case to the next level with a reason."""
    case = cases.get_case(current_user, case_id)
    form = EscalateForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.escalate(current_user, case, form.reason.data)
    except (ValidationFailed, CaseError) as exc:  # no reason, or a closed case
        boundary.refuse(exc)
    else:
        flash(_("エスカレーションしました。次の段階の人に知らせました。"), "success")
    return redirect(url_for("cases.show", case_id=case.id, _anchor="escalations"))


@bp.route("/escalations/<int:escalation_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(escalation_id: int):
    """Take the escalation on."""
    escalation = service.get_escalation(current_user, escalation_id)
    form = AcknowledgeForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.acknowledge(current_user, escalation)
    except (ValidationFailed, CaseError) as exc:  # taken on already, or resolved
        boundary.refuse(exc)
    else:
        flash(_("エスカレーションを受けました。"), "success")
    if form.next.data == "queue":
        return redirect(url_for("escalation.queue"))
    return redirect(url_for("cases.show", case_id=escalation.case_id, _anchor="escalations"))


@bp.route("/queue")
@login_required
def queue() -> str:
    """What waits for me: escalations I was told about, unassigned cases, drafts awaiting my approval."""
    mine = list(db.session.scalars(
        select(Escalation).where(
            Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None),
            Escalation.id.in_(select(EscalationNotice.escalation_id).where(EscalationNotice.user_id == current_user.id)))
        .order_by(Escalation.created_at)))
    case_ids = {e.case_id for e in mine}
    unassigned: list[Case] = []
    approvals = []
    if policy.sees_team_queue(current_user):
        query = (select(Case).where(Case.assignee_id.is_(None), Case.status != CaseStatus.CLOSED)
                 .options(joinedload(Case.department)).order_by(Case.created_at).limit(100))
        if not policy.lists_every_department(current_user):
            query = query.where(Case.department_id == current_user.department_id)
        unassigned = list(db.session.scalars(query))
        submitted = (select(Draft, Case).join(Case, Case.id == Draft.case_id)
                     .options(selectinload(Draft.revisions))  # is_own() reads them
                     .where(Draft.status == DraftStatus.SUBMITTED, Draft.route == Route.SUPERVISOR)
                     .order_by(Draft.updated_at).limit(100))
        if not policy.lists_every_department(current_user):
            submitted = submitted.where(Case.department_id == current_user.department_id)
        approvals = [(d, c) for d, c in db.session.execute(submitted) if not is_own(current_user, d)]
    cases_by_id = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(case_ids)))} if case_ids else {}
    people: dict[int, list[User]] = {}
    for case in unassigned:
        if case.department_id not in people:
            people[case.department_id] = list(db.session.scalars(select(User).where(
                User.department_id == case.department_id, User.active.is_(True)).order_by(User.name)))
    return render_template("escalation/queue.html", escalations=mine, cases_by_id=cases_by_id,
                           unassigned=unassigned, approvals=approvals, people=people,
                           can_assign=lambda c: policy.can_assign(current_user, c))
