"""Stored playbook versions and the append-only log of what was done to each step."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import User
from incident.database import UTCDateTime
from incident.dates import utcnow
from incident.extensions import Model


class PlaybookVersion(Model):
    """The exact text of a playbook file as a case started with it, keyed by its SHA-256."""

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StepEvent(Model):
    """Something done to a playbook step; append-only. A step's state is its latest event."""

    __table_args__ = (Index("ix_step_event_case_version", "case_id", "playbook_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    playbook_version: Mapped[str] = mapped_column(ForeignKey("playbook_version.version"))
    step_key: Mapped[str] = mapped_column(String(60))
    #: complete, skip, decide, waive, reopen (a correction of a mistaken entry).
    action: Mapped[str] = mapped_column(String(20))
    #: A decision's answer.
    answer: Mapped[bool | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")
    #: What the step asked for (a URL, a prohibited item, where a text went out...).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


class CaseStepDue(Model):
    """A pending step with a deadline of an open case, with its due time: kept by incident.playbooks.due
    whenever a step event, the case's severity, detection time, playbook or status changes, so that the
    home page finds due steps with one indexed query instead of every open case's checklist."""

    __tablename__ = "case_step_due"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    step_key: Mapped[str] = mapped_column(String(60), primary_key=True)
    #: The step's place in its playbook (orders steps due at the same time as the checklist does).
    position: Mapped[int] = mapped_column()
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
