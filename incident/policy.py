"""Who may see and do what: the one table of access rules used by pages, the API and the CLI.

It sits below every domain: it imports none at run time (the objects it judges are passed in), so any
domain may ask it."""
from __future__ import annotations

from collections.abc import Collection, Iterable
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


def is_operator_user(user: User) -> bool:
    """Whether the user works for an outside operator (a contractor 委託業者 or designated manager 指定管理者):
    such a user sees only the cases of the accounts their organisation runs, and those they opened or are
    assigned — not the rest of their department's (a citizen's details in another facility's case are none
    of their business)."""
    return user.operator_id is not None


def runs_account(user: User, account: OfficialAccount | None) -> bool:
    """Whether the user's outside operator runs this official account."""
    return account is not None and user.operator_id is not None and account.operator_id == user.operator_id


def visible_cases_clause(user: User, case: type[Case]) -> ColumnElement[bool]:
    """SQL condition on the `case` model (incident.cases.models.Case, passed in) selecting the cases `user`
    may see: the same rule as can_view, for queries."""
    if is_operator_user(user):
        return or_(case.official_account.has(operator_id=user.operator_id),
                   case.reporter_id == user.id, case.assignee_id == user.id)
    if user.role == Role.ADMIN:
        return true()
    return or_(case.department_id == user.department_id, case.assignee_id == user.id)


def can_view(user: User, case: Case) -> bool:
    """Responders and supervisors see their department's cases and cases assigned to them; an outside
    operator's user (is_operator_user) sees the cases of the accounts their operator runs, and the cases they
    opened or are assigned."""
    if is_operator_user(user):
        return (case.reporter_id == user.id or case.assignee_id == user.id
                or runs_account(user, case.official_account))
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
    """A supervisor assigns people of the case's department; the PR office anyone active. An outside
    operator's user is assigned only cases of the accounts their operator runs."""
    if not assignee.active or not can_assign(actor, case):
        return False
    if is_operator_user(assignee) and not runs_account(assignee, case.official_account):
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


def escalation_start_levels(user: User, case: Case) -> tuple[str, ...]:
    """Where a hand-raised escalation may start, the default first: a responder's at the supervisors (or, for
    a critical case, straight at the PR office if they choose), anyone else's at the PR office."""
    if user.role != Role.RESPONDER:
        return ("pr_office",)
    if case.severity.value == "critical":
        return ("supervisors", "pr_office")
    return ("supervisors",)


#: The escalation levels from the lowest to the highest, as escalation.toml names them.
_ESCALATION_RANKS = ("assignee", "supervisors", "pr_office")


def escalation_level_of(user: User, case: Case) -> str | None:
    """The highest escalation level a user answers for on a case: the PR office, the case's supervisors, its
    assignee, or None (nobody an escalation of this case goes to)."""
    if user.role == Role.ADMIN:
        return "pr_office"
    if can_act_as_supervisor(user, case):
        return "supervisors"
    if case.assignee_id == user.id:
        return "assignee"
    return None


def takes_escalation_by_acting(user: User, case: Case, level: str, *, raised_by_id: int | None) -> bool:
    """Acting on a case (acknowledging, assigning, approving or returning a draft) takes on its open
    escalations at the actor's level or below, so they stop climbing; never one the actor raised."""
    mine = escalation_level_of(user, case)
    if mine is None or user.id == raised_by_id or level not in _ESCALATION_RANKS:
        return False
    return _ESCALATION_RANKS.index(mine) >= _ESCALATION_RANKS.index(level)


def being_told_shows_case(user: User) -> bool:
    """Whether having been sent an escalation lets a user see it (and its case's number and title) even when
    they no longer see the case: not for an outside operator's user, who sees only what can_view allows."""
    return not is_operator_user(user)


def can_view_escalation(user: User, case: Case, *, told: bool) -> bool:
    """An escalation is seen by whoever sees its case, and by everyone it was sent to (`told`)."""
    return (told and being_told_shows_case(user)) or can_view(user, case)


def can_take_escalation(user: User, case: Case, *, told: bool) -> bool:
    """An escalation is taken on by someone it was sent to (`told`) or by a supervisor of the case."""
    return (told and can_view_escalation(user, case, told=told)) or can_act_as_supervisor(user, case)


def can_set_department_contact(user: User | None, department: Department) -> bool:
    """A department's public contact is set by its supervisor or the PR office (None: the CLI, as the system)."""
    if user is None:
        return True
    return user.role == Role.ADMIN or (user.role == Role.SUPERVISOR and user.department_id == department.id)


def can_prepare_disclosure(user: User, case: Case) -> bool:
    """A disclosure request's package (情報公開: which passages are withheld) is prepared by the PR office or
    the case department's supervisors; never by an outside operator's user. To others it does not exist."""
    if is_operator_user(user):
        return False
    return can_act_as_supervisor(user, case)


def can_manage_retention(user: User) -> bool:
    """Retention of the records (what ends this fiscal year, extensions) is the PR office's, which keeps the
    city's records with the 文書管理 rules; to others the page does not exist."""
    return user.role == Role.ADMIN


def can_manage_department_chat(user: User, department: Department) -> bool:
    """A department's chat channels are set up by its supervisors or the PR office (an outside operator's
    users never: the channel carries every case of the department)."""
    if is_operator_user(user):
        return False
    return user.role == Role.ADMIN or (user.role == Role.SUPERVISOR and user.department_id == department.id)


def sees_department_cases(user: User, department: Department) -> bool:
    """Whether a user sees a department's cases as a whole: its own staff and the PR office, never an outside
    operator's user (who sees only its accounts' cases)."""
    if is_operator_user(user):
        return False
    return user.role == Role.ADMIN or user.department_id == department.id


def can_manage_on_call(user: User, department: Department) -> bool:
    """A department's working hours and on-call rota are kept by its supervisors and the PR office (others who
    see its cases are refused; to the rest the page does not exist)."""
    if is_operator_user(user):
        return False
    return user.role == Role.ADMIN or (user.role == Role.SUPERVISOR and user.department_id == department.id)


def may_be_on_call(user: User, department: Department) -> bool:
    """Who may be on call for a department: an active person who sees all its cases (its staff, the PR office)."""
    return user.active and sees_department_cases(user, department)


def can_manage_accounts(user: User) -> bool:
    """Only the PR office keeps the registry of official accounts."""
    return user.role == Role.ADMIN


def can_deactivate_user(actor: User | None, user: User) -> bool:
    """The PR office deactivates accounts (None: the CLI, as the system); nobody deactivates themselves."""
    if actor is None:
        return True
    return actor.role == Role.ADMIN and actor.id != user.id


def can_file_account_notice(user: User, account: OfficialAccount) -> bool:
    """様式2 notices (and MFA / policy-review marks) come from the account's department or the PR office; an
    outside operator's user files them only for the accounts their operator runs."""
    if is_operator_user(user):
        return runs_account(user, account)
    return user.role == Role.ADMIN or account.department_id == user.department_id


def can_confirm_mfa_by_step(user: User, case: Case, account: OfficialAccount) -> bool:
    """Completing a case's MFA step (3(3)カ) records the account's MFA in the registry: anyone who may change
    the open case's content may do it for the case's account or one of the case department's accounts, even
    without can_file_account_notice (an assignee from elsewhere, a contractor) — it is the step's purpose.
    An outside operator's user records it only for an account their organisation runs."""
    if is_operator_user(user) and not runs_account(user, account):
        return False
    return can_change_content(user, case) and (
        account.id == case.official_account_id or account.department_id == case.department_id)


def can_see_operator_people(user: User, account: OfficialAccount) -> bool:
    """Who works for the account's outside operator (names, e-mail: the people who see its cases) is shown to
    the PR office and to those who file the account's notices (its department, the operator's own people)."""
    return can_file_account_notice(user, account)


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


def can_open_case_about(user: User, account: OfficialAccount | None) -> bool:
    """Whether a case may be opened about (or moved to) this official account (None: no account): an outside
    operator's user only about the accounts their operator runs; anyone else about any account."""
    if is_operator_user(user):
        return runs_account(user, account)
    return True


def may_hold_operator(role: Role) -> bool:
    """Only responders work for an outside operator: supervisors and the PR office are the city's own staff."""
    return role == Role.RESPONDER


def can_assign_on_opening(user: User) -> bool:
    """Supervisors and the PR office may name the assignee (of their own department) when opening a case."""
    return user.role in (Role.SUPERVISOR, Role.ADMIN)


def lists_every_department(user: User) -> bool:
    """Whether people pickers and work queues cover every department (the PR office) or only the user's own."""
    return user.role == Role.ADMIN


def can_manage_users(user: User) -> bool:
    """The list of users and temporary passwords (/admin/users) are the PR office's: to others they do not
    exist (404)."""
    return user.role == Role.ADMIN


def can_change_role(actor: User | None, user: User) -> bool:
    """The PR office changes people's roles (None: the CLI), never its own (it would lock itself out)."""
    if actor is None:
        return True
    return actor.role == Role.ADMIN and actor.id != user.id


def can_revoke_token(actor: User, owner_id: int) -> bool:
    """An API token is revoked by its owner, or by the PR office (anyone's, from /admin/tokens)."""
    return actor.id == owner_id or can_manage_users(actor)


def must_change_password_first(user: User) -> bool:
    """A user holding a temporary password from the PR office may do nothing (pages or API) but change it."""
    return bool(user.must_change_password)


def must_enrol_mfa(user: User, required_roles: Collection[Role]) -> bool:
    """A user whose role must use MFA (MFA_REQUIRED_ROLES while MFA_REQUIRED is on) and has not set it up may
    do nothing (pages or API) but set it up."""
    return user.role in required_roles and user.totp_secret is None


def may_turn_off_mfa(user: User, required_roles: Collection[Role]) -> bool:
    """Users turn their own MFA off, except in a role that must use it (the PR office can still reset it)."""
    return user.role not in required_roles


def can_unlock_users(user: User) -> bool:
    """The login history and unlocking accounts locked by failed logins (/admin/logins) are the PR office's:
    to others they do not exist (404)."""
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
    return is_read_only(case) and case.redacted_at is None and can_change_status(user, case, case.status)
