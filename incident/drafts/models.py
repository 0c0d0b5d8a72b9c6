"""Drafts of outgoing texts, their append-only revisions, checks and events, and the published ledger."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.auth.models import User
from incident.database import UTCDateTime, enum_column
from incident.dates import utcnow
from incident.extensions import Model


class DraftType(enum.StrEnum):
    """The texts the guideline's responses send out (3(4)ア・イ・ウ)."""

    TAKEDOWN = "takedown"
    PRESS = "press"
    INTERIM_NOTICE = "interim_notice"
    FINAL_NOTICE = "final_notice"
    CORRECTION = "correction"
    CORRECT_INFO = "correct_info"
    CITIZEN_WARNING = "citizen_warning"
    #: Asking the platform to give a taken-over account back (tracked like a takedown).
    RECOVERY = "recovery"


class DraftStatus(enum.StrEnum):
    """Where a draft stands; the allowed changes are incident.drafts.states.TRANSITIONS. Any new revision
    sends it back to editing: approval is of one revision."""

    EDITING = "editing"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    SENT = "sent"


class Route(enum.StrEnum):
    """How a draft gets its approval (3(1)イ(ウ)): the supervisor, or a pre-approved scope."""

    SUPERVISOR = "supervisor"
    PRE_APPROVED = "pre_approved"


class Outcome(enum.StrEnum):
    """What came of a takedown (removed) or recovery (recovered) request."""

    REMOVED = "removed"
    RECOVERED = "recovered"
    REFUSED = "refused"
    NO_ANSWER = "no_answer"


#: Requests to a platform that are tracked until answered: a platform, a follow-up date, an outcome.
FOLLOWED_UP_TYPES = (DraftType.TAKEDOWN, DraftType.RECOVERY)
#: The outcomes each followed-up request may end with (a takedown is not "recovered", a recovery not "removed").
OUTCOMES = {
    DraftType.TAKEDOWN: (Outcome.REMOVED, Outcome.REFUSED, Outcome.NO_ANSWER),
    DraftType.RECOVERY: (Outcome.RECOVERED, Outcome.REFUSED, Outcome.NO_ANSWER),
}


class Draft(Model):
    """One outgoing text for a case. Its wording lives in revisions; this row holds the current state."""

    # Unanswered first: the follow-ups due are read among the requests still waiting, not every one ever sent.
    __table_args__ = (Index("ix_draft_follow_up", "outcome", "follow_up_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    type: Mapped[DraftType] = mapped_column(enum_column(DraftType), index=True)
    #: For takedowns: the platform the request goes to.
    platform: Mapped[str | None] = mapped_column(String(20))
    lang: Mapped[str] = mapped_column(String(5), default="ja")
    #: Where the text will be posted (a channel of platforms.toml: x, line, website...), which sets its
    #: length limit; None for letters and forms (takedown, recovery, press).
    channel: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[DraftStatus] = mapped_column(enum_column(DraftStatus), default=DraftStatus.EDITING, index=True)
    route: Mapped[Route | None] = mapped_column(enum_column(Route))
    #: Pre-approved scope (3(1)イ(ウ)b): a, b or c, and where the content was published.
    scope: Mapped[str | None] = mapped_column(String(1))
    scope_source: Mapped[str] = mapped_column(String(500), default="")
    #: The revision that was submitted / approved / sent.
    approved_revision_id: Mapped[int | None] = mapped_column(ForeignKey("draft_revision.id", use_alter=True))
    #: A final notice's interim notice, a correction's earlier publication (ledger entry).
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id", use_alter=True))
    #: A correction of a post recorded on the case as an offending item (the city's own wrong post).
    corrects_item_id: Mapped[int | None] = mapped_column(ForeignKey("offending_item.id"))
    #: The city web page carrying the correct information (correct_info, correction, final notice).
    link: Mapped[str] = mapped_column(String(500), default="")
    #: Takedowns: when to chase the platform, and what came of it.
    follow_up_on: Mapped[dt.date | None] = mapped_column()
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Optimistic-locking counter: two people acting on one draft at once cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    revisions: Mapped[list[DraftRevision]] = relationship(
        back_populates="draft", order_by="DraftRevision.number", foreign_keys="DraftRevision.draft_id")

    __mapper_args__ = {"version_id_col": version}


class DraftRevision(Model):
    """One wording of a draft; append-only."""

    __table_args__ = (UniqueConstraint("draft_id", "number", name="uq_draft_revision_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("draft.id"), index=True)
    number: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    #: The long rendition for the city website, approved together with the short body ("" when none).
    web_body: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: generated (from the template) or edited (typed by a person).
    origin: Mapped[str] = mapped_column(String(20), default="edited")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    draft: Mapped[Draft] = relationship(back_populates="revisions", foreign_keys=[draft_id])
    author: Mapped[User] = relationship()


class DraftCheck(Model):
    """A section-4 check ticked by the author for one revision; append-only."""

    __table_args__ = (UniqueConstraint("revision_id", "check_key", name="uq_draft_check_revision_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("draft_revision.id"), index=True)
    check_key: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DraftEvent(Model):
    """Something done to a draft (created, revised, submitted, approved, returned...); append-only."""

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("draft.id"), index=True)
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("draft_revision.id"))
    action: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


class Publication(Model):
    """A text that left the city (published notice or submitted request); the case's ledger, append-only.

    A correction points (supersedes) at the post it corrects, a final notice at its interim notice, a
    withdrawal at the post withdrawn. Nothing is ever deleted from the ledger.
    """

    __table_args__ = (Index("ix_publication_case", "case_id", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("draft.id"), index=True)
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("draft_revision.id"))
    #: The draft type, or "withdrawal".
    kind: Mapped[str] = mapped_column(String(30))
    url: Mapped[str] = mapped_column(String(500), default="")
    #: form, email, in_app, post, press (how it went out).
    channel: Mapped[str] = mapped_column(String(20), default="")
    #: Where it was published (a channel of platforms.toml: x, line, website...); one row per place.
    place: Mapped[str] = mapped_column(String(20), default="", server_default="")
    #: The platform's reference number for a takedown request.
    reference: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("publication.id"), index=True)
    corrects_item_id: Mapped[int | None] = mapped_column(ForeignKey("offending_item.id"))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    recorded_by: Mapped[User] = relationship()
    supersedes: Mapped[Publication | None] = relationship(remote_side=[id])
