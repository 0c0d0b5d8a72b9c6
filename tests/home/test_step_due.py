"""Issue 14: the due times of pending steps are stored (case_step_due) as each case's checklist says, through
every change that moves them, so the home page's "steps due" block and the PR office's overdue counts take
a fixed number of queries however many open cases there are."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from incident.cases import service as cases
from incident.cases.models import CaseStatus
from incident.dates import utcnow
from incident.extensions import db
from incident.home import service as home
from incident.playbooks import due
from incident.playbooks import service as playbooks
from incident.playbooks.models import CaseStepDue

LONG_AGO = "2025-04-01T09:00"


def _stored(case) -> dict[str, dt.datetime]:
    """The stored due times of the case's steps."""
    return dict(db.session.execute(
        select(CaseStepDue.step_key, CaseStepDue.due_at).where(CaseStepDue.case_id == case.id)).tuples().all())


def _expected(case) -> dict[str, dt.datetime]:
    """The pending steps with a deadline, as the case page's checklist says."""
    return {s.step.key: s.due_at for s in playbooks.checklist(case) if s.state == playbooks.PENDING and s.due_at}


@pytest.fixture
def people(make):
    dept = make.department("bousai", "防災課")
    return make.user("responder", dept), make.user("supervisor", dept)


def test_the_stored_due_times_follow_steps_severity_decisions_closing_and_reopening(people, make):
    responder, supervisor = people
    case = make.case(supervisor, title="炎上の案件", detected_at=LONG_AGO, severity="medium")
    first = _stored(case)
    assert first == _expected(case) and "stay_calm" in first and "correction" not in first
    assert first["stay_calm"] == dt.datetime(2025, 4, 1, 0, 30, tzinfo=dt.UTC)  # 09:00 JST + 30 minutes

    playbooks.complete_step(responder, case, "stay_calm")
    db.session.commit()
    assert "stay_calm" not in _stored(case) and _stored(case) == _expected(case)
    playbooks.reopen_step(responder, case, "stay_calm", "記録の誤り")
    db.session.commit()
    assert _stored(case)["stay_calm"] == first["stay_calm"]

    # A "yes" brings the correction step (waiting until then) onto the list with its own deadline.
    playbooks.decide(responder, case, "did_city_post_wrong", True, "誤りがあった")
    db.session.commit()
    assert _stored(case)["correction"] == dt.datetime(2025, 4, 1, 3, 0, tzinfo=dt.UTC)  # + 180 minutes
    assert "did_city_post_wrong" not in _stored(case) and _stored(case) == _expected(case)

    cases.update_case(supervisor, case, case.version, {"severity": "critical"})
    db.session.commit()
    assert _stored(case)["stay_calm"] == dt.datetime(2025, 4, 1, 0, 7, tzinfo=dt.UTC)  # + 7 minutes
    assert _stored(case) == _expected(case)

    cases.change_status(supervisor, case, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    assert _stored(case) == {}
    cases.change_status(supervisor, case, CaseStatus.RESPONDING, "再燃した")
    db.session.commit()
    # Waived steps stay waived; the optional ones still pending come back.
    assert _stored(case) == _expected(case) and "stay_calm" not in _stored(case)


def test_refresh_rebuilds_exactly_what_the_changes_kept(people, make):
    responder, supervisor = people
    one = make.case(supervisor, title="一件目", detected_at=LONG_AGO)
    two = make.case(supervisor, title="二件目", detected_at=LONG_AGO, kind="impersonation", platform="x")
    playbooks.complete_step(responder, one, "stay_calm")
    closed = make.case(supervisor, title="終わった案件", detected_at=LONG_AGO)
    cases.change_status(supervisor, closed, CaseStatus.CLOSED, "誤報", waive_open_steps=True)
    db.session.commit()
    kept = {c.id: _stored(c) for c in (one, two, closed)}
    assert kept[one.id] and kept[two.id] and kept[closed.id] == {}
    db.session.execute(CaseStepDue.__table__.delete())  # as before the migration's backfill
    assert due.refresh(db.session.connection()) == len(kept[one.id]) + len(kept[two.id])
    db.session.commit()
    assert {c.id: _stored(c) for c in (one, two, closed)} == kept


def _overdue_cases(make, supervisor, responder, n: int) -> None:
    for i in range(n):
        make.case(supervisor, title=f"期限切れの案件{i}", detected_at=LONG_AGO, assignee_id=responder.id)


def test_the_pr_office_home_takes_the_same_statements_for_3_and_30_open_cases(make, login, client,
                                                                                count_queries):
    dept = make.department("bousai", "防災課")
    responder, supervisor = make.user("responder", dept), make.user("supervisor", dept)
    admin = make.user("admin", make.department("hisho-koho", "秘書広報課"))
    login(admin)
    counts = []
    for added in (3, 27):  # 3 open cases with overdue steps, then 30
        _overdue_cases(make, supervisor, responder, added)
        db.session.expire_all()
        with count_queries() as counter:
            response = client.get("/")
        assert response.status_code == 200 and "期限切れの案件" in response.text
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    # The counts are every overdue step of the 30 cases, as their checklists say.
    open_cases = list(db.session.scalars(select(home.Case).where(home.Case.title.like("期限切れの案件%"))))
    overdue = sum(1 for c in open_cases for s in playbooks.checklist(c) if s.overdue)
    assert len(open_cases) == 30 and overdue >= 30
    page = home.home_for(admin)
    assert page.steps.count == overdue and len(page.steps.rows) == home.HOME_LIMIT
    assert {line.department.code: line.overdue_steps for line in page.departments} == {
        "bousai": overdue, "hisho-koho": 0}
    # Earliest deadline first, and every listed step is one its case page shows as overdue.
    assert [d.state.due_at for d in page.steps.rows] == sorted(d.state.due_at for d in page.steps.rows)
    for row in page.steps.rows:
        assert {s.step.key for s in playbooks.checklist(row.case) if s.overdue} >= {row.state.step.key}


def test_a_step_due_later_today_is_listed_but_not_counted_overdue(make):
    dept = make.department("bousai", "防災課")
    supervisor = make.user("supervisor", dept)
    admin = make.user("admin", make.department("hisho-koho", "秘書広報課"))
    now = utcnow()
    case = make.case(supervisor, title="いまの案件", detected_at=now.isoformat(), severity="low")
    page = home.home_for(admin, now=now + dt.timedelta(minutes=1))
    assert {d.case.id for d in page.steps.rows} <= {case.id}
    lines = {line.department.code: line.overdue_steps for line in page.departments}
    assert lines["bousai"] == 0
    later = home.home_for(admin, now=now + dt.timedelta(days=2))
    assert later.steps.count == len(_expected(case)) > 0
    assert {line.department.code: line.overdue_steps for line in later.departments}["bousai"] == len(_expected(case))
