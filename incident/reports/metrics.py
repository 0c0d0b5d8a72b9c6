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
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Float,
    Select,
    String,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
    union_all,
)
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
#: Every breakdown of the figures ("total" besides).
BREAKDOWNS = ("month", *DIMENSIONS)
#: The times measured per case, in seconds.
MEASURES = ("acknowledge", "first_response", "close")
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


def _month_arg(args: Mapping[str, Any], name: str, errors: dict[str, Any]) -> dt.date | None:
    """The month given as argument `name` (YYYY-MM); None when absent, or invalid (noted in `errors`)."""
    raw = str(args.get(name) or "")
    parsed = _parse_month(raw) if raw else None
    if raw and parsed is None:
        errors[name] = _l("月を「2026-04」の形で入力してください。")
    return parsed


def filters_from_args(args: Mapping[str, Any], department_codes: Iterable[str],
                      today: dt.date | None = None) -> tuple[MetricsFilters, dict[str, Any]]:
    """The filters from query arguments (`from`, `to` as YYYY-MM; `department` as a code), and the
    errors by field name; a missing value takes its default."""
    default = default_period(today)
    errors: dict[str, Any] = {}
    last = _month_arg(args, "to", errors) or default.last
    first = _month_arg(args, "from", errors) or (
        default_period(last).first if args.get("to") and not args.get("from") else default.first)
    if not errors and first > last:
        errors["from"] = _l("開始の月は終了の月以前にしてください。")
    elif not errors and (last.year * 12 + last.month) - (first.year * 12 + first.month) >= MAX_MONTHS:
        errors["from"] = _l("期間は %(n)d か月以内にしてください。", n=MAX_MONTHS)
    department = str(args.get("department") or "").strip() or None
    if department is not None and department not in set(department_codes):
        errors["department"] = _l("所属を一覧から選んでください。")
    return MetricsFilters(Period(first, last), department), errors


@dataclasses.dataclass(frozen=True)
class Measured:
    """A time measured over the cases of a row: how many have it, and its median in seconds."""

    count: int = 0
    median: float | None = None

    def __len__(self) -> int:
        return self.count


@dataclasses.dataclass
class Figures:
    """The figures of one row: a month, or one kind, severity, platform or department."""

    opened: int = 0
    closed: int = 0
    acknowledge: Measured = Measured()
    first_response: Measured = Measured()
    close: Measured = Measured()
    takedowns: int = 0
    escalations: int = 0

    @staticmethod
    def median(measured: Measured) -> float | None:
        """The median in seconds, or None when there is nothing to measure."""
        return measured.median


@dataclasses.dataclass
class TakedownFigures:
    """Takedown requests to one platform: how many were sent, what came of them, how long answers took."""

    sent: int = 0
    outcomes: dict[str, int] = dataclasses.field(default_factory=dict)
    answer: Measured = Measured()

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


class Seconds(FunctionElement[float]):
    """SQL: the seconds from `earlier` to `later` (two UTC timestamp columns), NULL when either is."""

    type = Float()
    inherit_cache = True


@compiles(Seconds, "sqlite")
def _seconds_sqlite(element: Seconds, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    # julianday keeps milliseconds; rounding drops the float noise of the subtraction.
    return f"round((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


@compiles(Seconds, "postgresql")
def _seconds_postgresql(element: Seconds, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


def _keys(month: ColumnElement[str]) -> dict[str, ColumnElement[str]]:
    """Each breakdown's grouping key as text ("total" groups everything into one row)."""
    return {"month": month, "kind": type_coerce(Case.kind, String), "severity": type_coerce(Case.severity, String),
            "platform": func.coalesce(type_coerce(Case.platform, String), ""),
            "department": cast(Case.department_id, String), "total": literal_column("''")}


def _dimension(name: str) -> ColumnElement[str]:
    return literal_column(f"'{name}'", String)


def _by_dimension(month: ColumnElement[str], value: ColumnElement[Any], source: Select[Any]) -> CompoundSelect[Any]:
    """One statement: `value` (an aggregate) per breakdown key of the rows of `source` (a select of the
    cases' table, joined and filtered as needed), as rows (breakdown, key, value)."""
    branches = []
    for name, key in _keys(month).items():
        branch = source.with_only_columns(_dimension(name), key, value)
        branches.append(branch if name == "total" else branch.group_by(key))
    return union_all(*branches)


def _measured(samples: list[float]) -> Measured:
    """How many times there are (negative ones left out: a detection time entered after the fact) and their
    median."""
    kept = [value for value in samples if value >= 0]
    return Measured(len(kept), statistics.median(kept)) if kept else Measured()


def _count_by_month(column: Any, scope: list[ColumnElement[bool]], period: Period) -> CompoundSelect[Any]:
    """The cases whose `column` (a timestamp) falls in the period, counted per month of it and per kind,
    severity, platform and department: opened (detected_at) and closed (closed_at) alike."""
    return _by_dimension(TokyoMonth(column), func.count(Case.id),
                         select(Case.id).where(*scope, column >= period.start, column < period.end))


def _key(name: str, raw: str) -> Any:
    """A breakdown key as the report keys it (from its text in SQL)."""
    if name == "kind":
        return CaseKind(raw)
    if name == "severity":
        return Severity(raw)
    if name == "platform":
        return Platform(raw) if raw else ""
    if name == "department":
        return int(raw)
    return raw


def compute(actor: User, filters: MetricsFilters, departments: list[Department]) -> Report:
    """The figures over the cases `actor` may see, in eight queries whatever the number of cases: grouped
    counts, and one row per case of the period (or takedown request) for the medians."""
    period = filters.period
    by_id = {d.id: d for d in departments}
    scope: list[ColumnElement[bool]] = [policy.visible_cases_clause(actor, Case)]
    if filters.department:
        codes = {d.code: d.id for d in departments}
        scope.append(Case.department_id == codes.get(filters.department, 0))
    tables: dict[str, dict[Any, Figures]] = {"month": {m: Figures() for m in period.months}}
    tables.update({dimension: {} for dimension in DIMENSIONS})
    total = Figures()

    def figures(name: str, raw: Any) -> Figures | None:
        """The row of a breakdown key (None for a month outside the period)."""
        if name == "total":
            return total
        key = _key(name, str(raw))
        if name == "month":
            return tables["month"].get(key)
        return tables[name].setdefault(key, Figures())

    for field_name, column in (("opened", Case.detected_at), ("closed", Case.closed_at)):
        for name, raw, count in db.session.execute(_count_by_month(column, scope, period)):
            row = figures(name, raw)
            if row is not None:
                setattr(row, field_name, getattr(row, field_name) + count)

    # The medians need every case's times: one row per case of the period, its times already in seconds
    # (no timestamps to convert), sorted here.
    first_public = (select(func.min(Publication.published_at))
                    .where(Publication.case_id == Case.id, Publication.kind.in_(PUBLIC_RESPONSE_KINDS))
                    .correlate(Case).scalar_subquery())
    keys = _keys(TokyoMonth(Case.detected_at))
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    for case_row in db.session.execute(
            select(*(keys[name] for name in (*BREAKDOWNS, "total")),
                   Seconds(Case.acknowledged_at, Case.detected_at), Seconds(first_public, Case.detected_at),
                   Seconds(Case.closed_at, Case.detected_at))
            .where(*scope, Case.detected_at >= period.start, Case.detected_at < period.end)):
        times = dict(zip(MEASURES, case_row[-3:], strict=True))
        for name, raw in zip((*BREAKDOWNS, "total"), case_row[:-3], strict=True):
            lists = samples.setdefault((name, raw), {measure: [] for measure in MEASURES})
            for measure, value in times.items():
                if value is not None:
                    lists[measure].append(value)
    for (name, raw), lists in samples.items():
        figures_row = figures(name, raw)
        if figures_row is not None:
            for measure, values in lists.items():
                setattr(figures_row, measure, _measured(values))

    sent = (select(Publication.draft_id, func.min(Publication.published_at).label("at"))
            .where(Publication.kind == DraftType.TAKEDOWN.value, Publication.draft_id.is_not(None))
            .group_by(Publication.draft_id).subquery())
    requests = (select(Draft.id).join(sent, sent.c.draft_id == Draft.id).join(Case, Case.id == Draft.case_id)
                .where(*scope, Draft.type == DraftType.TAKEDOWN, sent.c.at >= period.start, sent.c.at < period.end))
    for name, raw, count in db.session.execute(_by_dimension(TokyoMonth(sent.c.at), func.count(Draft.id), requests)):
        row = figures(name, raw)
        if row is not None:
            row.takedowns += count
    takedowns: dict[str, TakedownFigures] = {}
    takedown_total = TakedownFigures()
    target = func.coalesce(Draft.platform, "")
    for platform, outcome, count in db.session.execute(
            requests.with_only_columns(target, Draft.outcome, func.count(Draft.id)).group_by(target, Draft.outcome)):
        for entry in (takedowns.setdefault(platform, TakedownFigures()), takedown_total):
            entry.sent += count
            if outcome is not None:
                entry.outcomes[outcome.value] = entry.outcomes.get(outcome.value, 0) + count
    answered = (select(func.max(DraftEvent.created_at)).where(DraftEvent.draft_id == Draft.id,
                                                               DraftEvent.action == "answered")
                .correlate(Draft).scalar_subquery())
    answers: dict[str, list[float]] = {}
    for platform, seconds in db.session.execute(
            requests.with_only_columns(target, Seconds(answered, sent.c.at))
            .where(Draft.outcome.is_not(None), Draft.outcome != Outcome.NO_ANSWER)):
        if seconds is not None:
            answers.setdefault(platform, []).append(seconds)
    for platform, values in answers.items():
        takedowns.setdefault(platform, TakedownFigures()).answer = _measured(values)
    takedown_total.answer = _measured([value for values in answers.values() for value in values])

    levels = rules().levels
    raised = select(Escalation.id).join(Case, Case.id == Escalation.case_id).where(
        *scope, Escalation.created_at >= period.start, Escalation.created_at < period.end)
    for name, raw, count in db.session.execute(
            _by_dimension(TokyoMonth(Escalation.created_at), func.count(Escalation.id), raised)):
        row = figures(name, raw)
        if row is not None:
            row.escalations += count
    escalations: dict[tuple[str, str], int] = {}
    for level, trigger, count in db.session.execute(
            raised.with_only_columns(Escalation.level, Escalation.trigger, func.count(Escalation.id))
            .group_by(Escalation.level, Escalation.trigger)):
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
