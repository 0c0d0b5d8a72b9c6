"""API v1 routes for people and departments, kept by the PR office (秘書広報課): to anyone else every one
of them answers 404, as the pages do. No answer carries a password hash, a TOTP secret or a token hash."""
from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident import policy
from incident.api import ID, api_user, bp
from incident.api.fields import (
    Choice,
    Extended,
    Id,
    Input,
    Output,
    PageQuery,
    QueryChoice,
    QueryNumber,
    QueryText,
    Text,
    Timestamp,
    enum_field,
    list_of,
    page_of,
)
from incident.api.requests import Body
from incident.api.schemas import DepartmentOut, UserRefOut
from incident.auth import people, postings
from incident.auth.models import Department, OperatorType, Role, User
from incident.drafts.models import DraftStatus, DraftType
from incident.errors import NotFound
from incident.escalation import handover
from incident.extensions import db

TAGS = ["people"]


class UserState(enum.StrEnum):
    """The user list's state filter."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"

_KINDS = (OperatorType.CONTRACTOR, OperatorType.DESIGNATED_MANAGER)


class PostingOut(Output):
    """One period a person held a department and role (who was where when)."""

    department = fields.Nested(DepartmentOut)
    role = enum_field(Role)
    operator_id = fields.Integer(allow_none=True)
    started_at = Timestamp()
    ended_at = Timestamp(allow_none=True)
    changed_by_id = fields.Integer(allow_none=True)


class UserAdminOut(Output):
    """A person as the PR office sees them (never a password hash, TOTP secret or token)."""

    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = enum_field(Role)
    department = fields.Nested(DepartmentOut)
    organisation = fields.String(allow_none=True)
    operator_kind = fields.Function(
        lambda user: user.operator.kind.value if user.operator else None,
        metadata={"type": "string", "enum": [k.value for k in _KINDS] + [None], "nullable": True})
    active = fields.Boolean()
    pending = fields.Function(lambda user: user.pending_since is not None, metadata={"type": "boolean"})
    must_change_password = fields.Boolean()
    mfa_enabled = fields.Function(lambda user: user.mfa_enabled_at is not None, metadata={"type": "boolean"})
    created_at = Timestamp()


class UserDetailOut(UserAdminOut):
    """A person with their posting history, newest first."""

    postings = fields.List(fields.Nested(PostingOut))


class UserCreatedOut(UserAdminOut):
    """A new person and the temporary password, shown this once, that they must change at the first login."""

    temporary_password = fields.String()


class CaseRefOut(Output):
    """A case by its number and title."""

    id = fields.Integer()
    number = fields.String()
    title = fields.String()
    status = fields.Function(lambda case: case.status.value, metadata={"type": "string"})


class DraftRefOut(Output):
    """An open draft and its case."""

    id = fields.Integer(attribute="draft.id")
    case_id = fields.Integer(attribute="draft.case_id")
    type = enum_field(DraftType, attribute="draft.type")
    status = enum_field(DraftStatus, attribute="draft.status")


class EscalationRefOut(Output):
    """An unresolved escalation the person raised or took on."""

    id = fields.Integer()
    case_id = fields.Integer()
    reason = fields.String()
    raised_by = fields.Nested(UserRefOut, allow_none=True)
    acknowledged_by = fields.Nested(UserRefOut, allow_none=True)
    created_at = Timestamp()


class OpenWorkOut(Output):
    """What a person leaves open: cases assigned to them, drafts not yet approved or sent, escalations."""

    cases = fields.List(fields.Nested(CaseRefOut))
    drafts = fields.List(fields.Nested(DraftRefOut))
    escalations = fields.List(fields.Nested(EscalationRefOut))


class DeactivatedOut(Output):
    """The deactivated person and the cases handed over."""

    user = fields.Nested(UserAdminOut)
    reassigned_case_ids = fields.List(fields.Integer())


class DepartmentAdminOut(Output):
    """A department with its contact and its number of active people."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    contact = fields.String()
    active_people = fields.Integer()
    created_at = Timestamp()


class UserFieldsIn(Input):
    """A person's fields; a PATCH sends any of them."""

    name = Text(people.NAME_MAX, blank=False)
    email = Text(254, blank=False)
    role = Choice(Role)
    department_id = Id(error_messages={"null": _l("所属を選んでください。"), "invalid": _l("所属を選んでください。")})
    organisation = Text(200, metadata={
        "description": "The contractor or designated manager a responder works for (registered if new); "
                       "empty for the city's own staff."})
    operator_kind = Choice(_KINDS, metadata={"description": "What a new organisation is (default contractor)."})


class UserIn(UserFieldsIn):
    """A new person: they get a temporary password to change at the first login."""

    name = Text(people.NAME_MAX, blank=False, required=True)
    email = Text(254, blank=False, required=True)
    role = Choice(Role, required=True)
    department_id = Id(required=True, error_messages={
        "null": _l("所属を選んでください。"), "invalid": _l("所属を選んでください。")})


class DeactivateIn(Input):
    """Who receives the person's open cases (none: they stay assigned to the deactivated person)."""

    reassign_to = Id(allow_none=True, metadata={"description": "The id of an active user."})


class DepartmentFieldsIn(Input):
    """A department's name and contact; a PATCH sends either."""

    name = Text(people.NAME_MAX, blank=False)
    contact = Text(300)


class DepartmentIn(DepartmentFieldsIn):
    """A new department."""

    code = Text(people.CODE_MAX, blank=False, required=True)
    name = Text(people.NAME_MAX, blank=False, required=True)


class UserQuery(PageQuery):
    """Search by name or e-mail (`q`), a department, a state."""

    q = QueryText(200)
    department_id = QueryNumber(1, 2_147_483_647)
    state = QueryChoice(UserState)


UserPageOut = page_of(UserAdminOut)
DepartmentListOut = list_of(DepartmentAdminOut, "DepartmentListOut")


def _require() -> User:
    """The caller, who must be of the PR office (404 for anyone else, before any body is read)."""
    actor = api_user()
    if not policy.can_manage_users(actor):
        raise NotFound()
    return actor


def _detail(user: User) -> Extended:
    return Extended(user, postings=postings.history_of(user.id))


def _department_out(department: Department) -> Extended:
    counts = dict((d.id, n) for d, n in people.department_rows(None))
    return Extended(department, active_people=counts.get(department.id, 0))


@bp.get("/users", tags=TAGS)
@bp.arguments(UserQuery, location="query", as_kwargs=True)
@bp.response(200, UserPageOut)
def list_users(page: int, per_page: int, q: str | None = None, department_id: int | None = None,
               state: UserState | None = None) -> dict[str, Any]:
    """Everyone, active first, by name: searched by name or e-mail, filtered by department and state (PR office)."""
    filters = people.PeopleFilters(q=q, department_id=department_id, state=state.value if state else None)
    query = people.people_query(api_user(), filters)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return {"items": pagination.items, "total": pagination.total, "page": page, "per_page": per_page}


@bp.post("/users", tags=TAGS)
@bp.body(UserIn)
@bp.response(201, UserCreatedOut)
def create_user(body: Body) -> Extended:
    """Add a person with a temporary password, returned this once, to change at the first login (PR office)."""
    actor = _require()
    data = body()
    department = people.department_choice(data["department_id"])
    user, temporary = people.add_user(actor, email=data["email"], name=data["name"], role=data["role"],
                                      department=department, organisation=data.get("organisation") or None,
                                      operator_kind=data.get("operator_kind"))
    return Extended(user, temporary_password=temporary)


@bp.get(f"/users/<{ID}:user_id>", tags=TAGS)
@bp.response(200, UserDetailOut)
def get_user(user_id: int) -> Extended:
    """One person with their posting history (PR office)."""
    return _detail(people.managed_user(api_user(), user_id))


@bp.patch(f"/users/<{ID}:user_id>", tags=TAGS)
@bp.body(UserFieldsIn)
@bp.response(200, UserDetailOut)
def update_user(user_id: int, body: Body) -> Extended:
    """Change a person's name or e-mail, or move them to another role, department or organisation: a move
    starts a new posting (PR office; nobody changes their own role)."""
    actor = api_user()
    user = people.managed_user(actor, user_id)
    data = body()
    department = people.department_choice(data.pop("department_id")) if "department_id" in data else None
    people.update_user(actor, user, department=department, **data)
    return _detail(user)


@bp.post(f"/users/<{ID}:user_id>/deactivate", tags=TAGS)
@bp.body(DeactivateIn)
@bp.response(200, DeactivatedOut)
def deactivate_user(user_id: int, body: Body) -> dict[str, Any]:
    """Deactivate a person: their sessions and tokens end at once, every record they made stays; with
    `reassign_to`, their open cases are assigned to that person in the same step (PR office)."""
    actor = api_user()
    user = people.managed_user(actor, user_id)
    reassign_to = body().get("reassign_to")
    to_user = handover.receiver(reassign_to, user) if reassign_to is not None else None
    moved = handover.deactivate_with_handover(actor, user, to_user)
    return {"user": user, "reassigned_case_ids": [case.id for case in moved]}


@bp.get(f"/users/<{ID}:user_id>/handover", tags=TAGS)
@bp.response(200, OpenWorkOut)
def user_handover(user_id: int) -> dict[str, Any]:
    """A person's open cases, open drafts and unresolved escalations, to hand over (PR office)."""
    actor = api_user()
    work = handover.handover_of(actor, people.managed_user(actor, user_id))
    return {"cases": work.cases, "drafts": [{"draft": draft} for draft, _case in work.drafts],
            "escalations": [escalation for escalation, _case in work.escalations]}


@bp.get("/departments", tags=TAGS)
@bp.response(200, DepartmentListOut)
def list_departments() -> dict[str, Any]:
    """Every department with its contact and number of active people (PR office)."""
    rows = people.department_rows(api_user())
    return {"items": [Extended(department, active_people=count) for department, count in rows]}


@bp.post("/departments", tags=TAGS)
@bp.body(DepartmentIn)
@bp.response(201, DepartmentAdminOut)
def create_department(body: Body) -> Extended:
    """Add a department (PR office)."""
    actor = _require()
    data = body()
    department = people.add_department(actor, data["code"], data["name"], data.get("contact", ""))
    return _department_out(department)


@bp.patch(f"/departments/<{ID}:department_id>", tags=TAGS)
@bp.body(DepartmentFieldsIn)
@bp.response(200, DepartmentAdminOut)
def update_department(department_id: int, body: Body) -> Extended:
    """Rename a department or set its contact (PR office)."""
    actor = api_user()
    department = people.managed_department(actor, department_id)
    people.update_department(actor, department, **body())
    return _department_out(department)


@bp.delete(f"/departments/<{ID}:department_id>", tags=TAGS)
@bp.response(200, DepartmentAdminOut)
def delete_department(department_id: int) -> dict[str, Any]:
    """Delete a department made by mistake; one with any history (people, postings, cases, accounts, audit
    rows) answers 409 (PR office). The answer is the department as it was."""
    actor = api_user()
    department = people.managed_department(actor, department_id)
    gone = {"id": department.id, "code": department.code, "name": department.name, "contact": department.contact,
            "active_people": 0, "created_at": department.created_at}
    people.delete_department(actor, department)
    return gone
