"""Working hours: whether an instant is inside a department's hours, and arithmetic in working minutes.

Pure functions on a Schedule (no database). Instants are aware UTC datetimes in and out; the hours
themselves are Japan's wall-clock times. Every loop walks whole days (bounded), never minutes."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import holidays

from incident.dates import TOKYO, UTC

#: How many days the arithmetic walks at most (ten years): a schedule with almost no working time must not
#: loop for ever; past it, the answer falls back to wall-clock minutes.
MAX_DAYS = 3660
#: 08:30–17:15, Monday to Friday: the city's office hours (Asia/Tokyo).
DEFAULT_START = dt.time(8, 30)
DEFAULT_END = dt.time(17, 15)
DEFAULT_WEEKDAYS = frozenset(range(5))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a department works: daily hours, weekdays (0 = Monday), and the days it is closed besides
    Japan's public holidays (the city's year-end closure as (month, day), and the department's own dates)."""

    start: dt.time = DEFAULT_START
    end: dt.time = DEFAULT_END
    weekdays: frozenset[int] = DEFAULT_WEEKDAYS
    city_closed: frozenset[tuple[int, int]] = frozenset()
    closed_dates: frozenset[dt.date] = frozenset()


@functools.lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[dt.date]:
    # The holidays library knows substitute (振替休日) and citizens' (国民の休日) holidays; cached per year
    # because building a year's calendar costs far more than a lookup.
    return frozenset(holidays.country_holidays("JP", years=year))


def is_public_holiday(day: dt.date) -> bool:
    """Whether a date is a Japanese public holiday (including substitute holidays)."""
    return day in _public_holidays(day.year)


def is_working_day(schedule: Schedule, day: dt.date) -> bool:
    """Whether the department works on this (Japanese) date at all."""
    return (day.weekday() in schedule.weekdays and not is_public_holiday(day)
            and (day.month, day.day) not in schedule.city_closed and day not in schedule.closed_dates)


def _window(schedule: Schedule, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The working hours of a date, in UTC."""
    return (dt.datetime.combine(day, schedule.start, TOKYO).astimezone(UTC),
            dt.datetime.combine(day, schedule.end, TOKYO).astimezone(UTC))


def _local_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(TOKYO).date()


def is_working_time(schedule: Schedule, instant: dt.datetime) -> bool:
    """Whether the department is at work at this instant."""
    day = _local_day(instant)
    if not is_working_day(schedule, day):
        return False
    opens, closes = _window(schedule, day)
    return opens <= instant < closes


def add_working_minutes(schedule: Schedule, start: dt.datetime, minutes: int) -> dt.datetime:
    """The instant at which `minutes` working minutes have passed since `start` (closed time does not count)."""
    if minutes <= 0 or schedule.start >= schedule.end:
        return start + dt.timedelta(minutes=max(minutes, 0))
    left = dt.timedelta(minutes=minutes)
    day = _local_day(start)
    for _ in range(MAX_DAYS):
        if is_working_day(schedule, day):
            opens, closes = _window(schedule, day)
            begin = max(opens, start)
            if begin < closes:
                if left <= closes - begin:
                    return begin + left
                left -= closes - begin
        day += dt.timedelta(days=1)
    return start + dt.timedelta(minutes=minutes)


def working_start_before(schedule: Schedule, end: dt.datetime, minutes: int) -> dt.datetime:
    """The latest instant T such that the working minutes in [T, end] equal `minutes`: something that started
    at or before T has waited `minutes` working minutes by `end`."""
    if minutes <= 0 or schedule.start >= schedule.end:
        return end - dt.timedelta(minutes=max(minutes, 0))
    left = dt.timedelta(minutes=minutes)
    day = _local_day(end)
    for _ in range(MAX_DAYS):
        if is_working_day(schedule, day):
            opens, closes = _window(schedule, day)
            finish = min(closes, end)
            if finish > opens:
                if left <= finish - opens:
                    return finish - left
                left -= finish - opens
        day -= dt.timedelta(days=1)
    return end - dt.timedelta(minutes=minutes)
