"""Escalating cases: by hand, and by the sweep when a case, a step or an approval waits too long."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, cast

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, String, Update, and_, func, or_, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from incident import policy, signals
from incident.audit import service as audit
from incident.auth.models import User
from incident.auth.service import active_people, pr_office, supervisors_of
from incident.cases import loading
from incident.cases.models import Case, CaseStatus, TimelineEvent
from incident.cases.service import require_open
from incident.dates import utcnow
from incident.drafts.models import Draft, DraftStatus, Route
from incident.drafts.service import is_own
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.escalation.models import (
    ESCALATION_LEVEL_LABELS,
    ESCALATION_TRIGGER_LABELS,
    Escalation,
    EscalationNotice,
)
from incident.escalation.rules import Rules
from incident.extensions import db
from incident.notifications import service as notifications
from incident.playbooks.models import PlaybookVersion, StepEvent
from incident.playbooks.service import PENDING, StepState, checklist

REASON_MAX = 2000
def rules() -> Rules:
    """The loaded escalation.toml."""
    return current_app.extensions["escalation"]


def recipients(case: Case, level_name: str, people_of: dict[str, list[User]] | None = None) -> list[User]:
    """Who is told at a level: the assignee, the department's supervisors, or the PR office; never anyone
    who may not see the case (an outside operator's user hears only of cases they see, policy.can_view).
    `people_of` keeps the supervisors and the PR office read once for a batch of the sweep."""
    if level_name == "assignee":
        return [case.assignee] if (case.assignee is not None and case.assignee.active
                                   and policy.can_view(case.assignee, case)) else []
    memo = {} if people_of is None else people_of
    key = f"supervisors:{case.department_id}" if level_name == "supervisors" else "pr_office"
    if key not in memo:
        memo[key] = supervisors_of(case.department_id) if level_name == "supervisors" else pr_office()
    return [person for person in memo[key] if policy.can_view(person, case)]


def _level_index(name: str) -> int:
    levels = rules().levels
    return levels.index(name) if name in levels else 0


def _first_told(case: Case, start: int, people_of: dict[str, list[User]] | None = None
                ) -> tuple[int, list[User]] | None:
    """The first level at or after `start` that has anyone in it, with its people (or None)."""
    levels = rules().levels
    for index in range(start, len(levels)):
        people = recipients(case, levels[index], people_of)
        if people:
            return index, people
    return None


def _tell(escalation: Escalation, case: Case, index: int, people: list[User], now: dt.datetime) -> None:
    """Record who is told at a level and notify them (in the app, and by mail when they want it)."""
    for person in people:
        db.session.add(EscalationNotice(escalation_id=escalation.id, level=index, level_name=rules().levels[index],
                                        user_id=person.id, created_at=now))
    notifications.notify(
        people, "escalation",
        _l("【エスカレーション】%(number)s %(title)s", number=case.number, title=case.title),
        _l("%(why)s：%(reason)s", why=ESCALATION_TRIGGER_LABELS[escalation.trigger], reason=escalation.reason),
        case_id=case.id, link=f"/cases/{case.id}#escalations")


def _notify_from(escalation: Escalation, case: Case, start: int, now: dt.datetime) -> int | None:
    """Tell the first level at or after `start` that has anyone in it; returns that level (or None)."""
    found = _first_told(case, start)
    if found is None:
        return None
    _tell(escalation, case, found[0], found[1], now)
    return found[0]


def _timeline(case: Case, actor: User | None, event: str, escalation: Escalation, **data: Any) -> None:
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id if actor else None, event=event,
                                 data={"escalation_id": escalation.id, "trigger": escalation.trigger,
                                       "reason": escalation.reason, **data}))


def _next_at(case: Case, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(minutes=rules().timings[case.severity.value].next_level_minutes)


def _start_level(actor: User, case: Case, wanted: Any) -> str:
    """The level a hand-raised escalation starts at: the one asked for, if the actor may start there."""
    allowed = policy.escalation_start_levels(actor, case)
    if wanted in (None, ""):
        return allowed[0]
    if isinstance(wanted, str) and wanted in allowed:
        return wanted
    if wanted == "pr_office" and "supervisors" in allowed:
        message = _l("担当者が秘書広報課へ直接エスカレーションできるのは、重大度が「緊急」の案件だけです。")
    else:
        message = _l("エスカレーション先は「%(levels)s」から選んでください。",
                     levels="」「".join(str(ESCALATION_LEVEL_LABELS[name]) for name in allowed))
    raise ValidationFailed(fields={"level": message})


def escalate(actor: User, case: Case, reason: Any, level: Any = None) -> Escalation:
    """Bring a case to the next level by hand: a responder's to the supervisors (a critical case's straight to
    the PR office if `level` asks), a supervisor's to the PR office."""
    if not policy.can_view(actor, case):
        raise NotFound()
    require_open(case)  # a closed case needs nobody's attention; reopen it first
    text = reason.strip() if isinstance(reason, str) else ""
    errors: dict[str, Any] = {}
    if not text or len(text) > REASON_MAX or "\x00" in text:
        errors["reason"] = _l("理由を %(max)d 文字以内で入力してください。", max=REASON_MAX)
    try:
        start_level = _start_level(actor, case, level)
    except ValidationFailed as exc:
        errors.update(exc.fields or {})
    if errors:
        raise ValidationFailed(fields=errors)
    now = utcnow()
    start = _level_index(start_level)
    escalation = Escalation(case_id=case.id, trigger="manual", reason=text, level=start,
                            raised_by_id=actor.id, created_at=now, next_at=_next_at(case, now))
    db.session.add(escalation)
    db.session.flush()
    level = _notify_from(escalation, case, start, now)
    if level is None:  # nobody above (e.g. the PR office escalating with no other admin): tell the last level
        level = _notify_from(escalation, case, len(rules().levels) - 1, now)
    escalation.level = level if level is not None else start
    _timeline(case, actor, "escalated", escalation, level=rules().levels[escalation.level])
    audit.record(actor, "escalation.create", "escalation", escalation.id, case_id=case.id,
                 changes={"reason": (None, text), "level": (None, rules().levels[escalation.level])})
    return escalation


def get_escalation(actor: User, escalation_id: int) -> Escalation:
    """An escalation of a case the actor may see (or was told about), or NotFound."""
    def may_see(actor: User, case: Case, escalation: Escalation) -> bool:
        return policy.can_view_escalation(actor, case, told=was_told(actor, escalation))

    return loading.load(actor, Escalation, escalation_id, may_see=may_see)


def was_told(user: User, escalation: Escalation) -> bool:
    """Whether the user was notified of this escalation."""
    return db.session.scalar(select(EscalationNotice.id).where(
        EscalationNotice.escalation_id == escalation.id, EscalationNotice.user_id == user.id).limit(1)) is not None


def acknowledge(actor: User, escalation: Escalation) -> Escalation:
    """A recipient (or a supervisor of the case) takes it on: it stops climbing and leaves the case banner."""
    case = db.session.get_one(Case, escalation.case_id)
    if not policy.can_take_escalation(actor, case, told=was_told(actor, escalation)):
        raise PermissionDenied(_l("このエスカレーションを受けたのは別の人です。"))
    if not escalation.is_open:
        raise CaseError(_l("このエスカレーションはすでに受けられているか、解消しています。"))
    now = utcnow()
    taken = _write(
        update(Escalation).where(Escalation.id == escalation.id, Escalation.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by_id=actor.id, next_at=None))
    if taken != 1:
        raise CaseError(_l("このエスカレーションはすでに受けられているか、解消しています。"))
    db.session.refresh(escalation)
    _timeline(case, actor, "escalation_acknowledged", escalation)
    audit.record(actor, "escalation.acknowledge", "escalation", escalation.id, case_id=case.id,
                 changes={"acknowledged_at": (None, now)})
    return escalation


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
#: Counts stop here ("1000+"): counting every row of a large backlog on each view costs more than it tells.
COUNT_CAP = 1000


def _capped_count(query: Any) -> int:
    """How many rows `query` has, counted up to COUNT_CAP + 1."""
    return db.session.scalar(select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())) or 0


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
    counts = {"escalations": _capped_count(told.with_only_columns(Escalation.id))}
    mine = (list(db.session.scalars(told.order_by(Escalation.created_at, Escalation.id).offset(offset).limit(limit + 1)))
            if "escalations" in wanted else [])
    more = {"escalations": len(mine) > limit}
    mine = mine[:limit]
    case_ids = {e.case_id for e in mine}
    unassigned: list[Case] = []
    approvals: list[tuple[Draft, Case]] = []
    if policy.sees_team_queue(user):
        waiting = select(Case).where(Case.assignee_id.is_(None), Case.status != CaseStatus.CLOSED,
                                     policy.visible_cases_clause(user, Case))
        if not policy.lists_every_department(user):
            waiting = waiting.where(Case.department_id == user.department_id)
        counts["unassigned"] = _capped_count(waiting.with_only_columns(Case.id))
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


# ---- the sweep ---------------------------------------------------------------------------------

#: How many items (cases, drafts or escalations) one transaction of the sweep handles: the worker's
#: transactions hold SQLite's write lock only from a batch's first write to its commit.
SWEEP_BATCH = 200


@dataclasses.dataclass
class SweepReport:
    """What one sweep did."""

    raised: int = 0
    climbed: int = 0
    resolved: int = 0

    def add(self, other: SweepReport) -> None:
        """Count what another part of the sweep did."""
        self.raised += other.raised
        self.climbed += other.climbed
        self.resolved += other.resolved

    def __str__(self) -> str:
        return f"escalations raised {self.raised}, climbed {self.climbed}, resolved {self.resolved}"


def _write(statement: Update) -> int:
    """A conditional UPDATE from the sweep; how many rows it matched (1 when this run won). The session's
    objects are not searched for rows to update (that made climbing quadratic); callers set what they hold."""
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount


def _raise(case: Case, trigger: str, subject: str, reason: str, start_level: str, now: dt.datetime,
           report: SweepReport, key: str | None = None, people_of: dict[str, list[User]] | None = None) -> None:
    key = f"{trigger}:{case.id}:{key or subject}"
    start = _level_index(start_level)
    found = _first_told(case, start, people_of)  # read before the insert, SQLite's write lock comes after
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    escalation = db.session.scalar(
        insert(Escalation).values(
            case_id=case.id, trigger=trigger, subject=subject, dedupe_key=key, reason=reason,
            level=found[0] if found else start, next_at=_next_at(case, now), created_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Escalation))
    if escalation is None:  # another run got there first
        return
    if found is not None:
        _tell(escalation, case, found[0], found[1], now)
    _timeline(case, None, "escalated", escalation, level=rules().levels[escalation.level])
    report.raised += 1


def _past(column: Any, now: dt.datetime, minutes: Callable[[Any], int]) -> Any:
    """SQL: `column` lies at least the case's severity's `minutes` before `now` (Case must be in the query)."""
    return or_(*(and_(Case.severity == severity, column <= now - dt.timedelta(minutes=minutes(timing)))
                 for severity, timing in rules().timings.items()))


def _is_open(*where: Any) -> Any:
    return and_(Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None), *where)


def _case_has(*where: Any) -> Any:
    """SQL: the case in the outer query has an escalation matching `where`."""
    return select(Escalation.id).where(Escalation.case_id == Case.id, *where).exists()


def _draft_subject() -> Any:
    """SQL for an approval wait's subject, "<draft id>:<draft version>"."""
    return cast_(Draft.id, String).concat(":").concat(cast_(Draft.version, String))


class _Batch:
    """The cases of one batch and what the sweep reads of them, loaded in a fixed number of queries."""

    def __init__(self, case_ids: Iterable[int], now: dt.datetime, steps: bool) -> None:
        ids = sorted(set(case_ids))
        self.now = now
        self.people_of: dict[str, list[User]] = {}
        self.cases = {c.id: c for c in db.session.scalars(
            select(Case).where(Case.id.in_(ids)).options(joinedload(Case.assignee)))}
        self.events: dict[int, list[StepEvent]] = defaultdict(list)
        self.taken_on: set[int] = set()
        self.waiting: dict[int, set[str]] = defaultdict(set)
        self._pinned: list[PlaybookVersion] = []
        if not steps or not ids:
            return
        versions = {c.playbook_version for c in self.cases.values() if c.playbook_version}
        # Held here, so that playbook_of() finds them in the session without a query per case.
        self._pinned = list(db.session.scalars(select(PlaybookVersion).where(PlaybookVersion.version.in_(versions))))
        for event in db.session.scalars(select(StepEvent).where(StepEvent.case_id.in_(ids)).order_by(StepEvent.id)):
            if event.playbook_version == self.cases[event.case_id].playbook_version:
                self.events[event.case_id].append(event)
        self.taken_on = set(db.session.scalars(select(Escalation.case_id).where(
            Escalation.case_id.in_(ids), Escalation.trigger == "unacknowledged", Escalation.acknowledged_at.is_not(None))))
        for case_id, draft_type in db.session.execute(select(Draft.case_id, Draft.type).where(
                Draft.case_id.in_(ids), Draft.status == DraftStatus.SUBMITTED)):
            self.waiting[case_id].add(draft_type.value)

    def overdue_steps(self, case: Case) -> list[StepState]:
        """The required steps overdue long enough to escalate, leaving out those whose lateness another
        escalation already stands for, so that one problem raises one alarm:

        - while nobody has acknowledged the case or taken on its unacknowledged-case escalation, that
          escalation stands for every late step (they are late because nobody has the case);
        - a step that only the supervisor's acknowledgement completes is late only because the case is
          unacknowledged: while it is, that is the unacknowledged-case escalation, never a step escalation;
        - a draft step whose draft awaits approval waits on the approver: that is the approval-wait escalation."""
        if case.acknowledged_at is None and case.id not in self.taken_on:
            return []
        limit = self.now - dt.timedelta(minutes=rules().timings[case.severity.value].step_overdue_minutes)
        waiting = self.waiting.get(case.id, set())
        return [state for state in checklist(case, events=self.events.get(case.id, []), now=self.now)
                if state.state == PENDING and state.step.required and state.due_at is not None
                and state.due_at <= limit
                and not (case.acknowledged_at is None and state.step.completes_on == "supervisor_acknowledgement")
                and not (state.step.type == "draft" and state.step.draft_type in waiting)]


def _still_due(escalation: Escalation, case: Case, batch: _Batch, drafts: dict[int, Draft]) -> bool:
    """Whether the cause of a timed escalation is still there (else it resolves by itself)."""
    if case.status == CaseStatus.CLOSED:
        return False
    if escalation.trigger == "unacknowledged":
        return case.acknowledged_at is None
    if escalation.trigger == "step_overdue":
        # Still due while any required step of the case is overdue (not only the first one named).
        return bool(batch.overdue_steps(case))
    if escalation.trigger == "approval_wait":
        draft_id, _, version = escalation.subject.partition(":")
        draft = drafts.get(int(draft_id)) if draft_id.isdigit() else None
        return draft is not None and draft.status == DraftStatus.SUBMITTED and str(draft.version) == version
    return True


def _resolve_batch(escalation_ids: list[int], now: dt.datetime) -> SweepReport:
    """Open escalations whose cause went away resolve now, not only when their next level is due."""
    report = SweepReport()
    found = list(db.session.scalars(select(Escalation).where(Escalation.id.in_(escalation_ids), _is_open())
                                    .order_by(Escalation.id)))
    batch = _Batch((e.case_id for e in found), now,
                   steps=any(e.trigger == "step_overdue" for e in found))
    draft_ids = [int(e.subject.partition(":")[0]) for e in found
                 if e.trigger == "approval_wait" and e.subject.partition(":")[0].isdigit()]
    drafts = ({d.id: d for d in db.session.scalars(select(Draft).where(Draft.id.in_(draft_ids)))}
              if draft_ids else {})
    gone = [e for e in found if not _still_due(e, batch.cases[e.case_id], batch, drafts)]
    for escalation in gone:
        if _write(update(Escalation).where(Escalation.id == escalation.id, _is_open())
                  .values(resolved_at=now, next_at=None)) == 1:
            set_committed_value(escalation, "resolved_at", now)
            set_committed_value(escalation, "next_at", None)
            _timeline(batch.cases[escalation.case_id], None, "escalation_resolved", escalation)
            report.resolved += 1
    return report


def _unacknowledged_batch(case_ids: list[int], now: dt.datetime) -> SweepReport:
    """Raise the unacknowledged-case escalations of cases nobody acknowledged in time."""
    report = SweepReport()
    batch = _Batch(case_ids, now, steps=False)
    for case in sorted(batch.cases.values(), key=lambda c: c.id):
        minutes = rules().timings[case.severity.value].unacknowledged_minutes
        # Counted from detection, which may be hours before the case was opened.
        if (case.status == CaseStatus.CLOSED or case.acknowledged_at is not None
                or case.detected_at > now - dt.timedelta(minutes=minutes)):
            continue
        waited = int((now - case.detected_at).total_seconds() // 60)
        _raise(case, "unacknowledged", "",
               str(_l("検知から %(m)d 分、受付されていません（目安は %(limit)d 分以内）。", m=waited, limit=minutes)),
               "assignee", now, report, people_of=batch.people_of)
    return report


def _step_batch(case_ids: list[int], now: dt.datetime) -> SweepReport:
    """Raise the step-overdue escalations of a batch of open cases.

    One step escalation open per case at a time, naming every overdue step, so a late case raises one
    alarm rather than one per step. Its key is the set of overdue steps: once acknowledged, it comes
    back only when another step falls overdue."""
    report = SweepReport()
    batch = _Batch(case_ids, now, steps=True)
    wanted: dict[str, tuple[Case, list[StepState]]] = {}
    for case in sorted(batch.cases.values(), key=lambda c: c.id):
        if case.status == CaseStatus.CLOSED:
            continue
        overdue = batch.overdue_steps(case)
        if overdue:
            steps = ",".join(sorted(state.step.key for state in overdue))
            digest = hashlib.sha256(f"{case.playbook_version}:{steps}".encode()).hexdigest()[:32]
            wanted[f"step_overdue:{case.id}:{digest}"] = (case, overdue)
    if not wanted:
        return report
    # Read before any write: which of these alarms were raised before, and which cases have one open.
    raised = set(db.session.scalars(select(Escalation.dedupe_key).where(Escalation.dedupe_key.in_(list(wanted)))))
    still_open = set(db.session.scalars(select(Escalation.case_id).where(
        Escalation.case_id.in_([case.id for case, _ in wanted.values()]), Escalation.trigger == "step_overdue",
        _is_open())))
    for key, (case, overdue) in wanted.items():
        if key in raised or case.id in still_open:
            continue
        titles = "、".join(f"「{state.step.title_ja}」" for state in overdue)
        _raise(case, "step_overdue", overdue[0].step.key,
               str(_l("必須の手順が期限を過ぎています：%(titles)s", titles=titles)), "assignee", now, report,
               key=key.rsplit(":", 1)[1], people_of=batch.people_of)
    return report


def _approval_batch(draft_ids: list[int], now: dt.datetime) -> SweepReport:
    """Raise the approval-wait escalations of submitted drafts that waited too long."""
    report = SweepReport()
    drafts = list(db.session.scalars(select(Draft).where(Draft.id.in_(draft_ids)).order_by(Draft.id)))
    batch = _Batch((d.case_id for d in drafts), now, steps=False)
    for draft in drafts:
        case = batch.cases[draft.case_id]
        limit = rules().timings[case.severity.value].approval_wait_minutes
        if (draft.status != DraftStatus.SUBMITTED or case.status == CaseStatus.CLOSED
                or draft.updated_at > now - dt.timedelta(minutes=limit)):
            continue
        # The draft's version changes with every submission, so a resubmitted draft can escalate again.
        _raise(case, "approval_wait", f"{draft.id}:{draft.version}",
               str(_l("文案 #%(id)d が %(m)d 分以上承認を待っています。", id=draft.id, m=limit)),
               "supervisors", now, report, people_of=batch.people_of)
    return report


def _climb_batch(escalation_ids: list[int], now: dt.datetime) -> SweepReport:
    """Tell the next level about each unanswered escalation whose time has come."""
    report = SweepReport()
    levels = rules().levels
    due = list(db.session.scalars(select(Escalation).where(
        Escalation.id.in_(escalation_ids), _is_open(), Escalation.next_at.is_not(None)).order_by(Escalation.id)))
    batch = _Batch((e.case_id for e in due), now, steps=False)
    for escalation in due:
        case = batch.cases[escalation.case_id]
        old_level, old_next = escalation.level, escalation.next_at
        last = old_level >= len(levels) - 1
        if last and not rules().repeat:
            _write(update(Escalation).where(Escalation.id == escalation.id, Escalation.next_at == old_next)
                   .values(next_at=None))
            set_committed_value(escalation, "next_at", None)
            continue
        found = (_first_told(case, old_level if last else old_level + 1, batch.people_of)
                 or _first_told(case, old_level, batch.people_of))
        level = found[0] if found else old_level
        # Claim this step of the climb: only the run whose conditional update matches notifies anyone.
        next_at = _next_at(case, now)
        if _write(update(Escalation).where(
                Escalation.id == escalation.id, Escalation.level == old_level, Escalation.next_at == old_next,
                Escalation.acknowledged_at.is_(None)).values(next_at=next_at, level=level)) != 1:
            continue
        set_committed_value(escalation, "next_at", next_at)
        set_committed_value(escalation, "level", level)
        if found is not None:
            _tell(escalation, case, found[0], found[1], now)
        _timeline(case, None, "escalated", escalation, level=levels[level])
        report.climbed += 1
    return report


def _inline(work: Callable[[], SweepReport]) -> SweepReport:
    return work()


def sweep(now: dt.datetime | None = None,
          run_item: Callable[[Callable[[], SweepReport]], SweepReport] = _inline,
          batch_size: int | None = None) -> SweepReport:
    """Raise every escalation that is due and climb every unanswered one by one level (idempotent).

    Set-based: each round finds its candidates with one query per kind of alarm whatever the number of
    cases, and acts on them in batches of `batch_size`, each passed to `run_item` (a fixed number of
    queries per batch, plus what raising or climbing an escalation writes). By default all run in the
    caller's transaction; the worker passes `incident.database.in_own_transaction`, so that each batch
    reads without SQLite's write lock and writes in a short transaction of its own, and requests keep
    writing while thousands of cases are swept. A batch's change is complete on its own and every write
    is conditional, so a sweep cut short, run twice or on two machines leaves nothing half done."""
    now = now or utcnow()
    batch_size = batch_size or SWEEP_BATCH  # read now, so a deployment (or a test) may change it
    report = SweepReport()
    open_case = Case.status != CaseStatus.CLOSED
    rounds: list[tuple[Callable[[list[int], dt.datetime], SweepReport], Any]] = [
        # Open escalations whose cause may be gone (a step escalation needs the checklist to tell).
        (_resolve_batch, lambda: select(Escalation.id).join(Case, Case.id == Escalation.case_id).where(
            _is_open(), or_(~open_case,
                and_(Escalation.trigger == "unacknowledged", Case.acknowledged_at.is_not(None)),
                Escalation.trigger == "step_overdue",
                and_(Escalation.trigger == "approval_wait", ~select(Draft.id).where(
                    Draft.case_id == Escalation.case_id, Draft.status == DraftStatus.SUBMITTED,
                    _draft_subject() == Escalation.subject).exists()))).order_by(Escalation.id)),
        # Cases nobody acknowledged in time and never escalated for it (one per case: its dedupe key).
        (_unacknowledged_batch, lambda: select(Case.id).where(
            open_case, Case.acknowledged_at.is_(None), _past(Case.detected_at, now, lambda t: t.unacknowledged_minutes),
            ~_case_has(Escalation.trigger == "unacknowledged", Escalation.dedupe_key.is_not(None)))
            .order_by(Case.id)),
        # Cases whose steps may be overdue: someone has them (or took on their unacknowledged alarm), and no
        # step escalation of theirs is open.
        (_step_batch, lambda: select(Case.id).where(
            open_case, Case.playbook_version.is_not(None),
            or_(Case.acknowledged_at.is_not(None),
                _case_has(Escalation.trigger == "unacknowledged", Escalation.acknowledged_at.is_not(None))),
            ~_case_has(Escalation.trigger == "step_overdue", _is_open())).order_by(Case.id)),
        # Drafts that waited too long for approval, for this submission (their version), not yet escalated.
        (_approval_batch, lambda: select(Draft.id).join(Case, Case.id == Draft.case_id).where(
            Draft.status == DraftStatus.SUBMITTED, open_case,
            _past(Draft.updated_at, now, lambda t: t.approval_wait_minutes),
            ~select(Escalation.id).where(Escalation.case_id == Draft.case_id, Escalation.trigger == "approval_wait",
                                         Escalation.subject == _draft_subject()).exists()).order_by(Draft.id)),
        # Unanswered escalations whose next level is due.
        (_climb_batch, lambda: select(Escalation.id).where(
            _is_open(), Escalation.next_at.is_not(None), Escalation.next_at <= now).order_by(Escalation.id)),
    ]
    for act, candidates in rounds:
        ids = list(db.session.scalars(candidates()))
        for start in range(0, len(ids), batch_size):
            report.add(run_item(functools.partial(act, ids[start:start + batch_size], now)))
    return report


def resolve_for_case(case: Case, trigger: str) -> None:
    """The cause went away (e.g. the case was acknowledged): its open timed escalations stop climbing."""
    db.session.execute(update(Escalation).where(
        Escalation.case_id == case.id, Escalation.trigger == trigger, Escalation.acknowledged_at.is_(None),
        Escalation.resolved_at.is_(None)).values(resolved_at=utcnow(), next_at=None))


def take_on_by_acting(actor: User, case: Case, how: str, *, besides: Draft | None = None) -> list[Escalation]:
    """Someone at (or above) an open escalation's current level acted on the case (`how`, a key of
    ESCALATION_TAKEN_BY_LABELS): it is theirs now, acknowledged in their name, and climbs no further. The person who
    raised it, and anyone below its level, acting on the case leaves it climbing. The approval wait of a
    draft just decided (`besides`) is not taken on: its cause is gone, and the sweep resolves it."""
    levels = rules().levels
    now = utcnow()
    taken = []
    for escalation in open_escalations(case):
        if (besides is not None and escalation.trigger == "approval_wait"
                and escalation.subject.partition(":")[0] == str(besides.id)):
            continue
        level = levels[min(escalation.level, len(levels) - 1)]
        if not policy.takes_escalation_by_acting(actor, case, level, raised_by_id=escalation.raised_by_id):
            continue
        if _write(update(Escalation).where(
                Escalation.id == escalation.id, Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by_id=actor.id, next_at=None)) != 1:
            continue  # taken on or resolved meanwhile
        db.session.refresh(escalation)
        _timeline(case, actor, "escalation_acknowledged", escalation, by=how)
        audit.record(actor, "escalation.acknowledge", "escalation", escalation.id, case_id=case.id,
                     changes={"acknowledged_at": (None, now), "by": (None, how)})
        taken.append(escalation)
    return taken


def taken_on(case: Case, limit: int = 10) -> list[Escalation]:
    """The case's escalations someone has taken on, latest first (shown under the open ones)."""
    return list(db.session.scalars(
        select(Escalation).where(Escalation.case_id == case.id, Escalation.acknowledged_at.is_not(None))
        .options(joinedload(Escalation.acknowledged_by)).order_by(Escalation.acknowledged_at.desc(), Escalation.id.desc())
        .limit(limit)))


@signals.case_acknowledged.connect
def _on_case_acknowledged(case: Case, *, actor: User, **_: Any) -> None:
    """Acknowledging a case resolves its unacknowledged-case escalation (the cause is gone) and takes on the
    others at the acknowledging person's level."""
    resolve_for_case(case, "unacknowledged")
    take_on_by_acting(actor, case, "case_acknowledged")


@signals.case_assigned.connect
def _on_case_assigned(case: Case, *, actor: User, **_: Any) -> None:
    """Assigning a case takes on its escalations at the assigning person's level."""
    take_on_by_acting(actor, case, "case_assigned")


@signals.draft_decided.connect
def _on_draft_decided(draft: Draft, *, actor: User, case: Case, approved: bool, **_: Any) -> None:
    """Approving or returning a draft takes on the case's escalations at the deciding person's level (the
    draft's own approval wait resolves at the next sweep: it no longer waits)."""
    take_on_by_acting(actor, case, "draft_approved" if approved else "draft_returned", besides=draft)


@signals.case_closed.connect
def _resolve_on_closing(case: Case, **_: Any) -> None:
    """A closed case needs nobody's attention: its open escalations resolve."""
    for trigger in ("unacknowledged", "step_overdue", "approval_wait", "manual"):
        resolve_for_case(case, trigger)
