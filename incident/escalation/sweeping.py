"""The periodic sweep: raises escalations that are due, climbs unanswered ones, resolves those whose cause went away."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from incident.cases.models import OPEN_STATUSES, Case, CaseStatus
from incident.dates import utcnow
from incident.drafts.models import Draft, DraftStatus
from incident.escalation.due import (
    Batch,
    Clock,
    case_has,
    draft_subject,
    is_open,
    may_have_overdue_steps,
    past,
    required_steps,
    still_due,
)
from incident.escalation.levels import first_told, level_index, next_at, note_on_timeline, rules, tell, write
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.playbooks.service import StepState

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


def _raise(case: Case, trigger: str, subject: str, reason: str, start_level: str, batch: Batch,
           report: SweepReport, key: str | None = None) -> None:
    """Raise an escalation of the case and tell its first level (outside working hours, the person on call
    first, if any: the first level is then told at next_at), unless its cause (dedupe key) was raised."""
    now = batch.now
    key = f"{trigger}:{case.id}:{key or subject}"
    start = level_index(start_level)
    on_call = batch.on_call(case)
    # Read before the insert, SQLite's write lock comes after.
    found = None if on_call is not None else first_told(case, start, batch.people_of)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    escalation = db.session.scalar(
        insert(Escalation).values(
            case_id=case.id, trigger=trigger, subject=subject, dedupe_key=key, reason=reason,
            level=found[0] if found else start, on_call_id=on_call.id if on_call else None,
            next_at=next_at(case, now, batch.clock.schedule(case.department_id)), created_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Escalation))
    if escalation is None:  # another run got there first
        return
    if on_call is not None:
        tell(escalation, case, start, [on_call], now, level_name="on_call")
    elif found is not None:
        tell(escalation, case, found[0], found[1], now)
    note_on_timeline(case, None, "escalated", escalation,
                     level="on_call" if on_call is not None else rules().levels[escalation.level])
    report.raised += 1


def _resolve_batch(escalation_ids: list[int], now: dt.datetime, clock: Clock | None = None) -> SweepReport:
    """Open escalations whose cause went away resolve now, not only when their next level is due."""
    report = SweepReport()
    found = list(db.session.scalars(select(Escalation).where(Escalation.id.in_(escalation_ids), is_open())
                                    .order_by(Escalation.id)))
    batch = Batch((e.case_id for e in found), now,
                  steps=any(e.trigger == "step_overdue" for e in found), clock=clock)
    draft_ids = [int(e.subject.partition(":")[0]) for e in found
                 if e.trigger == "approval_wait" and e.subject.partition(":")[0].isdigit()]
    drafts = ({d.id: d for d in db.session.scalars(select(Draft).where(Draft.id.in_(draft_ids)))}
              if draft_ids else {})
    gone = [e for e in found if not still_due(e, batch.cases[e.case_id], batch, drafts)]
    for escalation in gone:
        if write(update(Escalation).where(Escalation.id == escalation.id, is_open())
                 .values(resolved_at=now, next_at=None)) == 1:
            set_committed_value(escalation, "resolved_at", now)
            set_committed_value(escalation, "next_at", None)
            note_on_timeline(batch.cases[escalation.case_id], None, "escalation_resolved", escalation)
            report.resolved += 1
    return report


def _unacknowledged_batch(case_ids: list[int], now: dt.datetime, clock: Clock | None = None) -> SweepReport:
    """Raise the unacknowledged-case escalations of cases nobody acknowledged in time."""
    report = SweepReport()
    batch = Batch(case_ids, now, steps=False, clock=clock, tells=True)
    for case in sorted(batch.cases.values(), key=lambda c: c.id):
        minutes = rules().timings[case.severity.value].unacknowledged_minutes
        # Counted from detection, which may be hours before the case was opened (in working minutes for
        # a severity whose timers wait for working hours).
        if (case.status == CaseStatus.CLOSED or case.acknowledged_at is not None
                or case.detected_at > batch.clock.limit(case, lambda t: t.unacknowledged_minutes)):
            continue
        waited = int((now - case.detected_at).total_seconds() // 60)
        # A severity counted in working hours may have waited far longer on the clock than its limit: say so.
        why = (_l("検知から %(m)d 分、受付されていません（目安は勤務時間で %(limit)d 分以内）。", m=waited, limit=minutes)
               if rules().timings[case.severity.value].working_hours_only
               else _l("検知から %(m)d 分、受付されていません（目安は %(limit)d 分以内）。", m=waited, limit=minutes))
        _raise(case, "unacknowledged", "", str(why),
               "assignee", batch, report)
    return report


def _step_batch(case_ids: list[int], now: dt.datetime, clock: Clock | None = None) -> SweepReport:
    """Raise the step-overdue escalations of a batch of open cases.

    One step escalation open per case at a time, naming every overdue step, so a late case raises one
    alarm rather than one per step. Its key is the set of overdue steps: once acknowledged, it comes
    back only when another step falls overdue."""
    report = SweepReport()
    batch = Batch(case_ids, now, steps=True, clock=clock, tells=True)
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
        is_open())))
    for key, (case, overdue) in wanted.items():
        if key in raised or case.id in still_open:
            continue
        titles = "、".join(f"「{state.step.title_ja}」" for state in overdue)
        _raise(case, "step_overdue", overdue[0].step.key,
               str(_l("必須の手順が期限を過ぎています：%(titles)s", titles=titles)), "assignee", batch, report,
               key=key.rsplit(":", 1)[1])
    return report


def _approval_batch(draft_ids: list[int], now: dt.datetime, clock: Clock | None = None) -> SweepReport:
    """Raise the approval-wait escalations of submitted drafts that waited too long."""
    report = SweepReport()
    drafts = list(db.session.scalars(select(Draft).where(Draft.id.in_(draft_ids)).order_by(Draft.id)))
    batch = Batch((d.case_id for d in drafts), now, steps=False, clock=clock, tells=True)
    for draft in drafts:
        case = batch.cases[draft.case_id]
        limit = rules().timings[case.severity.value].approval_wait_minutes
        if (draft.status != DraftStatus.SUBMITTED or case.status == CaseStatus.CLOSED
                or draft.updated_at > batch.clock.limit(case, lambda t: t.approval_wait_minutes)):
            continue
        # The draft's version changes with every submission, so a resubmitted draft can escalate again.
        _raise(case, "approval_wait", f"{draft.id}:{draft.version}",
               str(_l("文案 #%(id)d が %(m)d 分以上承認を待っています。", id=draft.id, m=limit)),
               "supervisors", batch, report)
    return report


def _climb_batch(escalation_ids: list[int], now: dt.datetime, clock: Clock | None = None) -> SweepReport:
    """Tell the next level about each unanswered escalation whose time has come (after the on-call person,
    the level they were told before)."""
    report = SweepReport()
    levels = rules().levels
    due = list(db.session.scalars(select(Escalation).where(
        Escalation.id.in_(escalation_ids), is_open(), Escalation.next_at.is_not(None)).order_by(Escalation.id)))
    if not rules().repeat:
        # Those at the last level stop climbing: one statement for all of them.
        ended = [e for e in due if e.level >= len(levels) - 1 and e.on_call_id is None]
        if ended:
            write(update(Escalation).where(Escalation.id.in_([e.id for e in ended]), Escalation.next_at <= now,
                                           Escalation.on_call_id.is_(None)).values(next_at=None))
            for escalation in ended:
                set_committed_value(escalation, "next_at", None)
            due = [e for e in due if e.level < len(levels) - 1 or e.on_call_id is not None]
    batch = Batch((e.case_id for e in due), now, steps=False, clock=clock)
    for escalation in due:
        case = batch.cases[escalation.case_id]
        old_level, old_next, old_on_call = escalation.level, escalation.next_at, escalation.on_call_id
        last = old_level >= len(levels) - 1
        # After the on-call person, the level they were told before; else the next one up.
        first = old_level if old_on_call is not None or last else old_level + 1
        found = first_told(case, first, batch.people_of) or first_told(case, old_level, batch.people_of)
        level = found[0] if found else old_level
        # Claim this step of the climb: only the run whose conditional update matches notifies anyone.
        due_at = next_at(case, now, batch.clock.schedule(case.department_id))
        if write(update(Escalation).where(
                Escalation.id == escalation.id, Escalation.level == old_level, Escalation.next_at == old_next,
                Escalation.on_call_id.is_(None) if old_on_call is None else Escalation.on_call_id == old_on_call,
                Escalation.acknowledged_at.is_(None)).values(next_at=due_at, level=level, on_call_id=None)) != 1:
            continue
        set_committed_value(escalation, "next_at", due_at)
        set_committed_value(escalation, "level", level)
        set_committed_value(escalation, "on_call_id", None)
        if found is not None:
            tell(escalation, case, found[0], found[1], now)
        note_on_timeline(case, None, "escalated", escalation, level=levels[level])
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
    open_case = Case.status.in_(OPEN_STATUSES)
    clock = Clock(now)
    late = may_have_overdue_steps(clock, required_steps())
    waiting_draft = select(Draft.id).where(Draft.case_id == Case.id, Draft.status == DraftStatus.SUBMITTED).exists()
    rounds: list[tuple[Callable[[list[int], dt.datetime, Clock], SweepReport], Any]] = [
        # Open escalations whose cause may be gone. A step escalation's checklist is read only when no required
        # step is late enough in case_step_due, or when what overdue_steps leaves out may apply (the case is
        # unacknowledged, or a draft of it awaits approval).
        (_resolve_batch, lambda: select(Escalation.id).join(Case, Case.id == Escalation.case_id).where(
            is_open(), or_(~open_case,
                and_(Escalation.trigger == "unacknowledged", Case.acknowledged_at.is_not(None)),
                and_(Escalation.trigger == "step_overdue",
                     or_(~late, Case.acknowledged_at.is_(None), waiting_draft)),
                and_(Escalation.trigger == "approval_wait", ~select(Draft.id).where(
                    Draft.case_id == Escalation.case_id, Draft.status == DraftStatus.SUBMITTED,
                    draft_subject() == Escalation.subject).exists()))).order_by(Escalation.id)),
        # Cases nobody acknowledged in time and never escalated for it (one per case: its dedupe key).
        (_unacknowledged_batch, lambda: select(Case.id).where(
            open_case, Case.acknowledged_at.is_(None), past(Case.detected_at, clock, lambda t: t.unacknowledged_minutes),
            ~case_has(Escalation.trigger == "unacknowledged", Escalation.dedupe_key.is_not(None)))
            .order_by(Case.id)),
        # Cases with a required step late enough (case_step_due): someone has them (or took on their
        # unacknowledged alarm), and no step escalation of theirs is open.
        (_step_batch, lambda: select(Case.id).where(
            open_case, Case.playbook_version.is_not(None), late,
            or_(Case.acknowledged_at.is_not(None),
                case_has(Escalation.trigger == "unacknowledged", Escalation.acknowledged_at.is_not(None))),
            ~case_has(Escalation.trigger == "step_overdue", is_open())).order_by(Case.id)),
        # Drafts that waited too long for approval, for this submission (their version), not yet escalated.
        (_approval_batch, lambda: select(Draft.id).join(Case, Case.id == Draft.case_id).where(
            Draft.status == DraftStatus.SUBMITTED, open_case,
            past(Draft.updated_at, clock, lambda t: t.approval_wait_minutes),
            ~select(Escalation.id).where(Escalation.case_id == Draft.case_id, Escalation.trigger == "approval_wait",
                                         Escalation.subject == draft_subject()).exists()).order_by(Draft.id)),
        # Unanswered escalations whose next level is due.
        (_climb_batch, lambda: select(Escalation.id).where(
            is_open(), Escalation.next_at.is_not(None), Escalation.next_at <= now).order_by(Escalation.id)),
    ]
    for act, candidates in rounds:
        ids = list(db.session.scalars(candidates()))
        for start in range(0, len(ids), batch_size):
            report.add(run_item(functools.partial(act, ids[start:start + batch_size], now, clock)))
    return report
