"""API v1 known fake account routes: thin callers of incident.fakes.service."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident.accounts.models import FakeAccount, FakeAccountState, Platform
from incident.api import ID, api_user, bp
from incident.api.fields import (
    Choice,
    Extended,
    Id,
    Input,
    Output,
    PageQuery,
    QueryChoice,
    QueryText,
    Str,
    Text,
    Timestamp,
    enum_field,
    page_of,
)
from incident.api.requests import Body
from incident.cases import service as cases
from incident.errors import PermissionDenied
from incident.extensions import db
from incident.fakes import service
from incident.validation import TARGET_MAX

TAGS = ["fake accounts"]


class FakeOut(Output):
    """A known fake account."""

    id = fields.Integer()
    platform = enum_field(Platform)
    handle = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    display_name = fields.String()
    first_seen_at = Timestamp()
    last_seen_at = Timestamp()
    genuine_account_id = fields.Integer(allow_none=True)
    state = enum_field(FakeAccountState)


class FakeListedOut(FakeOut):
    """A known fake in the list, with how many of the cases linked to it the caller may see."""

    visible_case_count = fields.Integer()


class FakeEventOut(Output):
    """One state of a fake's history."""

    state = enum_field(FakeAccountState)
    note = fields.String()
    actor_id = fields.Integer(allow_none=True)
    created_at = Timestamp()


class LinkedCaseOut(Output):
    """A case linked to a fake (only the ones the caller may see)."""

    id = fields.Integer()
    number = fields.String()
    title = fields.String()


class FakeDetailOut(FakeOut):
    """A fake with its state history and the linked cases the caller may see."""

    history = fields.List(fields.Nested(FakeEventOut))
    cases = fields.List(fields.Nested(LinkedCaseOut))
    can_change_state = fields.Boolean()


class FakeIn(Input):
    """A fake account to record: a @handle or a URL (or both); with `case_id`, linked to that case."""

    platform = Choice(Platform, required=True, message=_l("媒体を選んでください。"))
    handle = Str(allow_none=True, metadata={"maxLength": 120, "example": "@fake_city"})
    url = Str(allow_none=True, metadata={"format": "uri", "maxLength": TARGET_MAX})
    display_name = Text(service.DISPLAY_NAME_MAX)
    genuine_account_id = Id(allow_none=True, metadata={"description": "The official account it imitates."})
    case_id = Id(allow_none=True)


class StateIn(Input):
    """A new state, with a note."""

    state = Choice(FakeAccountState, required=True, message=_l("状態を選んでください。"))
    note = Text(service.NOTE_MAX)


class FakeQuery(PageQuery):
    """Filters of the register."""

    q = QueryText(100, metadata={"description": "Words in the handle, URL or display name."})
    state = QueryChoice(FakeAccountState)


FakePageOut = page_of(FakeListedOut)


def _detail(fake: FakeAccount) -> Extended:
    return Extended(fake, history=service.history(fake), cases=service.linked_cases(api_user(), fake),
                    can_change_state=service.may_change_state(api_user(), fake))


@bp.get("/fake-accounts", tags=TAGS)
@bp.arguments(FakeQuery, location="query", as_kwargs=True)
@bp.response(200, FakePageOut)
def list_fakes(page: int, per_page: int, q: str | None = None,
               state: FakeAccountState | None = None) -> dict[str, Any]:
    """Known fakes, most recently seen first, filtered and paginated."""
    pagination = db.paginate(service.fakes_query(q, state), page=page, per_page=per_page, error_out=False)
    counts = service.visible_case_counts(api_user(), [f.id for f in pagination.items])
    items = [Extended(f, visible_case_count=counts.get(f.id, 0)) for f in pagination.items]
    return {"items": items, "total": pagination.total, "page": page, "per_page": per_page}


@bp.post("/fake-accounts", tags=TAGS)
@bp.body(FakeIn)
@bp.response(201, FakeDetailOut, description="Recorded.")
@bp.alt_response(200, schema=FakeDetailOut, success=True,
                 description="Already known: linked to the case given by `case_id`.")
def create_fake(body: Body) -> Any:
    """Record a fake account; without `case_id` a known one is a 409, with it the known one is linked."""
    data = body()
    case_id = data.get("case_id")
    case = cases.get_case(api_user(), case_id) if case_id is not None else None
    fake, created = service.record_fake(api_user(), data, case)
    return _detail(fake) if created else (_detail(fake), 200)


@bp.get(f"/fake-accounts/<{ID}:fake_id>", tags=TAGS)
@bp.response(200, FakeDetailOut)
def get_fake(fake_id: int) -> Extended:
    """One fake with its state history and the linked cases the caller may see."""
    return _detail(service.get_fake(fake_id))


@bp.post(f"/fake-accounts/<{ID}:fake_id>/state", tags=TAGS)
@bp.body(StateIn)
@bp.response(200, FakeDetailOut)
def change_state(fake_id: int, body: Body) -> Extended:
    """Record a state change; 403 unless PR office or an editor of a linked case."""
    fake = service.get_fake(fake_id)
    if not service.may_change_state(api_user(), fake):
        # Before the body is read (the service checks again): 403 whatever was sent.
        raise PermissionDenied(_l("この偽アカウントの状態は、関連する案件の所属か秘書広報課が記録します。"))
    data = body()
    service.change_state(api_user(), fake, data["state"], data.get("note", ""))
    return _detail(fake)
