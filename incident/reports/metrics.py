"""Metrics over the cases a user may see: opened and closed per month, the times to acknowledge, to the first
public response and to close, takedown requests and escalations; grouped SQL in a fixed number of queries.

Definitions (the page and the README say the same):
- a case's month is the Asia/Tokyo month of its detection (detected_at); a closing counts in the month of
  closed_at; a takedown request in the month it was sent; an escalation in the month it was raised;
- time to acknowledge = acknowledged_at − detected_at; time to the first public response = the earliest
  ledger entry (Publication) of an interim notice, correction or correct-information post − detected_at;
  time to close = closed_at − detected_at (cases closed now); a takedown's answer time = when the answer
  with its outcome was recorded − when the request was first sent;
- times are medians over the cases of the group that have them; negative times (a detection time entered
  after the fact) are left out."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from incident import policy
from incident.accounts.models import Platform
from incident.auth.models import Department, User
from incident.cases.models import Case, CaseKind, Severity
from incident.dates import TOKYO, UTC, to_tokyo, utcnow
from incident.drafts.models import Draft, DraftEvent, DraftType, Outcome, Publication
from incident.escalation.models import Escalation
from incident.escalation.service import rules
from incident.extensions import db

#: The ledger kinds that count as the city's first public response.
PUBLIC_RESPONSE_KINDS = (DraftType.INTERIM_NOTICE.value, DraftType.CORRECTION.value, DraftType.CORRECT_INFO.value)
#: The breakdowns shown besides the months, in the page's order.
DIMENSIONS = ("kind", "severity", "platform", "department")
#: The default period (months, ending with the current one) and the longest accepted.
DEFAULT_MONTHS = 12
MAX_MONTHS = 60
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class TokyoMonth(FunctionElement[str]):
    """SQL: the Asia/Tokyo month (YYYY-MM) of a UTC timestamp column."""

    type = String()
    inherit_cache = True


@compiles(TokyoMonth, "sqlite")
def _tokyo_month_sqlite(element: TokyoMonth, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC naive; Japan has had no daylight saving time since 1951.
    column = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m', {column}, '+9 hours')"


@compiles(TokyoMonth, "postgresql")
def _tokyo_month_postgresql(element: TokyoMonth, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM')"


@dataclasses.dataclass(frozen=True)
class Period:
    """Whole Asia/Tokyo months from `first` to `last` (each the 1st of its month), both included."""

    first: dt.date
    last: dt.date

    @property
    def months(self) -> list[str]:
        out, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.first.year, self.first.month, 1, tzinfo=TOKYO).astimezone(UTC)

    @property
    def end(self) -> dt.datetime:
        """The first moment after the period (exclusive)."""
        year, month = (self.last.year + 1, 1) if self.last.month == 12 else (self.last.year, self.last.month + 1)
        return dt.datetime(year, month, 1, tzinfo=TOKYO).astimezone(UTC)


@dataclasses.dataclass(frozen=True)
class MetricsFilters:
    """The period and, optionally, one department (by code)."""

    period: Period
    department: str | None = None

    def args(self) -> dict[str, str]:
        """The filters as query arguments (for the CSV link)."""
        out = {"from": self.period.months[0], "to": self.period.months[-1]}
        if self.department:
            out["department"] = self.department
        return out


def default_period(today: dt.date | None = None) -> Period:
    """The last DEFAULT_MONTHS months, ending with the current Asia/Tokyo month."""
    today = today or to_tokyo(utcnow()).date()
    index = today.year * 12 + today.month - 1 - (DEFAULT_MONTHS - 1)
    return Period(dt.date(index // 12, index % 12 + 1, 1), dt.date(today.year, today.month, 1))


def _parse_month(raw: str) -> dt.date | None:
    match = _MONTH.match(raw.strip())
    if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        return None
    return dt.date(int(match[1]), int(match[2]), 1)


def filters_from_args(args: Mapping[str, Any], department_codes: Iterable[str],
                      today: dt.date | None = None) -> tuple[MetricsFilters, dict[str, Any]]:
    """The filters from query arguments (`from`, `to` as YYYY-MM; `department` as a code), and the
    errors by field name; a missing value takes its default."""
    default = default_period(today)
    errors: dict[str, Any] = {}
    first, last = default.first, default.last
    raw_to = str(args.get("to") or "")
    raw_from = str(args.get("from") or "")
    if raw_to:
        parsed = _parse_month(raw_to)
        if parsed is None:
            errors["to"] = _l("月を「2026-04」の形で入力してください。")
        else:
            last = parsed
            if not raw_from:
                first = default_period(last).first
    if raw_from:
        parsed = _parse_month(raw_from)
        if parsed is None:
            errors["from"] = _l("月を「2026-04」の形で入力してください。")
        else:
            first = parsed
    if not errors and first > last:
        errors["from"] = _l("開始の月は終了の月以前にしてください。")
    elif not errors and (last.year * 12 + last.month) - (first.year * 12 + first.month) >= MAX_MONTHS:
        errors["from"] = _l("期間は %(n)d か月以内にしてください。", n=MAX_MONTHS)
    department = str(args.get("department") or "").strip() or None
    if department is not None and department not in set(department_codes):
        errors["department"] = _l("所属を一覧から選んでください。")
    return MetricsFilters(Period(first, last), department), errors


@dataclasses.dataclass
class Figures:
    """The figures of one row: a month, or one kind, severity, platform or department."""

    opened: int = 0
    closed: int = 0
    acknowledge: list[float] = dataclasses.field(default_factory=list)
    first_response: list[float] = dataclasses.field(default_factory=list)
    close: list[float] = dataclasses.field(default_factory=list)
    takedowns: int = 0
    escalations: int = 0

    @staticmethod
    def median(seconds: list[float]) -> float | None:
        """The median in seconds, or None when there is nothing to measure."""
        return statistics.median(seconds) if seconds else None


@dataclasses.dataclass
class TakedownFigures:
    """Takedown requests to one platform: how many were sent, what came of them, how long answers took."""

    sent: int = 0
    outcomes: dict[str, int] = dataclasses.field(default_factory=dict)
    answer: list[float] = dataclasses.field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.sent - sum(self.outcomes.values())


@dataclasses.dataclass
class Report:
    """Everything the metrics page and its CSV show."""

    filters: MetricsFilters
    #: "month" (keyed YYYY-MM), "kind", "severity", "platform" ("" for none), "department" (its id).
    tables: dict[str, dict[Any, Figures]]
    total: Figures
    #: Keyed by the platform a request went to ("" for none); "" … in platform order.
    takedowns: dict[str, TakedownFigures]
    takedown_total: TakedownFigures
    #: (level name, trigger) -> count of escalations that reached that level at the highest.
    escalations: dict[tuple[str, str], int]
    departments: dict[int, Department]


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    seconds = (later - earlier).total_seconds()
    return seconds if seconds >= 0 else None


def _ordered(dimension: str, keys: Iterable[Any], departments: Mapping[int, Department]) -> list[Any]:
    order: list[Any]
    if dimension == "kind":
        order = list(CaseKind)
    elif dimension == "severity":
        order = list(Severity)
    elif dimension == "platform":
        order = [*Platform, ""]
    else:
        order = [d.id for d in departments.values()]
    present = set(keys)
    return [key for key in order if key in present]


def compute(actor: User, filters: MetricsFilters, departments: list[Department]) -> Report:
    """The figures over the cases `actor` may see, in six queries whatever the number of cases."""
    period = filters.period
    by_id = {d.id: d for d in departments}
    scope: list[ColumnElement[bool]] = [policy.visible_cases_clause(actor, Case)]
    if filters.department:
        codes = {d.code: d.id for d in departments}
        scope.append(Case.department_id == codes.get(filters.department, 0))
    months = period.months
    tables: dict[str, dict[Any, Figures]] = {"month": {m: Figures() for m in months}}
    tables.update({dimension: {} for dimension in DIMENSIONS})
    total = Figures()

    def rows_for(month: str | None, kind: Any, severity: Any, platform: Any, department_id: int) -> list[Figures]:
        keys = {"kind": CaseKind(kind), "severity": Severity(severity),
                "platform": Platform(platform) if platform else "", "department": department_id}
        found = [total] + [tables[name].setdefault(key, Figures()) for name, key in keys.items()]
        if month in tables["month"]:
            found.append(tables["month"][month])
        return found

    dims = (Case.kind, Case.severity, Case.platform, Case.department_id)
    detected = TokyoMonth(Case.detected_at)
    opened = db.session.execute(
        select(detected, *dims, func.count(Case.id))
        .where(*scope, Case.detected_at >= period.start, Case.detected_at < period.end)
        .group_by(detected, *dims))
    for month, kind, severity, platform, department_id, count in opened:
        for figures in rows_for(month, kind, severity, platform, department_id):
            figures.opened += count
    closed_month = TokyoMonth(Case.closed_at)
    closed = db.session.execute(
        select(closed_month, *dims, func.count(Case.id))
        .where(*scope, Case.closed_at >= period.start, Case.closed_at < period.end)
        .group_by(closed_month, *dims))
    for month, kind, severity, platform, department_id, count in closed:
        for figures in rows_for(month, kind, severity, platform, department_id):
            figures.closed += count

    first_public = (
        select(Publication.case_id, func.min(Publication.published_at).label("at"))
        .where(Publication.kind.in_(PUBLIC_RESPONSE_KINDS)).group_by(Publication.case_id).subquery())
    durations = db.session.execute(
        select(detected, *dims, Case.detected_at, Case.acknowledged_at, Case.closed_at, first_public.c.at)
        .outerjoin(first_public, first_public.c.case_id == Case.id)
        .where(*scope, Case.detected_at >= period.start, Case.detected_at < period.end))
    for month, kind, severity, platform, department_id, detected_at, acknowledged_at, closed_at, public_at in durations:
        measured = {"acknowledge": _seconds(acknowledged_at, detected_at),
                    "first_response": _seconds(public_at, detected_at), "close": _seconds(closed_at, detected_at)}
        for figures in rows_for(month, kind, severity, platform, department_id):
            for name, seconds in measured.items():
                if seconds is not None:
                    getattr(figures, name).append(seconds)

    sent = (select(Publication.draft_id, func.min(Publication.published_at).label("at"))
            .where(Publication.kind == DraftType.TAKEDOWN.value, Publication.draft_id.is_not(None))
            .group_by(Publication.draft_id).subquery())
    answered = (select(DraftEvent.draft_id, func.max(DraftEvent.created_at).label("at"))
                .where(DraftEvent.action == "answered").group_by(DraftEvent.draft_id).subquery())
    takedown_rows = db.session.execute(
        select(TokyoMonth(sent.c.at), *dims, Draft.platform, Draft.outcome, sent.c.at, answered.c.at)
        .join(Draft, Draft.id == sent.c.draft_id).join(Case, Case.id == Draft.case_id)
        .outerjoin(answered, answered.c.draft_id == Draft.id)
        .where(*scope, Draft.type == DraftType.TAKEDOWN, sent.c.at >= period.start, sent.c.at < period.end))
    takedowns: dict[str, TakedownFigures] = {}
    takedown_total = TakedownFigures()
    for month, kind, severity, platform, department_id, target, outcome, sent_at, answered_at in takedown_rows:
        for figures in rows_for(month, kind, severity, platform, department_id):
            figures.takedowns += 1
        for entry in (takedowns.setdefault(target or "", TakedownFigures()), takedown_total):
            entry.sent += 1
            if outcome is not None:
                entry.outcomes[outcome.value] = entry.outcomes.get(outcome.value, 0) + 1
                seconds = _seconds(answered_at, sent_at)
                if outcome != Outcome.NO_ANSWER and seconds is not None:
                    entry.answer.append(seconds)

    levels = rules().levels
    raised = TokyoMonth(Escalation.created_at)
    escalation_rows = db.session.execute(
        select(raised, *dims, Escalation.level, Escalation.trigger, func.count(Escalation.id))
        .join(Case, Case.id == Escalation.case_id)
        .where(*scope, Escalation.created_at >= period.start, Escalation.created_at < period.end)
        .group_by(raised, *dims, Escalation.level, Escalation.trigger))
    escalations: dict[tuple[str, str], int] = {}
    for month, kind, severity, platform, department_id, level, trigger, count in escalation_rows:
        for figures in rows_for(month, kind, severity, platform, department_id):
            figures.escalations += count
        key = (levels[min(max(level, 0), len(levels) - 1)], trigger)
        escalations[key] = escalations.get(key, 0) + count

    for dimension in DIMENSIONS:
        table = tables[dimension]
        tables[dimension] = {key: table[key] for key in _ordered(dimension, table, by_id)}
    platform_order = [p.value for p in Platform] + [""]
    ordered_takedowns = {key: takedowns[key] for key in platform_order if key in takedowns}
    ordered_takedowns.update({key: value for key, value in takedowns.items() if key not in ordered_takedowns})
    return Report(filters=filters, tables=tables, total=total, takedowns=ordered_takedowns,
                  takedown_total=takedown_total, escalations=escalations, departments=by_id)


@dataclasses.dataclass(frozen=True)
class Bar:
    """One month of the opened-and-closed chart, in SVG coordinates."""

    month: str
    label: str
    opened: int
    closed: int
    x: float
    opened_height: float
    closed_height: float


#: The chart's drawing area (SVG user units; the picture scales to the page's width).
CHART_HEIGHT = 160
CHART_TOP = 12
CHART_SLOT = 40


def chart(report: Report) -> list[Bar]:
    """The bars of the opened-and-closed chart, one pair per month, scaled to the largest count."""
    rows = report.tables["month"]
    largest = max([1, *(f.opened for f in rows.values()), *(f.closed for f in rows.values())])
    scale = (CHART_HEIGHT - CHART_TOP) / largest
    return [Bar(month=month, label=f"{int(month[5:])}", opened=f.opened, closed=f.closed, x=index * CHART_SLOT,
                opened_height=round(f.opened * scale, 1), closed_height=round(f.closed * scale, 1))
            for index, (month, f) in enumerate(rows.items())]


def minutes(seconds: float | None) -> str:
    """A time in minutes for a CSV cell (one decimal at most), or "" when there is nothing to measure."""
    if seconds is None:
        return ""
    value = round(seconds / 60, 1)
    return f"{value:.1f}".removesuffix(".0")


def duration_text(seconds: float | None) -> str:
    """A time for people: "45分", "3時間05分", "2日4時間", or "—" when there is nothing to measure."""
    if seconds is None:
        return "—"
    total = int(round(seconds / 60))
    days, rest = divmod(total, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return str(_l("%(d)d日%(h)d時間", d=days, h=hours))
    if hours:
        return str(_l("%(h)d時間%(m)02d分", h=hours, m=mins))
    return str(_l("%(m)d分", m=mins))
