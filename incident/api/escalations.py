"""API v1 escalation and notification routes."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import fields
from sqlalchemy import or_, select

from incident import policy
from incident.api import ID, api_user, bp
from incident.api.fields import Input, Output, PageQuery, QueryFlag, Text, Timestamp, labelled_choice, page_of
from incident.api.requests import Body
from incident.api.schemas import UserRefOut
from incident.cases.models import Case
from incident.cases.service import get_case
from incident.escalation import service
from incident.escalation.models import Escalation, EscalationNotice
from incident.escalation.rules import LEVELS
from incident.extensions import db
from incident.notifications import service as notifications
from incident.notifications.models import Notification

REASON = _l("理由を %(max)d 文字以内で入力してください。", max=service.REASON_MAX)


def _level(escalation: Escalation) -> str | None:
    # "on_call" while the on-call person told first outside working hours is the one it waits on.
    if escalation.on_call_id is not None:
        return "on_call"
    levels = service.rules().levels
    return levels[escalation.level] if escalation.level < len(levels) else None


class EscalationOut(Output):
    """One escalation with its level and times (for response-time metrics)."""

    id = fields.Integer()
    case_id = fields.Integer()
    trigger = fields.String()
    subject = fields.Function(lambda e: e.subject or None, allow_none=True, metadata={"type": "string"})
    reason = fields.String()
    level = fields.Function(_level, allow_none=True, metadata={"type": "string"})
    open = fields.Boolean(attribute="is_open")
    raised_by = fields.Nested(UserRefOut, allow_none=True)
    created_at = Timestamp()
    next_at = Timestamp(allow_none=True)
    acknowledged_at = Timestamp(allow_none=True)
    acknowledged_by = fields.Nested(UserRefOut, allow_none=True)
    resolved_at = Timestamp(allow_none=True)


class NotificationOut(Output):
    """One notification."""

    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    case_id = fields.Integer(allow_none=True)
    link = fields.String()
    created_at = Timestamp()
    read_at = Timestamp(allow_none=True)


class EscalationIn(Input):
    """Why the case needs the next level."""

    reason = Text(service.REASON_MAX, blank=False, required=True, message=REASON)
    level = labelled_choice(LEVELS, _l("エスカレーション先"), allow_none=True, metadata={
        "description": "Where it starts (default: a responder's at `supervisors`, anyone else's at `pr_office`). "
                       "A responder may choose `pr_office` for a critical case; any other choice is refused (422)."})


class EscalationQuery(PageQuery):
    """`open=1` for the escalations nobody has answered yet."""

    open = QueryFlag()


class NotificationQuery(PageQuery):
    """`unread=1` for the unread notifications only."""

    unread = QueryFlag()


EscalationPageOut = page_of(EscalationOut)
NotificationPageOut = page_of(NotificationOut, unread=fields.Integer(metadata={"description": "How many are unread."}))


@bp.post(f"/cases/<{ID}:case_id>/escalations", tags=["escalations"])
@bp.body(EscalationIn)
@bp.response(201, EscalationOut)
def create_escalation(case_id: int, body: Body) -> Escalation:
    """Bring the case to the next level, which is notified (a critical case straight to the PR office, if asked)."""
    case = get_case(api_user(), case_id)
    data = body()
    return service.escalate(api_user(), case, data["reason"], data.get("level"))


@bp.post(f"/escalations/<{ID}:escalation_id>/acknowledge", tags=["escalations"])
@bp.response(200, EscalationOut)
def acknowledge_escalation(escalation_id: int) -> Escalation:
    """Take an escalation on (recipients and the case's supervisors); 409 when already answered."""
    escalation = service.get_escalation(api_user(), escalation_id)
    return service.acknowledge(api_user(), escalation)


@bp.get("/escalations", tags=["escalations"])
@bp.arguments(EscalationQuery, location="query", as_kwargs=True)
@bp.response(200, EscalationPageOut)
def list_escalations(page: int, per_page: int, open: bool = False) -> dict[str, Any]:
    """Escalations on cases you may see or that you were told about, newest first."""
    user = api_user()
    told = select(EscalationNotice.escalation_id).where(EscalationNotice.user_id == user.id)
    seen = policy.visible_cases_clause(user, Case)
    query = (select(Escalation).join(Case, Case.id == Escalation.case_id)
             .where(or_(seen, Escalation.id.in_(told)) if policy.being_told_shows_case(user) else seen))
    if open:
        query = query.where(Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))
    pagination = db.paginate(query.order_by(Escalation.id.desc()), page=page, per_page=per_page, error_out=False)
    return {"items": pagination.items, "total": pagination.total, "page": page, "per_page": per_page}


@bp.get("/notifications", tags=["notifications"])
@bp.arguments(NotificationQuery, location="query", as_kwargs=True)
@bp.response(200, NotificationPageOut)
def list_notifications(page: int, per_page: int, unread: bool = False) -> dict[str, Any]:
    """Your notifications, newest first."""
    user = api_user()
    pagination = db.paginate(notifications.notifications_query(user, unread), page=page, per_page=per_page,
                             error_out=False)
    return {"items": pagination.items, "total": pagination.total, "unread": notifications.unread_count(user),
            "page": page, "per_page": per_page}


@bp.post(f"/notifications/<{ID}:notification_id>/read", tags=["notifications"])
@bp.response(200, NotificationOut)
def read_notification(notification_id: int) -> Notification:
    """Mark one of your notifications read."""
    row = notifications.get_notification(api_user(), notification_id)
    return notifications.mark_read(api_user(), row)
