"""Who may see and do what: the one table of access rules used by pages, the API and the CLI.

It sits below every domain: it imports none at run time (the objects it judges are passed in), so any
domain may ask it."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_, true

from incident.roles import Role

if TYPE_CHECKING:
    from incident.accounts.models import OfficialAccount
    from incident.auth.models import Department, User
    from incident.cases.models import Case, CaseStatus

#: Status changes that only a supervisor or the PR office may make (closing and reopening).
_SUPERVISOR_TARGETS = {"closed"}
_SUPERVISOR_SOURCES = {"closed"}


def visible_cases_clause(user: User, case: type[Case]) -> ColumnElement[bool]:
    """SQL condition on the `case` model (incident.cases.models.Case, passed in) selecting the cases `user`
    may see: the same rule as can_view, for queries."""
    if user.role == Role.ADMIN:
        return true()
    return or_(case.department_id == user.department_id, case.assignee_id == user.id)


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


def assigns_across_departments(user: User) -> bool:
    """Whether the people a user may assign a case to come from every department (the PR office) or only
    from the case's department (a supervisor)."""
    return user.role == Role.ADMIN


def can_assign_to(actor: User, case: Case, assignee: User) -> bool:
    """A supervisor assigns people of the case's department; the PR office anyone active."""
    if not assignee.active or not can_assign(actor, case):
        return False
    return assigns_across_departments(actor) or assignee.department_id == case.department_id


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


def can_approve_draft(user: User, case: Case, *, pre_approved: bool, own: bool) -> bool:
    """A draft on the supervisor route is approved by the case's supervisor or the PR office; a pre-approved
    one is checked by any colleague who may edit the case (3(1)イ(ウ)); never by its author (`own`)."""
    if own:
        return False
    if pre_approved:
        return can_edit(user, case)
    return can_act_as_supervisor(user, case)


def escalation_start_level(user: User) -> str:
    """Where a hand-raised escalation starts: a responder's at the supervisors, anyone else's at the PR office."""
    return "supervisors" if user.role == Role.RESPONDER else "pr_office"


def can_view_escalation(user: User, case: Case, *, told: bool) -> bool:
    """An escalation is seen by whoever sees its case, and by everyone it was sent to (`told`)."""
    return told or can_view(user, case)


def can_take_escalation(user: User, case: Case, *, told: bool) -> bool:
    """An escalation is taken on by someone it was sent to (`told`) or by a supervisor of the case."""
    return told or can_act_as_supervisor(user, case)


def can_set_department_contact(user: User | None, department: Department) -> bool:
    """A department's public contact is set by its supervisor or the PR office (None: the CLI, as the system)."""
    if user is None:
        return True
    return user.role == Role.ADMIN or (user.role == Role.SUPERVISOR and user.department_id == department.id)


def can_manage_accounts(user: User) -> bool:
    """Only the PR office keeps the registry of official accounts."""
    return user.role == Role.ADMIN


def can_file_account_notice(user: User, account: OfficialAccount) -> bool:
    """様式2 notices (and MFA / policy-review marks) come from the account's department or the PR office."""
    return user.role == Role.ADMIN or account.department_id == user.department_id


def can_receive_account_notices(user: User) -> bool:
    """The PR office receives 様式2 notices."""
    return user.role == Role.ADMIN


def can_do_closure_task(user: User, account: OfficialAccount, task: str) -> bool:
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


# What pages and queues show: whose people, departments and queues a user sees; the outbox.


def can_open_case_for_any_department(user: User) -> bool:
    """The PR office may open a case for any department; everyone else opens cases in their own."""
    return user.role == Role.ADMIN


def can_assign_on_opening(user: User) -> bool:
    """Supervisors and the PR office may name the assignee (of their own department) when opening a case."""
    return user.role in (Role.SUPERVISOR, Role.ADMIN)


def lists_every_department(user: User) -> bool:
    """Whether people pickers and work queues cover every department (the PR office) or only the user's own."""
    return user.role == Role.ADMIN


def can_view_outbox(user: User) -> bool:
    """Undelivered mail (the outbox page and its retries) is for the PR office only."""
    return user.role == Role.ADMIN


def sees_team_queue(user: User) -> bool:
    """Supervisors and the PR office also get unassigned cases and drafts awaiting approval in their queue."""
    return user.role in (Role.SUPERVISOR, Role.ADMIN)


# A closed case is read-only.


def is_read_only(case: Case) -> bool:
    """A closed case is read-only: its steps, drafts, evidence, offending items, notes and fields change only
    after it is reopened (services refuse with incident.cases.service.require_open; pages show no forms)."""
    return case.status.value == "closed"


def can_change_content(user: User, case: Case) -> bool:
    """Whether pages offer the forms that change a case's content: the user may edit it and it is not closed."""
    return can_edit(user, case) and not is_read_only(case)


def can_reopen(user: User, case: Case) -> bool:
    """Whether the user may reopen this closed case (the case's supervisor or the PR office), so its pages
    lead them to the status form and tell everyone else who may."""
    return is_read_only(case) and can_change_status(user, case, case.status)
