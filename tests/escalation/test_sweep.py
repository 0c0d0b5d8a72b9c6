"""The escalation sweep with a fixed clock: raise, climb, stop on acknowledgement, idempotent."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from incident.cases import service as cases
from incident.escalation import service
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.notifications.models import Notification, OutboxMail


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    return {
        "responder": make.user("responder", dept, name="担当"),
        "supervisor": make.user("supervisor", dept, name="課長"),
        "other_supervisor": make.user("supervisor", make.department("kanko", "観光課"), name="他課長"),
        "admin": make.user("admin", pr, name="広報"),
    }


def told(user) -> list[EscalationNotice]:
    return list(db.session.scalars(select(EscalationNotice).where(EscalationNotice.user_id == user.id)))


def test_unacknowledged_high_case_climbs_to_supervisors_then_pr_office(town, make):
    case = make.case(town["responder"], severity="high", title="炎上")
    start = case.created_at
    assert service.sweep(start + dt.timedelta(minutes=14)).raised == 0
    report = service.sweep(start + dt.timedelta(minutes=16))
    db.session.commit()
    assert report.raised == 1
    assert [n.level_name for n in told(town["supervisor"])] == ["supervisors"]
    assert told(town["admin"]) == [] and told(town["other_supervisor"]) == []
    # Running it again at the same moment changes nothing.
    again = service.sweep(start + dt.timedelta(minutes=16))
    assert (again.raised, again.climbed) == (0, 0)
    # Nobody acknowledged: 15 minutes later (next_level_minutes for high) it reaches the PR office.
    assert service.sweep(start + dt.timedelta(minutes=32)).climbed == 1
    db.session.commit()
    assert [n.level_name for n in told(town["admin"])] == ["pr_office"]
    assert service.sweep(start + dt.timedelta(minutes=32)).climbed == 0


def test_acknowledging_the_case_stops_the_escalation(town, make):
    case = make.case(town["responder"], severity="high")
    start = case.created_at
    service.sweep(start + dt.timedelta(minutes=16))
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    report = service.sweep(start + dt.timedelta(minutes=60))
    db.session.commit()
    assert report.climbed == 0
    unacknowledged = db.session.scalars(select(Escalation).where(Escalation.trigger == "unacknowledged")).one()
    assert unacknowledged.resolved_at is not None and not unacknowledged.is_open
    assert [n.level_name for n in told(town["admin"]) if n.escalation_id == unacknowledged.id] == []


def test_acknowledging_the_escalation_stops_the_climb(town, make):
    case = make.case(town["responder"], severity="high")
    service.sweep(case.created_at + dt.timedelta(minutes=16))
    escalation = db.session.scalars(select(Escalation).where(Escalation.trigger == "unacknowledged")).one()
    service.acknowledge(town["supervisor"], escalation)
    db.session.commit()
    service.sweep(case.created_at + dt.timedelta(minutes=90))
    assert [n for n in told(town["admin"]) if n.escalation_id == escalation.id] == []


def test_opening_a_case_notifies_supervisors_and_queues_mail(town, make):
    make.case(town["responder"], title="新しい件")
    rows = list(db.session.scalars(select(Notification).where(Notification.user_id == town["supervisor"].id)))
    assert len(rows) == 1 and "新しい件" in rows[0].title
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)
                             .where(OutboxMail.to_addr == town["supervisor"].email)) == 1
