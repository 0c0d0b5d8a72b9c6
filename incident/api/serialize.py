"""Turning models into the JSON shapes of API v1."""
from __future__ import annotations

from typing import Any

from incident.accounts.models import OfficialAccount
from incident.auth.models import User
from incident.cases.models import Case, Note, OffendingItem, TimelineEvent
from incident.dates import isoformat
from incident.text import render_markdown


def user_ref(user: User | None) -> dict[str, Any] | None:
    """A short reference to a user."""
    if user is None:
        return None
    return {"id": user.id, "name": user.name}


def user_full(user: User) -> dict[str, Any]:
    """The caller's own profile."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "organisation": user.organisation,
        "department": {"code": user.department.code, "name": user.department.name},
        "locale": user.locale or "ja",
    }


def account(item: OfficialAccount) -> dict[str, Any]:
    """An official account."""
    return {
        "id": item.id,
        "platform": item.platform.value,
        "name": item.name,
        "url": item.url,
        "department": {"code": item.department.code, "name": item.department.name},
        "operator_type": item.operator_type.value,
        "operator_name": item.operator_name,
    }


def note(item: Note) -> dict[str, Any]:
    """A note, with its sanitised HTML."""
    return {
        "id": item.id,
        "body": item.body,
        "body_html": str(render_markdown(item.body)),
        "author": user_ref(item.author),
        "created_at": isoformat(item.created_at),
        "corrects_id": item.corrects_id,
    }


def offending_item(item: OffendingItem) -> dict[str, Any]:
    """An offending post or account."""
    return {
        "id": item.id,
        "target": item.target,
        "note": item.note,
        "captured_at": isoformat(item.captured_at),
        "captured_by": user_ref(item.captured_by),
    }


def case_summary(item: Case) -> dict[str, Any]:
    """A case as it appears in lists."""
    return {
        "id": item.id,
        "number": item.number,
        "kind": item.kind.value,
        "severity": item.severity.value,
        "status": item.status.value,
        "title": item.title,
        "platform": item.platform.value if item.platform else None,
        "official_account_id": item.official_account_id,
        "department": {"code": item.department.code, "name": item.department.name},
        "assignee": user_ref(item.assignee),
        "detected_at": isoformat(item.detected_at),
        "created_at": isoformat(item.created_at),
        "updated_at": isoformat(item.updated_at),
        "version": item.version,
    }


def case_detail(item: Case) -> dict[str, Any]:
    """A case with its description, notes and offending items."""
    data = case_summary(item)
    data.update(
        description=item.description,
        description_html=str(render_markdown(item.description)),
        source=item.source,
        reporter=user_ref(item.reporter),
        acknowledged_at=isoformat(item.acknowledged_at),
        acknowledged_by=user_ref(item.acknowledged_by),
        closed_at=isoformat(item.closed_at),
        official_account=account(item.official_account) if item.official_account else None,
        notes=[note(n) for n in item.notes],
        offending_items=[offending_item(i) for i in item.offending_items],
    )
    return data


def event(item: TimelineEvent) -> dict[str, Any]:
    """A timeline entry."""
    return {
        "id": item.id,
        "event": item.event,
        "actor": user_ref(item.actor),
        "data": item.data,
        "note_id": item.note_id,
        "created_at": isoformat(item.created_at),
    }
