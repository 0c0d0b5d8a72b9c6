"""Escalations of a case up the chain, and the append-only record of who was told at each level."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import User
from incident.database import UTCDateTime
from incident.dates import utcnow
from incident.extensions import Model

#: What started an escalation, as its notices and pages say (incident.labels re-uses this table).
ESCALATION_TRIGGER_LABELS = {
    "manual": _l("手動のエスカレーション"),
    "unacknowledged": _l("受付されないまま時間が過ぎた"),
    "step_overdue": _l("必須の手順が期限を過ぎた"),
    "approval_wait": _l("文案が承認待ちのまま時間が過ぎた"),
}
#: How someone took an escalation on by acting on its case (the timeline event's `by`); pressing 受ける has none.
ESCALATION_TAKEN_BY_LABELS = {
    "case_acknowledged": _l("案件の受付により"),
    "case_assigned": _l("担当者の割り当てにより"),
    "draft_approved": _l("文案の承認により"),
    "draft_returned": _l("文案の差し戻しにより"),
}
#: Who is told at each level of the chain (escalation.toml `levels`).
ESCALATION_LEVEL_LABELS = {
    "assignee": _l("担当者"),
    "supervisors": _l("所属長"),
    "pr_office": _l("秘書広報課"),
    # Not a level of the chain: the on-call person told first outside working hours (EscalationNotice.level_name).
    "on_call": _l("当番"),
}

class Escalation(Model):
    """A case (or one of its steps or drafts) brought to the next level, until someone acknowledges it."""

    __table_args__ = (Index("ix_escalation_open_next", "acknowledged_at", "resolved_at", "next_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: manual, unacknowledged, step_overdue, approval_wait.
    trigger: Mapped[str] = mapped_column(String(20))
    #: The step key or draft id a timed escalation is about ("" for the case itself).
    subject: Mapped[str] = mapped_column(String(100), default="")
    #: One timed escalation per cause: a second sweep (or a second machine) cannot raise it again.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: Index into the chain of levels (escalation.toml) last notified.
    level: Mapped[int] = mapped_column(default=0)
    #: When to climb to the next level (or notify again) if nobody acknowledges.
    next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Outside working hours, the on-call person told first: while set, level `level` has not been told
    #: yet and is the next one told at next_at (the climb clears this); the notices keep who was told.
    on_call_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Set when the cause went away (case acknowledged, step done, draft decided, case closed).
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    raised_by: Mapped[User | None] = relationship(foreign_keys=[raised_by_id])
    on_call: Mapped[User | None] = relationship(foreign_keys=[on_call_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None and self.resolved_at is None


class EscalationNotice(Model):
    """One person told at one level of an escalation; append-only (the metrics come from here)."""

    __table_args__ = (Index("ix_escalation_notice_user", "user_id", "escalation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id"), index=True)
    level: Mapped[int] = mapped_column()
    level_name: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OnCallShift(Model):
    """A person on call for a department from `starts_at` to `ends_at` (nights, weekends, holidays): outside
    working hours escalations go to them first. Where shifts overlap, the most recently created one counts."""

    __table_args__ = (Index("ix_on_call_shift_department_time", "department_id", "ends_at", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
