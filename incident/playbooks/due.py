"""The due times of open cases' pending steps (case_step_due), kept current at every flush that changes them.

A step's due time is the case's detection time plus the step's due_minutes for the case's severity, while
the step is pending (incident.playbooks.service.checklist). So the rows of a case change when a step event is
recorded, or when the case's severity, detection time, playbook version or status changes: a session
listener notes those cases before each flush and rewrites their rows after it, with Core statements on the
flush's connection (a closed case keeps none). `refresh` does the same for given cases, or every case, on
any connection: the migration's backfill and the bulk demo data use it."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, event, insert, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from incident.cases.models import OPEN_STATUSES, Case
from incident.dates import utcnow
from incident.playbooks.models import CaseStepDue, PlaybookVersion, StepEvent
from incident.playbooks.states import PENDING, parse_stored, states_of

#: The case columns a due time depends on.
WATCHED = ("severity", "detected_at", "playbook_version", "status")
#: Cases per round of `refresh` (keeps the IN lists and memory small when filling every case).
CHUNK = 500
_STALE = "incident.step_due.stale"


def _rows(connection: Connection, case_ids: list[int], now: dt.datetime) -> list[dict[str, Any]]:
    """The case_step_due rows of these cases (open ones with a playbook) as their checklists say now."""
    cases = connection.execute(
        select(Case.id, Case.detected_at, Case.severity, Case.playbook_version)
        .where(Case.id.in_(case_ids), Case.status.in_(OPEN_STATUSES), Case.playbook_version.is_not(None))).all()
    if not cases:
        return []
    events: dict[int, list[Any]] = defaultdict(list)
    for row in connection.execute(
            select(StepEvent.case_id, StepEvent.step_key, StepEvent.action, StepEvent.answer)
            .join(Case, (Case.id == StepEvent.case_id) & (Case.playbook_version == StepEvent.playbook_version))
            .where(StepEvent.case_id.in_([c.id for c in cases])).order_by(StepEvent.id)):
        events[row.case_id].append(row)
    books = {v.version: parse_stored(v.version, v.text, v.file_name) for v in connection.execute(
        select(PlaybookVersion.version, PlaybookVersion.text, PlaybookVersion.file_name)
        .where(PlaybookVersion.version.in_({c.playbook_version for c in cases})))}
    rows = []
    for c in cases:
        book = books.get(c.playbook_version)
        if book is None:
            continue
        for position, state in enumerate(states_of(book, c.detected_at, c.severity.value, events[c.id], now)):
            if state.state == PENDING and state.due_at is not None:
                rows.append({"case_id": c.id, "step_key": state.step.key, "position": position,
                             "due_at": state.due_at})
    return rows


def refresh(connection: Connection, case_ids: Iterable[int] | None = None) -> int:
    """Rewrite the rows of these cases (every case when None); returns how many rows they have now."""
    if case_ids is None:
        connection.execute(delete(CaseStepDue))
        ids = list(connection.scalars(select(Case.id).where(Case.status.in_(OPEN_STATUSES)).order_by(Case.id)))
    else:
        ids = sorted(set(case_ids))
    written, now = 0, utcnow()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        if case_ids is not None:
            connection.execute(delete(CaseStepDue).where(CaseStepDue.case_id.in_(chunk)))
        rows = _rows(connection, chunk, now)
        if rows:
            connection.execute(insert(CaseStepDue), rows)
        written += len(rows)
    return written


@event.listens_for(Session, "before_flush")
def _note_stale(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    """Note the cases whose due times this flush may change (new ones get their ids in the flush)."""
    stale: list[Any] = session.info.setdefault(_STALE, [])
    for obj in session.new:
        if isinstance(obj, (Case, StepEvent)):
            stale.append(obj)
    for obj in session.dirty:
        if isinstance(obj, Case):
            attrs = inspect(obj).attrs
            if any(attrs[name].history.has_changes() for name in WATCHED):
                stale.append(obj)


@event.listens_for(Session, "after_flush_postexec")
def _rewrite_stale(session: Session, _context: UOWTransaction) -> None:
    """Rewrite the rows of the cases noted before the flush, on the flush's own connection."""
    stale = session.info.pop(_STALE, None)
    if not stale:
        return
    ids = {obj.id if isinstance(obj, Case) else obj.case_id for obj in stale}
    ids.discard(None)
    if ids:
        refresh(session.connection(), ids)


@event.listens_for(Session, "after_soft_rollback")
def _forget_stale(session: Session, _previous: Any) -> None:
    """A flush that failed leaves nothing to rewrite."""
    session.info.pop(_STALE, None)
