"""API v1 draft routes: generate, list, revise, submit, approve, return, record sending; the case's ledger."""
from __future__ import annotations

from typing import Any

from flask import jsonify

from incident.api import ID, api_user, bp, json_body, require_text
from incident.api.serialize import user_ref
from incident.cases.service import get_case
from incident.dates import isoformat
from incident.drafts import sending, service
from incident.drafts.models import Draft, Publication
from incident.extensions import db


def publication_json(p: Publication) -> dict[str, Any]:
    """One ledger entry."""
    return {"id": p.id, "kind": p.kind, "draft_id": p.draft_id, "revision_id": p.revision_id, "url": p.url,
            "channel": p.channel, "reference": p.reference, "note": p.note, "supersedes_id": p.supersedes_id,
            "corrects_item_id": p.corrects_item_id, "published_at": isoformat(p.published_at),
            "recorded_by": user_ref(p.recorded_by)}


def draft_json(draft: Draft) -> dict[str, Any]:
    """A draft with its current text and revision list."""
    latest = service.latest_revision(draft)
    return {
        "id": draft.id, "case_id": draft.case_id, "type": draft.type.value, "platform": draft.platform,
        "lang": draft.lang, "status": draft.status.value, "route": draft.route.value if draft.route else None,
        "scope": draft.scope, "scope_source": draft.scope_source or None, "link": draft.link or None,
        "supersedes_id": draft.supersedes_id, "corrects_item_id": draft.corrects_item_id,
        "approved_revision_id": draft.approved_revision_id,
        "follow_up_on": draft.follow_up_on.isoformat() if draft.follow_up_on else None,
        "outcome": draft.outcome.value if draft.outcome else None,
        "created_by": user_ref(draft.created_by), "created_at": isoformat(draft.created_at),
        "revision": latest.number, "body": latest.body,
        "revisions": [{"id": r.id, "number": r.number, "origin": r.origin, "author": user_ref(r.author),
                       "created_at": isoformat(r.created_at)} for r in draft.revisions],
    }


def _draft(case_id: int, draft_id: int) -> Draft:
    return service.get_draft(api_user(), case_id, draft_id)


@bp.get(f"/cases/<{ID}:case_id>/drafts")
def list_drafts(case_id: int):
    """The case's drafts, newest first, and its ledger."""
    case = get_case(api_user(), case_id)
    return jsonify(items=[draft_json(d) for d in service.drafts_of(case)],
                   ledger=[publication_json(p) for p in sending.ledger(case)])


@bp.post(f"/cases/<{ID}:case_id>/drafts")
def create_draft(case_id: int):
    """{"type", "platform"?, "lang"?, "link"?, "supersedes_id"?, "corrects_item_id"?} → 201 with the text."""
    data = json_body()
    case = get_case(api_user(), case_id)
    draft = service.create_draft(api_user(), case, data)
    db.session.commit()
    return jsonify(draft_json(draft)), 201


@bp.get(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>")
def get_draft(case_id: int, draft_id: int):
    """One draft, with the takedown checklist against the case when it is a takedown."""
    draft = _draft(case_id, draft_id)
    body = draft_json(draft)
    case = service.case_of(draft)
    body["requirements"] = [{"key": r.key, "ok": r.ok, "missing": None if r.ok else str(r.missing)}
                            for r in sending.platform_checklist(api_user(), case, draft)]
    return jsonify(body)


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/revisions")
def add_revision(case_id: int, draft_id: int):
    """{"body", "base_revision"?} → 201; a stale base_revision is a 409."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    service.revise(api_user(), draft, data.get("body"), base_revision=data.get("base_revision"))
    db.session.commit()
    return jsonify(draft_json(draft)), 201


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/submit")
def submit(case_id: int, draft_id: int):
    """{"checks": [every section-4 key]} → the draft awaits the supervisor."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    service.submit(api_user(), draft, data.get("checks"))
    db.session.commit()
    return jsonify(draft_json(draft))


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/pre-approved")
def pre_approved(case_id: int, draft_id: int):
    """{"scope": "a"|"b"|"c", "source", "checks"} → within a scope approved in advance."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    service.mark_pre_approved(api_user(), draft, data.get("scope"), data.get("source"), data.get("checks"))
    db.session.commit()
    return jsonify(draft_json(draft))


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/approve")
def approve(case_id: int, draft_id: int):
    """{"comment"?}: a supervisor (not the author) approves; 403 for the author, 409 if not submitted."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    service.approve(api_user(), draft, require_text(data, "comment", required=False, max_len=service.COMMENT_MAX))
    db.session.commit()
    return jsonify(draft_json(draft))


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/return")
def return_draft(case_id: int, draft_id: int):
    """{"comment"}: back to the author."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    service.return_draft(api_user(), draft, data.get("comment"))
    db.session.commit()
    return jsonify(draft_json(draft))


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/sent")
def sent(case_id: int, draft_id: int):
    """{"url"?, "reference"?, "channel"?, "sent_at"?, "follow_up_on"?, "note"?} → 201 with the ledger entry."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    publication = sending.record_sent(api_user(), draft, data)
    db.session.commit()
    return jsonify(draft=draft_json(draft), publication=publication_json(publication)), 201


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/answer")
def answer(case_id: int, draft_id: int):
    """{"outcome"?: "removed"|"refused"|"no_answer", "answer"?, "follow_up_on"?} for a takedown."""
    data = json_body()
    draft = _draft(case_id, draft_id)
    sending.record_answer(api_user(), draft, data)
    db.session.commit()
    return jsonify(draft_json(draft))


@bp.post(f"/cases/<{ID}:case_id>/ledger/<{ID}:publication_id>/withdraw")
def withdraw(case_id: int, publication_id: int):
    """{"reason"} → 201 with the new withdrawal entry (the original stays)."""
    data = json_body()
    entry = sending.withdraw(api_user(), sending.get_publication(api_user(), case_id, publication_id),
                             data.get("reason"))
    db.session.commit()
    return jsonify(publication_json(entry)), 201
