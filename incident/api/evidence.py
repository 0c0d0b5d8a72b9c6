"""API v1 evidence routes: thin callers of incident.evidence.service."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request

from incident.api import ID, api_user, bp, json_body, require_text
from incident.cases import service as cases
from incident.dates import isoformat
from incident.evidence import service
from incident.evidence.views import send_evidence
from incident.extensions import db


def evidence_json(row: service.EvidenceRow, case_id: int) -> dict[str, Any]:
    """One evidence file as API v1 shows it."""
    e = row.evidence
    return {
        "id": e.id,
        "case_id": e.case_id,
        "offending_item_id": e.offending_item_id,
        "original_name": e.original_name,
        "file_name": service.download_name(e),
        "content_type": e.content_type,
        "size": e.size,
        "sha256": e.sha256,
        "note": e.note,
        "purpose": e.purpose,
        "captured_at": isoformat(e.captured_at),
        "uploaded_by": {"id": e.uploaded_by.id, "name": e.uploaded_by.name},
        "uploaded_at": isoformat(e.uploaded_at),
        "withdrawn": row.withdrawal is not None,
        "withdrawal": None if row.withdrawal is None else {
            "reason": row.withdrawal.reason, "actor_id": row.withdrawal.actor_id,
            "created_at": isoformat(row.withdrawal.created_at),
        },
        "file_url": f"/api/v1/cases/{case_id}/evidence/{e.id}/file",
    }


def _row(case: Any, evidence_id: int) -> dict[str, Any]:
    row = next(r for r in service.evidence_rows(case) if r.evidence.id == evidence_id)
    return evidence_json(row, case.id)


@bp.get(f"/cases/<{ID}:case_id>/evidence")
def list_evidence(case_id: int):
    """The case's evidence files, oldest first (withdrawn ones included and marked)."""
    case = cases.get_case(api_user(), case_id)
    return jsonify(items=[evidence_json(r, case.id) for r in service.evidence_rows(case)])


@bp.post(f"/cases/<{ID}:case_id>/evidence")
def upload_evidence(case_id: int):
    """Attach a file (multipart: file, note?, captured_at?, offending_item_id?, purpose?)."""
    case = cases.get_case(api_user(), case_id)
    upload = request.files.get("file")
    evidence = service.add_evidence(
        api_user(), case, upload.stream if upload else None, upload.filename if upload else "",
        note=request.form.get("note", ""), captured_at=request.form.get("captured_at"),
        offending_item_id=request.form.get("offending_item_id") or None,
            purpose=request.form.get("purpose") or None,
    )
    db.session.commit()
    return jsonify(_row(case, evidence.id)), 201


@bp.get(f"/cases/<{ID}:case_id>/evidence/<{ID}:evidence_id>/file")
def evidence_file(case_id: int, evidence_id: int):
    """Download the file as an attachment with its detected type."""
    return send_evidence(service.get_evidence(api_user(), case_id, evidence_id))


@bp.post(f"/cases/<{ID}:case_id>/evidence/<{ID}:evidence_id>/withdraw")
def withdraw_evidence(case_id: int, evidence_id: int):
    """Mark a file withdrawn with {"reason"}; it stays listed and downloadable."""
    evidence = service.get_evidence(api_user(), case_id, evidence_id)
    data = json_body()
    service.withdraw(api_user(), evidence, require_text(data, "reason", max_len=service.REASON_MAX))
    db.session.commit()
    return jsonify(_row(cases.get_case(api_user(), case_id), evidence.id))
