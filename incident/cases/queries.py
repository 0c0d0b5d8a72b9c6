"""Reading cases: list filters and queries, the case page, the timeline; no writes here."""
from __future__ import annotations

import contextlib
import dataclasses
import enum
from typing import Any

from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from incident import policy
from incident.auth.models import Department, User
from incident.cases import loading
from incident.cases.models import (
    Case,
    CaseKind,
    CaseReview,
    CaseStatus,
    Note,
    OffendingItem,
    Severity,
    TimelineEvent,
)
from incident.extensions import db
from incident.validation import parse_id


class CaseSort(enum.StrEnum):
    """Orders of the case list: newest first (the default), or the most urgent first (critical, high,
    medium, low; newest first within each)."""

    NEWEST = "newest"
    SEVERITY = "severity"


@dataclasses.dataclass
class CaseFilters:
    """List filters; empty values mean "any"."""

    kind: CaseKind | None = None
    status: CaseStatus | None = None
    severity: Severity | None = None
    #: A user id, or 0 for "unassigned".
    assignee_id: int | None = None
    department: str | None = None
    q: str | None = None
    #: Newest first (None, the default), or the most urgent first.
    sort: CaseSort | None = None


#: Severity from most to least urgent, as a sortable number.
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(
    (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW))}


def case_list_query(actor: User, filters: CaseFilters) -> Select[tuple[Case]]:
    """The visible cases matching the filters, newest first (or most urgent first), with list columns
    loaded eagerly."""
    query = (
        select(Case)
        .where(policy.visible_cases_clause(actor, Case))
        .options(joinedload(Case.assignee), joinedload(Case.department),
                 joinedload(Case.official_account))
    )
    if filters.sort == CaseSort.SEVERITY:
        query = query.order_by(case(SEVERITY_RANK, value=Case.severity, else_=len(SEVERITY_RANK)))
    query = query.order_by(Case.created_at.desc(), Case.id.desc())
    if filters.kind:
        query = query.where(Case.kind == filters.kind)
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.severity:
        query = query.where(Case.severity == filters.severity)
    if filters.assignee_id == 0:
        query = query.where(Case.assignee_id.is_(None))
    elif filters.assignee_id:
        query = query.where(Case.assignee_id == filters.assignee_id)
    if filters.department:
        query = query.join(Department, Department.id == Case.department_id).where(
            Department.code == filters.department
        )
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # The title, or any version of the closing review (incident.cases.review), holds the words.
        in_review = exists().where(CaseReview.case_id == Case.id, or_(*(
            func.lower(column).like(pattern.lower(), escape="\\") for column in
            (CaseReview.what_happened, CaseReview.what_was_done, CaseReview.cause, CaseReview.changes))))
        query = query.where(or_(func.lower(Case.title).like(pattern.lower(), escape="\\"), in_review))
    return query


def load_case_page(actor: User, case_id: int) -> Case:
    """A visible case with everything its page shows, in a fixed number of queries."""
    case = db.session.scalar(
        select(Case)
        .where(Case.id == case_id)
        .options(
            joinedload(Case.reporter), joinedload(Case.assignee), joinedload(Case.department),
            joinedload(Case.official_account), joinedload(Case.acknowledged_by),
            selectinload(Case.offending_items).joinedload(OffendingItem.captured_by),
            selectinload(Case.notes).joinedload(Note.author),
        )
    )
    return loading.visible(actor, case)


def timeline(case: Case) -> list[TimelineEvent]:
    """The case's timeline, oldest first, with actors and notes loaded in one query."""
    return list(
        db.session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.case_id == case.id)
            .options(joinedload(TimelineEvent.actor), joinedload(TimelineEvent.note))
            .order_by(TimelineEvent.created_at, TimelineEvent.id)
        )
    )


def assignable_users(actor: User, case: Case) -> list[User]:
    """Who the actor may assign this case to, by name (policy.can_assign_to: an outside operator's people
    only for a case about an account their operator runs)."""
    query = select(User).where(User.active.is_(True)).order_by(User.name)
    if not policy.assigns_across_departments(actor):
        query = query.where(User.department_id == case.department_id)
    return [user for user in db.session.scalars(query) if policy.can_assign_to(actor, case, user)]


def filters_from_args(args: Any) -> CaseFilters:
    """List filters from a page's query arguments; an unknown value is ignored (the API declares and
    checks its own in incident/api)."""

    def member(name: str, enum_class: type) -> Any:
        raw = args.get(name)
        if not raw:
            return None
        try:
            return enum_class(raw)
        except ValueError:
            return None

    assignee_id: int | None = None
    raw_assignee = args.get("assignee_id")
    if raw_assignee not in (None, ""):
        if raw_assignee == "none":
            assignee_id = 0
        else:
            with contextlib.suppress(ValueError):
                assignee_id = parse_id(raw_assignee)
    return CaseFilters(
        kind=member("kind", CaseKind),
        status=member("status", CaseStatus),
        severity=member("severity", Severity),
        assignee_id=assignee_id,
        department=(args.get("department") or "").strip() or None,
        q=(args.get("q") or "").strip()[:100] or None,
        sort=member("sort", CaseSort),
    )
