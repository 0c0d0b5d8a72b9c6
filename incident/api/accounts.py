"""API v1 routes for the registry of official accounts (様式1 fields, 様式2 notices) and the public list.

`GET /api/v1/public/accounts` needs no token: it is in `PUBLIC_ENDPOINTS` (incident/api/__init__.py).
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident import policy
from incident.accounts import service
from incident.accounts.models import AccountNotice, AccountStatus, NoticeKind, OfficialAccount, OperatorType, Platform
from incident.api import ID, api_user, bp
from incident.api.fields import Choice, Day, Extended, Id, Input, Output, Text, Timestamp, day, enum_field, list_of, url
from incident.api.requests import Body
from incident.api.schemas import AccountOut
from incident.cases import service as cases
from incident.dates import isoformat
from incident.errors import PermissionDenied

TAGS = ["official accounts"]
BAD_DATE = _l("日付は YYYY-MM-DD の形で入力してください。")
CHOOSE_DEPARTMENT = _l("所属を選んでください。")


class AccountFullOut(AccountOut):
    """An official account with its 様式1 fields and status (for logged-in users only)."""

    responsible_person = fields.String()
    content = fields.String()
    purpose = fields.String()
    start_date = Day(allow_none=True)
    end_date = Day(allow_none=True)
    operating_hours = fields.String()
    reply_policy = fields.String()
    remarks = fields.String()
    status = enum_field(AccountStatus)
    closed_at = Timestamp(allow_none=True)
    mfa_enabled = fields.Boolean()
    mfa_confirmed_at = Timestamp(allow_none=True)
    policy_reviewed_at = Timestamp(allow_none=True)


class NoticeOut(Output):
    """A 様式2 notice with its receipt by the PR office (dumped from `{"notice", "receipt"}`)."""

    id = fields.Integer(attribute="notice.id")
    account_id = fields.Integer(attribute="notice.account_id")
    kind = enum_field(NoticeKind, attribute="notice.kind")
    effective_date = Day(attribute="notice.effective_date")
    contact = fields.String(attribute="notice.contact")
    details = fields.String(attribute="notice.details")
    remarks = fields.String(attribute="notice.remarks")
    filed_by_id = fields.Integer(attribute="notice.filed_by_id")
    filed_at = Timestamp(attribute="notice.filed_at")
    case_id = fields.Integer(attribute="notice.case_id", allow_none=True,
                             metadata={"description": "The case the notice was filed from, if any."})
    received = fields.Function(lambda row: row["receipt"] is not None, metadata={"type": "boolean"})
    received_by_id = fields.Function(lambda row: row["receipt"].received_by_id if row["receipt"] else None,
                                     allow_none=True, metadata={"type": "integer"})
    received_at = fields.Function(lambda row: isoformat(row["receipt"].received_at) if row["receipt"] else None,
                                  allow_none=True, metadata={"type": "string", "format": "date-time"})


class ClosureTaskOut(Output):
    """One task of the closure checklist (3(2)ウ)."""

    task = fields.String()
    done = fields.Function(lambda item: item.done is not None, metadata={"type": "boolean"})
    done_at = fields.Function(lambda item: isoformat(item.done.done_at) if item.done else None,
                              allow_none=True, metadata={"type": "string", "format": "date-time"})


class AccountDetailOut(AccountFullOut):
    """An account with its notices (oldest first) and, once closed, its closure checklist."""

    notices = fields.List(fields.Nested(NoticeOut))
    closure_tasks = fields.List(fields.Nested(ClosureTaskOut))


class PublicAccountOut(Output):
    """One row of the public list: nothing private."""

    department = fields.String(metadata={"description": "The department's name."})
    platform = fields.String(metadata={"enum": [p.value for p in Platform]})
    name = fields.String()
    url = fields.String()
    purpose = fields.String()
    reply_policy = fields.String()


class AccountFieldsIn(Input):
    """The fields of an official account; a PATCH sends any of them."""

    platform = Choice(Platform)
    name = Text(200, blank=False)
    url = url(_l("URL を文字列で入力してください。"), allow_none=True)
    department_id = Id(error_messages={"null": CHOOSE_DEPARTMENT, "invalid": CHOOSE_DEPARTMENT})
    operator_type = Choice(OperatorType)
    operator_name = Text(200, metadata={"description": "Required unless operator_type is city."})
    responsible_person = Text(200)
    content = Text(2000)
    purpose = Text(2000)
    start_date = day(BAD_DATE, allow_none=True)
    end_date = day(BAD_DATE, allow_none=True)
    operating_hours = Text(300)
    reply_policy = Text(2000)
    remarks = Text(2000)


class AccountIn(AccountFieldsIn):
    """A new official account."""

    platform = Choice(Platform, required=True)
    name = Text(200, blank=False, required=True)
    department_id = Id(required=True, error_messages={"null": CHOOSE_DEPARTMENT, "invalid": CHOOSE_DEPARTMENT})
    operator_type = Choice(OperatorType, required=True)


class NoticeIn(Input):
    """A 様式2 notice: a change says what changed, a closure why."""

    kind = Choice(NoticeKind, required=True, message=_l("届出の種類を選んでください。"))
    effective_date = day(BAD_DATE, required=True)
    contact = Text(300, blank=False, required=True)
    details = Text(2000, metadata={"description": "Required for a change or a closure."})
    remarks = Text(2000)
    case_id = Id(allow_none=True, metadata={
        "description": "File it from this case (one you may see, about this account): the notice stays linked "
                       "to the case and completes the case's playbook step waiting for one."})


AccountListOut = list_of(AccountFullOut, "AccountListOut")
PublicAccountListOut = list_of(PublicAccountOut, "PublicAccountListOut")


def _may_manage_accounts(message: object) -> None:
    # Checked before the body is read (the service checks again), so that a caller who may not do
    # this at all gets 403 whatever they sent, as before the body had a schema.
    if not policy.can_manage_accounts(api_user()):
        raise PermissionDenied(message)


@bp.get("/accounts", tags=TAGS)
@bp.response(200, AccountListOut)
def accounts() -> dict[str, Any]:
    """Every official account, with its 様式1 fields."""
    return {"items": service.all_accounts()}


@bp.post("/accounts", tags=TAGS)
@bp.body(AccountIn)
@bp.response(201, AccountFullOut)
def create_account(body: Body) -> OfficialAccount:
    """Register an official account (PR office)."""
    _may_manage_accounts(_l("公式アカウントの登録は秘書広報課が行います。"))
    return service.create_account(api_user(), body())


@bp.get(f"/accounts/<{ID}:account_id>", tags=TAGS)
@bp.response(200, AccountDetailOut)
def get_account(account_id: int) -> Extended:
    """One account with its notices (oldest first) and closure checklist."""
    account = service.get_account(account_id)
    closed = account.status == AccountStatus.CLOSED
    return Extended(
        account,
        notices=[{"notice": n, "receipt": r} for n, r, _filer, _receiver in service.notices_of(account)],
        closure_tasks=service.closure_checklist(account) if closed else [],
    )


@bp.patch(f"/accounts/<{ID}:account_id>", tags=TAGS)
@bp.body(AccountFieldsIn)
@bp.response(200, AccountFullOut)
def update_account(account_id: int, body: Body) -> OfficialAccount:
    """Change an account's fields (PR office)."""
    account = service.get_account(account_id)
    _may_manage_accounts(_l("公式アカウントの編集は秘書広報課が行います。"))
    return service.update_account(api_user(), account, body())


@bp.post(f"/accounts/<{ID}:account_id>/notices", tags=TAGS)
@bp.body(NoticeIn)
@bp.response(201, NoticeOut)
def file_notice(account_id: int, body: Body) -> dict[str, AccountNotice | None]:
    """File a 様式2 notice (the account's department or the PR office)."""
    account = service.get_account(account_id)
    if not policy.can_file_account_notice(api_user(), account):
        raise PermissionDenied(_l("届出はこの公式アカウントの開設所属が行います。"))
    data = body()
    case_id = data.pop("case_id", None)
    case = cases.get_case(api_user(), case_id) if case_id is not None else None
    return {"notice": service.file_notice(api_user(), account, data, case=case), "receipt": None}


@bp.get("/public/accounts", tags=TAGS)
@bp.doc(security=[])
@bp.response(200, PublicAccountListOut)
def public_accounts() -> dict[str, Any]:
    """The public list (3(2)ア): active accounts only, no private field; needs no token."""
    return {"items": [service.public_record(a) for a in service.public_accounts()]}
