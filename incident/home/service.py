"""What the home page shows each user: a count and the first rows of each block, in a fixed number of queries.

Every query is limited by policy.visible_cases_clause, so no block shows or counts a case its reader may not
see. "My work" is the cases assigned to me; a supervisor's also covers their department's cases, and the PR
office's every department's (policy.sees_team_queue, policy.lists_every_department)."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, func, or_, select, true
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.sql.util import find_tables

from incident import pagination, policy
from incident.auth.models import Department, User
from incident.cases import retention
from incident.cases.models import OPEN_STATUSES, Case, Severity
from incident.cases.queries import SEVERITY_RANK
from incident.dates import TOKYO, UTC, to_tokyo, utcnow
from incident.drafts.models import (
    FOLLOWED_UP_TYPES,
    Draft,
    DraftEvent,
    DraftRevision,
    DraftStatus,
    DraftType,
    Publication,
    Route,
)
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.playbooks.models import CaseStepDue, PlaybookVersion
from incident.playbooks.service import PENDING, StepState, playbook_of
from incident.reports import kept

#: Rows shown in each block of the home page; a block's own page (/home/<block>) shows up to FULL_LIMIT.
HOME_LIMIT = 10
FULL_LIMIT = 200
#: Severities counted as urgent in the PR office's summary.
URGENT = (Severity.CRITICAL, Severity.HIGH)


@dataclasses.dataclass
class Block:
    """A count of everything in a block and its first rows (fewer than the count when there are more)."""

    count: int
    rows: list[Any]

    @property
    def more(self) -> bool:
        return self.count > len(self.rows)

    @property
    def capped(self) -> bool:
        """Whether there are more than COUNT_CAP (count is then COUNT_CAP + 1, shown as "1,000 件以上")."""
        return self.count > pagination.COUNT_CAP


@dataclasses.dataclass
class DueStep:
    """A pending step of a case that is overdue or due today."""

    case: Case
    state: StepState


@dataclasses.dataclass
class DepartmentSummary:
    """One department's line in the PR office's summary."""

    department: Department
    open_cases: int = 0
    urgent: int = 0
    overdue_steps: int = 0
    approvals: int = 0
    escalations: int = 0


@dataclasses.dataclass
class Home:
    """Everything the home page shows."""

    cases: Block
    steps: Block
    approvals: Block
    escalations: Block
    follow_ups: Block
    notices: Block
    departments: list[DepartmentSummary] | None
    #: For the PR office: records whose retention ended still holding personal data (up to COUNT_CAP + 1).
    expired_records: int | None = None


def _open() -> ColumnElement[bool]:
    return Case.status.in_(OPEN_STATUSES)


def _visible(user: User) -> ColumnElement[bool]:
    return policy.visible_cases_clause(user, Case)


def _work_scope(user: User) -> ColumnElement[bool]:
    """The visible cases that are the user's work: assigned to them, and their department's (a supervisor) or
    every department's (the PR office)."""
    if policy.lists_every_department(user):
        scope: ColumnElement[bool] = true()
    elif policy.sees_team_queue(user):
        scope = or_(Case.assignee_id == user.id, Case.department_id == user.department_id)
    else:
        scope = Case.assignee_id == user.id
    return and_(_visible(user), scope)


def _severity_rank() -> Any:
    """Critical first, then high, medium, low (the case list's "most urgent first")."""
    return case(SEVERITY_RANK, value=Case.severity, else_=len(SEVERITY_RANK))


def _pairs(model: Any, where: ColumnElement[bool], order: tuple[Any, ...], limit: int) -> Block:
    """A block of (row, its case) pairs of a model with a case_id: the count and the first rows in `order`."""
    on = Case.id == model.case_id
    chosen = select(model.id).where(where)
    if Case.__table__ in find_tables(and_(where, *order), check_columns=True):
        chosen = chosen.join(Case, on)
    # The first rows are chosen before their cases are joined: joining first made PostgreSQL hash every case
    # against all 5,000 escalations the PR office was told about, to keep ten (84 ms at 100,000 cases on PostgreSQL; now 12 ms).
    first = chosen.order_by(*order).limit(limit)
    rows = list(db.session.execute(select(model, Case).join(Case, on).where(model.id.in_(first)).order_by(*order)).tuples())
    return Block(pagination.capped_count(chosen), rows)


# ---- my open cases ---------------------------------------------------------------------------------


def my_cases(user: User, limit: int = HOME_LIMIT) -> Block:
    """My open cases (assigned to me), most urgent first: a count and a list."""
    where = and_(Case.assignee_id == user.id, _open(), _visible(user))
    count = pagination.capped_count(select(Case.id).where(where))
    rows = list(db.session.scalars(
        select(Case).where(where).options(joinedload(Case.department))
        .order_by(_severity_rank(), Case.created_at.desc(), Case.id.desc()).limit(limit)))
    return Block(count, rows)


# ---- steps overdue or due today -------------------------------------------------------------------


def _due_where(where: ColumnElement[bool], before: dt.datetime) -> ColumnElement[bool]:
    """Pending steps of the open cases matching `where` due before `before` (case_step_due, joined to cases)."""
    return and_(where, _open(), CaseStepDue.due_at < before)


def _end_of_today(now: dt.datetime) -> dt.datetime:
    """The first moment of tomorrow in Japan, as UTC."""
    tomorrow = to_tokyo(now).date() + dt.timedelta(days=1)
    return dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=TOKYO).astimezone(UTC)


def _states(rows: list[tuple[Case, CaseStepDue]], now: dt.datetime) -> list[DueStep]:
    """The listed rows as due steps, their steps read from the playbook versions the cases are pinned to
    (one query for all of them; playbook_of then finds them loaded)."""
    # Held while the steps are looked up: the session's identity map keeps loaded rows only while referenced.
    pinned = list(db.session.scalars(select(PlaybookVersion).where(
        PlaybookVersion.version.in_({c.playbook_version for c, _due in rows}))))
    books = {c.playbook_version: playbook_of(c) for c, _due in rows}
    del pinned
    out = []
    for c, due in rows:
        book = books[c.playbook_version]
        step = next((s for s in book.steps if s.key == due.step_key), None) if book else None
        if step is not None:
            out.append(DueStep(c, StepState(step, PENDING, None, None, due.due_at, now > due.due_at)))
    return out


def due_steps(user: User, limit: int = HOME_LIMIT, now: dt.datetime | None = None) -> Block:
    """Steps overdue or due by the end of today (Japan) in my work (policy: a supervisor's department, the
    PR office's all), earliest deadline first: a count and the first rows, from case_step_due."""
    now = now or utcnow()
    where = _due_where(_work_scope(user), _end_of_today(now))
    count = pagination.capped_count(select(CaseStepDue.case_id).join(Case, Case.id == CaseStepDue.case_id).where(where))
    rows = list(db.session.execute(
        select(Case, CaseStepDue).join(CaseStepDue, CaseStepDue.case_id == Case.id).where(where)
        .options(joinedload(Case.department))
        .order_by(CaseStepDue.due_at, Case.id, CaseStepDue.position).limit(limit)).tuples())
    return Block(count, _states(rows, now))


# ---- drafts waiting for my approval ---------------------------------------------------------------


def _approvable(user: User) -> ColumnElement[bool]:
    """Submitted drafts of open cases the user may approve (policy.can_approve_draft): the supervisor route
    for the case department's supervisor or the PR office, a pre-approved text for any colleague who sees the
    case; never one the user wrote or submitted (incident.drafts.service.is_own)."""
    if policy.lists_every_department(user):
        supervises: ColumnElement[bool] = true()
    elif policy.sees_team_queue(user):
        supervises = Case.department_id == user.department_id
    else:
        supervises = false()
    submitted_revision = aliased(DraftRevision)
    submitter = (select(DraftEvent.actor_id)
                 .where(DraftEvent.draft_id == Draft.id, DraftEvent.action.in_(("submitted", "pre_approved")))
                 .order_by(DraftEvent.id.desc()).limit(1).correlate(Draft).scalar_subquery())
    written_by_me = exists().where(submitted_revision.id == Draft.approved_revision_id,
                                   submitted_revision.author_id == user.id)
    return and_(Draft.status == DraftStatus.SUBMITTED, _open(), _visible(user),
                or_(and_(Draft.route == Route.SUPERVISOR, supervises), Draft.route == Route.PRE_APPROVED),
                ~written_by_me, func.coalesce(submitter, 0) != user.id)


def approvals(user: User, limit: int = HOME_LIMIT) -> Block:
    """Drafts waiting for my approval (or second check), oldest first."""
    return _pairs(Draft, _approvable(user), (Draft.updated_at, Draft.id), limit)


# ---- escalations to me ----------------------------------------------------------------------------


def _told(user: User) -> ColumnElement[bool]:
    """Open escalations the user was told about; an outside operator's user only those of cases they see
    (policy.being_told_shows_case), as the work queue does."""
    told = and_(Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None),
                Escalation.id.in_(select(EscalationNotice.escalation_id).where(EscalationNotice.user_id == user.id)))
    if not policy.being_told_shows_case(user):
        told = and_(told, _visible(user))
    return told


def escalations(user: User, limit: int = HOME_LIMIT) -> Block:
    """Open escalations sent to me, oldest first."""
    return _pairs(Escalation, _told(user), (Escalation.created_at, Escalation.id), limit)


# ---- takedown and recovery follow-ups due ---------------------------------------------------------


def follow_ups(user: User, limit: int = HOME_LIMIT, on: dt.date | None = None) -> Block:
    """Takedown and recovery requests in my work whose follow-up date has come without an answer (a late
    answer may come after the case closed, so closed cases count too)."""
    on = on or to_tokyo(utcnow()).date()
    where = and_(Draft.type.in_(FOLLOWED_UP_TYPES), Draft.status == DraftStatus.SENT, Draft.outcome.is_(None),
                 Draft.follow_up_on <= on, _work_scope(user))
    return _pairs(Draft, where, (Draft.follow_up_on, Draft.id), limit)


# ---- notices owed: an interim notice without its final notice -------------------------------------


def _owed() -> ColumnElement[bool]:
    """A published interim notice, not withdrawn, that no (not withdrawn) final notice followed."""
    withdrawal = aliased(Publication)
    final = aliased(Publication)
    final_withdrawal = aliased(Publication)
    withdrawn = exists().where(withdrawal.kind == "withdrawal", withdrawal.supersedes_id == Publication.id)
    final_out = exists().where(
        final.case_id == Publication.case_id, final.kind == DraftType.FINAL_NOTICE.value,
        or_(final.supersedes_id == Publication.id, final.published_at >= Publication.published_at),
        ~exists().where(final_withdrawal.kind == "withdrawal", final_withdrawal.supersedes_id == final.id))
    return and_(Publication.kind == DraftType.INTERIM_NOTICE.value, ~withdrawn, ~final_out)


def notices_owed(user: User, limit: int = HOME_LIMIT) -> Block:
    """Open cases in my work with an interim notice out and no final notice yet, oldest notice first; each
    row is (case, when the interim notice went out)."""
    where = and_(_owed(), _open(), _work_scope(user))
    base = select(Case.id).join(Publication, Publication.case_id == Case.id).where(where).distinct()
    published = func.min(Publication.published_at).label("published_at")
    rows = [(c, at) for c, at in db.session.execute(
        select(Case, published).join(Publication, Publication.case_id == Case.id).where(where)
        .group_by(Case.id).order_by(published, Case.id).limit(limit)).tuples()]
    return Block(pagination.capped_count(base), rows)


# ---- the PR office's summary by department --------------------------------------------------------


def _department_counts(user: User, now: dt.datetime) -> dict[int, tuple[int, int, int, int, int]]:
    """Per department id: open cases, critical/high open, overdue steps (case_step_due), drafts awaiting
    approval, open escalations; one grouped query per measure."""
    visible = _visible(user)
    counts: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
    for department_id, open_cases, urgent in db.session.execute(
            select(Case.department_id, func.count(Case.id), func.count(case((Case.severity.in_(URGENT), Case.id))))
            .where(_open(), visible).group_by(Case.department_id)):
        counts[department_id][0:2] = [open_cases, urgent]
    measures = (
        select(Case.department_id, func.count()).select_from(CaseStepDue).join(Case, Case.id == CaseStepDue.case_id)
        .where(_open(), visible, CaseStepDue.due_at < now),
        select(Case.department_id, func.count(Draft.id)).join(Case, Case.id == Draft.case_id)
        .where(Draft.status == DraftStatus.SUBMITTED, _open(), visible),
        select(Case.department_id, func.count(Escalation.id)).join(Case, Case.id == Escalation.case_id)
        .where(Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None), visible),
    )
    for position, measure in enumerate(measures, start=2):
        for department_id, count in db.session.execute(measure.group_by(Case.department_id)):
            counts[department_id][position] = count
    return {department_id: (a, b, c, d, e) for department_id, (a, b, c, d, e) in counts.items()}


def department_summary(user: User, now: dt.datetime | None = None) -> list[DepartmentSummary]:
    """The PR office's summary by department, as of the current minute. Its counts run over every open case, so
    they are computed once per change of data and minute (incident.reports.kept) and shared by every view."""
    minute = (now or utcnow()).replace(second=0, microsecond=0)
    counts = kept.kept(("home-departments", kept.scope(user), minute), lambda: _department_counts(user, minute))
    return [DepartmentSummary(d, *counts.get(d.id, (0, 0, 0, 0, 0)))
            for d in db.session.scalars(select(Department).order_by(Department.name))]


def home_for(user: User, now: dt.datetime | None = None) -> Home:
    """Every block of the user's home page; the per-department summary only for the PR office."""
    now = now or utcnow()
    return Home(
        cases=my_cases(user), steps=due_steps(user, now=now), approvals=approvals(user),
        escalations=escalations(user), follow_ups=follow_ups(user, on=to_tokyo(now).date()),
        notices=notices_owed(user),
        departments=department_summary(user, now) if policy.lists_every_department(user) else None,
        expired_records=(pagination.capped_count(select(Case.id).where(
            retention.expired_and_held(to_tokyo(now).date()))) if policy.can_manage_retention(user) else None))


#: The blocks with a full list of their own (/home/<block>), and how to compute it.
FULL_LISTS = {
    "steps": lambda user: due_steps(user, FULL_LIMIT),
    "approvals": lambda user: approvals(user, FULL_LIMIT),
    "follow_ups": lambda user: follow_ups(user, FULL_LIMIT),
    "notices": lambda user: notices_owed(user, FULL_LIMIT),
}
