"""Due times count from detection (`detected_at`), which may be hours before the case was opened (issue 12):
step deadlines on the checklist (page and API) and the sweep's unacknowledged-case timer."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from incident.cases import service as cases
from incident.dates import utcnow
from incident.escalation import service as escalation
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.playbooks import service


@pytest.fixture
def late(city, make):
    """A flaming case (high) noticed three hours ago and opened only now."""
    return make.case(city.responder_a, kind="flaming", severity="high", title="夜間に発生した炎上",
                     detected_at=utcnow() - dt.timedelta(hours=3))


def states(case, now=None):
    return {s.step.key: s for s in service.checklist(case, now=now)}


def test_a_step_is_due_from_detection_and_overdue_at_once(late):
    step = states(late)["did_city_post_wrong"]  # due 60 minutes after detection for high
    assert step.step.due_minutes["high"] == 60
    assert step.due_at == late.detected_at + dt.timedelta(minutes=60)
    assert late.created_at - late.detected_at >= dt.timedelta(hours=3) - dt.timedelta(minutes=1)
    assert step.overdue  # opened now, and already late
    # A case noticed as it is opened has the hour ahead of it.
    fresh = states(late, now=late.detected_at + dt.timedelta(minutes=59))["did_city_post_wrong"]
    assert not fresh.overdue


def test_changing_the_detection_time_moves_the_deadlines(city, late):
    earlier = late.detected_at - dt.timedelta(hours=1)
    cases.update_case(city.responder_a, late, late.version, {"detected_at": earlier})
    db.session.commit()
    assert states(late)["did_city_post_wrong"].due_at == earlier + dt.timedelta(minutes=60)


def test_the_checklist_says_deadlines_count_from_detection(city, late, client, login):
    login(city.responder_a)
    page = client.get(f"/cases/{late.id}").get_data(as_text=True)
    assert "各手順の期限は、検知から数えます" in page
    assert "期限超過" in page
    edit = client.get(f"/cases/{late.id}/edit").get_data(as_text=True)
    assert "この検知の時刻から数えます" in edit


def test_the_api_gives_due_times_from_detection(api, city, late):
    body = api("GET", f"/api/v1/cases/{late.id}/steps", city.responder_a).get_json()
    step = next(s for s in body["items"] if s["key"] == "did_city_post_wrong")
    assert step["overdue"] is True
    due = dt.datetime.fromisoformat(step["due_at"])
    assert due == late.detected_at + dt.timedelta(minutes=60)


def test_the_unacknowledged_timer_counts_from_detection(city, late):
    """Noticed three hours ago, opened now: the supervisors hear of it at the first sweep, not in 15 minutes."""
    report = escalation.sweep(late.created_at)
    db.session.commit()
    assert report.raised == 1
    [raised] = db.session.scalars(select(Escalation).where(Escalation.trigger == "unacknowledged")).all()
    assert "検知から" in raised.reason and "受付されていません" in raised.reason


def test_a_case_noticed_as_it_is_opened_waits_the_full_time(city, make):
    case = make.case(city.responder_a, kind="flaming", severity="high")
    assert escalation.sweep(case.detected_at + dt.timedelta(minutes=14)).raised == 0
    assert escalation.sweep(case.detected_at + dt.timedelta(minutes=15)).raised == 1
