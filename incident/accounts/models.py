"""Official accounts (the basics of 様式1)."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import Department
from incident.database import UTCDateTime, enum_column
from incident.dates import utcnow
from incident.extensions import db


class Platform(enum.StrEnum):
    """Social-media platforms the city uses."""

    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    LINE = "line"
    YOUTUBE = "youtube"
    TIKTOK = "tiktok"
    OTHER = "other"


class OperatorType(enum.StrEnum):
    """Who runs an account for the city (section 2 of the guideline)."""

    CITY = "city"
    DESIGNATED_MANAGER = "designated_manager"
    CONTRACTOR = "contractor"


class OfficialAccount(db.Model):
    """An official account of the city on one platform."""

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[Platform] = mapped_column(enum_column(Platform), index=True)
    #: The account name as registered on the platform (アカウント名), e.g. 宮城県石巻市.
    name: Mapped[str] = mapped_column(String(200))
    #: 登録URL; may be unknown until the account is opened.
    url: Mapped[str | None] = mapped_column(String(500))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    operator_type: Mapped[OperatorType] = mapped_column(enum_column(OperatorType))
    #: The designated manager's or contractor's name when they operate the account.
    operator_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<OfficialAccount {self.platform} {self.name}>"
