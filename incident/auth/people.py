"""People and departments kept by the PR office (秘書広報課): adding, editing, moving, approving and
reactivating users; renaming departments and deleting one that has no history. Handing a leaving person's
work over lives above the case domains (incident.escalation.handover)."""
from __future__ import annotations

import dataclasses
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, exists, func, or_, select

from incident import policy
from incident.audit import service as audit
from incident.audit.models import AuditLog
from incident.auth import passwords, postings
from incident.auth.models import Department, OperatorType, Role, User
from incident.auth.service import (
    CONTACT_MAX,
    _managed_user,
    _user_operator,
    create_department,
    create_user,
    set_department_contact,
)
from incident.auth.sessions import DEACTIVATED, end_sessions
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.extensions import Model, db
from incident.validation import parse_id

#: The longest name of a person or a department (the columns' size).
NAME_MAX = 200
#: The longest department code.
CODE_MAX = 40
#: Filters of the user list by state.
STATES = ("active", "inactive", "pending")
#: A department's own audit rows, which are not "history" that forbids deleting it.
_OWN_DEPARTMENT_ACTIONS = ("department.create", "department.rename", "department.contact", "department.hours")
_UNSET: Any = object()


def _require_manager(actor: User | None) -> None:
    """NotFound unless the actor keeps users (the PR office; None is the CLI)."""
    if actor is not None and not policy.can_manage_users(actor):
        raise NotFound()


def managed_user(actor: User | None, user_id: Any) -> User:
    """A user the PR office manages; NotFound for anyone else, as if the pages did not exist."""
    return _managed_user(actor, user_id)


def managed_department(actor: User | None, department_id: Any) -> Department:
    """A department the PR office keeps; NotFound for anyone else and for ids that do not exist."""
    _require_manager(actor)
    try:
        wanted = parse_id(department_id)
    except ValueError:
        wanted = None
    department = db.session.get(Department, wanted) if wanted else None
    if department is None:
        raise NotFound()
    return department


def department_choice(raw: Any, field: str = "department_id") -> Department:
    """The department an id names, or a ValidationFailed on `field` (for forms and JSON bodies)."""
    try:
        wanted = parse_id(raw)
    except ValueError:
        wanted = None
    department = db.session.get(Department, wanted) if wanted else None
    if department is None:
        raise ValidationFailed(fields={field: _l("所属を選んでください。")})
    return department


@dataclasses.dataclass(frozen=True)
class PeopleFilters:
    """What the PR office's user list is narrowed to: text in the name or e-mail, a department, a state."""

    q: str | None = None
    department_id: int | None = None
    state: str | None = None


def people_query(actor: User, filters: PeopleFilters) -> Select[tuple[User]]:
    """The users matching `filters`, active first, by name (NotFound for all but the PR office)."""
    _require_manager(actor)
    query = select(User)
    if filters.q:
        text = filters.q.strip()[:NAME_MAX]
        query = query.where(or_(User.name.contains(text, autoescape=True),
                                func.lower(User.email).contains(text.lower(), autoescape=True)))
    if filters.department_id:
        query = query.where(User.department_id == filters.department_id)
    if filters.state == "active":
        query = query.where(User.active.is_(True))
    elif filters.state == "inactive":
        query = query.where(User.active.is_(False), User.pending_since.is_(None))
    elif filters.state == "pending":
        query = query.where(User.pending_since.is_not(None))
    return query.order_by(User.active.desc(), User.name, User.id)


def _check_email(email: Any, user: User | None = None) -> str:
    """The address lower-cased, refused when malformed or held by another user (case-insensitively)."""
    text = email.strip().lower() if isinstance(email, str) else ""
    if "@" not in text or len(text) > 254 or any(c.isspace() or ord(c) < 32 for c in text):
        raise ValidationFailed(fields={"email": _l("メールアドレスが正しくありません。")})
    other = db.session.scalar(select(User).where(func.lower(User.email) == text))
    if other is not None and other is not user:
        raise Conflict(_l("%(email)s はすでに登録されています。", email=text),
                       fields={"email": _l("このメールアドレスはすでに登録されています。")})
    return text


def _check_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > NAME_MAX or "\x00" in text:
        raise ValidationFailed(fields={"name": _l("氏名を %(max)d 文字以内で入力してください。", max=NAME_MAX)})
    return text


def _check_role(role: Any) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationFailed(fields={"role": _l("役割が正しくありません。")}) from None


def add_user(actor: User | None, *, email: Any, name: Any, role: Any, department: Department,
             organisation: Any = None, operator_kind: Any = None) -> tuple[User, str]:
    """The PR office adds a user with a random temporary password, returned once, that must be changed at
    the first login (as a temporary password issued later)."""
    _require_manager(actor)
    email, name, role = _check_email(email), _check_name(name), _check_role(role)
    organisation = organisation if isinstance(organisation, str) else None
    plain = passwords.temporary_password()
    user = create_user(actor, email=email, name=name, role=role, department=department, password=plain,
                       organisation=organisation, operator_kind=operator_kind or None)
    user.must_change_password = True
    db.session.flush()
    return user, plain


def update_user(actor: User | None, user: User, *, name: Any = _UNSET, email: Any = _UNSET, role: Any = _UNSET,
                department: Department | None = None, organisation: Any = _UNSET,
                operator_kind: Any = None) -> User:
    """Change a user's name or e-mail (audited "user.update") and move them to another role, department or
    organisation (a new posting, audited "user.move"); what is not given stays. Nobody changes their own role."""
    _require_manager(actor)
    changes: dict[str, tuple[Any, Any]] = {}
    if name is not _UNSET:
        new_name = _check_name(name)
        if new_name != user.name:
            changes["name"] = (user.name, new_name)
    if email is not _UNSET:
        new_email = _check_email(email, user)
        if new_email != user.email:
            changes["email"] = (user.email, new_email)
    new_role = user.role if role is _UNSET else _check_role(role)
    if new_role != user.role and not policy.can_change_role(actor, user):
        raise ValidationFailed(fields={"role": _l("自分自身の役割は変更できません。")})
    if organisation is _UNSET:
        organisation = user.organisation if policy.may_hold_operator(new_role) else None
    kind = operator_kind or (user.operator.kind if user.operator else OperatorType.CONTRACTOR)
    operator = _user_operator(new_role, organisation if isinstance(organisation, str) else None, kind)
    if changes:
        audit.record(actor, "user.update", "user", user.id, changes=changes)
        if "name" in changes:
            user.name = changes["name"][1]
        if "email" in changes:
            user.email = changes["email"][1]
        db.session.flush()
    postings.move_user(actor, user, department=department or user.department, role=new_role, operator=operator)
    return user


def reactivate_user(actor: User | None, user: User) -> User:
    """Let a deactivated user log in again (audited "user.reactivate"); a pending one is approved instead."""
    _require_manager(actor)
    if user.pending_since is not None:
        raise Conflict(_l("承認待ちの利用者は「承認」で有効にします。"))
    if user.active:
        raise Conflict(_l("%(name)s さんのアカウントはすでに有効です。", name=user.name))
    user.active = True
    db.session.flush()
    audit.record(actor, "user.reactivate", "user", user.id, changes={"active": (False, True)})
    return user


def approve_pending_user(actor: User | None, user: User, *, role: Any, department: Department) -> User:
    """Activate a user created by a first single sign-on, with the role and department the PR office
    chooses (audited "user.approve"; the posting starts anew when they differ)."""
    _require_manager(actor)
    if user.pending_since is None:
        raise Conflict(_l("この利用者は承認待ちではありません。"))
    new_role = _check_role(role)
    if not postings.move_user(actor, user, department=department, role=new_role, operator=None):
        postings.open_posting(actor, user)  # pending users had none: their history starts now
    audit.record(actor, "user.approve", "user", user.id, changes={
        "active": (user.active, True), "pending_since": (user.pending_since, None),
        "role": (None, new_role), "department": (None, department.code)})
    user.pending_since = None
    user.active = True
    db.session.flush()
    return user


def reject_pending_user(actor: User | None, user: User) -> User:
    """Refuse a user created by a first single sign-on: they stay inactive, no longer pending (audited
    "user.reject"); any session they hold ends."""
    _require_manager(actor)
    if user.pending_since is None:
        raise Conflict(_l("この利用者は承認待ちではありません。"))
    audit.record(actor, "user.reject", "user", user.id, changes={
        "pending_since": (user.pending_since, None), "active": (user.active, False)})
    user.pending_since = None
    user.active = False
    db.session.flush()
    end_sessions(user, DEACTIVATED, actor=actor)
    return user


# Departments: created and their contact set in incident.auth.service; renamed and deleted here.


def department_rows(actor: User | None) -> list[tuple[Department, int]]:
    """Every department by name with its number of active people (NotFound for all but the PR office)."""
    _require_manager(actor)
    counts = (select(User.department_id, func.count(User.id).label("n")).where(User.active.is_(True))
              .group_by(User.department_id).subquery())
    rows = db.session.execute(select(Department, func.coalesce(counts.c.n, 0))
                              .outerjoin(counts, counts.c.department_id == Department.id)
                              .order_by(Department.name, Department.id)).tuples()
    return [(department, int(count)) for department, count in rows]


def add_department(actor: User | None, code: Any, name: Any, contact: Any = "") -> Department:
    """The PR office adds a department (unique code) with its contact."""
    _require_manager(actor)
    code_text = code.strip() if isinstance(code, str) else ""
    if not code_text or len(code_text) > CODE_MAX or any(c.isspace() or ord(c) < 32 for c in code_text):
        raise ValidationFailed(fields={"code": _l("コードを空白なしの %(max)d 文字以内で入力してください。", max=CODE_MAX)})
    name_text = _department_name(name)
    if db.session.scalar(select(Department).where(func.lower(Department.code) == code_text.lower())):
        raise Conflict(_l("所属コード %(code)s はすでにあります。", code=code_text),
                       fields={"code": _l("このコードはすでに使われています。")})
    department = create_department(actor, code_text, name_text)
    if isinstance(contact, str) and contact.strip():
        set_department_contact(actor, department, contact)
    return department


def _department_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > NAME_MAX or "\x00" in text or "\n" in text:
        raise ValidationFailed(fields={"name": _l("名称を %(max)d 文字以内で入力してください。", max=NAME_MAX)})
    return text


def update_department(actor: User | None, department: Department, *, name: Any = _UNSET,
                      contact: Any = _UNSET) -> Department:
    """Rename a department (audited "department.rename") and set its contact (audited "department.contact")."""
    _require_manager(actor)
    if name is not _UNSET:
        text = _department_name(name)
        if text != department.name:
            audit.record(actor, "department.rename", "department", department.id,
                         changes={"name": (department.name, text)})
            department.name = text
    if contact is not _UNSET:
        if isinstance(contact, str) and len(contact.strip()) > CONTACT_MAX:
            raise ValidationFailed(fields={"contact": _l("%(max)d 文字以内で入力してください。", max=CONTACT_MAX)})
        set_department_contact(actor, department, contact)
    db.session.flush()
    return department


def department_history(department: Department) -> list[str]:
    """The tables whose rows refer to the department (people, postings, cases, accounts, ... found through
    every foreign key to it), and "audit_log" when audit rows other than its own creation, renames and contact
    changes name it: empty when it has no history."""
    found = []
    for table in Model.metadata.sorted_tables:
        columns = [fk.parent for fk in table.foreign_keys if fk.column.table.name == Department.__tablename__]
        if columns and db.session.scalar(select(exists().where(or_(*(c == department.id for c in columns))))):
            found.append(table.name)
    if db.session.scalar(select(exists().where(
            AuditLog.object_type == "department", AuditLog.object_id == department.id,
            AuditLog.action.not_in(_OWN_DEPARTMENT_ACTIONS)))):
        found.append(AuditLog.__tablename__)
    return found


def delete_department(actor: User | None, department: Department) -> None:
    """Delete a department made by mistake; one that has any history is never deleted (Conflict)."""
    _require_manager(actor)
    if department_history(department):
        raise Conflict(_l("所属「%(name)s」には利用者・案件・公式アカウントなどの記録があるため削除できません。"
                          "名称の変更はできます。", name=department.name))
    audit.record(actor, "department.delete", "department", department.id,
                 changes={"code": (department.code, None), "name": (department.name, None)})
    db.session.delete(department)
    db.session.flush()
