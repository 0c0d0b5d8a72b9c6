"""Official accounts (the basics of 様式1)."""
from __future__ import annotations

import datetime as dt
import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import OPERATOR_LABELS as OPERATOR_LABELS
from incident.auth.models import Department, Operator
from incident.auth.models import OperatorType as OperatorType
from incident.database import UTCDateTime, enum_column
from incident.dates import utcnow
from incident.extensions import Model


class Platform(enum.StrEnum):
    """Social-media platforms the city uses."""

    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    LINE = "line"
    YOUTUBE = "youtube"
    TIKTOK = "tiktok"
    OTHER = "other"


#: Display labels of the platforms; here, not in incident.labels (which re-uses them),
#: because draft templates name them.
PLATFORM_LABELS = {
    Platform.X: "X",
    Platform.FACEBOOK: "Facebook",
    Platform.INSTAGRAM: "Instagram",
    Platform.LINE: "LINE",
    Platform.YOUTUBE: "YouTube",
    Platform.TIKTOK: "TikTok",
    Platform.OTHER: _l("その他"),
}


class AccountStatus(enum.StrEnum):
    """Whether an account is running; a closed account leaves the public list."""

    ACTIVE = "active"
    CLOSED = "closed"


class NoticeKind(enum.StrEnum):
    """The three notices of 様式2."""

    OPENING = "opening"
    CHANGE = "change"
    CLOSURE = "closure"


class OfficialAccount(Model):
    """An official account of the city on one platform."""

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[Platform] = mapped_column(enum_column(Platform), index=True)
    #: The account name as registered on the platform (アカウント名), e.g. 宮城県石巻市.
    name: Mapped[str] = mapped_column(String(200))
    #: 登録URL; may be unknown until the account is opened.
    url: Mapped[str | None] = mapped_column(String(500))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    operator_type: Mapped[OperatorType] = mapped_column(enum_column(OperatorType))
    #: The designated manager or contractor running the account (None when the department runs it).
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_organisation.id"), index=True)
    # 様式1 (operation policy) fields.
    #: 責任者: the head of the department, e.g. 観光課長.
    responsible_person: Mapped[str] = mapped_column(String(200), default="")
    #: 発信情報: what the account publishes.
    content: Mapped[str] = mapped_column(Text, default="")
    #: 利用目的.
    purpose: Mapped[str] = mapped_column(Text, default="")
    #: 運用開始日, and the end of the operating period when one is fixed.
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    #: 運用時間, e.g. 月曜日から金曜日までの8時30分から17時15分まで.
    operating_hours: Mapped[str] = mapped_column(String(300), default="")
    #: 投稿に対する返信 (reply policy).
    reply_policy: Mapped[str] = mapped_column(Text, default="")
    #: 備考.
    remarks: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[AccountStatus] = mapped_column(enum_column(AccountStatus), default=AccountStatus.ACTIVE,
                                                  index=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Multi-factor authentication (3(3)カ) and when someone last confirmed it.
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    mfa_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the operation policy was last reviewed.
    policy_reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    operator: Mapped[Operator | None] = relationship(lazy="joined")

    @property
    def operator_name(self) -> str | None:
        """The outside operator's name, if the account is not run by the department itself."""
        return self.operator.name if self.operator else None

    def __repr__(self) -> str:
        return f"<OfficialAccount {self.platform} {self.name}>"


class AccountNotice(Model):
    """A 様式2 notice of opening, change or closure; append-only, the account's history."""

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_account.id"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(enum_column(NoticeKind))
    #: 開設・変更・廃止日.
    effective_date: Mapped[dt.date] = mapped_column(Date)
    #: 担当者（連絡先）, e.g. 観光 次郎（内線1234）.
    contact: Mapped[str] = mapped_column(String(300))
    #: 変更内容 (change) or 廃止理由 (closure).
    details: Mapped[str] = mapped_column(Text, default="")
    remarks: Mapped[str] = mapped_column(Text, default="")
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: The case that led to this notice (a takeover's change notice, a dormant account's closure notice).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)

    account: Mapped[OfficialAccount] = relationship()


class NoticeReceipt(Model):
    """The PR office's receipt of a notice; append-only (one per notice)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("account_notice.id"), unique=True)
    received_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClosureTask(Model):
    """A done item of a closed account's checklist (deleted on the platform, confirmed gone,
    removed from the public list); append-only."""

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_account.id"), index=True)
    #: deleted_on_platform, confirmed_gone, removed_from_public_list.
    task: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    done_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FakeAccountState(enum.StrEnum):
    """Where a known impersonating account stands."""

    LIVE = "live"
    REPORTED = "reported"
    REMOVED = "removed"


#: Display labels of a fake's states (draft templates name them too).
FAKE_STATE_LABELS = {
    FakeAccountState.LIVE: _l("存続中"),
    FakeAccountState.REPORTED: _l("通報済み"),
    FakeAccountState.REMOVED: _l("削除済み"),
}

class FakeAccount(Model):
    """An impersonating account, recorded once and linked to every case that meets it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[Platform] = mapped_column(enum_column(Platform), index=True)
    #: Lower-cased @handle without the @, for matching; None when only a URL is known.
    handle: Mapped[str | None] = mapped_column(String(120), index=True)
    #: Normalised URL (scheme and host lower-cased, no trailing slash), for matching.
    url: Mapped[str | None] = mapped_column(String(500), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The genuine official account it imitates.
    genuine_account_id: Mapped[int | None] = mapped_column(ForeignKey("official_account.id"), index=True)
    state: Mapped[FakeAccountState] = mapped_column(enum_column(FakeAccountState),
                                                    default=FakeAccountState.LIVE, index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    genuine_account: Mapped[OfficialAccount | None] = relationship()


class FakeAccountEvent(Model):
    """A change of a fake account's state (reported, removed, still live); append-only history."""

    id: Mapped[int] = mapped_column(primary_key=True)
    fake_account_id: Mapped[int] = mapped_column(ForeignKey("fake_account.id"), index=True)
    state: Mapped[FakeAccountState] = mapped_column(enum_column(FakeAccountState))
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseFakeAccount(Model):
    """A case met a known fake account (the link is never removed)."""

    __table_args__ = (UniqueConstraint("case_id", "fake_account_id", name="uq_case_fake_account_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    fake_account_id: Mapped[int] = mapped_column(ForeignKey("fake_account.id"), index=True)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
