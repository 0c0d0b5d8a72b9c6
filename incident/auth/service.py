"""Departments, users and API tokens: creating them and checking credentials."""
from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from incident import policy
from incident.audit import service as audit
from incident.auth import passwords, postings, throttle, tokens
from incident.auth.models import Department, Operator, OperatorType, Role, User
from incident.auth.sessions import DEACTIVATED, end_sessions
from incident.database import in_own_transaction
from incident.dates import utcnow
from incident.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.validation import parse_id

logger = logging.getLogger(__name__)

#: The password rule lives in incident.auth.passwords (check_password_rule).
MIN_PASSWORD_LENGTH = passwords.MIN_PASSWORD_LENGTH
# A hash computed once so that a login for an unknown address costs as much as a real check,
# and response times do not tell which addresses exist.
_DUMMY_HASH: str | None = None


def create_department(actor: User | None, code: str, name: str) -> Department:
    """Add a department; codes are unique."""
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise ValidationFailed(_l("所属のコードと名称を入力してください。"))
    if db.session.scalar(select(Department).where(Department.code == code)):
        raise Conflict(_l("所属コード %(code)s はすでにあります。", code=code))
    department = Department(code=code, name=name)
    db.session.add(department)
    db.session.flush()
    audit.record(actor, "department.create", "department", department.id,
                 changes={"code": (None, code), "name": (None, name)})
    return department


CONTACT_MAX = 300


def set_department_contact(actor: User | None, department: Department, contact: Any) -> Department:
    """The contact printed on press notices and public notices (phone, e-mail); the department's
    supervisor or the PR office sets it (the CLI acts as the system)."""
    if not policy.can_set_department_contact(actor, department):
        raise PermissionDenied(_l("所属の連絡先は、その所属の所属長か秘書広報課が変更します。"))
    text = contact.strip() if isinstance(contact, str) else ""
    if len(text) > CONTACT_MAX or "\x00" in text or "\n" in text or "\r" in text:
        raise ValidationFailed(fields={"contact": _l("改行なしの %(max)d 文字以内で入力してください。", max=CONTACT_MAX)})
    if text != department.contact:
        audit.record(actor, "department.contact", "department", department.id,
                     changes={"contact": (department.contact, text)})
        department.contact = text
    return department


def supervisors_of(department_id: int) -> list[User]:
    """The active supervisors (所属長) of a department."""
    return list(db.session.scalars(select(User).where(
        User.department_id == department_id, User.role == Role.SUPERVISOR, User.active.is_(True)).order_by(User.id)))


def pr_office() -> list[User]:
    """The active members of the PR office (admins)."""
    return list(db.session.scalars(select(User).where(User.role == Role.ADMIN, User.active.is_(True))
                                   .order_by(User.id)))


def all_departments() -> list[Department]:
    """Every department, by name (for pickers and filters)."""
    return list(db.session.scalars(select(Department).order_by(Department.name)))


def active_people(department_id: int | None = None) -> list[User]:
    """Active users by name: of one department, or everyone when `department_id` is None."""
    query = select(User).where(User.active.is_(True)).order_by(User.name)
    if department_id is not None:
        query = query.where(User.department_id == department_id)
    return list(db.session.scalars(query))


def department_by_code(code: str) -> Department:
    """The department with this code, or NotFound."""
    department = db.session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise NotFound(_l("所属コード %(code)s はありません。", code=code))
    return department


def operator_named(name: str, kind: OperatorType = OperatorType.CONTRACTOR) -> Operator:
    """The outside operator of that name, registered on first mention (names are unique)."""
    name = name.strip()
    operator = db.session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        operator = Operator(name=name, kind=kind)
        db.session.add(operator)
        db.session.flush()
    return operator


def all_operators() -> list[Operator]:
    """Every outside operator (委託業者・指定管理者), by name: for the registry's picker and its list."""
    return list(db.session.scalars(select(Operator).order_by(Operator.name, Operator.id)))


def people_of_operators(operator_ids: list[int]) -> dict[int, list[User]]:
    """The active users of each of these operators, by name (one query): who sees their accounts' cases."""
    people: dict[int, list[User]] = {operator_id: [] for operator_id in operator_ids}
    if not operator_ids:
        return people
    for user in db.session.scalars(select(User).where(User.operator_id.in_(operator_ids), User.active.is_(True))
                                   .order_by(User.name, User.id)):
        people[user.operator_id or 0].append(user)
    return people


#: The longest operator name (the column's size).
OPERATOR_NAME_MAX = 200


def _user_operator(role: Role, organisation: str | None, kind: OperatorType | str | None) -> Operator | None:
    """The operator a new user works for (registered on first mention), or None for the city's own staff."""
    name = organisation.strip() if isinstance(organisation, str) else ""
    if not name:
        return None
    if not policy.may_hold_operator(role):
        message = _l("所属長と秘書広報課の職員は、委託業者・指定管理者の所属にできません。")
        raise ValidationFailed(message, fields={"organisation": message})
    if len(name) > OPERATOR_NAME_MAX or "\x00" in name:
        message = _l("組織名は %(max)d 文字以内で入力してください。", max=OPERATOR_NAME_MAX)
        raise ValidationFailed(message, fields={"organisation": message})
    chosen = kind or OperatorType.CONTRACTOR
    if chosen not in (OperatorType.CONTRACTOR, OperatorType.DESIGNATED_MANAGER):
        message = _l("組織の種類は委託業者か指定管理者を選んでください。")
        raise ValidationFailed(message, fields={"operator_kind": message})
    return operator_named(name, OperatorType(chosen))


def create_user(
    actor: User | None,
    *,
    email: str,
    name: str,
    role: Role | str,
    department: Department,
    password: str,
    organisation: str | None = None,
    operator_kind: OperatorType | str | None = None,
) -> User:
    """Add a user with a hashed password; e-mail addresses are unique, case-insensitively. `organisation`
    names the outside operator a responder works for (registered on first mention as `operator_kind`,
    a contractor by default); supervisors and the PR office never have one."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise ValidationFailed(_l("メールアドレスが正しくありません。"), fields={"email": _l("メールアドレスが正しくありません。")})
    if not name.strip():
        raise ValidationFailed(_l("氏名を入力してください。"), fields={"name": _l("氏名を入力してください。")})
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(_l("役割が正しくありません。"), fields={"role": _l("役割が正しくありません。")}) from None
    passwords.check_password_rule(password, email)
    if db.session.scalar(select(User).where(func.lower(User.email) == email)):
        raise Conflict(_l("%(email)s はすでに登録されています。", email=email))
    operator = _user_operator(role, organisation, operator_kind)
    user = User(email=email, name=name.strip(), role=role, department_id=department.id, operator=operator)
    user.set_password(password)
    user.password_changed_at = utcnow()
    db.session.add(user)
    db.session.flush()
    postings.open_posting(actor, user, at=user.created_at)
    changes: dict[str, tuple[Any, Any]] = {
        "email": (None, email), "role": (None, role), "department": (None, department.code)}
    if operator is not None:
        changes["organisation"] = (None, operator.name)
    audit.record(actor, "user.create", "user", user.id, changes=changes)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (callers show one generic message)."""
    global _DUMMY_HASH
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = generate_password_hash(secrets.token_hex(8))
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


# Login throttling and history (issue 13): incident.auth.throttle counts; these decide and record.


@dataclasses.dataclass(frozen=True)
class LoginResult:
    """The user logged in, or None; `wait_seconds` > 0 when the attempt was refused unchecked (too many
    failures: the password was not looked at). Nothing here tells whether the account exists."""

    user: User | None
    wait_seconds: int = 0


@dataclasses.dataclass(frozen=True)
class _Candidate:
    user_id: int | None
    password_hash: str | None
    wait_seconds: int


def log_in(email: str, password: str, address: str | None) -> LoginResult:
    """Check a login from client `address`, throttled per account and per address, and record it.

    Each step runs in a short transaction of its own (committed at once, so a failed attempt is counted
    whatever becomes of the request): first the attempt is refused unchecked while a delay runs; then the
    password is checked outside any transaction (never holding the write lock while hashing; an unknown
    address costs as much as a real check); then, serialised per account and address, the counts are taken
    again and the attempt recorded, so the delay and the lock start at exactly the configured count however
    many workers take attempts at once. A locked account refuses even the right password, with the message
    of a wrong one. Audited: auth.login, auth.login_failed, auth.locked (never the password)."""
    key, where = throttle.email_key(email or ""), throttle.address_key(address)
    candidate = in_own_transaction(lambda: _before_check(key, where))
    if candidate.wait_seconds:
        return LoginResult(None, candidate.wait_seconds)
    password_ok = _password_matches(candidate.password_hash, password or "")
    user_id = in_own_transaction(lambda: _settle(key, where, candidate.user_id, password_ok))
    if isinstance(user_id, LoginResult):
        return user_id
    return LoginResult(db.session.get(User, user_id))


def _password_matches(password_hash: str | None, password: str) -> bool:
    global _DUMMY_HASH
    if len(password) > passwords.MAX_PASSWORD_LENGTH:
        password = ""  # never hash megabytes; a wrong password either way
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = generate_password_hash(secrets.token_hex(8))
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(password_hash, password)


def _user_by_key(key: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == key)) if key else None


def _before_check(key: str, address: str) -> _Candidate:
    """Refuse unchecked while a delay runs (audited), else name the account whose password to check."""
    user = _user_by_key(key)
    now = utcnow()
    standing = throttle.standing(key, address, now, user)
    if standing.wait_seconds:
        _audit_failure(key, address, user, "throttled")
        return _Candidate(None, None, standing.wait_seconds)
    return _Candidate(user.id if user else None, user.password_hash if user else None, 0)


def _settle(key: str, address: str, user_id: int | None, password_ok: bool) -> int | LoginResult:
    """Count again (serialised), record the attempt, lock at the configured count: the user's id on success."""
    throttle.serialise(key, address)
    user = db.session.get(User, user_id) if user_id is not None else None
    now = utcnow()
    standing = throttle.standing(key, address, now, user)
    if standing.wait_seconds:  # other attempts failed while this one was checked
        _audit_failure(key, address, user, "throttled")
        return LoginResult(None, standing.wait_seconds)
    locked = throttle.is_locked(user, now)
    if user is not None and password_ok and user.active and not locked:
        throttle.note_attempt(key, address, True, now)
        if user.locked_until is not None:
            user.locked_until = None  # an expired lock: counting starts again from this success
        audit.record(user, "auth.login", "user", user.id, changes={"address": (None, address)})
        return user.id
    throttle.note_attempt(key, address, False, now)
    reason = ("locked" if locked else "unknown_email" if user is None
              else "inactive" if not user.active else "wrong_password")
    _audit_failure(key, address, user, reason)
    if user is not None and not locked and standing.email_failures + 1 >= throttle.lock_after():
        user.locked_until = throttle.lock_until(now)
        db.session.flush()
        audit.record(None, "auth.locked", "user", user.id, changes={
            "locked_until": (None, user.locked_until), "failures": (None, standing.email_failures + 1)})
    return LoginResult(None)


def _audit_failure(key: str, address: str, user: User | None, reason: str) -> None:
    audit.record(None, "auth.login_failed", "user", user.id if user else None,
                 changes={"email": (None, key), "address": (None, address), "reason": (None, reason)})


def unlock_user(actor: User | None, user_id: Any) -> User:
    """The PR office (or the CLI, `actor` None) unlocks an account locked by failed logins: its failures
    count from now on. NotFound for anyone else, as if the page did not exist."""
    if actor is not None and not policy.can_unlock_users(actor):
        raise NotFound()
    user = _user_by_id(user_id)
    now = utcnow()
    if not throttle.is_locked(user, now):
        raise Conflict(_l("%(email)s はロックされていません。", email=user.email))
    audit.record(actor, "auth.unlocked", "user", user.id, changes={"locked_until": (user.locked_until, now)})
    user.locked_until = now  # past: the failures before it no longer count
    db.session.flush()
    return user


@dataclasses.dataclass(frozen=True)
class LoginOverview:
    locked: list[User]
    failures: list[Any]
    history: Any


def login_overview(actor: User, page: int, per_page: int, email: str | None) -> LoginOverview:
    """The PR office's login page: locked accounts, recent failures, and the history (NotFound for others)."""
    if not policy.can_unlock_users(actor):
        raise NotFound()
    now = utcnow()
    return LoginOverview(throttle.locked_users(now), throttle.recent_failures(now),
                         throttle.history(page, per_page, email))


# Passwords (issue 13): the rule is incident.auth.passwords; changing one's own, and temporary ones.


def change_password(actor: User, current: Any, new: Any, confirm: Any, *, session_token: str | None = None) -> None:
    """Change one's own password: the current one is required and the new one typed twice, held to the rule
    (incident.auth.passwords). It clears the must-change mark of a temporary password, and the user's other
    signed-in browsers are signed out (`session_token` names the one that stays). Nothing of either password
    is logged or audited."""
    current, new, confirm = (value if isinstance(value, str) else "" for value in (current, new, confirm))
    if not current or len(current) > passwords.MAX_PASSWORD_LENGTH or not actor.check_password(current):
        message = _l("現在のパスワードが違います。")
        raise ValidationFailed(message, fields={"current_password": message})
    check_new_password(new, confirm, actor.email)
    if new == current:
        message = _l("現在のパスワードとは別のパスワードにしてください。")
        raise ValidationFailed(message, fields={"new_password": message})
    forced = replace_password(actor, new, must_change=False)
    audit.record(actor, "user.password_changed", "user", actor.id,
                 changes={"must_change_password": (True, False)} if forced else None)
    end_sessions_after_password_change(actor, "password_changed", except_token=session_token)


def check_new_password(new: str, confirm: str, email: str) -> None:
    """A new password typed twice: the two must match and follow the rule (errors on the fields)."""
    if new != confirm:
        message = _l("新しいパスワードと確認用のパスワードが一致しません。")
        raise ValidationFailed(message, fields={"confirm_password": message})
    passwords.check_password_rule(new, email, field="new_password")


def replace_password(user: User, plain: str, *, must_change: bool) -> bool:
    """Set a user's password (hashed, with the time), and whether it must be changed at the next login;
    returns whether it had to be changed before (for the audit row)."""
    before = user.must_change_password
    user.set_password(plain)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    db.session.flush()
    return before


def end_sessions_after_password_change(user: User, reason: str, except_token: str | None = None) -> None:
    """End the user's signed-in browsers but `except_token`'s (a session token or the Flask-Login id naming
    it), each end audited."""
    end_sessions(user, reason, except_token=except_token)


def _managed_user(actor: User | None, user_id: Any) -> User:
    """A user the PR office manages (the CLI, `actor` None, acts as the system); NotFound for anyone else,
    as if the pages did not exist."""
    if actor is not None and not policy.can_manage_users(actor):
        raise NotFound()
    return _user_by_id(user_id)


def _user_by_id(raw: Any) -> User:
    """The user with that id; NotFound for anything else (beyond the id range PostgreSQL would fail the query)."""
    try:
        wanted = parse_id(raw)
    except ValueError:
        wanted = None
    user = db.session.get(User, wanted) if wanted else None
    if user is None:
        raise NotFound()
    return user


def users_for_admin(actor: User) -> list[User]:
    """Every user, active first, by name: the PR office's list (NotFound for others)."""
    if not policy.can_manage_users(actor):
        raise NotFound()
    return list(db.session.scalars(select(User).order_by(User.active.desc(), User.name, User.id)))


def user_for_admin(actor: User, user_id: Any) -> User:
    """One user, for the PR office's temporary-password page (NotFound for others)."""
    return _managed_user(actor, user_id)


def user_by_email(email: str) -> User:
    """The user with this e-mail address (case-insensitive), or NotFound."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))
    if user is None:
        raise NotFound(_l("%(email)s という利用者はいません。", email=email))
    return user


def issue_temporary_password(actor: User | None, user_id: Any) -> tuple[User, str]:
    """The PR office (or the CLI) gives a user a random temporary password, returned once and never stored
    in the clear: it replaces the old one at once, and the user must change it at the next login (until then
    every page leads to the change page and the API answers 403). The user's signed-in browsers are
    signed out."""
    user = _managed_user(actor, user_id)
    if not user.active:
        raise Conflict(_l("%(name)s さんのアカウントは無効になっています。", name=user.name))
    plain = passwords.temporary_password()
    forced_before = replace_password(user, plain, must_change=True)
    audit.record(actor, "user.password_reset", "user", user.id,
                 changes={"must_change_password": (forced_before, True)})
    end_sessions(user, "password_reset", actor=actor)  # audited as the PR office's (None: the CLI)
    return user, plain


def set_locale(actor: User, locale: str | None) -> None:
    """Remember the user's UI language (None: the default, Japanese)."""
    if locale not in (None, "ja", "en"):
        raise ValidationFailed(_l("言語の指定が正しくありません。"))
    if actor.locale != locale:
        audit.record(actor, "user.locale", "user", actor.id, changes={"locale": (actor.locale, locale)})
        actor.locale = locale
        db.session.flush()


def deactivate_user(actor: User | None, user: User) -> User:
    """Deactivate a user (the PR office, or the CLI as the system): they can no longer log in, every
    signed-in browser of theirs is signed out and every API token revoked, all audited."""
    if not policy.can_deactivate_user(actor, user):
        raise PermissionDenied(_l("利用者を無効にできるのは秘書広報課です（自分自身は無効にできません）。"))
    if user.active:
        user.active = False
        db.session.flush()
        audit.record(actor, "user.deactivate", "user", user.id, changes={"active": (True, False)})
    end_sessions(user, DEACTIVATED, actor=actor)
    tokens.revoke_all_of(actor, user)
    return user
