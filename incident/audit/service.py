"""Writing audit rows in the same transaction as the change they describe."""
from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import enum
import json
import uuid
from typing import TYPE_CHECKING, Any

from flask import g, has_request_context
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from incident.audit.chain import CONTENT_COLUMNS, canonical_content, chain_hash, chain_head, remember_head
from incident.audit.models import AuditLog
from incident.dates import isoformat, utcnow
from incident.extensions import db

if TYPE_CHECKING:
    from incident.auth.models import User

_cli_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cli_request_id", default=None
)


def new_request_id() -> str:
    """A fresh id for one HTTP request or CLI invocation."""
    return uuid.uuid4().hex


def set_cli_request_id(value: str) -> None:
    """Tag everything a CLI command writes with one id."""
    _cli_request_id.set(value)


def current_request_id() -> str:
    """The id of the request or CLI command being served (a fresh one if there is none)."""
    if has_request_context() and getattr(g, "request_id", None):
        return str(g.request_id)
    value = _cli_request_id.get()
    if value is None:
        value = new_request_id()
        _cli_request_id.set(value)
    return value


def _plain(value: Any) -> Any:
    """Make a value JSON-friendly for the changes column."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
        return value
    return str(value)


def record(
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int | None,
    changes: dict[str, tuple[Any, Any]] | None = None,
    case_id: int | None = None,
) -> AuditLog:
    """Add an audit row for a change, linked into the hash chain; the caller's single commit makes both
    durable together."""
    plain = {k: [_plain(old), _plain(new)] for k, (old, new) in (changes or {}).items()}
    last_id, last_hash = chain_head()
    row = AuditLog(
        id=last_id + 1,
        actor_id=actor.id if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        case_id=case_id,
        # Hash exactly what will be read back (JSON turns tuples into lists, keys into strings).
        changes=json.loads(json.dumps(plain)),
        request_id=current_request_id(),
        created_at=utcnow(),
        prev_hash=last_hash,
    )
    row.row_hash = chain_hash(last_hash, canonical_content(
        {name: getattr(row, name) for name in CONTENT_COLUMNS}))
    db.session.add(row)
    db.session.flush()
    remember_head(row.id, row.row_hash)
    return row


@dataclasses.dataclass
class AuditPage:
    """One page of audit rows, newest first, with where the neighbouring pages start (None: no such page)."""

    items: list[AuditLog]
    #: `after` for the page of newer rows, `before` for the page of older rows.
    newer: int | None
    older: int | None


def audit_page(per_page: int, case_id: int | None = None, action: str | None = None, *,
               before: int | None = None, after: int | None = None) -> AuditPage:
    """A page of audit rows by id (keyset): the newest, those just older than `before`, or those just newer
    than `after`. No count over the log, so a page deep in millions of rows costs what the first one does."""
    where: list[Any] = []
    if case_id is not None:
        where.append(AuditLog.case_id == case_id)
    if action:
        where.append(AuditLog.action == action)
    query = select(AuditLog).options(joinedload(AuditLog.actor)).where(*where)
    if after is not None:  # newer rows: read upwards from `after`, show newest first
        rows = list(db.session.scalars(query.where(AuditLog.id > after).order_by(AuditLog.id).limit(per_page + 1)))
        items = rows[:per_page][::-1]
        newer = items[0].id if len(rows) > per_page else None
        edge = items[-1].id if items else after + 1
        return AuditPage(items, newer, edge if _exists(*where, AuditLog.id < edge) else None)
    if before is not None:
        query = query.where(AuditLog.id < before)
    rows = list(db.session.scalars(query.order_by(AuditLog.id.desc()).limit(per_page + 1)))
    items = rows[:per_page]
    older = items[-1].id if len(rows) > per_page else None
    if before is None:
        return AuditPage(items, None, older)
    edge = items[0].id if items else before - 1
    return AuditPage(items, edge if _exists(*where, AuditLog.id > edge) else None, older)


def _exists(*where: Any) -> bool:
    return db.session.scalar(select(AuditLog.id).where(*where).limit(1)) is not None
