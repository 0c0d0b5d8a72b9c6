"""API v1 known fake account routes: thin callers of incident.fakes.service."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import lazy_gettext as _l

from incident.accounts.models import FakeAccount
from incident.api import ID, api_user, bp, json_body, require_id, require_text
from incident.cases import service as cases
from incident.dates import isoformat
from incident.errors import ValidationFailed
from incident.extensions import db
from incident.fakes import service
from incident.pagination import page_args


def fake_json(fake: FakeAccount, case_count: int | None = None) -> dict[str, Any]:
    """One fake account as API v1 shows it."""
    body = {
        "id": fake.id,
        "platform": fake.platform.value,
        "handle": fake.handle,
        "url": fake.url,
        "display_name": fake.display_name,
        "first_seen_at": isoformat(fake.first_seen_at),
        "last_seen_at": isoformat(fake.last_seen_at),
        "genuine_account_id": fake.genuine_account_id,
        "state": fake.state.value,
    }
    if case_count is not None:
        body["visible_case_count"] = case_count
    return body


def _detail(fake: FakeAccount) -> dict[str, Any]:
    body = fake_json(fake)
    body["history"] = [{"state": e.state.value, "note": e.note, "actor_id": e.actor_id,
                        "created_at": isoformat(e.created_at)} for e in service.history(fake)]
    body["cases"] = [{"id": c.id, "number": c.number, "title": c.title}
                     for c in service.linked_cases(api_user(), fake)]
    body["can_change_state"] = service.may_change_state(api_user(), fake)
    return body


@bp.get("/fake-accounts")
def list_fakes():
    """Known fakes, filtered by ?q= and ?state=, paginated."""
    q, state = service.filters_from_args(request.args, strict=True)
    page, per_page = page_args(request.args, strict=True)
    pagination = db.paginate(service.fakes_query(q, state), page=page, per_page=per_page, error_out=False)
    counts = service.visible_case_counts(api_user(), [f.id for f in pagination.items])
    return jsonify(items=[fake_json(f, counts.get(f.id, 0)) for f in pagination.items],
                   total=pagination.total, page=page, per_page=per_page)


@bp.post("/fake-accounts")
def create_fake():
    """Record a fake account ({"platform", "handle"?, "url"?, "display_name"?, "genuine_account_id"?, "case_id"?})."""
    data = json_body()
    for name in ("platform", "handle", "url", "display_name"):
        if data.get(name) is not None and not isinstance(data.get(name), str):
            raise ValidationFailed(fields={name: _l("文字列で指定してください。")})
    require_id(data, "genuine_account_id")
    case_id = require_id(data, "case_id")
    case = cases.get_case(api_user(), case_id) if case_id is not None else None
    fake, created = service.record_fake(api_user(), data, case)
    db.session.commit()
    return jsonify(_detail(fake)), 201 if created else 200


@bp.get(f"/fake-accounts/<{ID}:fake_id>")
def get_fake(fake_id: int):
    """One fake with its state history and the linked cases the caller may see."""
    return jsonify(_detail(service.get_fake(fake_id)))


@bp.post(f"/fake-accounts/<{ID}:fake_id>/state")
def change_state(fake_id: int):
    """Record a state change {"state", "note"?}; 403 unless PR office or an editor of a linked case."""
    fake = service.get_fake(fake_id)
    data = json_body()
    state = require_text(data, "state", max_len=20)
    note = require_text(data, "note", required=False, max_len=service.NOTE_MAX)
    service.change_state(api_user(), fake, state, note)
    db.session.commit()
    return jsonify(_detail(fake))
