"""API v1 escalation and notification routes."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy import or_, select

from incident import policy
from incident.api import ID, api_user, bp, json_body
from incident.api.serialize import user_ref
from incident.cases.models import Case
from incident.cases.service import get_case
from incident.dates import isoformat
from incident.escalation import service
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.notifications import service as notifications
from incident.notifications.models import Notification
from incident.pagination import page_args


def escalation_json(e: Escalation) -> dict[str, Any]:
    """One escalation with its level and times (for response-time metrics)."""
    levels = service.rules().levels
    return {"id": e.id, "case_id": e.case_id, "trigger": e.trigger, "subject": e.subject or None,
            "reason": e.reason, "level": levels[e.level] if e.level < len(levels) else None,
            "open": e.is_open, "raised_by": user_ref(e.raised_by), "created_at": isoformat(e.created_at),
            "next_at": isoformat(e.next_at), "acknowledged_at": isoformat(e.acknowledged_at),
            "acknowledged_by": user_ref(e.acknowledged_by), "resolved_at": isoformat(e.resolved_at)}


def notification_json(n: Notification) -> dict[str, Any]:
    """One notification."""
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "case_id": n.case_id, "link": n.link,
            "created_at": isoformat(n.created_at), "read_at": isoformat(n.read_at)}


@bp.post(f"/cases/<{ID}:case_id>/escalations")
def create_escalation(case_id: int):
    """{"reason"} → 201: the next level is notified."""
    data = json_body()
    case = get_case(api_user(), case_id)
    escalation = service.escalate(api_user(), case, data.get("reason"))
    db.session.commit()
    return jsonify(escalation_json(escalation)), 201


@bp.post(f"/escalations/<{ID}:escalation_id>/acknowledge")
def acknowledge_escalation(escalation_id: int):
    """Take an escalation on (recipients and the case's supervisors)."""
    escalation = service.get_escalation(api_user(), escalation_id)
    service.acknowledge(api_user(), escalation)
    db.session.commit()
    return jsonify(escalation_json(escalation))


@bp.get("/escalations")
def list_escalations():
    """Escalations on cases you may see or that you were told about; `open=1` for the unanswered ones."""
    user = api_user()
    page, per_page = page_args(request.args, strict=True)
    told = select(EscalationNotice.escalation_id).where(EscalationNotice.user_id == user.id)
    query = (select(Escalation).join(Case, Case.id == Escalation.case_id)
             .where(or_(policy.visible_cases_clause(user), Escalation.id.in_(told))))
    if request.args.get("open") in ("1", "true"):
        query = query.where(Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))
    pagination = db.paginate(query.order_by(Escalation.id.desc()), page=page, per_page=per_page, error_out=False)
    return jsonify(items=[escalation_json(e) for e in pagination.items], total=pagination.total, page=page,
                   per_page=per_page)


@bp.get("/notifications")
def list_notifications():
    """Your notifications, newest first; `unread=1` for unread ones only."""
    user = api_user()
    page, per_page = page_args(request.args, strict=True)
    pagination = db.paginate(notifications.notifications_query(user, request.args.get("unread") in ("1", "true")),
                             page=page, per_page=per_page, error_out=False)
    return jsonify(items=[notification_json(n) for n in pagination.items], total=pagination.total,
                   unread=notifications.unread_count(user), page=page, per_page=per_page)


@bp.post(f"/notifications/<{ID}:notification_id>/read")
def read_notification(notification_id: int):
    """Mark one of your notifications read."""
    row = notifications.get_notification(api_user(), notification_id)
    notifications.mark_read(api_user(), row)
    db.session.commit()
    return jsonify(notification_json(row))
