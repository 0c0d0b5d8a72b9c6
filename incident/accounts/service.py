"""Adding, editing and listing official accounts (PR office only)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from incident import policy, signals
from incident.accounts.models import (
    OPERATOR_LABELS,
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
from incident.audit.models import AuditLog
from incident.auth.models import Department, User
from incident.auth.service import operator_named
from incident.database import MAX_ID
from incident.dates import utcnow
from incident.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.validation import normalise_url

if TYPE_CHECKING:
    from incident.cases.models import Case

#: 様式1 (operation policy) fields beyond the basics, in the form's order.
POLICY_FIELDS = ("responsible_person", "content", "purpose", "start_date", "end_date", "operating_hours",
                 "reply_policy", "remarks")
ACCOUNT_FIELDS = ("platform", "name", "url", "department_id", "operator_type", "operator_name") + POLICY_FIELDS
#: The closure checklist (3(2)ウ), in order.
CLOSURE_TASKS = ("deleted_on_platform", "confirmed_gone", "removed_from_public_list")
#: The notice a case of a kind files for its account from the case page: a takeover changes the
#: credentials (3(2)イ), a closed or dormant account still online is closed and deleted (3(2)ウ).
CASE_NOTICE_KINDS = {"account_takeover": NoticeKind.CHANGE, "dormant_account": NoticeKind.CLOSURE}


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
    operator_name = fields.pop("operator_name", None)
    account = OfficialAccount(**fields)
    _set_operator(account, operator_name)
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
    if merged_operator == OperatorType.CITY:
        fields["operator_name"] = None
    changes = {k: (getattr(account, k), v) for k, v in fields.items() if getattr(account, k) != v}
    for name, (_old, new) in changes.items():
        if name != "operator_name":
            setattr(account, name, new)
    _set_operator(account, fields.get("operator_name", account.operator_name))
    if changes:
        db.session.flush()
        audit.record(actor, "account.update", "official_account", account.id, changes=changes)
    return account


def _set_operator(account: OfficialAccount, name: str | None) -> None:
    """Link the account to the named outside operator (registered on first mention), or to none. An operator
    that runs no other account takes the account's kind (one registered with a user is a contractor until
    the PR office says); one running other accounts as the other kind is refused."""
    if account.operator_type == OperatorType.CITY or not name:
        account.operator = None
        return
    operator = operator_named(name, account.operator_type)
    if operator.kind != account.operator_type:
        others = select(OfficialAccount.id).where(OfficialAccount.operator_id == operator.id,
                                                  OfficialAccount.operator_type != account.operator_type)
        if account.id is not None:
            others = others.where(OfficialAccount.id != account.id)
        if db.session.scalar(others.limit(1)) is not None:
            raise ValidationFailed(fields={"operator_name": _l(
                "「%(name)s」は%(kind)sとして他のアカウントを運用しています。運用者の種類を合わせてください。",
                name=operator.name, kind=OPERATOR_LABELS[operator.kind])})
        operator.kind = account.operator_type
    account.operator = operator


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


def _deletion_unconfirmed() -> Any:
    """SQL: the account is closed and nobody recorded that it is gone from the platform (3(2)ウ)."""
    return and_(
        OfficialAccount.status == AccountStatus.CLOSED,
        ~exists().where(ClosureTask.account_id == OfficialAccount.id, ClosureTask.task == "confirmed_gone"),
    )


def registry(*, unconfirmed_only: bool = False) -> list[tuple[OfficialAccount, bool]]:
    """Every official account (or only the closed ones whose deletion was never confirmed), by department
    then platform, each with that flag — one query, departments loaded in it."""
    flag = _deletion_unconfirmed()
    query = (select(OfficialAccount, flag.label("deletion_unconfirmed")).join(OfficialAccount.department)
             .order_by(Department.name, OfficialAccount.platform, OfficialAccount.name))
    if unconfirmed_only:
        query = query.where(flag)
    return [(account, bool(unconfirmed)) for account, unconfirmed in db.session.execute(query)]


def deletion_unconfirmed(account: OfficialAccount) -> bool:
    """Whether the account is closed but its deletion on the platform was never confirmed (3(2)ウ)."""
    return bool(db.session.scalar(select(_deletion_unconfirmed()).where(OfficialAccount.id == account.id)))


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


def account_warnings(account: OfficialAccount, *, review_days: int, now: dt.datetime | None = None,
                     deletion_unconfirmed: bool = False) -> list[RegistryWarning]:
    """What the registry page warns about: for an active account, MFA, URL and policy review; for a closed
    one, a deletion on the platform never confirmed (`deletion_unconfirmed`, from registry())."""
    if account.status != AccountStatus.ACTIVE:
        if deletion_unconfirmed:
            return [RegistryWarning("deletion", str(_l(
                "廃止したアカウントの削除が確認されていません。乗っ取り等のおそれがあります（3(2)ウ）。")))]
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


#: How multi-factor authentication is done (3(3)カ), strongest first, as a takeover case's MFA step asks.
MFA_METHODS = {
    "app": _l("認証アプリ"),
    "security_key": _l("セキュリティキー"),
    "sms": _l("SMS"),
}


def confirm_mfa_from_step(actor: User, account: OfficialAccount, case: Case, method: Any) -> OfficialAccount:
    """Record that MFA is on, as a case's MFA step found it (3(3)カ), with an audit row naming the case.

    Permission (policy.can_confirm_mfa_by_step): whoever may work on the open case — its responder, an
    assignee from elsewhere, a contractor — may record it for the case's account or one of the case
    department's accounts, even without the registry rights confirm_mfa asks for: confirming MFA is the
    step's purpose, and nobody should type the fact twice."""
    if not policy.can_confirm_mfa_by_step(actor, case, account):
        raise PermissionDenied(_l("この案件の公式アカウント（または案件の所属のアカウント）の多要素認証だけを記録できます。"))
    if not isinstance(method, str) or method not in MFA_METHODS:
        raise ValidationFailed(fields={"mfa_method": _l("多要素認証の方式を選んでください。")})
    now = utcnow()
    changes = {"mfa_enabled": (account.mfa_enabled, True), "mfa_confirmed_at": (account.mfa_confirmed_at, now),
               "mfa_method": (None, method), "case": (None, case.number)}
    account.mfa_enabled = True
    account.mfa_confirmed_at = now
    db.session.flush()
    audit.record(actor, "account.mfa_confirmed", "official_account", account.id, changes=changes, case_id=case.id)
    return account


@dataclass(frozen=True)
class MfaSource:
    """Where the account's latest MFA confirmation came from: a case's step (its id and number), or the
    registry page (no case)."""

    case_id: int | None
    case_number: str | None
    method: str | None


def mfa_source(account: OfficialAccount) -> MfaSource | None:
    """The latest MFA confirmation's source, from the audit log (one query); None when never confirmed."""
    row = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "account.mfa_confirmed", AuditLog.object_type == "official_account",
                               AuditLog.object_id == account.id)
        .order_by(AuditLog.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    case_number = (row.changes.get("case") or [None, None])[1]
    method = (row.changes.get("mfa_method") or [None, None])[1]
    return MfaSource(row.case_id, case_number if row.case_id else None, method)


def department_accounts(department_id: int) -> list[OfficialAccount]:
    """A department's active accounts, by platform and name (one query)."""
    return list(db.session.scalars(
        select(OfficialAccount)
        .where(OfficialAccount.department_id == department_id, OfficialAccount.status == AccountStatus.ACTIVE)
        .order_by(OfficialAccount.platform, OfficialAccount.name, OfficialAccount.id)
    ))


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


def notices_of_case(case: Case) -> list[tuple[AccountNotice, OfficialAccount, NoticeReceipt | None]]:
    """The notices filed from a case, oldest first, each with its account and receipt (one query)."""
    rows = db.session.execute(
        select(AccountNotice, OfficialAccount, NoticeReceipt)
        .join(OfficialAccount, OfficialAccount.id == AccountNotice.account_id)
        .outerjoin(NoticeReceipt, NoticeReceipt.notice_id == AccountNotice.id)
        .where(AccountNotice.case_id == case.id)
        .order_by(AccountNotice.filed_at, AccountNotice.id)
    ).all()
    return [tuple(row) for row in rows]


def notice_defaults(case: Case) -> dict[str, Any]:
    """What a notice filed from the case starts with: the kind its kind calls for (a takeover's change, a
    dormant account's closure) and the details, naming the case."""
    kind = CASE_NOTICE_KINDS.get(case.kind.value)
    if kind == NoticeKind.CHANGE:
        details = _l("乗っ取り被害によりパスワード・登録メールアドレスを変更（案件 %(number)s）", number=case.number)
    elif kind == NoticeKind.CLOSURE:
        details = _l("運用を終えたアカウントが残り、乗っ取り等のおそれがあるため廃止・削除（3(2)ウ、案件 %(number)s）",
                     number=case.number)
    else:
        details = _l("案件 %(number)s による届出", number=case.number)
    return {"kind": (kind or NoticeKind.CHANGE).value, "details": str(details)}


def may_file_from_case(actor: User, case: Case) -> bool:
    """Whether the case page offers the 様式2 link: a takeover or dormant-account case naming an account that
    is still open, the case not closed, and the actor allowed to see the case and file for the account."""
    account = case.official_account
    return (case.kind.value in CASE_NOTICE_KINDS and account is not None
            and account.status == AccountStatus.ACTIVE and policy.can_view(actor, case)
            and not policy.is_read_only(case) and policy.can_file_account_notice(actor, account))


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


def file_notice(actor: User, account: OfficialAccount, data: dict[str, Any], *,
                case: Case | None = None) -> AccountNotice:
    """File a 様式2 notice (the account's department or the PR office); a closure closes the account.

    Filed from a case (`case`, about this account), the notice stays linked to it and may complete the
    case's playbook step waiting for it."""
    if not policy.can_file_account_notice(actor, account):
        raise PermissionDenied(_l("届出はこの公式アカウントの開設所属が行います。"))
    if case is not None:
        if not policy.can_view(actor, case):
            raise NotFound()
        if case.official_account_id != account.id:
            raise ValidationFailed(fields={"case_id": _l("この案件の「関係する公式アカウント」ではありません。")})
        if policy.is_read_only(case):
            raise Conflict(_l("この案件は終了しています。変更するには、先に案件を再開してください。"))
    fields = clean_notice_fields(data)
    if account.status == AccountStatus.CLOSED:
        raise Conflict(_l("廃止済みのアカウントには届出できません。"))
    notice = AccountNotice(account_id=account.id, filed_by_id=actor.id, case_id=case.id if case else None,
                           **fields)
    db.session.add(notice)
    db.session.flush()
    audit.record(actor, "account.notice_filed", "account_notice", notice.id,
                 case_id=case.id if case else None,
                 changes={"account_id": (None, account.id), "kind": (None, notice.kind.value),
                          "effective_date": (None, notice.effective_date), "contact": (None, notice.contact),
                          "details": (None, notice.details), "remarks": (None, notice.remarks),
                          **({"case_id": (None, case.id)} if case else {})})
    if notice.kind == NoticeKind.CLOSURE:
        now = utcnow()
        audit.record(actor, "account.closed", "official_account", account.id,
                     changes={"status": (account.status.value, AccountStatus.CLOSED.value),
                              "closed_at": (None, now)})
        account.status = AccountStatus.CLOSED
        account.closed_at = now
        db.session.flush()
    if case is not None:
        signals.account_notice_filed.send(case, actor=actor, notice=notice)  # its playbook step is done
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
