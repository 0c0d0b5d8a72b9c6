"""Disclosure requests (情報公開請求) for a case's record, and the passages masked in what is disclosed;
append-only: a mask taken back is a withdrawal row, never an edit."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import User
from incident.database import UTCDateTime
from incident.dates import utcnow
from incident.extensions import Model


class DisclosureRequest(Model):
    """A request under the information disclosure ordinance that covers this case's record."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: The request's number at the city's 情報公開 desk (受付番号).
    reference: Mapped[str] = mapped_column(String(50))
    received_on: Mapped[dt.date] = mapped_column(Date)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User] = relationship()
    masks: Mapped[list[DisclosureMask]] = relationship(order_by="DisclosureMask.id", viewonly=True)


class DisclosureMask(Model):
    """A passage shown as ■ wherever it stands in the disclosed report, with its ground (the ordinance's
    article, as configured when it was recorded) and why."""

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("disclosure_request.id"), index=True)
    passage: Mapped[str] = mapped_column(String(500))
    ground: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User] = relationship()
    withdrawal: Mapped[DisclosureMaskWithdrawal | None] = relationship(viewonly=True)


class DisclosureMaskWithdrawal(Model):
    """A mask taken back (the passage is disclosed after all), by whom and why."""

    id: Mapped[int] = mapped_column(primary_key=True)
    mask_id: Mapped[int] = mapped_column(ForeignKey("disclosure_mask.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User] = relationship()
