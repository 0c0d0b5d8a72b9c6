"""The metrics figures computed once per change of data: kept per process, keyed by who asks, the filters and
the newest audit row (every change the figures depend on writes one), so repeated views cost one query.

The newest row is named by its id and its chain hash, which covers every row before it: a database rolled
back, restored or replaced under a running process cannot pass for the one a report was computed from."""
from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

from sqlalchemy import func, select

from incident.audit.models import AuditLog
from incident.auth.models import Department, User
from incident.extensions import db
from incident.reports import metrics

#: Reports kept per process (a report is a few kilobytes: its rows are months and breakdown keys, not cases).
SIZE = 64

_reports: collections.OrderedDict[tuple[Any, ...], metrics.Report] = collections.OrderedDict()
_lock = threading.Lock()


def _scope(actor: User) -> tuple[Any, ...]:
    """What decides which cases the actor may see (policy.visible_cases_clause)."""
    return actor.id, str(actor.role), actor.department_id, actor.operator_id


def report(actor: User, filters: metrics.MetricsFilters, departments: list[Department]) -> metrics.Report:
    """metrics.compute's report, computed again only when an audit row was written since it was kept."""
    newest = db.session.execute(select(AuditLog.id, AuditLog.row_hash).where(
        AuditLog.id == select(func.max(AuditLog.id)).scalar_subquery())).first()
    key = (_scope(actor), filters, tuple(newest) if newest is not None else None)
    with _lock:
        kept = _reports.get(key)
        if kept is not None:
            _reports.move_to_end(key)
    if kept is not None:
        # The departments of this request's session (names are shown; a rename writes an audit row anyway).
        return dataclasses.replace(kept, departments={d.id: d for d in departments})
    fresh = metrics.compute(actor, filters, departments)
    with _lock:
        _reports[key] = fresh
        while len(_reports) > SIZE:
            _reports.popitem(last=False)
    return fresh


def clear() -> None:
    """Forget every kept report (tests)."""
    with _lock:
        _reports.clear()
