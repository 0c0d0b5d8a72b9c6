"""Two sweeps at the same moment against one PostgreSQL (two machines running the worker) escalate
each cause once and notify each level once.

SQLite serialises writers (every CLI transaction is BEGIN IMMEDIATE), so the race cannot happen
there; these tests run in the PostgreSQL pass of `make test` (INCIDENT_TEST_DATABASE_URL).
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from incident.cases import service as cases
from incident.escalation import service, sweeping
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.notifications.models import Notification, OutboxMail

PG_URL = os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()

pytestmark = pytest.mark.skipif(
    not PG_URL,
    reason="concurrent sweeps need PostgreSQL: set INCIDENT_TEST_DATABASE_URL (SQLite takes the write lock "
           "at BEGIN, so two sweeps cannot overlap there); `make test` runs this in its PostgreSQL pass",
)

WAIT = 30  # seconds; a barrier that times out means a thread is stuck (a lock wait, a deadlock)


@pytest.fixture
def town(app, make):
    assert db.engine.dialect.name == "postgresql", "INCIDENT_TEST_DATABASE_URL must point at PostgreSQL"
    dept = make.department("bosai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    return {
        "responders": [make.user("responder", dept, name=f"担当{n}") for n in range(2)],
        "supervisors": [make.user("supervisor", dept, name=f"課長{n}") for n in range(2)],
        "admin": make.user("admin", pr, name="広報"),
    }


def counts() -> dict[str, Any]:
    """What a sweep leaves behind, comparable between runs."""
    db.session.expire_all()

    def count(model, *where) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where))

    per_cause = (select(func.count().label("n")).select_from(Escalation)
                 .group_by(Escalation.case_id, Escalation.trigger, Escalation.subject).subquery())
    return {
        "escalations": sorted(db.session.scalars(select(Escalation.dedupe_key).where(
            Escalation.dedupe_key.is_not(None)))),
        "per_cause": db.session.scalar(select(func.max(per_cause.c.n))),
        "notices": sorted((n.escalation_id, n.level_name, n.user_id) for n in db.session.scalars(
            select(EscalationNotice))),
        "notifications": count(Notification, Notification.kind == "escalation"),
        "mail": count(OutboxMail, OutboxMail.kind == "escalation"),
    }


def race(app, now: dt.datetime, rendezvous_on: str | None) -> list[sweeping.SweepReport]:
    """Run `sweeping.sweep(now)` + commit in two threads, each with its own app context and session.

    Both start together (a Barrier) and meet again inside the sweep, at the first call of
    `rendezvous_on` — after both have read what is due and before either writes — so each has seen
    the same state and both try to write the same rows. With `rendezvous_on=None` only the start
    is shared and the interleaving is left to chance.
    """
    db.session.commit()
    db.session.remove()  # the test thread holds no transaction while the workers write
    start = threading.Barrier(2, timeout=WAIT)
    inside = threading.Barrier(2, timeout=WAIT)
    original: Callable[..., Any] | None = getattr(sweeping, rendezvous_on) if rendezvous_on else None
    met = threading.local()
    meetings: list[int] = []  # proof that the sweep calls what was patched

    def meeting(*args: Any, **kwargs: Any) -> Any:
        if not getattr(met, "done", False):
            met.done = True
            meetings.append(1)
            inside.wait()
        return original(*args, **kwargs)

    reports: list[sweeping.SweepReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                try:
                    start.wait()
                    report = sweeping.sweep(now)
                    db.session.commit()
                    reports.append(report)
                finally:
                    db.session.remove()
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    if rendezvous_on:
        setattr(sweeping, rendezvous_on, meeting)
    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT * 3)
        assert not any(thread.is_alive() for thread in threads), "a sweep did not finish"
    finally:
        if rendezvous_on:
            setattr(sweeping, rendezvous_on, original)
    assert not errors, errors
    assert len(meetings) == (2 if rendezvous_on else 0)
    return reports


def single_run(now: dt.datetime) -> dict[str, Any]:
    """What one sweep alone would leave behind (measured, then rolled back)."""
    db.session.commit()
    sweeping.sweep(now)
    db.session.flush()
    expected = counts()  # expire_all() reloads the rows of this still open transaction
    db.session.rollback()
    assert counts()["escalations"] == [], "the measuring run was not rolled back"
    return expected


def test_two_concurrent_sweeps_raise_each_escalation_once(app, town, make):
    responder = town["responders"][0]
    opened = [make.case(responder, severity="high", title=f"同時{n}") for n in range(4)]
    # One of them has an assignee (the first level), the rest go to the supervisors.
    cases.assign(town["supervisors"][0], opened[0], town["responders"][1].id)
    # Two are acknowledged by a responder: no longer unacknowledged, but the supervisor was not consulted.
    for case in opened[2:]:
        cases.acknowledge(responder, case)
    db.session.commit()
    now = max(c.created_at for c in opened) + dt.timedelta(minutes=31)  # unacknowledged, or steps overdue
    expected = single_run(now)
    # One per case: while a case is unacknowledged, that escalation stands for its late steps (issue 12).
    assert sorted(key.split(":")[0] for key in expected["escalations"]) == ["step_overdue"] * 2 + ["unacknowledged"] * 2
    assert expected["notices"] and expected["mail"] > 0

    reports = race(app, now, "_raise")

    assert sum(r.raised for r in reports) == len(expected["escalations"])
    got = counts()
    assert got["per_cause"] == 1
    # Exactly one set of notices: the escalation ids may differ from the measuring run, nothing else.
    assert got["escalations"] == expected["escalations"]
    assert len(got["notices"]) == len(expected["notices"])
    assert sorted(n[1:] for n in got["notices"]) == sorted(n[1:] for n in expected["notices"])
    assert (got["notifications"], got["mail"]) == (expected["notifications"], expected["mail"])
    # And a third run at the same moment changes nothing.
    again = sweeping.sweep(now)
    db.session.commit()
    assert (again.raised, again.climbed, again.resolved) == (0, 0, 0)
    assert counts() == got


def test_two_concurrent_sweeps_started_together_raise_each_escalation_once(app, town, make):
    """The same without the inner rendezvous: whatever the interleaving, one set of escalations."""
    opened = [make.case(town["responders"][0], severity="high", title=f"同時{n}") for n in range(6)]
    now = max(c.created_at for c in opened) + dt.timedelta(minutes=16)
    expected = single_run(now)
    assert len(expected["escalations"]) == 6

    reports = race(app, now, None)

    assert sum(r.raised for r in reports) == 6
    got = counts()
    assert got["escalations"] == expected["escalations"] and got["per_cause"] == 1
    assert len(got["notices"]) == len(expected["notices"]) == 6 * len(town["supervisors"])
    assert (got["notifications"], got["mail"]) == (expected["notifications"], expected["mail"])


def test_two_concurrent_climbs_notify_the_next_level_once(app, town, make):
    responder = town["responders"][0]
    # low severity, acknowledged: nothing else falls due while the manual escalation climbs.
    case = make.case(responder, severity="low", title="同時に上がる")
    cases.acknowledge(town["supervisors"][0], case)
    escalation = service.escalate(responder, case, "判断に迷います")
    db.session.commit()
    escalation_id, next_at, admin_id = escalation.id, escalation.next_at, town["admin"].id
    assert sorted(n.level_name for n in db.session.scalars(select(EscalationNotice))) == ["supervisors"] * 2
    expected = single_run(next_at)
    assert sorted(n[1] for n in expected["notices"]) == ["pr_office"] + ["supervisors"] * 2

    # Both have read the escalation as due and are about to claim the climb (its new next_at).
    reports = race(app, next_at, "next_at")

    assert sum(r.climbed for r in reports) == 1
    assert sum(r.raised for r in reports) == 0
    notices = list(db.session.scalars(select(EscalationNotice).where(EscalationNotice.escalation_id == escalation_id)
                                      .order_by(EscalationNotice.id)))
    assert [(n.level_name, n.user_id) for n in notices if n.level_name == "pr_office"] == \
        [("pr_office", admin_id)]
    got = counts()
    assert got["notices"] == expected["notices"]
    assert (got["notifications"], got["mail"]) == (expected["notifications"], expected["mail"])
    climbed = db.session.get(Escalation, escalation_id)
    assert climbed.level == 2 and climbed.next_at > next_at
