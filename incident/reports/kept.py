"""Figures computed once per change of data: kept per process, keyed by what was asked and the data's version.

The version is the newest audit row and the newest timeline entry: every change a figure depends on writes
one of them (a person's action an audit row, the escalation sweep a timeline entry). The audit row is named
by its id and its chain hash, which covers every row before it: a database rolled back, restored or replaced
under a running process cannot pass for the one a figure was computed from."""
from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select

from incident.audit.models import AuditLog
from incident.auth.models import User
from incident.cases.models import TimelineEvent
from incident.extensions import db

#: Results kept per process (each is a few kilobytes: months, departments and breakdown keys, not cases).
SIZE = 128

T = TypeVar("T")

_kept: collections.OrderedDict[tuple[Any, ...], Any] = collections.OrderedDict()
_lock = threading.Lock()


def scope(actor: User) -> tuple[Any, ...]:
    """What decides which cases the actor may see (policy.visible_cases_clause)."""
    return actor.id, str(actor.role), actor.department_id, actor.operator_id


def data_version() -> tuple[Any, ...]:
    """The newest audit row (id and chain hash) and the newest timeline entry, in one query."""
    newest_audit = select(func.max(AuditLog.id)).scalar_subquery()
    row = db.session.execute(select(
        select(AuditLog.row_hash).where(AuditLog.id == newest_audit).scalar_subquery(), newest_audit,
        select(func.max(TimelineEvent.id)).scalar_subquery())).one()
    return tuple(row)


def kept(key: Hashable, compute: Callable[[], T]) -> T:
    """compute()'s result for `key` at the data's current version, computed again only after a change."""
    full = (key, data_version())
    with _lock:
        if full in _kept:
            _kept.move_to_end(full)
            return _kept[full]
    fresh = compute()
    with _lock:
        _kept[full] = fresh
        while len(_kept) > SIZE:
            _kept.popitem(last=False)
    return fresh


def clear() -> None:
    """Forget everything kept (tests)."""
    with _lock:
        _kept.clear()
