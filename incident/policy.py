"""Who may see and do what: the one table of access rules used by pages, the API and the CLI."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_, true

from incident.auth.models import Role, User

if TYPE_CHECKING:
    from incident.cases.models import Case, CaseStatus

#: Status changes that only a supervisor or the PR office may make (closing and reopening).
_SUPERVISOR_TARGETS = {"closed"}
_SUPERVISOR_SOURCES = {"closed"}


def visible_cases_clause(user: User) -> ColumnElement[bool]:
    """SQL condition selecting the cases `user` may see: own department's, assigned ones, or all."""
    from incident.cases.models import Case

    if user.role == Role.ADMIN:
        return true()
    return or_(Case.department_id == user.department_id, Case.assignee_id == user.id)


def can_view(user: User, case: Case) -> bool:
    """Responders and supervisors see their department's cases and cases assigned to them."""
    if user.role == Role.ADMIN:
        return True
    return case.department_id == user.department_id or case.assignee_id == user.id


def can_edit(user: User, case: Case) -> bool:
    """Anyone who can see a case may edit its fields, add notes and offending items."""
    return can_view(user, case)


def can_assign(user: User, case: Case) -> bool:
    """Supervisors assign within their department; the PR office anywhere."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.SUPERVISOR and case.department_id == user.department_id


def can_assign_to(actor: User, case: Case, assignee: User) -> bool:
    """A supervisor assigns people of the case's department; the PR office anyone active."""
    if not assignee.active or not can_assign(actor, case):
        return False
    return actor.role == Role.ADMIN or assignee.department_id == case.department_id


def can_change_status(user: User, case: Case, target: CaseStatus) -> bool:
    """Anyone who sees a case moves it along; closing and reopening need a supervisor."""
    if not can_view(user, case):
        return False
    if target.value in _SUPERVISOR_TARGETS or case.status.value in _SUPERVISOR_SOURCES:
        return user.role in (Role.SUPERVISOR, Role.ADMIN) and (
            user.role == Role.ADMIN or case.department_id == user.department_id
        )
    return True


def can_act_as_supervisor(user: User, case: Case) -> bool:
    """Supervisor steps, waivers and decisions: the case department's supervisor or the PR office."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.SUPERVISOR and case.department_id == user.department_id


def can_manage_accounts(user: User) -> bool:
    """Only the PR office keeps the registry of official accounts."""
    return user.role == Role.ADMIN


def can_file_account_notice(user: User, account) -> bool:
    """様式2 notices (and MFA / policy-review marks) come from the account's department or the PR office."""
    return user.role == Role.ADMIN or account.department_id == user.department_id


def can_receive_account_notices(user: User) -> bool:
    """The PR office receives 様式2 notices."""
    return user.role == Role.ADMIN


def can_do_closure_task(user: User, account, task: str) -> bool:
    """The department deletes its closed account and confirms it is gone; only the PR office removes it
    from the public list on the city website (3(2)ウ)."""
    if task == "removed_from_public_list":
        return user.role == Role.ADMIN
    return can_file_account_notice(user, account)


def can_view_audit_log(user: User) -> bool:
    """The full audit log is for the PR office; others see their cases' timelines."""
    return user.role == Role.ADMIN


def can_change_fake_state(user: User, linked_cases: Iterable[Case]) -> bool:
    """A known fake's state is recorded by the PR office, or by someone who may edit a case linked to it
    (that case's department, contractors included, or its assignee); `linked_cases` is every linked case."""
    return user.role == Role.ADMIN or any(can_edit(user, case) for case in linked_cases)
