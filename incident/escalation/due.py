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
from incident.escalation.levels import rules
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.playbooks.models import CaseStepDue, PlaybookVersion, StepEvent
from incident.playbooks.service import PENDING, StepState, checklist
from incident.playbooks.states import parse_stored


def past(column: Any, now: dt.datetime, minutes: Callable[[Any], int]) -> Any:
    """SQL: `column` lies at least the case's severity's `minutes` before `now` (Case must be in the query)."""
    return or_(*(and_(Case.severity == severity, column <= now - dt.timedelta(minutes=minutes(timing)))
                 for severity, timing in rules().timings.items()))


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


def may_have_overdue_steps(now: dt.datetime, required: list[tuple[str, str]]) -> Any:
    """SQL: the case in the outer query has a required step pending long enough past its due time to escalate
    (case_step_due). Batch.overdue_steps can only find steps where this holds, so the sweep reads the
    checklists of these cases alone: a fixed number of queries per round when nothing is late."""
    if not required:
        return false()
    return select(CaseStepDue.case_id).where(
        CaseStepDue.case_id == Case.id, tuple_(Case.playbook_version, CaseStepDue.step_key).in_(required),
        past(CaseStepDue.due_at, now, lambda t: t.step_overdue_minutes)).exists()


def draft_subject() -> Any:
    """SQL for an approval wait's subject, "<draft id>:<draft version>"."""
    return cast_(Draft.id, String).concat(":").concat(cast_(Draft.version, String))


class Batch:
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
