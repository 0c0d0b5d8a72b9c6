"""Working-hours arithmetic (incident.escalation.hours): weekends, public and substitute holidays, the city's
year-end closure, a department's own closed dates, spans over nights and weekends. No app, no database."""
from __future__ import annotations

import datetime as dt

import pytest

from incident.escalation.hours import (
    Schedule,
    add_working_minutes,
    is_public_holiday,
    is_working_time,
    working_start_before,
)

TOKYO = dt.timezone(dt.timedelta(hours=9))
YEAR_END = frozenset({(12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3)})
CITY = Schedule(city_closed=YEAR_END)


def jst(*args: int) -> dt.datetime:
    """An instant given in Japan's wall-clock time, as the aware UTC datetime the functions take."""
    return dt.datetime(*args, tzinfo=TOKYO).astimezone(dt.UTC)


@pytest.mark.parametrize("when, working", [
    (jst(2026, 11, 30, 10, 0), True),     # Monday morning
    (jst(2026, 11, 30, 8, 30), True),     # the doors open
    (jst(2026, 11, 30, 8, 29), False),
    (jst(2026, 11, 30, 17, 14), True),
    (jst(2026, 11, 30, 17, 15), False),   # closing time is outside
    (jst(2026, 11, 30, 23, 0), False),    # night
    (jst(2026, 11, 28, 10, 0), False),    # Saturday
    (jst(2026, 11, 29, 10, 0), False),    # Sunday
    (jst(2026, 11, 3, 10, 0), False),     # 文化の日, a Tuesday
    (jst(2026, 5, 6, 10, 0), False),      # 振替休日 (5-3 fell on a Sunday)
    (jst(2027, 3, 22, 10, 0), False),     # 振替休日 for 春分の日 on a Sunday
    (jst(2026, 12, 29, 10, 0), False),    # 市の休日 (a Tuesday)
    (jst(2027, 1, 4, 10, 0), True),       # the first working day of the year
])
def test_is_working_time(when, working):
    assert is_working_time(CITY, when) is working


def test_the_holiday_library_knows_substitute_holidays():
    assert is_public_holiday(dt.date(2026, 11, 3)) and is_public_holiday(dt.date(2026, 5, 6))
    assert not is_public_holiday(dt.date(2026, 11, 4))


def test_the_year_end_closure_is_the_citys_setting_not_a_public_holiday():
    assert is_working_time(Schedule(), jst(2026, 12, 29, 10, 0))
    assert not is_working_time(CITY, jst(2026, 12, 29, 10, 0))


def test_a_departments_own_hours_weekdays_and_closed_dates():
    museum = Schedule(start=dt.time(9, 0), end=dt.time(17, 0), weekdays=frozenset(range(1, 7)),
                      closed_dates=frozenset({dt.date(2026, 12, 1)}))
    assert is_working_time(museum, jst(2026, 11, 28, 10, 0))        # open on Saturday
    assert not is_working_time(museum, jst(2026, 11, 30, 10, 0))    # closed on Monday
    assert not is_working_time(museum, jst(2026, 12, 1, 10, 0))     # its own 休館日
    assert not is_working_time(museum, jst(2026, 12, 2, 8, 45))     # opens at 9:00
    assert is_working_time(museum, jst(2026, 12, 2, 16, 59))


@pytest.mark.parametrize("start, minutes, expected", [
    (jst(2026, 11, 30, 10, 0), 60, jst(2026, 11, 30, 11, 0)),        # within the day
    (jst(2026, 11, 27, 16, 15), 60, jst(2026, 11, 27, 17, 15)),      # up to closing time exactly
    (jst(2026, 11, 27, 16, 15), 240, jst(2026, 11, 30, 11, 30)),     # Friday evening over the weekend
    (jst(2026, 11, 24, 22, 0), 30, jst(2026, 11, 25, 9, 0)),         # from the night, next morning
    (jst(2026, 11, 28, 3, 0), 15, jst(2026, 11, 30, 8, 45)),         # from a Saturday night
    (jst(2026, 11, 2, 17, 0), 60, jst(2026, 11, 4, 9, 15)),          # over 文化の日
    (jst(2026, 5, 1, 17, 0), 30, jst(2026, 5, 7, 8, 45)),            # over Golden Week and its 振替休日
    (jst(2026, 12, 28, 17, 0), 30, jst(2027, 1, 4, 8, 45)),          # over the year-end closure
    (jst(2026, 11, 30, 10, 0), 525 * 5, jst(2026, 12, 7, 10, 0)),    # five whole working days
])
def test_add_working_minutes(start, minutes, expected):
    result = add_working_minutes(CITY, start, minutes)
    assert result == expected
    assert result.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("end, minutes, expected", [
    (jst(2026, 11, 30, 11, 30), 240, jst(2026, 11, 27, 16, 15)),     # Monday morning back over the weekend
    (jst(2026, 11, 30, 23, 0), 60, jst(2026, 11, 30, 16, 15)),       # at night: counted back from closing time
    (jst(2026, 11, 4, 9, 15), 60, jst(2026, 11, 2, 17, 0)),          # back over 文化の日
    (jst(2027, 1, 4, 8, 45), 30, jst(2026, 12, 28, 17, 0)),          # back over the year-end closure
    (jst(2026, 11, 30, 8, 30), 15, jst(2026, 11, 27, 17, 0)),        # at opening time: Friday's end
])
def test_working_start_before(end, minutes, expected):
    assert working_start_before(CITY, end, minutes) == expected


def test_the_two_are_inverse_within_working_hours():
    for start in (jst(2026, 11, 27, 16, 15), jst(2026, 12, 25, 9, 0), jst(2026, 11, 2, 12, 0)):
        for minutes in (1, 45, 240, 480, 2000):
            end = add_working_minutes(CITY, start, minutes)
            assert working_start_before(CITY, end, minutes) == start


def test_a_schedule_without_working_days_does_not_loop_for_ever():
    never = Schedule(weekdays=frozenset())
    start = jst(2026, 11, 30, 10, 0)
    assert add_working_minutes(never, start, 60) == start + dt.timedelta(minutes=60)
    assert working_start_before(never, start, 60) == start - dt.timedelta(minutes=60)
