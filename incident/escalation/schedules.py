"""Departments' working hours and on-call shifts as read from the database, for the escalation code."""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from incident.auth.models import Department, User
from incident.escalation.hours import Schedule
from incident.escalation.models import OnCallShift
from incident.extensions import db


@functools.lru_cache(maxsize=8)
def _parse_city_closed(days: tuple[str, ...]) -> frozenset[tuple[int, int]]:
    closed = set()
    for text in days:
        try:
            day = dt.date.fromisoformat(f"2000-{text.strip()}")  # a leap year, so 02-29 is accepted
        except ValueError:
            raise ValueError(f"CITY_CLOSED_DAYS: {text!r} is not MM-DD") from None
        closed.add((day.month, day.day))
    return frozenset(closed)


def city_closed() -> frozenset[tuple[int, int]]:
    """The city's yearly closed days (CITY_CLOSED_DAYS) as (month, day)."""
    return _parse_city_closed(tuple(current_app.config.get("CITY_CLOSED_DAYS") or ()))


def parse_closed_dates(text: str) -> frozenset[dt.date]:
    """A department's own closed dates as stored (ISO dates, one a line); unreadable lines are skipped
    (the form refuses them, so only a hand-edited row can have one)."""
    found = set()
    for line in (text or "").split():
        try:
            found.add(dt.date.fromisoformat(line))
        except ValueError:
            continue
    return frozenset(found)


def _time(minute: int) -> dt.time:
    minute = min(max(minute, 0), 24 * 60 - 1)
    return dt.time(minute // 60, minute % 60)


def make_schedule(start_minute: int, end_minute: int, weekdays: str, closed_dates: str) -> Schedule:
    """A Schedule from a department's stored columns and the city's closed days."""
    return Schedule(start=_time(start_minute), end=_time(end_minute),
                    weekdays=frozenset(int(c) for c in weekdays if c in "0123456"),
                    city_closed=city_closed(), closed_dates=parse_closed_dates(closed_dates))


def schedule_of(department: Department) -> Schedule:
    """A department's working hours."""
    return make_schedule(department.work_start_minute, department.work_end_minute, department.work_weekdays,
                         department.closed_dates)


def read_schedules() -> dict[int, Schedule]:
    """Every department's working hours, in one query (a city has dozens of departments, not thousands)."""
    rows = db.session.execute(select(Department.id, Department.work_start_minute, Department.work_end_minute,
                                     Department.work_weekdays, Department.closed_dates))
    return {row.id: make_schedule(row.work_start_minute, row.work_end_minute, row.work_weekdays, row.closed_dates)
            for row in rows}


def on_call_now(department_ids: Iterable[int], now: dt.datetime) -> dict[int, User]:
    """The person on call at `now` for each of these departments that has one, in one query (where shifts
    overlap, the most recently created counts)."""
    ids = sorted(set(department_ids))
    if not ids:
        return {}
    found: dict[int, User] = {}
    for shift in db.session.scalars(
            select(OnCallShift).where(OnCallShift.department_id.in_(ids), OnCallShift.starts_at <= now,
                                      OnCallShift.ends_at > now)
            .options(joinedload(OnCallShift.user))
            .order_by(OnCallShift.department_id, OnCallShift.created_at.desc(), OnCallShift.id.desc())):
        found.setdefault(shift.department_id, shift.user)
    return found
