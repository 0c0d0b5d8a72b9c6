"""API v1 routes for personnel reshuffles (人事異動, PR office only; 404 for anyone else): upload a CSV for
a preview, read it, apply it. Thin callers of incident.auth.reshuffle."""
from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident import policy
from incident.api import ID, api_user, bp
from incident.api.fields import Day, Extended, Flag, Input, Output, Timestamp
from incident.api.requests import Body
from incident.auth import reshuffle as service
from incident.auth import reshuffle_csv
from incident.auth.models import OperatorType, Reshuffle, Role
from incident.auth.reshuffle_views import handover
from incident.errors import NotFound, ValidationFailed

TAGS = ["reshuffles"]
SEND_CSV = _l("CSV を multipart/form-data の file か、Content-Type: text/csv の本文で送ってください。")
CONFIRM = _l("確認のため confirm に true を指定してください。")


class PlacementOut(Output):
    """Where a person is (from) or will be (to): department, role and outside operator."""

    department_id = fields.Integer()
    department_code = fields.String()
    department_name = fields.String()
    role = fields.String(metadata={"enum": [r.value for r in Role]})
    organisation = fields.String(allow_none=True, metadata={
        "description": "The contractor or designated manager (null for the city's own staff)."})
    operator_kind = fields.String(allow_none=True, metadata={"enum": [k.value for k in (
        OperatorType.CONTRACTOR, OperatorType.DESIGNATED_MANAGER)] + [None]})


class PlanRowOut(Output):
    """One person of the CSV: from → to, and whether anything changes."""

    line = fields.Integer(metadata={"description": "The CSV line the person is on."})
    user_id = fields.Integer()
    email = fields.String()
    name = fields.String()
    changed = fields.Boolean()
    from_ = fields.Nested(PlacementOut, data_key="from", attribute="from")
    to = fields.Nested(PlacementOut)


class HandoverOut(Output):
    """A person leaving their department who still has open cases assigned."""

    user_id = fields.Integer()
    open_cases = fields.Integer()


class ReshuffleOut(Output):
    """A reshuffle: its plan exactly as applying it would apply it, and its state."""

    id = fields.Integer()
    filename = fields.String()
    effective_on = Day()
    state = fields.String(metadata={"enum": ["preview", "applied", "cancelled"]})
    uploaded_by_id = fields.Integer()
    uploaded_at = Timestamp()
    applied_by_id = fields.Integer(allow_none=True)
    applied_at = Timestamp(allow_none=True)
    cancelled_at = Timestamp(allow_none=True)
    changes = fields.Integer(metadata={"description": "How many people move."})
    unchanged = fields.Integer(metadata={"description": "How many people of the CSV stay where they are."})
    rows = fields.List(fields.Nested(PlanRowOut), metadata={"description": "Every person, in CSV order."})
    handover = fields.List(fields.Nested(HandoverOut), metadata={
        "description": "Before applying: people leaving their department with open cases assigned to them."})


class ApplyIn(Input):
    """Applying moves everyone at once: the caller confirms it."""

    confirm = Flag(required=True, message=CONFIRM)


def _out(reshuffle: Reshuffle) -> Extended:
    moving, unchanged = service.counts(reshuffle)
    state = service.state_of(reshuffle)
    cases = handover(reshuffle) if state == "preview" else {}
    return Extended(reshuffle, state=state, changes=moving, unchanged=unchanged, rows=reshuffle.plan,
                    handover=[{"user_id": user_id, "open_cases": n} for user_id, n in sorted(cases.items())])


def _pr_office_only() -> None:
    # Before the body is read, so that anyone else gets 404 whatever they sent.
    if not policy.can_manage_users(api_user()):
        raise NotFound()


def _csv_body() -> tuple[bytes, str, Any]:
    """The CSV sent (multipart `file`, or a text/csv body), its file name and the effective date."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationFailed(SEND_CSV, fields={"file": SEND_CSV})
        effective = request.form.get("effective_on") or request.args.get("effective_on")
        return upload.stream.read(reshuffle_csv.MAX_BYTES + 1), upload.filename, effective
    if request.mimetype == "text/csv":
        return request.get_data(cache=False), "", request.args.get("effective_on")
    raise ValidationFailed(SEND_CSV, fields={"file": SEND_CSV})


_CSV_SCHEMA = {"type": "string", "format": "binary"}
_EFFECTIVE_ON = {"type": "string", "format": "date",
                 "description": "The date the moves take effect (YYYY-MM-DD; default: today in Japan)."}


@bp.post("/reshuffles", tags=TAGS)
@bp.doc(parameters=[{"in": "query", "name": "effective_on", "required": False, "schema": _EFFECTIVE_ON}],
        requestBody={"required": True, "description": (
            "The CSV (header row: メールアドレス/email, 所属/department, 役割/role, and optionally "
            "委託業者・指定管理者名/organisation, 組織の種類/organisation kind), UTF-8 with or without a BOM "
            "or Shift_JIS, at most 1 MB and 5,000 rows."),
            "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": _CSV_SCHEMA, "effective_on": _EFFECTIVE_ON}}},
                "text/csv": {"schema": {"type": "string"}}}})
@bp.response(201, ReshuffleOut)
def upload_reshuffle() -> Extended:
    """Check a reshuffle CSV and store its plan for preview (nothing moves yet); 422 names each line in error
    in `fields` ("line 3"; "file" for the file as a whole), and such a file is not stored."""
    _pr_office_only()
    data, filename, effective_on = _csv_body()
    return _out(service.upload(api_user(), data, filename, effective_on))


@bp.get(f"/reshuffles/<{ID}:reshuffle_id>", tags=TAGS)
@bp.response(200, ReshuffleOut)
def get_reshuffle(reshuffle_id: int) -> Extended:
    """One reshuffle with its plan and state."""
    return _out(service.get_reshuffle(api_user(), reshuffle_id))


@bp.post(f"/reshuffles/<{ID}:reshuffle_id>/apply", tags=TAGS)
@bp.body(ApplyIn)
@bp.response(200, ReshuffleOut)
def apply_reshuffle(reshuffle_id: int, body: Body) -> Extended:
    """Apply exactly the stored plan with {"confirm": true}: 409 when it was applied or cancelled, before
    its effective date, or when someone's department, role or organisation changed since the preview."""
    reshuffle = service.get_reshuffle(api_user(), reshuffle_id)
    if not body()["confirm"]:
        raise ValidationFailed(CONFIRM, fields={"confirm": CONFIRM})
    service.apply(api_user(), reshuffle)
    return _out(reshuffle)
