"""Cases, offending items, append-only notes and the append-only timeline."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.accounts.models import OfficialAccount, Platform
from incident.auth.models import Department, User
from incident.database import UTCDateTime, enum_column
from incident.dates import utcnow
from incident.extensions import Model


class CaseKind(enum.StrEnum):
    """The kinds of trouble in section 3(4), plus account takeover (3(2)ウ, 3(3)オ・カ) and an abandoned
    account (3(2)ウ)."""

    FLAMING = "flaming"
    IMPERSONATION = "impersonation"
    FALSE_INFORMATION = "false_information"
    ACCOUNT_TAKEOVER = "account_takeover"
    #: A closed or dormant official account still online or used by someone else (3(2)ウ).
    DORMANT_ACCOUNT = "dormant_account"


class Severity(enum.StrEnum):
    """How urgent a case is; critical (緊急) escalates in minutes and may go straight to the PR office."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class CaseStatus(enum.StrEnum):
    """Where a case stands; transitions are defined in cases.service.TRANSITIONS."""

    NEW = "new"
    RESPONDING = "responding"
    MONITORING = "monitoring"
    CLOSED = "closed"


#: The statuses of a case not yet closed. Queries say `status IN (these)`, which an index on status serves;
#: `status != 'closed'` reads every case.
OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.RESPONDING, CaseStatus.MONITORING)

#: Display labels of the kinds and statuses. Here, not in incident.labels (which re-uses them), because
#: the case service names statuses in its messages and draft templates name kinds.
KIND_LABELS = {
    CaseKind.FLAMING: _l("炎上"),
    CaseKind.IMPERSONATION: _l("なりすまし"),
    CaseKind.FALSE_INFORMATION: _l("事実と反する内容"),
    CaseKind.ACCOUNT_TAKEOVER: _l("乗っ取り"),
    CaseKind.DORMANT_ACCOUNT: _l("廃止・休止アカウント"),
}
STATUS_LABELS = {
    CaseStatus.NEW: _l("新規"),
    CaseStatus.RESPONDING: _l("対応中"),
    CaseStatus.MONITORING: _l("経過観察"),
    CaseStatus.CLOSED: _l("終了"),
}


class CaseCounter(Model):
    """The last case number handed out in a year, so numbers are dense and never reused."""

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Case(Model):
    """One incident on (or against) the city's social-media presence."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("year", "sequence", name="uq_cases_year_sequence"),
        Index("ix_cases_department_status", "department_id", "status"),
        # The list's order (newest first) within a department, an assignee's cases and a severity: the parts
        # the list is read in (incident.cases.queries._parts; migration 0012).
        Index("ix_cases_department_created", "department_id", "created_at", "id"),
        Index("ix_cases_assignee_created", "assignee_id", "created_at", "id"),
        Index("ix_cases_severity_created", "severity", "created_at", "id"),
        # The metrics choose a period's cases by these.
        Index("ix_cases_detected_at", "detected_at"),
        Index("ix_cases_closed_at", "closed_at"),
        # The PR office lists the records whose retention ends in a fiscal year.
        Index("ix_cases_retention_until", "retention_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column()
    sequence: Mapped[int] = mapped_column()
    #: Human-readable number, e.g. 2026-0007.
    number: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[CaseKind] = mapped_column(enum_column(CaseKind), index=True)
    severity: Mapped[Severity] = mapped_column(enum_column(Severity), index=True)
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus), index=True)
    title: Mapped[str] = mapped_column(String(200))
    #: Markdown, rendered through incident.text.render_markdown only.
    description: Mapped[str] = mapped_column(Text, default="")
    platform: Mapped[Platform | None] = mapped_column(enum_column(Platform), index=True)
    #: The official account concerned; for impersonation, the genuine account being imitated.
    official_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("official_account.id"), index=True
    )
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: How the city learned of it, e.g. "市民からの電話" (free text, optional).
    source: Mapped[str] = mapped_column(String(200), default="")
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: The playbook version (SHA-256 of its file) this case follows; pinned when opened.
    playbook_version: Mapped[str | None] = mapped_column(ForeignKey("playbook_version.version"))
    #: The record's retention class once the case closed ("1", "3", "5", "10" years or "permanent";
    #: incident.cases.retention), and the last day it is kept (None: permanent, or still open).
    retention_class: Mapped[str | None] = mapped_column(String(20))
    retention_until: Mapped[dt.date | None] = mapped_column(Date)
    #: When the personal data of the record was removed after its retention ended (see Redaction).
    redacted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Optimistic-locking counter: a save made from an older version is refused.
    version: Mapped[int] = mapped_column(default=1)

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    department: Mapped[Department] = relationship()
    official_account: Mapped[OfficialAccount | None] = relationship()
    offending_items: Mapped[list[OffendingItem]] = relationship(
        back_populates="case", order_by="OffendingItem.id"
    )
    notes: Mapped[list[Note]] = relationship(back_populates="case", order_by="Note.id")

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Case {self.number} {self.kind} {self.status}>"


class OffendingItem(Model):
    """A post or account involved in a case: its URL or @handle, and when and by whom it was captured."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: An http(s) URL or an @handle.
    target: Mapped[str] = mapped_column(String(500), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    captured_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="offending_items")
    captured_by: Mapped[User] = relationship()

    @property
    def is_url(self) -> bool:
        return self.target.startswith(("http://", "https://"))


class Note(Model):
    """A timestamped Markdown note; append-only (the database refuses UPDATE and DELETE)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    #: Set when this note corrects an earlier one; the earlier one is then shown struck through.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("note.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="notes")
    author: Mapped[User] = relationship()
    corrects: Mapped[Note | None] = relationship(remote_side=[id])


class CaseReview(Model):
    """The short review written when a case closes (what happened, what was done, the cause, what to change);
    append-only: a revised review is a new row, and the newest one is the case's review."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    what_happened: Mapped[str] = mapped_column(Text, default="")
    what_was_done: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(Text, default="")
    #: What to change next time (運用の見直し).
    changes: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User] = relationship()


class RetentionEvent(Model):
    """Each retention a case's record was given (on closing, or extended by the PR office with a reason);
    append-only: the case row holds the current one."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    retention_class: Mapped[str] = mapped_column(String(20))
    retention_until: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


class RecordExport(Model):
    """The full record of a case written out for the city's records system (report, JSON, evidence files and
    a SHA-256 manifest); append-only. A redaction needs one made after the case's last event."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: The newest audit row of the case the export holds: a later change makes it out of date.
    last_audit_id: Mapped[int | None] = mapped_column()
    #: SHA-256 (hex) of the manifest file and of the whole ZIP as it was sent.
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    archive_sha256: Mapped[str] = mapped_column(String(64))
    files: Mapped[int] = mapped_column()
    size: Mapped[int] = mapped_column()
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User] = relationship()


class Redaction(Model):
    """The removal of a case's personal data once its retention ended: one per case, append-only. What was
    removed is counted in `removed`; the texts themselves are gone (blanked in place, see
    incident.database.REDACTABLE_COLUMNS), and the export it followed holds them."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    export_id: Mapped[int] = mapped_column(ForeignKey("record_export.id"))
    #: {"notes": 3, "evidence_files": [ids], "audit_rows": 12, ...}
    removed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User] = relationship()
    export: Mapped[RecordExport] = relationship()


class TimelineEvent(Model):
    """Something that happened to a case; append-only (the database refuses UPDATE and DELETE)."""

    __table_args__ = (Index("ix_timeline_event_case_created", "case_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: e.g. opened, acknowledged, assigned, status_changed, note_added, note_corrected, edited.
    event: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note_id: Mapped[int | None] = mapped_column(ForeignKey("note.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()
    note: Mapped[Note | None] = relationship()


class Evidence(Model):
    """A screenshot or document attached to a case (optionally to one offending item); append-only.

    The file lives under instance/uploads/ with a server-made name; a wrong upload is withdrawn
    (EvidenceWithdrawal), never erased.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    offending_item_id: Mapped[int | None] = mapped_column(ForeignKey("offending_item.id"), index=True)
    #: The name the uploader's file had (shown, never used as a path).
    original_name: Mapped[str] = mapped_column(String(255))
    #: The server-made file name under the upload folder.
    stored_name: Mapped[str] = mapped_column(String(100), unique=True)
    #: Detected from the content: image/png, image/jpeg, image/webp or application/pdf.
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    note: Mapped[str] = mapped_column(String(1000), default="")
    #: When the screenshot was taken, if the uploader says (else the upload time is shown).
    captured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: capture (what was seen), authority_proof (that the city may ask: letter, list of official
    #: accounts) or id_document (an ID some platforms ask for); takedown drafts check for them.
    purpose: Mapped[str] = mapped_column(String(20), default="capture", server_default="capture")
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    uploaded_by: Mapped[User] = relationship()


class EvidenceWithdrawal(Model):
    """A wrong upload marked withdrawn, with a reason; append-only (one per evidence)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
