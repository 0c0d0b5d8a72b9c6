"""Retention of closed cases' records (issue 16, 公文書の保存期間): a closing gives the kind's class, kept until
31 March of the fiscal year N years after the one the case closed in; the PR office lists what ends in a fiscal
year and extends it with a reason, never shortening; every retention given is on record (append-only)."""
from __future__ import annotations

import datetime as dt
import types

import pytest
from sqlalchemy import select, text

from incident.audit.models import AuditLog
from incident.cases import retention
from incident.cases import service as cases
from incident.cases.models import CaseStatus, RetentionEvent
from incident.extensions import db

JST = dt.timezone(dt.timedelta(hours=9))


@pytest.mark.parametrize(("closed_on", "years", "until"), [
    (dt.date(2026, 12, 1), "5", dt.date(2032, 3, 31)),   # FY2026: counted from 1 April 2027
    (dt.date(2027, 3, 31), "5", dt.date(2032, 3, 31)),   # still FY2026
    (dt.date(2027, 4, 1), "5", dt.date(2033, 3, 31)),    # FY2027
    (dt.date(2026, 4, 1), "1", dt.date(2028, 3, 31)),
    (dt.date(2026, 4, 1), "permanent", None),
])
def test_a_record_is_kept_until_31_march_counted_from_the_next_fiscal_year(closed_on, years, until):
    assert retention.kept_until(closed_on, years) == until


@pytest.fixture
def town(make, app):
    app.config["RETENTION_DEFAULTS"] = {**app.config["RETENTION_DEFAULTS"], "flaming": "3"}
    dept = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    supervisor = make.user("supervisor", dept, name="課長")
    return types.SimpleNamespace(supervisor=supervisor, responder=make.user("responder", dept),
                                 admin=make.user("admin", pr, name="広報"), case=make.case(supervisor, kind="flaming"))


def _close(actor, case):
    cases.change_status(actor, case, CaseStatus.CLOSED, "対応終了", waive_open_steps=True)
    db.session.commit()


def test_closing_gives_the_kinds_retention_and_reopening_never_shortens_it(town):
    assert town.case.retention_class is None
    _close(town.supervisor, town.case)
    closed_on = town.case.closed_at.astimezone(JST).date()
    assert town.case.retention_class == "3"
    assert town.case.retention_until == retention.kept_until(closed_on, "3")
    cases.change_status(town.supervisor, town.case, CaseStatus.RESPONDING, "再開")
    db.session.commit()
    _close(town.supervisor, town.case)
    assert town.case.retention_until == retention.kept_until(closed_on, "3")  # same fiscal year: unchanged
    assert [e.retention_class for e in retention.history(town.case)] == ["3"]


def test_the_pr_office_lists_what_ends_in_a_year_and_extends_it_with_a_reason(town, client, login):
    _close(town.supervisor, town.case)
    ends = town.case.retention_until
    year = retention.fiscal_year(ends)
    login(town.admin)
    page = client.get(f"/admin/retention?year={year}").get_data(as_text=True)
    assert town.case.number in page and f"{ends.isoformat()} まで" in page
    assert town.case.number not in client.get(f"/admin/retention?year={year - 1}").get_data(as_text=True)

    refused = client.post(f"/admin/retention/{town.case.id}", data={"retention_class": "10", "reason": "",
                                                                     "year": str(year)}, follow_redirects=True)
    assert "延長の理由を" in refused.get_data(as_text=True)
    shorter = client.post(f"/admin/retention/{town.case.id}", data={"retention_class": "1", "reason": "誤り"},
                          follow_redirects=True)
    assert "短くすることはできません" in shorter.get_data(as_text=True)
    db.session.refresh(town.case)
    assert town.case.retention_class == "3"

    assert client.post(f"/admin/retention/{town.case.id}", data={
        "retention_class": "10", "reason": "訴訟の可能性があるため", "year": str(year)}).status_code == 302
    db.session.refresh(town.case)
    assert town.case.retention_class == "10" and town.case.retention_until.year == ends.year + 7
    events = retention.history(town.case)
    assert [(e.retention_class, e.reason, e.actor_id) for e in events][-1] == ("10", "訴訟の可能性があるため", town.admin.id)
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "case.retention",
                                                       AuditLog.actor_id == town.admin.id)) is not None
    assert "保存期間：10 年" in client.get(f"/cases/{town.case.id}").get_data(as_text=True).replace("記録の", "")
    with pytest.raises(Exception, match="append-only|permission denied"):
        db.session.execute(text("DELETE FROM retention_event"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("who", ["supervisor", "responder"])
def test_retention_is_the_pr_offices_alone(town, client, login, who):
    _close(town.supervisor, town.case)
    login(getattr(town, who))
    assert client.get("/admin/retention").status_code == 404
    # The case is theirs to see, the retention is not theirs to change.
    assert client.post(f"/admin/retention/{town.case.id}", data={"retention_class": "10", "reason": "x"}).status_code == 403
    assert db.session.scalars(select(RetentionEvent)).all()[-1].retention_class == "3"


def test_an_open_case_has_no_retention_to_extend(town, client, login):
    login(town.admin)
    response = client.post(f"/admin/retention/{town.case.id}", data={"retention_class": "10", "reason": "x"},
                           follow_redirects=True)
    assert "終了した案件にだけ" in response.get_data(as_text=True)
    assert client.get("/admin/retention?year=abc").status_code == 200  # nonsense falls back to this year
