"""Audit log rows."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incident.database import UTCDateTime
from incident.dates import utcnow
from incident.extensions import Model

if TYPE_CHECKING:
    # Every domain writes audit rows, incident.auth too: audit names its users' model only by name.
    from incident.auth.models import User


class AuditLog(Model):
    """Who changed what, when (UTC), from which value to which; append-only in the database, hash-chained."""

    #: One object's history (a user's sign-in and MFA events, say) without scanning a whole action's rows.
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: e.g. case.create, case.update, note.create, user.create, token.revoke.
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column()
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    #: {"field": [old, new], ...}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The id of the HTTP request or CLI invocation that made the change.
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: The row_hash of the row before this one (64 zeros for the first): see incident/audit/chain.py.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 (hex) of prev_hash and this row's canonical content.
    row_hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship("User")


class AuditSeal(Model):
    """An audit row whose personal values a redaction removed: the hash of its content as it now stands,
    so the chain still verifies every byte of it (incident/audit/chain.py); append-only, one per row."""

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_log.id"), unique=True)
    redaction_id: Mapped[int] = mapped_column(ForeignKey("redaction.id"), index=True)
    #: SHA-256 (hex) of the row's canonical content after the redaction.
    sealed_hash: Mapped[str] = mapped_column(String(64))
