"""Escalation levels: who is told at each, the notices and timeline entries telling leaves, when the next is due."""
from __future__ import annotations

import datetime as dt
from typing import Any, cast

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, Update

from incident import policy
from incident.auth.models import Department, User
from incident.auth.service import pr_office, supervisors_of
from incident.cases.models import Case, TimelineEvent
from incident.escalation.hours import Schedule, add_working_minutes, is_working_time
from incident.escalation.models import ESCALATION_TRIGGER_LABELS, Escalation, EscalationNotice
from incident.escalation.rules import Rules
from incident.escalation.schedules import schedule_of
from incident.extensions import db
from incident.notifications import service as notifications


def rules() -> Rules:
    """The loaded escalation.toml."""
    return current_app.extensions["escalation"]


def recipients(case: Case, level_name: str, people_of: dict[str, list[User]] | None = None) -> list[User]:
    """Who is told at a level: the assignee, the department's supervisors, or the PR office; never anyone
    who may not see the case (an outside operator's user hears only of cases they see, policy.can_view).
    `people_of` keeps the supervisors and the PR office read once for a batch of the sweep."""
    if level_name == "assignee":
        return [case.assignee] if (case.assignee is not None and case.assignee.active
                                   and policy.can_view(case.assignee, case)) else []
    memo = {} if people_of is None else people_of
    key = f"supervisors:{case.department_id}" if level_name == "supervisors" else "pr_office"
    if key not in memo:
        memo[key] = supervisors_of(case.department_id) if level_name == "supervisors" else pr_office()
    return [person for person in memo[key] if policy.can_view(person, case)]


def level_index(name: str) -> int:
    """The position of a level in escalation.toml (the first when it is not there)."""
    levels = rules().levels
    return levels.index(name) if name in levels else 0


def first_told(case: Case, start: int, people_of: dict[str, list[User]] | None = None
                ) -> tuple[int, list[User]] | None:
    """The first level at or after `start` that has anyone in it, with its people (or None)."""
    levels = rules().levels
    for index in range(start, len(levels)):
        people = recipients(case, levels[index], people_of)
        if people:
            return index, people
    return None


def tell(escalation: Escalation, case: Case, index: int, people: list[User], now: dt.datetime,
         level_name: str | None = None) -> None:
    """Record who is told at a level and notify them (in the app, and by mail when they want it);
    `level_name` "on_call" marks the on-call person told before level `index`."""
    for person in people:
        db.session.add(EscalationNotice(escalation_id=escalation.id, level=index,
                                        level_name=level_name or rules().levels[index], user_id=person.id,
                                        created_at=now))
    notifications.notify(
        people, "escalation",
        _l("【エスカレーション】%(number)s %(title)s", number=case.number, title=case.title),
        _l("%(why)s：%(reason)s", why=ESCALATION_TRIGGER_LABELS[escalation.trigger], reason=escalation.reason),
        case_id=case.id, department_id=case.department_id, link=f"/cases/{case.id}#escalations")


def notify_from(escalation: Escalation, case: Case, start: int, now: dt.datetime) -> int | None:
    """Tell the first level at or after `start` that has anyone in it; returns that level (or None)."""
    found = first_told(case, start)
    if found is None:
        return None
    tell(escalation, case, found[0], found[1], now)
    return found[0]


def note_on_timeline(case: Case, actor: User | None, event: str, escalation: Escalation, **data: Any) -> None:
    """Add an escalation's event to the case's timeline."""
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id if actor else None, event=event,
                                 data={"escalation_id": escalation.id, "trigger": escalation.trigger,
                                       "reason": escalation.reason, **data}))


def schedule_for(case: Case) -> Schedule:
    """The working hours of the case's department."""
    return schedule_of(db.session.get_one(Department, case.department_id))


def next_at(case: Case, now: dt.datetime, schedule: Schedule | None = None) -> dt.datetime:
    """When an unanswered escalation of this case climbs to its next level: in working minutes of the case's
    department (`schedule`, read when not given) for a severity whose timers wait for working hours."""
    timing = rules().timings[case.severity.value]
    if timing.working_hours_only:
        return add_working_minutes(schedule or schedule_for(case), now, timing.next_level_minutes)
    return now + dt.timedelta(minutes=timing.next_level_minutes)


def on_call_for(case: Case, now: dt.datetime, schedule: Schedule, on_call: User | None,
                besides: User | None = None) -> User | None:
    """Who is told first about an escalation of the case raised now: outside the department's working hours,
    the person on call (`on_call`, read by the caller) if active and allowed to see the case; else None (the
    chain works as in the daytime). Never the person raising it (`besides`)."""
    if on_call is None or is_working_time(schedule, now):
        return None
    if not on_call.active or not policy.can_view(on_call, case) or (besides is not None and besides.id == on_call.id):
        return None
    return on_call


def write(statement: Update) -> int:
    """A conditional UPDATE of escalations; how many rows it matched (1 when this run won). The session's
    objects are not searched for rows to update (that made climbing quadratic); callers set what they hold."""
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount
