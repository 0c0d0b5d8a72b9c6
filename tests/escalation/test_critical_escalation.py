"""A critical (緊急) case: escalation in minutes, and a responder may escalate it straight to the PR office
(issue 12) — through the service, the case page and the API; other severities are unchanged."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from incident.errors import ValidationFailed
from incident.escalation import service
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.notifications.models import Notification


def told(user) -> list[str]:
    db.session.expire_all()
    return [n.level_name for n in db.session.scalars(
        select(EscalationNotice).where(EscalationNotice.user_id == user.id).order_by(EscalationNotice.id))]


def escalation_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Escalation)) or 0


# ---- the service --------------------------------------------------------------------------------


def test_a_responder_escalates_a_critical_case_straight_to_the_pr_office(city, make):
    case = make.case(city.responder_a, severity="critical", title="乗っ取られた")
    made = service.escalate(city.responder_a, case, "不正な投稿が続いています", "pr_office")
    db.session.commit()
    assert service.rules().levels[made.level] == "pr_office"
    assert told(city.admin) == ["pr_office"]
    assert told(city.supervisor_a) == []  # skipped, not told twice on the way up


def test_by_default_a_responders_escalation_of_a_critical_case_goes_to_the_supervisors(city, make):
    case = make.case(city.responder_a, severity="critical")
    made = service.escalate(city.responder_a, case, "至急", None)
    db.session.commit()
    assert service.rules().levels[made.level] == "supervisors"
    assert told(city.supervisor_a) == ["supervisors"] and told(city.admin) == []


@pytest.mark.parametrize("severity", ["high", "medium", "low"])
def test_only_a_critical_case_goes_straight_to_the_pr_office(city, make, severity):
    case = make.case(city.responder_a, severity=severity)
    with pytest.raises(ValidationFailed) as info:
        service.escalate(city.responder_a, case, "至急", "pr_office")
    assert "緊急" in str(info.value.fields["level"])
    db.session.rollback()
    assert escalation_count() == 0 and told(city.admin) == []


@pytest.mark.parametrize("level", ["assignee", "mayor", 3, ["pr_office"], {"level": "pr_office"}])
def test_a_level_nobody_may_choose_is_refused(city, make, level):
    case = make.case(city.responder_a, severity="critical")
    with pytest.raises(ValidationFailed) as info:
        service.escalate(city.responder_a, case, "至急", level)
    assert "level" in info.value.fields
    db.session.rollback()
    assert escalation_count() == 0


def test_a_supervisor_escalates_to_the_pr_office_and_cannot_choose_the_supervisors(city, make):
    case = make.case(city.responder_a, severity="critical")
    with pytest.raises(ValidationFailed) as info:
        service.escalate(city.supervisor_a, case, "全庁対応", "supervisors")
    assert "秘書広報課" in str(info.value.fields["level"])
    db.session.rollback()
    made = service.escalate(city.supervisor_a, case, "全庁対応", "pr_office")
    assert service.rules().levels[made.level] == "pr_office"


def test_a_critical_case_climbs_in_minutes(city, make):
    """escalation.toml [severity.critical]: 5 minutes unacknowledged, 5 more to the PR office."""
    case = make.case(city.responder_a, severity="critical")
    start = case.detected_at
    assert service.sweep(start + dt.timedelta(minutes=4)).raised == 0
    assert service.sweep(start + dt.timedelta(minutes=5)).raised == 1
    db.session.commit()
    assert told(city.supervisor_a) == ["supervisors"] and told(city.admin) == []
    service.sweep(start + dt.timedelta(minutes=10))
    db.session.commit()
    assert told(city.admin) == ["pr_office"]


# ---- the case page ------------------------------------------------------------------------------


def escalation_form(page: str) -> str:
    start = page.index('id="escalations"')
    return page[start:page.index("</section>", start)]


def test_the_page_offers_the_pr_office_only_on_a_critical_case(city, make, client, login):
    critical = make.case(city.responder_a, severity="critical", title="緊急の件")
    high = make.case(city.responder_a, severity="high", title="高の件")
    login(city.responder_a)
    form = escalation_form(client.get(f"/cases/{critical.id}").get_data(as_text=True))
    assert 'name="level" value="supervisors"' in form and 'name="level" value="pr_office"' in form
    assert "秘書広報課へ直接知らせることができます" in form
    form = escalation_form(client.get(f"/cases/{high.id}").get_data(as_text=True))
    assert 'name="level"' not in form and 'name="reason"' in form
    # A supervisor has one place to go (the PR office): no choice either.
    login(city.supervisor_a)
    form = escalation_form(client.get(f"/cases/{critical.id}").get_data(as_text=True))
    assert 'name="level"' not in form


def test_escalating_a_critical_case_to_the_pr_office_through_the_page(city, make, client, login):
    case = make.case(city.responder_a, severity="critical")
    login(city.responder_a)
    response = client.post(f"/cases/{case.id}/escalations", data={"reason": "拡散中", "level": "pr_office"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "エスカレーションしました。秘書広報課に知らせました。" in page
    assert told(city.admin) == ["pr_office"] and told(city.supervisor_a) == []


def test_the_page_refuses_the_pr_office_for_a_high_case_with_a_message(city, make, client, login):
    case = make.case(city.responder_a, severity="high")
    login(city.responder_a)
    response = client.post(f"/cases/{case.id}/escalations", data={"reason": "拡散中", "level": "pr_office"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "flash-error" in page
    assert "秘書広報課へ直接エスカレーションできるのは、重大度が「緊急」の案件だけです。" in page
    assert escalation_count() == 0


# ---- the API ------------------------------------------------------------------------------------


def test_api_escalates_a_critical_case_to_the_pr_office(api, city, make):
    case = make.case(city.responder_a, severity="critical")
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a,
                   json={"reason": "乗っ取り", "level": "pr_office"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["level"] == "pr_office"
    notified = db.session.scalars(select(Notification.user_id).where(Notification.kind == "escalation")).all()
    assert notified == [city.admin.id]


@pytest.mark.parametrize("severity, level, status", [
    ("high", "pr_office", 422), ("critical", "mayor", 422), ("critical", 7, 422), ("critical", ["x"], 422),
    ("critical", "supervisors", 201), ("critical", None, 201),
])
def test_api_checks_the_level(api, city, make, expect_error, severity, level, status):
    case = make.case(city.responder_a, severity=severity)
    response = api("POST", f"/api/v1/cases/{case.id}/escalations", city.responder_a,
                   json={"reason": "至急", "level": level})
    if status == 201:
        assert response.status_code == 201 and response.get_json()["level"] == "supervisors"
    else:
        expect_error(response, 422, "validation_failed", "level")
        assert escalation_count() == 0
