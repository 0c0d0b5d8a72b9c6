"""Time: stored in UTC, shown in Asia/Tokyo, and dated by the Japanese era on formal documents."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = dt.UTC
REIWA_START = dt.date(2019, 5, 1)
HEISEI_START = dt.date(1989, 1, 8)


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime (a callable, so defaults are never frozen)."""
    return dt.datetime.now(UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Make a datetime aware UTC; a naive one is taken to be Asia/Tokyo wall-clock time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=TOKYO)
    return value.astimezone(UTC)


def to_tokyo(value: dt.datetime) -> dt.datetime:
    """Convert an aware (or naive UTC) datetime to Asia/Tokyo."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TOKYO)


def format_datetime(value: dt.datetime | None) -> str:
    """Show a time as `YYYY-MM-DD HH:MM` in Asia/Tokyo; empty for None."""
    if value is None:
        return ""
    return to_tokyo(value).strftime("%Y-%m-%d %H:%M")


def machine_time(value: dt.datetime | None) -> str:
    """A time for HTML's <time datetime>: Asia/Tokyo to the second with its offset (the attribute allows at most
    milliseconds, so Python's microseconds would make it unreadable); empty for None."""
    if value is None:
        return ""
    return to_tokyo(value).isoformat(timespec="seconds")


def tokyo_year(value: dt.datetime) -> int:
    """The calendar year of a moment as seen in Japan (case numbers are per Japanese year)."""
    return to_tokyo(value).year


def era_date(value: dt.date | dt.datetime) -> str:
    """A date in the Japanese era style used on official forms, e.g. 令和6年4月1日."""
    if isinstance(value, dt.datetime):
        value = to_tokyo(value).date()
    if value >= REIWA_START:
        era, year = "令和", value.year - 2018
    elif value >= HEISEI_START:
        era, year = "平成", value.year - 1988
    else:
        return f"{value.year}年{value.month}月{value.day}日"
    year_text = "元" if year == 1 else str(year)
    return f"{era}{year_text}年{value.month}月{value.day}日"


def parse_iso(text: str) -> dt.datetime:
    """Parse an ISO 8601 timestamp from the API; naive values are Asia/Tokyo. Raises ValueError."""
    return as_utc(dt.datetime.fromisoformat(text.strip()))


def isoformat(value: dt.datetime | None) -> str | None:
    """Serialise a stored time for the API as ISO 8601 with its UTC offset."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
