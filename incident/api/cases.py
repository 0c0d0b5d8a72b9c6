"""API v1 case routes: thin callers of incident.cases.service, with the shapes they accept and answer."""
from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, fields

from incident.accounts.models import Platform
from incident.api import ID, api_user, bp
from incident.api.fields import (
    BAD_VALUE,
    Choice,
    Flag,
    Id,
    Input,
    Output,
    PageQuery,
    QueryChoice,
    QueryText,
    Str,
    Text,
    TextList,
    labelled_choice,
    list_of,
    moment,
    page_of,
)
from incident.api.requests import BadRequest, Body, as_stored
from incident.api.schemas import CaseOut, CaseSummaryOut, ErrorBodyOut, EventOut, NoteOut, OffendingItemOut
from incident.auth.service import department_by_code
from incident.boundary import abandon
from incident.cases import fields as case_fields
from incident.cases import queries, service
from incident.cases import review as case_review
from incident.cases.models import Case, CaseKind, CaseStatus, Note, OffendingItem, Severity
from incident.database import MAX_ID
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.pagination import CursorError
from incident.validation import TARGET_MAX

TAGS = ["cases"]
NEED_VERSION = _l("版番号が必要です。")
BAD_CURSOR = _l("cursor が読めません。前の応答の next_cursor をそのまま、同じ条件で渡してください。")


class CaseFieldsIn(Input):
    """A case's editable fields."""

    kind = labelled_choice(CaseKind, _l("種別"))
    title = Text(case_fields.TITLE_MAX, blank=False)
    severity = labelled_choice(Severity, _l("重大度"))
    description = Text(case_fields.DESCRIPTION_MAX, metadata={"description": "Markdown."})
    platform = labelled_choice(Platform, _l("媒体"), blank=True, allow_none=True)
    official_account_id = Id(allow_none=True)
    detected_at = moment(metadata={"description": "When the trouble was noticed (default: now); not in the future."})
    source = Text(case_fields.SOURCE_MAX, metadata={"description": "How it became known."})


class CaseIn(CaseFieldsIn):
    """A new case; `department` (a code) is for the PR office, `assignee_id` for supervisors."""

    kind = labelled_choice(CaseKind, _l("種別"), required=True)
    title = Text(case_fields.TITLE_MAX, blank=False, required=True)
    severity = labelled_choice(Severity, _l("重大度"), required=True)
    urls = TextList(allow_none=True, metadata={
        "description": f"Offending posts or accounts (http(s) URLs or @handles, up to {case_fields.MAX_TARGETS} "
                       "different ones; blanks and repeats are dropped)."})
    department = Str(_l("所属コードを文字列で指定してください。"), allow_none=True)
    assignee_id = Id(allow_none=True)


class CasePatchIn(CaseFieldsIn):
    """Changed fields with the `version` the client read; any other key is refused."""

    class Meta:
        unknown = RAISE

    version = Id(required=True, error_messages={"required": NEED_VERSION, "null": NEED_VERSION})

    error_messages = {"unknown": _l("変更できない項目です。")}


class ReviewIn(Input):
    """The closing review; `what_happened` and `what_was_done` must not be blank (checked by the service)."""

    what_happened = Text(case_review.REVIEW_MAX, metadata={"description": "What happened (required)."})
    what_was_done = Text(case_review.REVIEW_MAX, metadata={"description": "What was done (required)."})
    cause = Text(case_review.REVIEW_MAX, metadata={"description": "The cause."})
    changes = Text(case_review.REVIEW_MAX, metadata={"description": "What to change next time."})


class StatusIn(Input):
    """A status change; closing with open required steps needs `waive_open_steps` (supervisors)."""

    status = Choice(CaseStatus, required=True)
    reason = Text(1000, metadata={"description": "Required to close a new case and to reopen."})
    waive_open_steps = Flag(load_default=False)
    review = fields.Nested(ReviewIn, allow_none=True, metadata={
        "description": "Only when closing: the closing review, recorded with the closing (optional here)."})


class AssignmentIn(Input):
    """The new assignee, or null to unassign."""

    assignee_id = Id(required=True, allow_none=True)


class NoteIn(Input):
    """A note's Markdown text."""

    body = Text(case_fields.NOTE_MAX, blank=False, required=True)


class ItemIn(Input):
    """An offending post or account."""

    target = Str(_l("URL か @ハンドルを文字列で入力してください。"), allow_none=True, required=True, metadata={
        "description": "An http(s) URL or an @handle.", "maxLength": TARGET_MAX})
    note = Text(500)


class AssigneeFilter(fields.String):
    """The assignee filter: a user id, or `none` (read as 0) for unassigned cases."""

    default_error_messages = {"invalid": BAD_VALUE}

    def __init__(self) -> None:
        super().__init__(metadata={"description": "A user id, or `none` for unassigned cases.",
                                   "pattern": "^(none|[0-9]+)$"})

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        # A user id, 0 for unassigned, None for any.
        if value in ("", None):
            return None
        if value == "none":
            return 0
        if not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
            raise self.make_error("invalid")
        return int(value)


class StatusFilter(Choice):
    """The status filter: one status, or `open` for any status but closed."""

    def __init__(self) -> None:
        super().__init__([*CaseStatus, queries.OPEN], blank=True, metadata={
            "description": "A status, or `open`: any status but `closed`."})

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            return None
        return queries.OPEN if text == queries.OPEN else CaseStatus(text)


class CaseListQuery(PageQuery):
    """Filters of the case list; each narrows what the caller may see."""

    cursor = QueryText(metadata={"description": "Where to go on from: a `next_cursor` of an earlier answer "
                                                "with the same filters and sort (then `page` is ignored)."})
    kind = QueryChoice(CaseKind)
    status = StatusFilter()
    severity = QueryChoice(Severity)
    assignee_id = AssigneeFilter()
    department = QueryText(metadata={"description": "A department code."})
    q = QueryText(100, metadata={"description": "Words in the title (case-insensitive)."})
    sort = QueryChoice(queries.CaseSort, metadata={
        "description": "`newest` (the default) or `severity`: critical first, then high, medium, low."})


class ConflictBodyOut(ErrorBodyOut):
    """A refused edit, with the case as it is now."""

    current = fields.Nested(CaseOut)


class ConflictOut(Output):
    """A stale version or a refused edit (409)."""

    error = fields.Nested(ConflictBodyOut)


class CaseConflict(Conflict):
    """An edit refused by the case's state: answered with the current case (see `conflict_with_current`)."""

    def __init__(self, error: Conflict, case_id: int) -> None:
        super().__init__(error.message, error.fields)
        self.case_id = case_id


CasePageOut = page_of(CaseSummaryOut, next_cursor=fields.String(required=True, allow_none=True, metadata={
    "description": "Pass as `cursor` for the next page (null on the last): fast however deep, unlike `page`."}))
EventListOut = list_of(EventOut, "EventListOut")


def _case(case_id: int) -> Case:
    return queries.load_case_page(api_user(), case_id)


def _stored_case(case_id: int) -> Case:
    """The case as a write left it, all its notes and items included."""
    as_stored()
    return _case(case_id)


@bp.errorhandler(CaseConflict)
def conflict_with_current(error: CaseConflict):
    """409 with `current`, read once the refused edit is rolled back."""
    abandon()
    body = {"code": error.code, "message": str(error.message), "current": CaseOut().dump(_case(error.case_id))}
    return jsonify(error=body), error.status


@bp.get("/cases", tags=TAGS)
@bp.arguments(CaseListQuery, location="query", as_kwargs=True)
@bp.response(200, CasePageOut)
def list_cases(page: int, per_page: int, cursor: str | None = None, **filters: Any) -> dict[str, Any]:
    """Visible cases, newest first (or, with `sort=severity`, the most urgent first), filtered and paginated."""
    try:
        found = queries.case_list_page(api_user(), queries.CaseFilters(**filters), per_page, page=page,
                                       cursor=cursor, exact_total=True)
    except CursorError:
        raise BadRequest(BAD_CURSOR, fields={"cursor": BAD_CURSOR}) from None
    return {"items": found.items, "total": found.total, "page": found.page, "per_page": per_page,
            "next_cursor": found.next_cursor}


@bp.post("/cases", tags=TAGS)
@bp.body(CaseIn)
@bp.response(201, CaseOut)
def create_case(body: Body) -> Case:
    """Open a case."""
    data = body()
    department_id = None
    if data.get("department") is not None:
        try:
            department_id = department_by_code(data["department"]).id
        except NotFound:
            raise ValidationFailed(fields={"department": _l("その所属はありません。")}) from None
    case = service.open_case(api_user(), data, department_id=department_id, assignee_id=data.get("assignee_id"))
    return _stored_case(case.id)


@bp.get(f"/cases/<{ID}:case_id>", tags=TAGS)
@bp.response(200, CaseOut)
def get_case(case_id: int) -> Case:
    """One case with notes and offending items."""
    return _case(case_id)


@bp.patch(f"/cases/<{ID}:case_id>", tags=TAGS)
@bp.body(CasePatchIn)
@bp.response(200, CaseOut)
@bp.alt_response(409, schema=ConflictOut, description="A stale `version`, or a closed case: `error.current` "
                                                      "is the case as it is now.")
def update_case(case_id: int, body: Body) -> Case:
    """Edit fields; `version` must be the one the client read, or 409 with the current case."""
    case = service.get_case(api_user(), case_id)
    data = body()
    version = data.pop("version")
    try:
        service.update_case(api_user(), case, version, data)
    except Conflict as error:
        raise CaseConflict(error, case_id) from error
    return _stored_case(case_id)


@bp.post(f"/cases/<{ID}:case_id>/acknowledge", tags=TAGS)
@bp.response(200, CaseOut)
def acknowledge(case_id: int) -> Case:
    """Acknowledge a new case."""
    service.acknowledge(api_user(), service.get_case(api_user(), case_id))
    return _stored_case(case_id)


@bp.post(f"/cases/<{ID}:case_id>/status", tags=TAGS)
@bp.body(StatusIn)
@bp.response(200, CaseOut)
def change_status(case_id: int, body: Body) -> Case:
    """Change status: {"status", "reason"?, "waive_open_steps"?, "review"?}.

    Closing and reopening are for supervisors and the PR office (403 otherwise); a transition the table
    does not allow is 409. Closing with required steps open answers 409 naming them: a supervisor adds
    `"waive_open_steps": true` and a `reason` to waive them. A `review` object is accepted only when
    closing; its errors name the review's fields (422).
    """
    case = service.get_case(api_user(), case_id)
    data = body()
    service.change_status(api_user(), case, CaseStatus(data["status"]), data.get("reason", ""),
                          waive_open_steps=data["waive_open_steps"], review=data.get("review"))
    return _stored_case(case_id)


@bp.post(f"/cases/<{ID}:case_id>/assignment", tags=TAGS)
@bp.body(AssignmentIn)
@bp.response(200, CaseOut)
def assign(case_id: int, body: Body) -> Case:
    """Assign: {"assignee_id": id or null}."""
    case = service.get_case(api_user(), case_id)
    service.assign(api_user(), case, body()["assignee_id"])
    return _stored_case(case_id)


@bp.post(f"/cases/<{ID}:case_id>/notes", tags=TAGS)
@bp.body(NoteIn)
@bp.response(201, NoteOut)
def add_note(case_id: int, body: Body) -> Note:
    """Append a note: {"body"}."""
    case = service.get_case(api_user(), case_id)
    return service.add_note(api_user(), case, body()["body"])


@bp.get(f"/cases/<{ID}:case_id>/notes/<{ID}:note_id>", tags=TAGS)
@bp.response(200, NoteOut)
def get_note(case_id: int, note_id: int) -> Note:
    """One note. Notes cannot be changed or deleted: PUT, PATCH and DELETE answer 405."""
    return service.get_note(service.get_case(api_user(), case_id), note_id)


@bp.post(f"/cases/<{ID}:case_id>/notes/<{ID}:note_id>/corrections", tags=TAGS)
@bp.body(NoteIn)
@bp.response(201, NoteOut)
def correct_note(case_id: int, note_id: int, body: Body) -> Note:
    """Append a correction of a note: {"body"}; a note is corrected once (409 after)."""
    case = service.get_case(api_user(), case_id)
    original = service.get_note(case, note_id)
    return service.add_note(api_user(), case, body()["body"], corrects=original)


@bp.post(f"/cases/<{ID}:case_id>/items", tags=TAGS)
@bp.body(ItemIn)
@bp.response(201, OffendingItemOut)
def add_item(case_id: int, body: Body) -> OffendingItem:
    """Record an offending post or account: {"target", "note"?}."""
    case = service.get_case(api_user(), case_id)
    data = body()
    return service.add_offending_item(api_user(), case, data["target"], data.get("note", ""))


@bp.get(f"/cases/<{ID}:case_id>/timeline", tags=TAGS)
@bp.response(200, EventListOut)
def timeline(case_id: int) -> dict[str, Any]:
    """The case's timeline, oldest first."""
    return {"items": queries.timeline(service.get_case(api_user(), case_id))}
