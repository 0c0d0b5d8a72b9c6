"""Adding, editing and listing official accounts (PR office only)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import aliased

from incident import policy
from incident.accounts.models import (
    AccountNotice,
    AccountStatus,
    ClosureTask,
    NoticeKind,
    NoticeReceipt,
    OfficialAccount,
    OperatorType,
    Platform,
)
from incident.audit import service as audit
from incident.auth.models import Department, User
from incident.database import MAX_ID
from incident.dates import utcnow
from incident.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.validation import normalise_url

#: 様式1 (operation policy) fields beyond the basics, in the form's order.
POLICY_FIELDS = ("responsible_person", "content", "purpose", "start_date", "end_date", "operating_hours",
                 "reply_policy", "remarks")
ACCOUNT_FIELDS = ("platform", "name", "url", "department_id", "operator_type", "operator_name") + POLICY_FIELDS
#: The closure checklist (3(2)ウ), in order.
CLOSURE_TASKS = ("deleted_on_platform", "confirmed_gone", "removed_from_public_list")


def _parse_date(value: Any) -> dt.date | None:
    """A date from a form or JSON: a date, an ISO `YYYY-MM-DD` string, or empty for none."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and 1900 <= parsed.year <= 2200:
            return parsed
    raise ValueError(_l("日付は YYYY-MM-DD の形で入力してください。"))


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
        if isinstance(value, bool) or not 0 < department_id <= MAX_ID:  # out of range would be a 500
            raise ValueError(_l("所属を選んでください。"))
        if db.session.get(Department, department_id) is None:
            raise ValueError(_l("所属を選んでください。"))
        return department_id

    take("platform", enum_of(Platform), True)
    take("name", text(200, True), True)
    take("url", normalise_url, False)
    take("department_id", department, True)
    take("operator_type", enum_of(OperatorType), True)
    take("operator_name", text(200, False), False)
    take("responsible_person", text(200, False), False)
    take("content", text(2000, False), False)
    take("purpose", text(2000, False), False)
    take("start_date", _parse_date, False)
    take("end_date", _parse_date, False)
    take("operating_hours", text(300, False), False)
    take("reply_policy", text(2000, False), False)
    take("remarks", text(2000, False), False)
    for name in ("responsible_person", "content", "purpose", "operating_hours", "reply_policy", "remarks"):
        if name in cleaned and cleaned[name] is None:
            cleaned[name] = ""  # these columns are NOT NULL text
    start, end = cleaned.get("start_date"), cleaned.get("end_date")
    if start and end and end < start:
        errors["end_date"] = _l("運用終了日は運用開始日以降の日付にしてください。")
    operator = cleaned.get("operator_type")
    if operator in (OperatorType.CONTRACTOR, OperatorType.DESIGNATED_MANAGER) and not cleaned.get(
        "operator_name"
    ):
        errors["operator_name"] = _l("指定管理者・委託業者の名称を入力してください。")
    if errors:
        raise ValidationFailed(fields=errors)
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
    start = fields.get("start_date", account.start_date)
    end = fields.get("end_date", account.end_date)
    if start and end and end < start:
        raise ValidationFailed(fields={"end_date": _l("運用終了日は運用開始日以降の日付にしてください。")})
    merged_operator = fields.get("operator_type", account.operator_type)
    merged_name = fields.get("operator_name", account.operator_name)
    if merged_operator != OperatorType.CITY and not merged_name:
        raise ValidationFailed(fields={"operator_name": _l("指定管理者・委託業者の名称を入力してください。")})
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


def public_accounts() -> list[OfficialAccount]:
    """Active accounts for the public list (3(2)ア), by department then platform, in one query."""
    return list(db.session.scalars(
        select(OfficialAccount).join(OfficialAccount.department)
        .where(OfficialAccount.status == AccountStatus.ACTIVE)
        .order_by(Department.name, OfficialAccount.platform, OfficialAccount.name)
    ))


#: The only fields the public list shows: nothing private (contacts, MFA, remarks, operator contact).
PUBLIC_FIELDS = ("department", "platform", "name", "url", "purpose", "reply_policy")


def public_record(account: OfficialAccount) -> dict[str, Any]:
    """One row of the public list, as plain data for HTML, JSON and CSV."""
    return {
        "department": account.department.name,
        "platform": account.platform.value,
        "name": account.name,
        "url": account.url or "",
        "purpose": account.purpose,
        "reply_policy": account.reply_policy,
    }


# --- warnings ---------------------------------------------------------------------------------

@dataclass
class RegistryWarning:
    code: str  # mfa, url, review
    message: str


def account_warnings(account: OfficialAccount, *, review_days: int,
                     now: dt.datetime | None = None) -> list[RegistryWarning]:
    """What the registry page warns about for an active account."""
    if account.status != AccountStatus.ACTIVE:
        return []
    now = now or utcnow()
    found = []
    if not account.mfa_enabled or account.mfa_confirmed_at is None:
        found.append(RegistryWarning("mfa", str(_l("多要素認証が確認されていません（3(3)カ）。"))))
    if not account.url:
        found.append(RegistryWarning("url", str(_l("登録URLが未登録です（3(1)ウ）。"))))
    reviewed = account.policy_reviewed_at or account.created_at
    if reviewed is not None and reviewed.tzinfo is None:
        reviewed = reviewed.replace(tzinfo=dt.UTC)
    if account.policy_reviewed_at is None or now - reviewed > dt.timedelta(days=review_days):
        found.append(RegistryWarning("review", str(_l("運用ポリシーが %(days)d 日以上見直されていません。", days=review_days))))
    return found


# --- MFA and policy review ------------------------------------------------------------------------

def _require_department(actor: User, account: OfficialAccount) -> None:
    if not policy.can_file_account_notice(actor, account):
        raise PermissionDenied(_l("この公式アカウントの開設所属または秘書広報課だけが行えます。"))


def confirm_mfa(actor: User, account: OfficialAccount, enabled: bool = True) -> OfficialAccount:
    """Record that someone checked the account's multi-factor authentication (3(3)カ)."""
    _require_department(actor, account)
    if not isinstance(enabled, bool):
        raise ValidationFailed(fields={"mfa_enabled": _l("値が正しくありません。")})
    now = utcnow()
    changes = {"mfa_enabled": (account.mfa_enabled, enabled), "mfa_confirmed_at": (account.mfa_confirmed_at, now)}
    account.mfa_enabled = enabled
    account.mfa_confirmed_at = now
    db.session.flush()
    audit.record(actor, "account.mfa_confirmed", "official_account", account.id, changes=changes)
    return account


def mark_policy_reviewed(actor: User, account: OfficialAccount) -> OfficialAccount:
    """Record that the operation policy (様式1) was reviewed today."""
    _require_department(actor, account)
    now = utcnow()
    changes = {"policy_reviewed_at": (account.policy_reviewed_at, now)}
    account.policy_reviewed_at = now
    db.session.flush()
    audit.record(actor, "account.policy_reviewed", "official_account", account.id, changes=changes)
    return account


# --- 様式2 notices ---------------------------------------------------------------------------------

def notices_of(account: OfficialAccount) -> list[tuple[AccountNotice, NoticeReceipt | None, str, str | None]]:
    """The account's notices, oldest first, each with its receipt and the names of who filed and who
    received it (one query)."""
    filer = aliased(User)
    receiver = aliased(User)
    rows = db.session.execute(
        select(AccountNotice, NoticeReceipt, filer.name, receiver.name)
        .select_from(AccountNotice)
        .join(filer, filer.id == AccountNotice.filed_by_id)
        .outerjoin(NoticeReceipt, NoticeReceipt.notice_id == AccountNotice.id)
        .outerjoin(receiver, receiver.id == NoticeReceipt.received_by_id)
        .where(AccountNotice.account_id == account.id)
        .order_by(AccountNotice.filed_at, AccountNotice.id)
    ).all()
    return [tuple(row) for row in rows]


def get_notice(account: OfficialAccount, notice_id: int) -> AccountNotice:
    """A notice of this account, or 404."""
    notice = db.session.get(AccountNotice, notice_id)
    if notice is None or notice.account_id != account.id:
        raise NotFound()
    return notice


def clean_notice_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate a 様式2 notice: kind, date, contact; a change says what changed, a closure why."""
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned["kind"] = NoticeKind(raw.get("kind") or "")
    except (ValueError, TypeError):
        errors["kind"] = _l("届出の種類を選んでください。")
    try:
        cleaned["effective_date"] = _parse_date(raw.get("effective_date"))
        if cleaned["effective_date"] is None:
            errors["effective_date"] = _l("入力してください。")
    except ValueError as exc:
        errors["effective_date"] = exc.args[0]
    for name, limit, required in (("contact", 300, True), ("details", 2000, False), ("remarks", 2000, False)):
        value = raw.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = _l("文字列で入力してください。")
            continue
        value = value.strip()
        if required and not value:
            errors[name] = _l("入力してください。")
        elif len(value) > limit:
            errors[name] = _l("%(max)d 文字以内で入力してください。", max=limit)
        cleaned[name] = value
    kind = cleaned.get("kind")
    if kind == NoticeKind.CHANGE and not cleaned.get("details") and "details" not in errors:
        errors["details"] = _l("変更内容を入力してください。")
    if kind == NoticeKind.CLOSURE and not cleaned.get("details") and "details" not in errors:
        errors["details"] = _l("廃止理由を入力してください。")
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def file_notice(actor: User, account: OfficialAccount, data: dict[str, Any]) -> AccountNotice:
    """File a 様式2 notice (the account's department or the PR office); a closure closes the account."""
    if not policy.can_file_account_notice(actor, account):
        raise PermissionDenied(_l("届出はこの公式アカウントの開設所属が行います。"))
    fields = clean_notice_fields(data)
    if account.status == AccountStatus.CLOSED:
        raise Conflict(_l("廃止済みのアカウントには届出できません。"))
    notice = AccountNotice(account_id=account.id, filed_by_id=actor.id, **fields)
    db.session.add(notice)
    db.session.flush()
    audit.record(actor, "account.notice_filed", "account_notice", notice.id,
                 changes={"account_id": (None, account.id), "kind": (None, notice.kind.value),
                          "effective_date": (None, notice.effective_date), "contact": (None, notice.contact),
                          "details": (None, notice.details), "remarks": (None, notice.remarks)})
    if notice.kind == NoticeKind.CLOSURE:
        now = utcnow()
        audit.record(actor, "account.closed", "official_account", account.id,
                     changes={"status": (account.status.value, AccountStatus.CLOSED.value),
                              "closed_at": (None, now)})
        account.status = AccountStatus.CLOSED
        account.closed_at = now
        db.session.flush()
    return notice


def receive_notice(actor: User, notice: AccountNotice) -> NoticeReceipt:
    """The PR office receives a notice (once)."""
    if not policy.can_receive_account_notices(actor):
        raise PermissionDenied(_l("届出の受付は秘書広報課が行います。"))
    existing = db.session.scalars(select(NoticeReceipt).where(NoticeReceipt.notice_id == notice.id)).first()
    if existing is not None:
        raise Conflict(_l("この届出は受付済みです。"))
    receipt = NoticeReceipt(notice_id=notice.id, received_by_id=actor.id)
    db.session.add(receipt)
    db.session.flush()
    audit.record(actor, "account.notice_received", "account_notice", notice.id,
                 changes={"received_by_id": (None, actor.id)})
    return receipt


# --- closure checklist -------------------------------------------------------------------------------

@dataclass
class ClosureItem:
    task: str
    done: ClosureTask | None = None
    done_by: User | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def closure_checklist(account: OfficialAccount) -> list[ClosureItem]:
    """The closure checklist: each task with its done record, if any (one query)."""
    rows = db.session.execute(
        select(ClosureTask, User).join(User, User.id == ClosureTask.done_by_id)
        .where(ClosureTask.account_id == account.id).order_by(ClosureTask.id)
    ).all()
    done: dict[str, tuple[ClosureTask, User]] = {}
    for task, user in rows:
        done.setdefault(task.task, (task, user))
    return [ClosureItem(name, *done.get(name, (None, None))) for name in CLOSURE_TASKS]


def complete_closure_task(actor: User, account: OfficialAccount, task: str, note: str = "") -> ClosureTask:
    """Record a done item of a closed account's checklist."""
    if task not in CLOSURE_TASKS:
        raise NotFound()
    if not policy.can_do_closure_task(actor, account, task):
        raise PermissionDenied(_l("この項目は行えません。"))
    if account.status != AccountStatus.CLOSED:
        raise Conflict(_l("廃止届の提出後に記録できます。"))
    if not isinstance(note, str) or len(note) > 2000:
        raise ValidationFailed(fields={"note": _l("2000 文字以内で入力してください。")})
    if any(item.task == task and item.done for item in closure_checklist(account)):
        raise Conflict(_l("この項目は記録済みです。"))
    row = ClosureTask(account_id=account.id, task=task, note=note.strip(), done_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "account.closure_task", "official_account", account.id, changes={task: (None, row.note)})
    return row
