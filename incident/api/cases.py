"""API v1 case routes: thin callers of incident.cases.service."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import lazy_gettext as _l

from incident.api import ID, MAX_ID, api_user, bp, json_body, require_id, require_text
from incident.api import serialize
from incident.cases import service
from incident.cases import queries
from incident.cases.models import CaseStatus
from incident.dates import parse_iso
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.extensions import db
from incident.pagination import page_args


def _check_detected_at(data: dict) -> None:
    """A date so far back that it leaves the calendar when converted to UTC is refused, not a 500."""
    raw = data.get("detected_at")
    if isinstance(raw, str):
        try:
            parse_iso(raw)
        except OverflowError:
            raise ValidationFailed(fields={"detected_at": _l("日時は 2026-11-23T10:30 のような形式で入力してください。")},
            ) from None
        except ValueError:
            pass  # reported by the service with its own message


@bp.get("/cases")
def list_cases():
    """Visible cases, filtered and paginated."""
    raw_assignee = request.args.get("assignee_id", "")
    try:
        out_of_range = abs(int(raw_assignee)) > MAX_ID
    except ValueError:
        out_of_range = False  # "none", "" or nonsense: the service decides
    if out_of_range:
        raise ValidationFailed(fields={"assignee_id": _l("値が正しくありません。")})
    filters = queries.filters_from_args(request.args, strict=True)
    page, per_page = page_args(request.args, strict=True)
    pagination = db.paginate(queries.case_list_query(api_user(), filters),
                             page=page, per_page=per_page, error_out=False)
    return jsonify(items=[serialize.case_summary(c) for c in pagination.items],
                   total=pagination.total, page=page, per_page=per_page)


@bp.post("/cases")
def create_case():
    """Open a case."""
    data = json_body()
    department = data.get("department")
    department_id = None
    if department is not None:
        from incident.auth.service import department_by_code

        if not isinstance(department, str):
            raise ValidationFailed(fields={"department": _l("所属コードを文字列で指定してください。")})
        try:
            department_id = department_by_code(department).id
        except NotFound:
            raise ValidationFailed(fields={"department": _l("その所属はありません。")}) from None
    require_id(data, "official_account_id")
    _check_detected_at(data)
    case = service.open_case(api_user(), data, department_id=department_id,
                             assignee_id=require_id(data, "assignee_id"))
    db.session.commit()
    return jsonify(serialize.case_detail(queries.load_case_page(api_user(), case.id))), 201


@bp.get(f"/cases/<{ID}:case_id>")
def get_case(case_id: int):
    """One case with notes and offending items."""
    return jsonify(serialize.case_detail(queries.load_case_page(api_user(), case_id)))


@bp.patch(f"/cases/<{ID}:case_id>")
def update_case(case_id: int):
    """Edit fields; `version` must be the one the client read, or 409 with the current case."""
    data = json_body()
    case = service.get_case(api_user(), case_id)
    if "version" not in data:
        raise ValidationFailed(fields={"version": _l("版番号が必要です。")})
    if require_id(data, "version") is None:
        raise ValidationFailed(fields={"version": _l("版番号が必要です。")})
    require_id(data, "official_account_id")
    _check_detected_at(data)
    fields = {k: v for k, v in data.items() if k in service.EDITABLE_FIELDS}
    unknown = sorted(set(data) - set(service.EDITABLE_FIELDS) - {"version"})
    if unknown:
        raise ValidationFailed(fields={name: _l("変更できない項目です。") for name in unknown})
    try:
        service.update_case(api_user(), case, data["version"], fields)
    except Conflict as exc:
        db.session.rollback()
        current = queries.load_case_page(api_user(), case_id)
        return jsonify(error={"code": "conflict", "message": str(exc.message),
                              "current": serialize.case_detail(current)}), 409
    db.session.commit()
    return jsonify(serialize.case_detail(queries.load_case_page(api_user(), case_id)))


@bp.post(f"/cases/<{ID}:case_id>/acknowledge")
def acknowledge(case_id: int):
    """Acknowledge a new case."""
    case = service.get_case(api_user(), case_id)
    service.acknowledge(api_user(), case)
    db.session.commit()
    return jsonify(serialize.case_detail(queries.load_case_page(api_user(), case_id)))


@bp.post(f"/cases/<{ID}:case_id>/status")
def change_status(case_id: int):
    """Change status: {"status", "reason"?}."""
    data = json_body()
    case = service.get_case(api_user(), case_id)
    raw = data.get("status")
    try:
        target = CaseStatus(raw)
    except ValueError:
        raise ValidationFailed(fields={"status": _l("値が正しくありません。")}) from None
    reason = require_text(data, "reason", required=False)
    waive = data.get("waive_open_steps", False)
    if not isinstance(waive, bool):
        raise ValidationFailed(fields={"waive_open_steps": _l("true か false で指定してください。")})
    service.change_status(api_user(), case, target, reason, waive_open_steps=waive)
    db.session.commit()
    return jsonify(serialize.case_detail(queries.load_case_page(api_user(), case_id)))


@bp.post(f"/cases/<{ID}:case_id>/assignment")
def assign(case_id: int):
    """Assign: {"assignee_id": id or null}."""
    data = json_body()
    case = service.get_case(api_user(), case_id)
    if "assignee_id" not in data:
        raise ValidationFailed(fields={"assignee_id": _l("入力してください。")})
    service.assign(api_user(), case, require_id(data, "assignee_id"))
    db.session.commit()
    return jsonify(serialize.case_detail(queries.load_case_page(api_user(), case_id)))


@bp.post(f"/cases/<{ID}:case_id>/notes")
def add_note(case_id: int):
    """Append a note: {"body"}."""
    data = json_body()
    case = service.get_case(api_user(), case_id)
    note = service.add_note(api_user(), case, data.get("body"))
    db.session.commit()
    return jsonify(serialize.note(note)), 201


@bp.get(f"/cases/<{ID}:case_id>/notes/<{ID}:note_id>")
def get_note(case_id: int, note_id: int):
    """One note. Notes cannot be changed or deleted: PUT, PATCH and DELETE answer 405."""
    case = service.get_case(api_user(), case_id)
    return jsonify(serialize.note(service.get_note(case, note_id)))


@bp.post(f"/cases/<{ID}:case_id>/notes/<{ID}:note_id>/corrections")
def correct_note(case_id: int, note_id: int):
    """Append a correction of a note: {"body"}."""
    data = json_body()
    case = service.get_case(api_user(), case_id)
    original = service.get_note(case, note_id)
    note = service.add_note(api_user(), case, data.get("body"), corrects=original)
    db.session.commit()
    return jsonify(serialize.note(note)), 201


@bp.post(f"/cases/<{ID}:case_id>/items")
def add_item(case_id: int):
    """Record an offending post or account: {"target", "note"?}."""
    data = json_body()
    case = service.get_case(api_user(), case_id)
    item = service.add_offending_item(api_user(), case, data.get("target"),
                                      require_text(data, "note", required=False, max_len=500))
    db.session.commit()
    return jsonify(serialize.offending_item(item)), 201


@bp.get(f"/cases/<{ID}:case_id>/timeline")
def timeline(case_id: int):
    """The case's timeline, oldest first."""
    case = service.get_case(api_user(), case_id)
    return jsonify(items=[serialize.event(e) for e in queries.timeline(case)])
