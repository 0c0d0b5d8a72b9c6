"""Keeping a department's working hours and on-call rota (its supervisors and the PR office), audited."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, or_, select
from sqlalchemy.orm import joinedload

from incident import policy
from incident.audit import service as audit
from incident.auth.models import Department, User
from incident.database import MAX_ID
from incident.dates import as_utc, utcnow
from incident.errors import NotFound, PermissionDenied, ValidationFailed
from incident.escalation.models import OnCallShift
from incident.escalation.schedules import on_call_now
from incident.extensions import db
from incident.roles import Role

#: The longest shift: a rota is planned at most two weeks at a time per entry.
SHIFT_MAX = dt.timedelta(days=14)
#: At most this many closed dates per department (a facility's 休館日 for a year or two).
CLOSED_DATES_MAX = 400
#: Dates and times are read in this range, so nothing typed can overflow the conversion to UTC.
_YEARS = (2000, 2199)
WEEKDAYS = "0123456"


def _department_for(actor: User, department: Department | None) -> Department:
    if department is None or not policy.sees_department_cases(actor, department):
        raise NotFound()
    if not policy.can_manage_on_call(actor, department):
        raise PermissionDenied(_l("勤務時間と当番を設定できるのは、所属長と秘書広報課です。"))
    return department


def get_department(actor: User, department_id: Any) -> Department:
    """A department whose hours and rota the actor keeps; NotFound if they may not see its cases,
    PermissionDenied if they may see them but not keep its rota."""
    text = str(department_id or "")
    found = db.session.get(Department, int(text)) if text.isdigit() and int(text) <= MAX_ID else None
    return _department_for(actor, found)


def get_shift(actor: User, shift_id: int) -> OnCallShift:
    """A shift of a department whose rota the actor keeps (as get_department)."""
    shift = db.session.get(OnCallShift, shift_id) if 0 < shift_id <= MAX_ID else None
    if shift is None:
        raise NotFound()
    _department_for(actor, db.session.get(Department, shift.department_id))
    return shift


def candidates(department: Department) -> list[User]:
    """Who may be put on call: the department's active staff who see its cases, then the PR office."""
    people = db.session.scalars(select(User).where(
        User.active.is_(True), User.operator_id.is_(None),
        or_(User.department_id == department.id, User.role == Role.ADMIN))
        .order_by(case((User.department_id == department.id, 0), else_=1), User.name, User.id))
    return [person for person in people if policy.may_be_on_call(person, department)]


def _moment(text: Any) -> dt.datetime | None:
    """A date and time typed in Japan's wall-clock time ("2026-12-01T17:15" or "2026-12-01 17:15"), or None."""
    if not isinstance(text, str) or not 10 <= len(text.strip()) <= 25:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if not _YEARS[0] <= value.year <= _YEARS[1]:
        return None
    return as_utc(value)


def add_shift(actor: User, department: Department, *, user_id: Any, starts: Any, ends: Any,
              now: dt.datetime | None = None) -> OnCallShift:
    """Put someone on call for the department from `starts` to `ends` (Japan time, as typed)."""
    department = _department_for(actor, department)
    now = now or utcnow()
    errors: dict[str, Any] = {}
    text = str(user_id or "")
    person = db.session.get(User, int(text)) if text.isdigit() and int(text) <= MAX_ID else None
    if person is None or not policy.may_be_on_call(person, department):
        errors["user_id"] = _l("当番にできるのは、この所属の案件を見られる有効な利用者（所属の職員か秘書広報課）です。")
    start, end = _moment(starts), _moment(ends)
    if start is None:
        errors["starts_at"] = _l("開始日時を「2026-12-01 17:15」の形で入力してください。")
    if end is None:
        errors["ends_at"] = _l("終了日時を「2026-12-02 08:30」の形で入力してください。")
    elif start is not None:
        if end <= start:
            errors["ends_at"] = _l("終了日時は開始日時より後にしてください。")
        elif end - start > SHIFT_MAX:
            errors["ends_at"] = _l("1 回の当番は 14 日以内にしてください。長い期間は分けて登録します。")
        elif end <= now:
            errors["ends_at"] = _l("すでに終わった当番は登録できません。")
    if errors or person is None or start is None or end is None:
        raise ValidationFailed(fields=errors)
    shift = OnCallShift(department_id=department.id, user_id=person.id, starts_at=start, ends_at=end,
                        created_by_id=actor.id, created_at=now)
    db.session.add(shift)
    db.session.flush()
    audit.record(actor, "on_call_shift.add", "on_call_shift", shift.id, changes={
        "department_id": (None, department.id), "user_id": (None, person.id),
        "starts_at": (None, start), "ends_at": (None, end)})
    return shift


def remove_shift(actor: User, shift: OnCallShift) -> None:
    """Take a shift off the rota (a mistake, or a change of plan); the audit log keeps what it was."""
    _department_for(actor, db.session.get(Department, shift.department_id))
    audit.record(actor, "on_call_shift.remove", "on_call_shift", shift.id, changes={
        "department_id": (shift.department_id, None), "user_id": (shift.user_id, None),
        "starts_at": (shift.starts_at, None), "ends_at": (shift.ends_at, None)})
    db.session.delete(shift)
    db.session.flush()


def shifts(department: Department, now: dt.datetime) -> Any:
    """The department's shifts, current and upcoming first (soonest first), then past ones (latest first)."""
    ended = case((OnCallShift.ends_at <= now, 1), else_=0)
    return (select(OnCallShift).where(OnCallShift.department_id == department.id)
            .options(joinedload(OnCallShift.user))
            .order_by(ended, case((OnCallShift.ends_at > now, OnCallShift.starts_at)).asc(),
                      case((OnCallShift.ends_at <= now, OnCallShift.starts_at)).desc(), OnCallShift.id))


def on_call_at(department: Department, now: dt.datetime) -> User | None:
    """The person on call for the department at `now`, if any."""
    return on_call_now([department.id], now).get(department.id)


def _minute(text: Any) -> int | None:
    """Minutes after midnight of "HH:MM", or None."""
    if not isinstance(text, str) or len(text.strip()) > 8:
        return None
    try:
        value = dt.time.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.hour * 60 + value.minute


def set_hours(actor: User, department: Department, *, start: Any, end: Any, weekdays: Any, closed: Any) -> None:
    """Set the department's working hours, working weekdays and own closed dates."""
    department = _department_for(actor, department)
    errors: dict[str, Any] = {}
    first, last = _minute(start), _minute(end)
    if first is None:
        errors["start"] = _l("始業時刻を「08:30」の形で入力してください。")
    if last is None:
        errors["end"] = _l("終業時刻を「17:15」の形で入力してください。")
    elif first is not None and last <= first:
        errors["end"] = _l("終業時刻は始業時刻より後にしてください。")
    days = "".join(sorted({str(d) for d in (weekdays or []) if isinstance(d, str) and d in WEEKDAYS and len(d) == 1}))
    if not days:
        errors["weekdays"] = _l("勤務日を 1 日以上選んでください。")
    dates: set[dt.date] = set()
    for line in (closed if isinstance(closed, str) else "").split():
        try:
            day = dt.date.fromisoformat(line)
        except ValueError:
            errors["closed_dates"] = _l("休館日は「2026-12-28」の形で 1 行に 1 日ずつ入力してください（%(line)s）。",
                                        line=line[:20])
            break
        dates.add(day)
    if len(dates) > CLOSED_DATES_MAX:
        errors["closed_dates"] = _l("休館日は %(max)d 日までです。過ぎた日を消してください。", max=CLOSED_DATES_MAX)
    if errors or first is None or last is None:
        raise ValidationFailed(fields=errors)
    closed_text = "\n".join(day.isoformat() for day in sorted(dates))
    before = {"work_start_minute": department.work_start_minute, "work_end_minute": department.work_end_minute,
              "work_weekdays": department.work_weekdays, "closed_dates": department.closed_dates}
    after = {"work_start_minute": first, "work_end_minute": last, "work_weekdays": days, "closed_dates": closed_text}
    changes = {key: (before[key], after[key]) for key in after if before[key] != after[key]}
    if not changes:
        return
    for key, value in after.items():
        setattr(department, key, value)
    db.session.flush()
    audit.record(actor, "department.hours", "department", department.id, changes=changes)
