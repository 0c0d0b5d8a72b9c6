"""Reading escalations: the work queue, a case's open and taken-on escalations, counts for the case list."""
from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from incident import policy
from incident.auth.models import User
from incident.auth.service import active_people
from incident.cases.models import OPEN_STATUSES, Case
from incident.drafts.models import Draft, DraftStatus, Route
from incident.drafts.service import is_own
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.pagination import capped_count


@dataclasses.dataclass
class Queue:
    """What waits for one user: escalations they were told about (with their cases), and for supervisors
    and the PR office unassigned cases (with the people who may take each) and drafts awaiting approval.
    Each block holds one page; `counts` says how many there are in all (at most COUNT_CAP + 1)."""

    escalations: list[Escalation]
    cases_by_id: dict[int, Case]
    unassigned: list[Case]
    approvals: list[tuple[Draft, Case]]
    #: For each unassigned case (by id), who the user may assign it to.
    people: dict[int, list[User]]
    #: Per block ("escalations", "unassigned", "approvals"): how many wait, counted up to COUNT_CAP + 1.
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Per block: whether rows follow this page.
    more: dict[str, bool] = dataclasses.field(default_factory=dict)


#: The blocks of the queue, in page order.
QUEUE_BLOCKS = ("escalations", "unassigned", "approvals")
#: Rows per block on the queue page, and per page when one block is shown in full.
QUEUE_LIMIT = 20
QUEUE_PAGE = 50


def queue_for(user: User, show: str | None = None, page: int = 1) -> Queue:
    """The user's work queue: a page of each block (or, with `show`, one page of that block alone) and capped
    counts, in a fixed number of queries whatever the backlog (one more per department on the page)."""
    limit, offset = (QUEUE_PAGE, (page - 1) * QUEUE_PAGE) if show else (QUEUE_LIMIT, 0)
    wanted = set(QUEUE_BLOCKS) if show is None else {show}
    told = select(Escalation).where(
        Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None),
        Escalation.id.in_(select(EscalationNotice.escalation_id).where(EscalationNotice.user_id == user.id)))
    if not policy.being_told_shows_case(user):  # an outside operator's user: only cases they still see
        told = told.where(Escalation.case_id.in_(select(Case.id).where(policy.visible_cases_clause(user, Case))))
    counts = {"escalations": capped_count(told.with_only_columns(Escalation.id))}
    mine = (list(db.session.scalars(told.order_by(Escalation.created_at, Escalation.id).offset(offset).limit(limit + 1)))
            if "escalations" in wanted else [])
    more = {"escalations": len(mine) > limit}
    mine = mine[:limit]
    case_ids = {e.case_id for e in mine}
    unassigned: list[Case] = []
    approvals: list[tuple[Draft, Case]] = []
    if policy.sees_team_queue(user):
        waiting = select(Case).where(Case.assignee_id.is_(None), Case.status.in_(OPEN_STATUSES),
                                     policy.visible_cases_clause(user, Case))
        if not policy.lists_every_department(user):
            waiting = waiting.where(Case.department_id == user.department_id)
        counts["unassigned"] = capped_count(waiting.with_only_columns(Case.id))
        if "unassigned" in wanted:
            unassigned = list(db.session.scalars(
                waiting.options(joinedload(Case.department), joinedload(Case.official_account))
                .order_by(Case.created_at, Case.id).offset(offset).limit(limit + 1)))
        more["unassigned"] = len(unassigned) > limit
        unassigned = unassigned[:limit]
        submitted = (select(Draft, Case).join(Case, Case.id == Draft.case_id)
                     .options(selectinload(Draft.revisions))  # is_own() reads them
                     .where(Draft.status == DraftStatus.SUBMITTED, Draft.route == Route.SUPERVISOR))
        if not policy.lists_every_department(user):
            submitted = submitted.where(Case.department_id == user.department_id)
        if "approvals" in wanted:
            # Drafts of one's own are left out after reading (is_own reads revisions), so no exact count.
            found = list(db.session.execute(submitted.order_by(Draft.updated_at, Draft.id)
                                            .offset(offset).limit(limit + 1)).tuples())
            more["approvals"] = len(found) > limit
            approvals = [(d, c) for d, c in found[:limit] if not is_own(user, d)]
    cases_by_id = ({c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(case_ids)))}
                   if case_ids else {})
    of_department = {department_id: active_people(department_id)
                     for department_id in dict.fromkeys(c.department_id for c in unassigned)}
    # Per case: an outside operator's people may take only the cases of the accounts their operator runs.
    people = {c.id: [u for u in of_department[c.department_id] if policy.can_assign_to(user, c, u)]
              for c in unassigned}
    return Queue(mine, cases_by_id, unassigned, approvals, people, counts, more)


def open_escalations(case: Case) -> list[Escalation]:
    """The case's escalations nobody has taken on yet, oldest first."""
    return list(db.session.scalars(select(Escalation).where(
        Escalation.case_id == case.id, Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))
        .order_by(Escalation.id)))


def open_counts(case_ids: list[int]) -> dict[int, int]:
    """How many open escalations each case has (one query, for the case list)."""
    if not case_ids:
        return {}
    rows = db.session.execute(select(Escalation.case_id, func.count()).where(
        Escalation.case_id.in_(case_ids), Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))
        .group_by(Escalation.case_id))
    return {case_id: count for case_id, count in rows}


def taken_on(case: Case, limit: int = 10) -> list[Escalation]:
    """The case's escalations someone has taken on, latest first (shown under the open ones)."""
    return list(db.session.scalars(
        select(Escalation).where(Escalation.case_id == case.id, Escalation.acknowledged_at.is_not(None))
        .options(joinedload(Escalation.acknowledged_by)).order_by(Escalation.acknowledged_at.desc(), Escalation.id.desc())
        .limit(limit)))
