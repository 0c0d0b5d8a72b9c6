"""Handing a person's open work over when they leave: their open cases, drafts and escalations, and
reassigning their open cases to someone else in one step (through the cases service, so the timeline, the
audit log and the notifications happen as for any assignment). Here, above the case domains, because
incident.auth (where people are kept) may not import them."""
from __future__ import annotations

import dataclasses
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from incident import policy
from incident.auth.models import User
from incident.auth.service import deactivate_user
from incident.cases import service as cases
from incident.cases.models import OPEN_STATUSES, Case
from incident.drafts.models import Draft, DraftStatus
from incident.errors import NotFound, PermissionDenied, ValidationFailed
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.validation import parse_id

#: Drafts not yet approved or sent: the work a leaving author hands over.
OPEN_DRAFT_STATUSES = (DraftStatus.EDITING, DraftStatus.SUBMITTED)


@dataclasses.dataclass
class Handover:
    """What a person leaves open: cases assigned to them (not closed), drafts they created that are not yet
    approved or sent (with their cases), and escalations they raised or took on that are not resolved."""

    cases: list[Case]
    drafts: list[tuple[Draft, Case]]
    escalations: list[tuple[Escalation, Case]]

    @property
    def empty(self) -> bool:
        """Whether there is nothing to hand over."""
        return not (self.cases or self.drafts or self.escalations)


def handover_of(actor: User | None, user: User) -> Handover:
    """The user's open work, for the PR office before deactivating them (NotFound for anyone else)."""
    if actor is not None and not policy.can_manage_users(actor):
        raise NotFound()
    open_cases = list(db.session.scalars(
        select(Case).where(Case.assignee_id == user.id, Case.status.in_(OPEN_STATUSES))
        .options(joinedload(Case.department)).order_by(Case.created_at, Case.id)))
    drafts = list(db.session.execute(
        select(Draft, Case).join(Case, Case.id == Draft.case_id)
        .where(Draft.created_by_id == user.id, Draft.status.in_(OPEN_DRAFT_STATUSES))
        .order_by(Draft.created_at, Draft.id)).tuples())
    escalations = list(db.session.execute(
        select(Escalation, Case).join(Case, Case.id == Escalation.case_id)
        .where(Escalation.resolved_at.is_(None),
               or_(Escalation.raised_by_id == user.id, Escalation.acknowledged_by_id == user.id))
        .order_by(Escalation.created_at, Escalation.id)).tuples())
    return Handover(open_cases, drafts, escalations)


def receiver(raw: Any, from_user: User, field: str = "reassign_to") -> User:
    """The active user an id names who may receive `from_user`'s cases, or ValidationFailed on `field`."""
    try:
        wanted = parse_id(raw)
    except ValueError:
        wanted = None
    to_user = db.session.get(User, wanted) if wanted else None
    if to_user is None or not to_user.active:
        raise ValidationFailed(fields={field: _l("引き継ぐ人を有効な利用者から選んでください。")})
    if to_user.id == from_user.id:
        raise ValidationFailed(fields={field: _l("本人以外の人を選んでください。")})
    return to_user


def reassign_open_cases(actor: User, from_user: User, to_user: User, field: str = "reassign_to") -> list[Case]:
    """Assign every open case of `from_user` to `to_user` in one step, each through the cases service
    (timeline, audit, notification); refused as a whole when one of them may not go to `to_user`."""
    if not policy.can_manage_users(actor):
        raise NotFound()
    moved = handover_of(actor, from_user).cases
    for case in moved:
        if not policy.can_assign_to(actor, case, to_user):
            raise ValidationFailed(fields={field: _l(
                "%(name)s さんには案件 %(number)s を割り当てられません（委託業者・指定管理者は、その組織が運用する"
                "アカウントの案件だけを担当します）。", name=to_user.name, number=case.number)})
    for case in moved:
        cases.assign(actor, case, to_user.id)
    return moved


def deactivate_with_handover(actor: User, user: User, to_user: User | None) -> list[Case]:
    """Deactivate a user (sessions end, tokens are revoked, every record they made stays), first giving
    their open cases to `to_user` when one is chosen; the cases handed over are returned."""
    if not policy.can_manage_users(actor):
        raise NotFound()
    if not policy.can_deactivate_user(actor, user):
        raise PermissionDenied(_l("自分自身は無効にできません。"))
    moved = reassign_open_cases(actor, user, to_user) if to_user is not None else []
    deactivate_user(actor, user)
    return moved
