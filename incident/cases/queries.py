"""Reading cases: list filters and queries, the case page, the timeline; no writes here."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, union
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BooleanClauseList

from incident import policy
from incident.auth.models import Department, User
from incident.cases import loading
from incident.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseKind,
    CaseStatus,
    Note,
    OffendingItem,
    Severity,
    TimelineEvent,
)
from incident.database import MAX_ID
from incident.extensions import db
from incident.pagination import Cursor, CursorError, KeysetPage, capped_count
from incident.search import match
from incident.search.models import SearchEntry
from incident.validation import parse_id


class CaseSort(enum.StrEnum):
    """Orders of the case list: newest first (the default), or the most urgent first (critical, high,
    medium, low; newest first within each)."""

    NEWEST = "newest"
    SEVERITY = "severity"


#: The status filter's value for every status but closed (「未終了」).
OPEN: Final = "open"


@dataclasses.dataclass
class CaseFilters:
    """List filters; empty values mean "any"."""

    kind: CaseKind | None = None
    #: One status, or OPEN for any but closed.
    status: CaseStatus | Literal["open"] | None = None
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


def _severity_rank() -> ColumnElement[int]:
    """The severity as its SEVERITY_RANK number, in SQL."""
    return case(SEVERITY_RANK, value=Case.severity, else_=len(SEVERITY_RANK))


def _ordered(query: Select[tuple[Case]], sort: CaseSort | None, backwards: bool = False) -> Select[tuple[Case]]:
    """The list's order (or its reverse, to read the rows before a cursor): newest first, or most urgent first
    and newest first within a severity; the id breaks ties, so every row has its own place."""
    newest = (Case.created_at.asc(), Case.id.asc()) if backwards else (Case.created_at.desc(), Case.id.desc())
    if sort == CaseSort.SEVERITY:
        query = query.order_by(_severity_rank().desc() if backwards else _severity_rank().asc())
    return query.order_by(*newest)


def _list_columns() -> tuple[Any, ...]:
    """The related rows the list shows, each loaded in one more statement for the whole page."""
    # Loaded by id in statements of their own: joined into the list's statement, they lead SQLite's planner
    # to sort every visible case instead of reading the created_at index (400 ms at 100,000 cases).
    return (selectinload(Case.assignee), selectinload(Case.department), selectinload(Case.official_account))


def case_list_query(actor: User, filters: CaseFilters, *,
                    visible: ColumnElement[bool] | None = None) -> Select[tuple[Case]]:
    """The visible cases matching the filters, newest first (or most urgent first), with list columns
    loaded eagerly; `visible` replaces the actor's visibility rule by one of its parts (_visibility_parts)."""
    query = (
        select(Case)
        .where(policy.visible_cases_clause(actor, Case) if visible is None else visible)
        .options(*_list_columns())
    )
    query = _ordered(query, filters.sort)
    if filters.kind:
        query = query.where(Case.kind == filters.kind)
    if filters.status == OPEN:
        query = query.where(Case.status.in_(OPEN_STATUSES))
    elif filters.status:
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
        # Every word is in the number, title or description, or in the latest closing review: looked up in
        # the search index (incident.search), never by reading every visible case.
        found = match.matching(select(SearchEntry.case_id).where(SearchEntry.source.in_(("case", "review"))),
                               match.terms_of(filters.q), newest_first=False)
        query = query.where(Case.id.in_(found) if found is not None else false())
    return query


def _sort_key(case_row: Case, sort: CaseSort | None) -> tuple[Any, ...]:
    """A row's place in the list, as a cursor carries it: (rank,) created_at (ISO 8601, UTC) and id."""
    newest = (case_row.created_at.isoformat(), case_row.id)
    if sort == CaseSort.SEVERITY:
        return (SEVERITY_RANK.get(case_row.severity, len(SEVERITY_RANK)), *newest)
    return newest


def _checked_key(cursor: Cursor, sort: CaseSort | None) -> tuple[Any, ...]:
    """The cursor's key with its time read back, or CursorError if it is not a key of this order."""
    key = cursor.key
    if sort == CaseSort.SEVERITY:
        if not key or type(key[0]) is not int or not 0 <= key[0] <= len(SEVERITY_RANK):
            raise CursorError(key)
        rank, key = key[:1], key[1:]
    else:
        rank = ()
    if len(key) != 2 or not isinstance(key[0], str) or type(key[1]) is not int or not 1 <= key[1] <= MAX_ID:
        raise CursorError(key)
    try:
        created_at = dt.datetime.fromisoformat(key[0])
    except ValueError:
        raise CursorError(key) from None
    if created_at.tzinfo is None:
        raise CursorError(key)
    return (*rank, created_at, key[1])


def _beyond(created_at: dt.datetime, case_id: int, backwards: bool) -> ColumnElement[bool]:
    """The rows after (created_at, id) newest first, or before it when reading backwards.

    Written as a range on created_at, then the id for rows of the same time, so that both databases read it
    from an index on created_at (PostgreSQL would only use a row-value comparison with an index on both)."""
    if backwards:
        return and_(Case.created_at >= created_at, or_(Case.created_at > created_at, Case.id > case_id))
    return and_(Case.created_at <= created_at, or_(Case.created_at < created_at, Case.id < case_id))


def _visibility_parts(actor: User) -> list[ColumnElement[bool]]:
    """The actor's visibility rule split at its top-level OR (a responder's own department, or assigned to
    them): each part is read in list order from its own index, where the OR as a whole makes the database
    collect and sort every visible case (4x slower at 100,000 cases than at 1,000)."""
    clause = policy.visible_cases_clause(actor, Case)
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.or_:
        return list(clause.clauses)
    return [clause]


def _parts(actor: User, filters: CaseFilters, after: tuple[Any, ...] | None,
           backwards: bool) -> list[Select[tuple[Case]]]:
    """Statements whose rows, merged in list order, are the list from `after` on: one per part of the
    visibility rule, and per severity for the severity order. Within each, the order is newest first, which
    an index gives (ix_cases_created_at, ix_cases_department_created, ix_cases_assignee_created,
    ix_cases_severity_created), so a page reads a page's worth of rows from each however deep it is."""
    groups: list[ColumnElement[bool] | None] = []
    if filters.sort == CaseSort.SEVERITY:
        for severity, rank in SEVERITY_RANK.items():
            if after is None:
                groups.append(Case.severity == severity)
            elif rank == after[0]:
                groups.append(and_(Case.severity == severity, _beyond(after[1], after[2], backwards)))
            elif (rank > after[0]) != backwards:  # a severity wholly after the cursor's
                groups.append(Case.severity == severity)
    else:
        groups.append(None if after is None else _beyond(after[0], after[1], backwards))
    newest = (Case.created_at.asc(), Case.id.asc()) if backwards else (Case.created_at.desc(), Case.id.desc())
    statements = []
    for part in _visibility_parts(actor):
        query = case_list_query(actor, filters, visible=part).order_by(None).order_by(*newest)
        statements += [query if group is None else query.where(group) for group in groups]
    return statements


def _read(actor: User, filters: CaseFilters, limit: int, offset: int = 0,
          after: tuple[Any, ...] | None = None, backwards: bool = False) -> list[Case]:
    """Rows of the list in its order (reversed when reading backwards), from `after` on, skipping `offset` rows
    (an old link by page number, at most MAX_PAGE_NUMBER pages deep)."""
    parts = _parts(actor, filters, after, backwards)
    if not parts:
        return []
    if len(parts) == 1:
        query = parts[0]
    else:
        # The first rows of each part, then the first of those: a page costs the same however many cases.
        firsts = [part.limit(offset + limit).subquery() for part in parts]
        ids = union(*(select(first.c.id) for first in firsts))
        query = _ordered(select(Case).where(Case.id.in_(ids)).options(*_list_columns()), filters.sort, backwards)
    return list(db.session.scalars(query.offset(offset).limit(limit)))


#: The deepest page the list opens by number (old links; its own links carry cursors): OFFSET reads every row
#: before the page, so deeper numbers start from the first page instead.
MAX_PAGE_NUMBER = 20


def case_list_page(actor: User, filters: CaseFilters, per_page: int, *, page: int = 1,
                   cursor: str | None = None, exact_total: bool = False) -> KeysetPage:
    """A page of the case list: from a cursor (keyset, as the list's own links do), or by page number for
    older links (OFFSET, slower deep in the list). CursorError for a cursor this list did not make. The total
    stops at COUNT_CAP + 1 ("1,000 件以上") unless `exact_total` (the API's `total` is exact)."""
    query = case_list_query(actor, filters).order_by(None)
    if exact_total:
        total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    else:
        total = capped_count(query)
    order = filters.sort.value if filters.sort else CaseSort.NEWEST.value
    if cursor is None:
        rows = _read(actor, filters, per_page + 1, (page - 1) * per_page)
        has_next, has_prev = len(rows) > per_page, page > 1 and bool(rows)
        rows = rows[:per_page]
    else:
        position = Cursor.decode(cursor, order)
        rows = _read(actor, filters, per_page + 1, after=_checked_key(position, filters.sort),
                     backwards=position.backwards)
        more = len(rows) > per_page
        rows = rows[:per_page]
        if not position.backwards:
            has_next, has_prev = more, bool(rows)
        elif more:
            rows.reverse()
            has_next, has_prev = True, True
        else:  # back at the start: show the first page whole
            rows = _read(actor, filters, per_page + 1)
            has_next, has_prev = len(rows) > per_page, False
            rows = rows[:per_page]
        # The page number is what the links counted; rows added meanwhile can shift it, never below 2 here.
        page = max(position.page, 2) if has_prev else 1

    def link(row: Case, to_page: int, back: bool) -> str:
        return Cursor(order, _sort_key(row, filters.sort), to_page, back).encode()

    return KeysetPage(
        items=rows, total=total, page=page, per_page=per_page,
        next_cursor=link(rows[-1], page + 1, False) if has_next else None,
        prev_cursor=link(rows[0], page - 1, True) if has_prev else None,
    )


#: The case page shows the newest notes and timeline entries, the older ones behind 「すべて表示」: a case
#: followed for months can have hundreds of each, and rendering them all costs far more than reading them.
PAGE_NOTES = 50
PAGE_EVENTS = 100


def load_case_page(actor: User, case_id: int, *, notes: bool = True) -> Case:
    """A visible case with everything its page shows, in a fixed number of queries (its notes too, unless
    `notes` is False: the case page reads only the newest, through recent_notes)."""
    options = [
        joinedload(Case.reporter), joinedload(Case.assignee), joinedload(Case.department),
        joinedload(Case.official_account), joinedload(Case.acknowledged_by),
        selectinload(Case.offending_items).joinedload(OffendingItem.captured_by),
    ]
    if notes:
        options.append(selectinload(Case.notes).joinedload(Note.author))
    case = db.session.scalar(select(Case).where(Case.id == case_id).options(*options))
    return loading.visible(actor, case)


def _newest(query: Select[Any], order: tuple[Any, ...], limit: int | None) -> tuple[list[Any], int]:
    """The newest `limit` rows of `query` (all when None), oldest first, and how many older ones are left out."""
    if limit is None:
        return list(db.session.scalars(query.order_by(*order))), 0
    rows = list(db.session.scalars(query.order_by(*(column.desc() for column in order)).limit(limit)))
    rows.reverse()
    hidden = 0
    if len(rows) == limit:
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        hidden = total - limit
    return rows, hidden


def recent_notes(case: Case, limit: int | None = PAGE_NOTES) -> tuple[list[Note], int]:
    """The case's newest notes (all when `limit` is None), oldest first with authors; and how many are left out."""
    return _newest(select(Note).where(Note.case_id == case.id).options(joinedload(Note.author)),
                   (Note.id,), limit)


def recent_timeline(case: Case, limit: int | None = PAGE_EVENTS) -> tuple[list[TimelineEvent], int]:
    """The case's newest timeline entries (all when None), oldest first; and how many are left out."""
    return _newest(select(TimelineEvent).where(TimelineEvent.case_id == case.id)
                   .options(joinedload(TimelineEvent.actor)),
                   (TimelineEvent.created_at, TimelineEvent.id), limit)


def timeline(case: Case) -> list[TimelineEvent]:
    """The case's whole timeline, oldest first, with actors loaded in one query (entries link notes by id)."""
    return recent_timeline(case, None)[0]


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
    status: CaseStatus | Literal["open"] | None = OPEN if args.get("status") == OPEN else member("status", CaseStatus)
    return CaseFilters(
        kind=member("kind", CaseKind),
        status=status,
        severity=member("severity", Severity),
        assignee_id=assignee_id,
        department=(args.get("department") or "").strip() or None,
        q=(args.get("q") or "").strip()[:100] or None,
        sort=member("sort", CaseSort),
    )
