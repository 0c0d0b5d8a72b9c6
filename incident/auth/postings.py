"""Who was where when: the posting history every move of a person (edit, reshuffle) goes through."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from incident.audit import service as audit
from incident.auth.models import Department, Operator, Posting, Role, User
from incident.dates import utcnow
from incident.extensions import db


def open_posting(actor: User | None, user: User, at: dt.datetime | None = None,
                 reshuffle_id: int | None = None) -> Posting:
    """Start a posting for the user's current department, role and operator (a new user, or after a move)."""
    posting = Posting(user_id=user.id, department_id=user.department_id, role=user.role,
                      operator_id=user.operator_id, started_at=at or utcnow(),
                      changed_by_id=actor.id if actor else None, reshuffle_id=reshuffle_id)
    db.session.add(posting)
    db.session.flush()
    return posting


def move_user(actor: User | None, user: User, *, department: Department, role: Role,
              operator: Operator | None, at: dt.datetime | None = None,
              reshuffle_id: int | None = None) -> bool:
    """Move a person to another department / role / operator: the current posting ends, a new one starts,
    and the change is audited. Returns False (and records nothing) when nothing changes."""
    operator_id = operator.id if operator else None
    if (user.department_id, user.role, user.operator_id) == (department.id, role, operator_id):
        return False
    when = at or utcnow()
    changes: dict[str, tuple[Any, Any]] = {}
    if user.department_id != department.id:
        changes["department"] = (user.department.code, department.code)
    if user.role != role:
        changes["role"] = (user.role, role)
    if user.operator_id != operator_id:
        changes["organisation"] = (user.organisation, operator.name if operator else None)
    current = db.session.scalar(select(Posting).where(Posting.user_id == user.id, Posting.ended_at.is_(None))
                                .order_by(Posting.started_at.desc()).limit(1))
    if current is not None:
        current.ended_at = when
    user.department_id, user.role, user.operator_id = department.id, role, operator_id
    db.session.flush()
    db.session.refresh(user, ["department", "operator"])
    open_posting(actor, user, at=when, reshuffle_id=reshuffle_id)
    if reshuffle_id is not None:
        changes["reshuffle"] = (None, reshuffle_id)
    audit.record(actor, "user.move", "user", user.id, changes=changes)
    return True


def history_of(user_id: int) -> list[Posting]:
    """A person's postings, newest first."""
    return list(db.session.scalars(select(Posting).where(Posting.user_id == user_id)
                                   .order_by(Posting.started_at.desc(), Posting.id.desc())))


def members_on(department_id: int, day: dt.datetime) -> list[int]:
    """The ids of the people posted to a department at a moment (who was there then)."""
    return list(db.session.scalars(
        select(Posting.user_id).where(Posting.department_id == department_id, Posting.started_at <= day,
                                      (Posting.ended_at.is_(None)) | (Posting.ended_at > day))
    ))
