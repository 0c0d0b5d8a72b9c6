"""Adding, editing and listing official accounts (PR office only)."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from incident import policy
from incident.accounts.models import OfficialAccount, OperatorType, Platform
from incident.audit import service as audit
from incident.auth.models import Department, User
from incident.cases.fields import normalise_url
from incident.errors import NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db

ACCOUNT_FIELDS = ("platform", "name", "url", "department_id", "operator_type", "operator_name")


def clean_account_fields(raw: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate official-account fields; an operator other than the city must be named."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, Any] = {}

    def take(name: str, convert: Any, required: bool) -> None:
        if name not in raw:
            if required and not partial:
                errors[name] = _l("入力してください。")
            return
        try:
            cleaned[name] = convert(raw[name])
        except (ValueError, TypeError) as exc:
            errors[name] = exc.args[0] if exc.args and not isinstance(exc, TypeError) else _l("値が正しくありません。")

    def text(limit: int, required: bool):
        def convert(value: Any) -> str | None:
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise ValueError(_l("文字列で入力してください。"))
            value = value.strip()
            if required and not value:
                raise ValueError(_l("入力してください。"))
            if len(value) > limit:
                raise ValueError(_l("%(max)d 文字以内で入力してください。", max=limit))
            return value or None
        return convert

    def enum_of(enum_class: type):
        def convert(value: Any) -> Any:
            try:
                return enum_class(value)
            except ValueError:
                raise ValueError(_l("値が正しくありません。")) from None
        return convert

    def department(value: Any) -> int:
        try:
            department_id = int(value)
        except (TypeError, ValueError):
            raise ValueError(_l("所属を選んでください。")) from None
        if db.session.get(Department, department_id) is None:
            raise ValueError(_l("所属を選んでください。"))
        return department_id

    take("platform", enum_of(Platform), True)
    take("name", text(200, True), True)
    take("url", normalise_url, False)
    take("department_id", department, True)
    take("operator_type", enum_of(OperatorType), True)
    take("operator_name", text(200, False), False)
    operator = cleaned.get("operator_type")
    if operator in (OperatorType.CONTRACTOR, OperatorType.DESIGNATED_MANAGER) and not cleaned.get(
        "operator_name"
    ):
        errors["operator_name"] = _l("指定管理者・委託業者の名称を入力してください。")
    if errors:
        raise ValidationFailed(_l("入力内容を確認してください。"), fields=errors)
    return cleaned


def create_account(actor: User, data: dict[str, Any]) -> OfficialAccount:
    """Register an official account."""
    if not policy.can_manage_accounts(actor):
        raise PermissionDenied(_l("公式アカウントの登録は秘書広報課が行います。"))
    fields = clean_account_fields(data, partial=False)
    account = OfficialAccount(**fields)
    db.session.add(account)
    db.session.flush()
    audit.record(actor, "account.create", "official_account", account.id,
                 changes={name: (None, getattr(account, name)) for name in ACCOUNT_FIELDS})
    return account


def update_account(actor: User, account: OfficialAccount, data: dict[str, Any]) -> OfficialAccount:
    """Change an official account's fields."""
    if not policy.can_manage_accounts(actor):
        raise PermissionDenied(_l("公式アカウントの編集は秘書広報課が行います。"))
    fields = clean_account_fields(data, partial=True)
    merged_operator = fields.get("operator_type", account.operator_type)
    merged_name = fields.get("operator_name", account.operator_name)
    if merged_operator != OperatorType.CITY and not merged_name:
        raise ValidationFailed(_l("入力内容を確認してください。"),
                               fields={"operator_name": _l("指定管理者・委託業者の名称を入力してください。")})
    changes = {k: (getattr(account, k), v) for k, v in fields.items() if getattr(account, k) != v}
    for name, (_old, new) in changes.items():
        setattr(account, name, new)
    if changes:
        db.session.flush()
        audit.record(actor, "account.update", "official_account", account.id, changes=changes)
    return account


def get_account(account_id: int) -> OfficialAccount:
    """An official account by id (the registry is visible to every logged-in user)."""
    account = db.session.get(OfficialAccount, account_id)
    if account is None:
        raise NotFound()
    return account


def all_accounts() -> list[OfficialAccount]:
    """Every official account, by department then platform, departments loaded in the same query."""
    return list(db.session.scalars(
        select(OfficialAccount).join(OfficialAccount.department)
        .order_by(Department.name, OfficialAccount.platform, OfficialAccount.name)
    ))
