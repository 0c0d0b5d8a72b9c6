"""The search index's table: a copy of each searchable text, written by database triggers (search.index)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incident.extensions import Model


class SearchEntry(Model):
    """One searchable text: a case's number, title and description, a note, an offending item, a fake account,
    a draft's latest revision or a case's latest closing review. Never written by the application."""

    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_search_entry_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One of search.index.SOURCE_NAMES.
    source: Mapped[str] = mapped_column(String(10))
    #: The row's id in its source (the draft's id for a draft, the case's for a review).
    source_id: Mapped[int] = mapped_column()
    #: The case it belongs to; None for a fake account (the registry is shared by every department).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
