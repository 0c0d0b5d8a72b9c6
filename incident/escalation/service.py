"""Escalating cases: by hand, and by the sweep when a case, a step or an approval waits too long."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from typing import Any, cast

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload, selectinload

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
from incident.playbooks.service import PENDING, StepState, checklist

REASON_MAX = 2000
def rules() -> Rules:
    """The loaded escalation.toml."""
    return current_app.extensions["escalation"]


def recipients(case: Case, level_name: str) -> list[User]:
    """Who is told at a level: the assignee, the department's supervisors, or the PR office; never anyone
    who may not see the case (an outside operator's user hears only of cases they see, policy.can_view)."""
    if level_name == "assignee":
        people = [case.assignee] if case.assignee is not None and case.assignee.active else []
    elif level_name == "supervisors":
        people = supervisors_of(case.department_id)
    else:
        people = pr_office()
    return [person for person in people if policy.can_view(person, case)]


def _level_index(name: str) -> int:
    levels = rules().levels
    return levels.index(name) if name in levels else 0


def _notify_from(escalation: Escalation, case: Case, start: int, now: dt.datetime) -> int | None:
    """Tell the first level at or after `start` that has anyone in it; returns that level (or None)."""
    levels = rules().levels
    for index in range(start, len(levels)):
        people = recipients(case, levels[index])
        if not people:
            continue
        for person in people:
            db.session.add(EscalationNotice(escalation_id=escalation.id, level=index, level_name=levels[index],
                                            user_id=person.id, created_at=now))
        notifications.notify(
            people, "escalation",
            _l("【エスカレーション】%(number)s %(title)s", number=case.number, title=case.title),
            _l("%(why)s：%(reason)s", why=ESCALATION_TRIGGER_LABELS[escalation.trigger], reason=escalation.reason),
            case_id=case.id, link=f"/cases/{case.id}#escalations")
        return index
    return None


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
    taken = _update(
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
    and the PR office unassigned cases (with the people who may take each) and drafts awaiting approval."""

    escalations: list[Escalation]
    cases_by_id: dict[int, Case]
    unassigned: list[Case]
    approvals: list[tuple[Draft, Case]]
    #: For each unassigned case (by id), who the user may assign it to.
    people: dict[int, list[User]]


#: The queue shows at most this many unassigned cases and approvals (oldest first).
QUEUE_LIMIT = 100


def queue_for(user: User) -> Queue:
    """The user's work queue, in a fixed number of queries (one more per department with unassigned cases)."""
    told = select(Escalation).where(
        Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None),
        Escalation.id.in_(select(EscalationNotice.escalation_id).where(EscalationNotice.user_id == user.id)))
    if not policy.being_told_shows_case(user):  # an outside operator's user: only cases they still see
        told = told.where(Escalation.case_id.in_(select(Case.id).where(policy.visible_cases_clause(user, Case))))
    mine = list(db.session.scalars(told.order_by(Escalation.created_at)))
    case_ids = {e.case_id for e in mine}
    unassigned: list[Case] = []
    approvals: list[tuple[Draft, Case]] = []
    if policy.sees_team_queue(user):
        query = (select(Case).where(Case.assignee_id.is_(None), Case.status != CaseStatus.CLOSED,
                                    policy.visible_cases_clause(user, Case))
                 .options(joinedload(Case.department), joinedload(Case.official_account))
                 .order_by(Case.created_at).limit(QUEUE_LIMIT))
        if not policy.lists_every_department(user):
            query = query.where(Case.department_id == user.department_id)
        unassigned = list(db.session.scalars(query))
        submitted = (select(Draft, Case).join(Case, Case.id == Draft.case_id)
                     .options(selectinload(Draft.revisions))  # is_own() reads them
                     .where(Draft.status == DraftStatus.SUBMITTED, Draft.route == Route.SUPERVISOR)
                     .order_by(Draft.updated_at).limit(QUEUE_LIMIT))
        if not policy.lists_every_department(user):
            submitted = submitted.where(Case.department_id == user.department_id)
        approvals = [(d, c) for d, c in db.session.execute(submitted).tuples() if not is_own(user, d)]
    cases_by_id = ({c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(case_ids)))}
                   if case_ids else {})
    of_department = {department_id: active_people(department_id)
                     for department_id in dict.fromkeys(c.department_id for c in unassigned)}
    # Per case: an outside operator's people may take only the cases of the accounts their operator runs.
    people = {c.id: [u for u in of_department[c.department_id] if policy.can_assign_to(user, c, u)]
              for c in unassigned}
    return Queue(mine, cases_by_id, unassigned, approvals, people)


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


def _insert_ignore(values: dict[str, Any]) -> int | None:
    """Insert an escalation unless its dedupe key exists; the id, or None when another run got there first."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = db.session.execute(
        insert(Escalation).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Escalation.id))
    return result.scalar()


def _update(statement: Update) -> int:
    """Run a conditional UPDATE in the session; how many rows it matched (1 when this run won)."""
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount


def _raise(case: Case, trigger: str, subject: str, reason: str, start_level: str, now: dt.datetime,
           report: SweepReport, key: str | None = None) -> None:
    key = f"{trigger}:{case.id}:{key or subject}"
    escalation_id = _insert_ignore({
        "case_id": case.id, "trigger": trigger, "subject": subject, "dedupe_key": key, "reason": reason,
        "level": _level_index(start_level), "next_at": _next_at(case, now), "created_at": now})
    if escalation_id is None:
        return
    escalation = db.session.get_one(Escalation, escalation_id)  # inserted just above
    level = _notify_from(escalation, case, escalation.level, now)
    if level is not None:
        escalation.level = level
    _timeline(case, None, "escalated", escalation, level=rules().levels[escalation.level])
    report.raised += 1


def _waiting_for_approval(case: Case) -> set[str]:
    """The draft types of the case with a draft submitted and awaiting a decision."""
    return {value.value for value in db.session.scalars(select(Draft.type).where(
        Draft.case_id == case.id, Draft.status == DraftStatus.SUBMITTED))}


def _unacknowledged_taken_on(case: Case) -> bool:
    """Whether someone took on the case's unacknowledged-case escalation (the case may still be unacknowledged)."""
    return db.session.scalar(select(Escalation.id).where(
        Escalation.case_id == case.id, Escalation.trigger == "unacknowledged",
        Escalation.acknowledged_at.is_not(None)).limit(1)) is not None


def _overdue_steps(case: Case, now: dt.datetime) -> list[StepState]:
    """The required steps overdue long enough to escalate, leaving out those whose lateness another
    escalation already stands for, so that one problem raises one alarm:

    - while nobody has acknowledged the case or taken on its unacknowledged-case escalation, that escalation
      stands for every late step (they are late because nobody has the case);
    - a step that only the supervisor's acknowledgement completes is late only because the case is
      unacknowledged: while it is, that is the unacknowledged-case escalation, never a step escalation;
    - a draft step whose draft awaits approval waits on the approver: that is the approval-wait escalation."""
    if case.acknowledged_at is None and not _unacknowledged_taken_on(case):
        return []
    timing = rules().timings[case.severity.value]
    limit = now - dt.timedelta(minutes=timing.step_overdue_minutes)
    late = [state for state in checklist(case, now=now)
            if state.state == PENDING and state.step.required and state.due_at is not None and state.due_at <= limit
            and not (case.acknowledged_at is None and state.step.completes_on == "supervisor_acknowledgement")]
    if any(state.step.type == "draft" for state in late):
        waiting = _waiting_for_approval(case)
        late = [state for state in late if not (state.step.type == "draft" and state.step.draft_type in waiting)]
    return late


def _still_due(escalation: Escalation, case: Case, now: dt.datetime) -> bool:
    """Whether the cause of a timed escalation is still there (else it resolves by itself)."""
    if case.status == CaseStatus.CLOSED:
        return False
    if escalation.trigger == "unacknowledged":
        return case.acknowledged_at is None
    if escalation.trigger == "step_overdue":
        # Still due while any required step of the case is overdue (not only the first one named).
        return bool(_overdue_steps(case, now))
    if escalation.trigger == "approval_wait":
        draft_id, _, version = escalation.subject.partition(":")
        draft = db.session.get(Draft, int(draft_id))
        return draft is not None and draft.status == DraftStatus.SUBMITTED and str(draft.version) == version
    return True


def _has_open(case: Case, trigger: str) -> bool:
    return db.session.scalar(select(Escalation.id).where(
        Escalation.case_id == case.id, Escalation.trigger == trigger, Escalation.acknowledged_at.is_(None),
        Escalation.resolved_at.is_(None)).limit(1)) is not None


def _raise_for_case(case_id: int, now: dt.datetime) -> SweepReport:
    """Raise the unacknowledged and step-overdue escalations one open case is due for."""
    report = SweepReport()
    case = db.session.get(Case, case_id)
    if case is None or case.status == CaseStatus.CLOSED:
        return report
    timing = rules().timings[case.severity.value]
    # Everything is read before the first write, which is when SQLite's write lock is taken.
    overdue = _overdue_steps(case, now)
    # Counted from detection, which may be hours before the case was opened.
    if case.acknowledged_at is None and case.detected_at <= now - dt.timedelta(minutes=timing.unacknowledged_minutes):
        waited = int((now - case.detected_at).total_seconds() // 60)
        _raise(case, "unacknowledged", "",
               str(_l("検知から %(m)d 分、受付されていません（目安は %(limit)d 分以内）。",
                      m=waited, limit=timing.unacknowledged_minutes)),
               "assignee", now, report)
    # One step escalation open per case at a time, naming every overdue step, so a late case raises
    # one alarm rather than one per step. Its key is the set of overdue steps: once acknowledged,
    # it comes back only when another step falls overdue.
    if overdue and not _has_open(case, "step_overdue"):
        titles = "、".join(f"「{state.step.title_ja}」" for state in overdue)
        keys = ",".join(sorted(state.step.key for state in overdue))
        _raise(case, "step_overdue", overdue[0].step.key,
               str(_l("必須の手順が期限を過ぎています：%(titles)s", titles=titles)), "assignee", now, report,
               key=hashlib.sha256(f"{case.playbook_version}:{keys}".encode()).hexdigest()[:32])
    return report


def _raise_for_draft(draft_id: int, now: dt.datetime) -> SweepReport:
    """Raise the approval-wait escalation of one submitted draft, if it has waited too long."""
    report = SweepReport()
    draft = db.session.get(Draft, draft_id)
    if draft is None or draft.status != DraftStatus.SUBMITTED:
        return report
    case = db.session.get_one(Case, draft.case_id)
    if case.status == CaseStatus.CLOSED:
        return report
    limit = rules().timings[case.severity.value].approval_wait_minutes
    if draft.updated_at <= now - dt.timedelta(minutes=limit):
        # The draft's version changes with every submission, so a resubmitted draft can escalate again.
        _raise(case, "approval_wait", f"{draft.id}:{draft.version}",
               str(_l("文案 #%(id)d が %(m)d 分以上承認を待っています。", id=draft.id, m=limit)),
               "supervisors", now, report)
    return report


def _resolve_if_gone(escalation_id: int, now: dt.datetime) -> SweepReport:
    """An open escalation whose cause went away resolves now, not only when its next level is due."""
    report = SweepReport()
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.acknowledged_at is not None or escalation.resolved_at is not None:
        return report
    case = db.session.get_one(Case, escalation.case_id)
    if _still_due(escalation, case, now):
        return report
    claimed = _update(update(Escalation).where(
        Escalation.id == escalation.id, Escalation.resolved_at.is_(None),
        Escalation.acknowledged_at.is_(None)).values(resolved_at=now, next_at=None))
    if claimed == 1:
        _timeline(case, None, "escalation_resolved", escalation)
        report.resolved += 1
    return report


def _climb(escalation_id: int, now: dt.datetime) -> SweepReport:
    """Tell the next level about one unanswered escalation whose time has come."""
    report = SweepReport()
    levels = rules().levels
    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.next_at is None:
        return report
    case = db.session.get_one(Case, escalation.case_id)
    old_level, old_next = escalation.level, escalation.next_at
    last = escalation.level >= len(levels) - 1
    if last and not rules().repeat:
        db.session.execute(update(Escalation).where(Escalation.id == escalation.id,
                                                    Escalation.next_at == old_next).values(next_at=None))
        return report
    # Claim this step of the climb: only the run whose conditional update matches notifies anyone.
    claimed = _update(update(Escalation).where(
        Escalation.id == escalation.id, Escalation.level == old_level, Escalation.next_at == old_next,
        Escalation.acknowledged_at.is_(None)).values(next_at=_next_at(case, now)))
    if claimed != 1:
        return report
    db.session.refresh(escalation)
    level = _notify_from(escalation, case, old_level if last else old_level + 1, now)
    if level is None:
        level = _notify_from(escalation, case, old_level, now)
    if level is not None and level != old_level:
        escalation.level = level
    _timeline(case, None, "escalated", escalation, level=levels[escalation.level])
    report.climbed += 1
    return report


def _inline(work: Callable[[], SweepReport]) -> SweepReport:
    return work()


def sweep(now: dt.datetime | None = None,
          run_item: Callable[[Callable[[], SweepReport]], SweepReport] = _inline) -> SweepReport:
    """Raise every escalation that is due and climb every unanswered one by one level (idempotent).

    Each case, draft and escalation is one item, passed to `run_item`. By default all run in the
    caller's transaction; the worker passes `incident.database.in_own_transaction`, so that each item
    reads without SQLite's write lock and writes (when it has to) in a transaction of its own, and
    requests keep writing while thousands of cases are swept. An item's change is complete on its own
    and every write is conditional, so a sweep cut short, run twice or on two machines leaves nothing
    half done."""
    now = now or utcnow()
    report = SweepReport()
    open_escalations = list(db.session.scalars(select(Escalation.id).where(
        Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None)).order_by(Escalation.id)))
    open_cases = list(db.session.scalars(
        select(Case.id).where(Case.status != CaseStatus.CLOSED).order_by(Case.id)))
    waiting_drafts = list(db.session.scalars(
        select(Draft.id).join(Case, Case.id == Draft.case_id)
        .where(Draft.status == DraftStatus.SUBMITTED, Case.status != CaseStatus.CLOSED).order_by(Draft.id)))
    for escalation_id in open_escalations:
        report.add(run_item(functools.partial(_resolve_if_gone, escalation_id, now)))
    for case_id in open_cases:
        report.add(run_item(functools.partial(_raise_for_case, case_id, now)))
    for draft_id in waiting_drafts:
        report.add(run_item(functools.partial(_raise_for_draft, draft_id, now)))
    due = list(db.session.scalars(select(Escalation.id).where(
        Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None), Escalation.next_at.is_not(None),
        Escalation.next_at <= now).order_by(Escalation.id)))
    for escalation_id in due:
        report.add(run_item(functools.partial(_climb, escalation_id, now)))
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
        if _update(update(Escalation).where(
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
