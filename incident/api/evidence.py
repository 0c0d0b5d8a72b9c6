"""API v1 evidence routes: thin callers of incident.evidence.service."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_smorest.fields import Upload
from marshmallow import fields
from werkzeug.datastructures import FileStorage

from incident.api import ID, api_user, bp
from incident.api.fields import Choice, FormId, Input, Output, Text, Timestamp, moment
from incident.api.requests import Body
from incident.api.schemas import UserRefOut
from incident.cases import service as cases
from incident.evidence import service
from incident.evidence.views import send_evidence

TAGS = ["evidence"]
CHOOSE_FILE = _l("ファイルを選んでください。")
#: Evidence files are one of these types, detected from their content.
FILE_TYPES = tuple(service.EXTENSIONS)


class WithdrawalOut(Output):
    """Who withdrew an evidence file, when, and why."""

    reason = fields.String()
    actor_id = fields.Integer(allow_none=True)
    created_at = Timestamp()


class EvidenceOut(Output):
    """One evidence file (dumped from an evidence row: the file, its withdrawal, its offending item)."""

    id = fields.Integer(attribute="evidence.id")
    case_id = fields.Integer(attribute="evidence.case_id")
    offending_item_id = fields.Integer(attribute="evidence.offending_item_id", allow_none=True)
    original_name = fields.String(attribute="evidence.original_name")
    file_name = fields.Function(lambda row: service.download_name(row.evidence),
                                metadata={"type": "string", "description": "The download's name."})
    content_type = fields.String(attribute="evidence.content_type", metadata={"enum": list(FILE_TYPES)})
    size = fields.Integer(attribute="evidence.size")
    sha256 = fields.String(attribute="evidence.sha256")
    note = fields.String(attribute="evidence.note")
    purpose = fields.String(attribute="evidence.purpose", metadata={"enum": list(service.PURPOSES)})
    captured_at = Timestamp(attribute="evidence.captured_at", allow_none=True)
    uploaded_by = fields.Nested(UserRefOut, attribute="evidence.uploaded_by")
    uploaded_at = Timestamp(attribute="evidence.uploaded_at")
    withdrawn = fields.Function(lambda row: row.withdrawal is not None, metadata={"type": "boolean"})
    withdrawal = fields.Nested(WithdrawalOut, allow_none=True)
    file_url = fields.Function(lambda row: f"/api/v1/cases/{row.evidence.case_id}/evidence/{row.evidence.id}/file",
                               metadata={"type": "string"})


class EvidenceListOut(Output):
    """A case's evidence files, oldest first, withdrawn ones included and marked."""

    items = fields.List(fields.Nested(EvidenceOut))


class FileField(Upload):
    """The uploaded file itself."""

    default_error_messages = {"required": CHOOSE_FILE, "null": CHOOSE_FILE, "invalid": CHOOSE_FILE}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> FileStorage:
        if not isinstance(value, FileStorage) or not value:  # a part without a file name holds no file
            raise self.make_error("invalid")
        return value


class EvidenceIn(Input):
    """An evidence file (multipart/form-data): a PNG, JPEG or WebP image or a PDF, checked by its content."""

    file = FileField(required=True)
    note = Text(service.NOTE_MAX)
    captured_at = moment(allow_none=True, metadata={"description": "When it was captured (not in the future)."})
    offending_item_id = FormId(metadata={"description": "The case's offending item it shows."})
    purpose = Choice(service.PURPOSES, blank=True, error_messages={"invalid": _l("種類を選び直してください。")},
                     metadata={"description": "Default: capture."})


class EvidenceWithdrawIn(Input):
    """Why the file is withdrawn."""

    reason = Text(service.REASON_MAX, blank=False, required=True, message=_l("取り下げる理由を入力してください。"))


def _row(case: Any, evidence_id: int) -> service.EvidenceRow:
    return next(r for r in service.evidence_rows(case) if r.evidence.id == evidence_id)


@bp.get(f"/cases/<{ID}:case_id>/evidence", tags=TAGS)
@bp.response(200, EvidenceListOut)
def list_evidence(case_id: int) -> dict[str, Any]:
    """The case's evidence files, oldest first (withdrawn ones included and marked)."""
    return {"items": service.evidence_rows(cases.get_case(api_user(), case_id))}


@bp.post(f"/cases/<{ID}:case_id>/evidence", tags=TAGS)
@bp.body(EvidenceIn, location="multipart")
@bp.response(201, EvidenceOut)
def upload_evidence(case_id: int, body: Body) -> service.EvidenceRow:
    """Attach a file; 413 above EVIDENCE_MAX_BYTES, 422 for another type or content that is refused."""
    case = cases.get_case(api_user(), case_id)
    data = body()
    upload = data["file"]
    evidence = service.add_evidence(
        api_user(), case, upload.stream, upload.filename or "", note=data.get("note", ""),
        captured_at=data.get("captured_at"), offending_item_id=data.get("offending_item_id"),
        purpose=data.get("purpose") or None,
    )
    return _row(case, evidence.id)


@bp.get(f"/cases/<{ID}:case_id>/evidence/<{ID}:evidence_id>/file", tags=TAGS)
@bp.doc(responses={"200": {"description": "The file, as an attachment with its detected type.", "content": {
    content_type: {"schema": {"type": "string", "format": "binary"}} for content_type in FILE_TYPES}}})
def evidence_file(case_id: int, evidence_id: int):
    """Download the file as an attachment with its detected type."""
    return send_evidence(service.get_evidence(api_user(), case_id, evidence_id))


@bp.post(f"/cases/<{ID}:case_id>/evidence/<{ID}:evidence_id>/withdraw", tags=TAGS)
@bp.body(EvidenceWithdrawIn)
@bp.response(200, EvidenceOut)
def withdraw_evidence(case_id: int, evidence_id: int, body: Body) -> service.EvidenceRow:
    """Mark a file withdrawn with {"reason"}; it stays listed and downloadable (409 the second time)."""
    evidence = service.get_evidence(api_user(), case_id, evidence_id)
    service.withdraw(api_user(), evidence, body()["reason"])
    return _row(cases.get_case(api_user(), case_id), evidence.id)
