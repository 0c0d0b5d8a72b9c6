"""What the sweep reads to decide what is due: SQL conditions, and a batch's cases with their steps and drafts."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import String, and_, false, or_, select, tuple_
from sqlalchemy import cast as cast_
from sqlalchemy.orm import joinedload

from incident.auth.models import User
from incident.cases.models import Case, CaseStatus
from incident.drafts.models import Draft, DraftStatus
from incident.escalation.hours import Schedule, is_working_time, working_start_before
from incident.escalation.levels import on_call_for, rules
from incident.escalation.models import Escalation
from incident.escalation.rules import Timing
from incident.escalation.schedules import city_closed, on_call_now, read_schedules
from incident.extensions import db
from incident.playbooks.models import CaseStepDue, PlaybookVersion, StepEvent
from incident.playbooks.service import PENDING, StepState, checklist
from incident.playbooks.states import parse_stored


class Clock:
    """How long things have waited at `now`, in wall-clock minutes or, for a severity whose timers wait for
    working hours, in its department's working minutes. The departments' schedules are read once, and each
    threshold is worked out once per group of departments with the same schedule, never per case. It holds
    no database objects, so one clock serves every batch (and transaction) of a sweep."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._schedules: dict[int, Schedule] | None = None
        self._before: dict[tuple[Schedule, int], dt.datetime] = {}

    @property
    def schedules(self) -> dict[int, Schedule]:
        """Every department's working hours (one query, on first use)."""
        if self._schedules is None:
            self._schedules = read_schedules()
        return self._schedules

    def schedule(self, department_id: int) -> Schedule:
        """A department's working hours (the city's defaults for one created since the clock read them)."""
        found = self.schedules.get(department_id)
        return found if found is not None else Schedule(city_closed=city_closed())

    def _start_before(self, schedule: Schedule, minutes: int) -> dt.datetime:
        key = (schedule, minutes)
        if key not in self._before:
            self._before[key] = working_start_before(schedule, self.now, minutes)
        return self._before[key]

    def limit(self, case: Case, minutes: Callable[[Timing], int]) -> dt.datetime:
        """The latest instant from which the case's `minutes` have passed by now."""
        timing = rules().timings[case.severity.value]
        if timing.working_hours_only:
            return self._start_before(self.schedule(case.department_id), minutes(timing))
        return self.now - dt.timedelta(minutes=minutes(timing))

    def limit_for(self, schedule: Schedule, minutes: int) -> dt.datetime:
        """The latest instant from which `minutes` working minutes of `schedule` have passed by now."""
        return self._start_before(schedule, minutes)

    def working(self, department_id: int) -> bool:
        """Whether the department is at work now."""
        return is_working_time(self.schedule(department_id), self.now)


def past(column: Any, clock: Clock, minutes: Callable[[Timing], int]) -> Any:
    """SQL: `column` lies at least the case's severity's `minutes` before the clock's now (Case must be in the
    query); for a severity counting working hours, with one threshold per group of identical schedules."""
    clauses = []
    for severity, timing in rules().timings.items():
        if not timing.working_hours_only:
            clauses.append(and_(Case.severity == severity,
                                column <= clock.now - dt.timedelta(minutes=minutes(timing))))
            continue
        groups: dict[Schedule, list[int]] = defaultdict(list)
        for department_id, schedule in clock.schedules.items():
            groups[schedule].append(department_id)
        clauses.extend(and_(Case.severity == severity, Case.department_id.in_(ids),
                            column <= clock.limit_for(schedule, minutes(timing)))
                       for schedule, ids in groups.items())
    return or_(*clauses) if clauses else false()


def is_open(*where: Any) -> Any:
    """SQL: the escalation is neither taken on nor resolved (and matches `where`)."""
    return and_(Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None), *where)


def case_has(*where: Any) -> Any:
    """SQL: the case in the outer query has an escalation matching `where`."""
    return select(Escalation.id).where(Escalation.case_id == Case.id, *where).exists()


def required_steps() -> list[tuple[str, str]]:
    """(playbook version, step key) of every required step of every stored playbook version (a few dozen)."""
    return [(row.version, step.key)
            for row in db.session.execute(select(PlaybookVersion.version, PlaybookVersion.text, PlaybookVersion.file_name))
            for step in parse_stored(row.version, row.text, row.file_name).steps if step.required]


def may_have_overdue_steps(clock: Clock, required: list[tuple[str, str]]) -> Any:
    """SQL: the case in the outer query has a required step pending long enough past its due time to escalate
    (case_step_due). Batch.overdue_steps can only find steps where this holds, so the sweep reads the
    checklists of these cases alone: a fixed number of queries per round when nothing is late."""
    if not required:
        return false()
    return select(CaseStepDue.case_id).where(
        CaseStepDue.case_id == Case.id, tuple_(Case.playbook_version, CaseStepDue.step_key).in_(required),
        past(CaseStepDue.due_at, clock, lambda t: t.step_overdue_minutes)).exists()


def draft_subject() -> Any:
    """SQL for an approval wait's subject, "<draft id>:<draft version>"."""
    return cast_(Draft.id, String).concat(":").concat(cast_(Draft.version, String))


class Batch:
    """The cases of one batch and what the sweep reads of them, loaded in a fixed number of queries."""

    def __init__(self, case_ids: Iterable[int], now: dt.datetime, steps: bool, clock: Clock | None = None,
                 tells: bool = False) -> None:
        ids = sorted(set(case_ids))
        self.now = now
        self.clock = clock if clock is not None and clock.now == now else Clock(now)
        self.people_of: dict[str, list[User]] = {}
        self.cases = {c.id: c for c in db.session.scalars(
            select(Case).where(Case.id.in_(ids)).options(joinedload(Case.assignee)))}
        # Who is on call, read before any write (SQLite's write lock) and only for departments now outside
        # their working hours: one query for the whole batch, none in the daytime.
        self._on_call: dict[int, User] = {}
        if tells:
            outside = {c.department_id for c in self.cases.values() if not self.clock.working(c.department_id)}
            self._on_call = on_call_now(outside, now) if outside else {}
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

    def on_call(self, case: Case, besides: User | None = None) -> User | None:
        """The on-call person to tell first about an escalation of the case raised now (or None)."""
        return on_call_for(case, self.now, self.clock.schedule(case.department_id),
                           self._on_call.get(case.department_id), besides)

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
        limit = self.clock.limit(case, lambda t: t.step_overdue_minutes)
        waiting = self.waiting.get(case.id, set())
        return [state for state in checklist(case, events=self.events.get(case.id, []), now=self.now)
                if state.state == PENDING and state.step.required and state.due_at is not None
                and state.due_at <= limit
                and not (case.acknowledged_at is None and state.step.completes_on == "supervisor_acknowledgement")
                and not (state.step.type == "draft" and state.step.draft_type in waiting)]


def still_due(escalation: Escalation, case: Case, batch: Batch, drafts: dict[int, Draft]) -> bool:
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
