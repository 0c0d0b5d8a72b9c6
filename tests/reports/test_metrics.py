"""Metrics: a small fixed data set with set times gives the hand-computed figures on the page, in the CSV and
from the service; each user counts only the cases they may see; bad filters answer 400, never 500."""
from __future__ import annotations

import csv
import datetime as dt
import io
import types

import pytest

from incident.auth.service import all_departments
from incident.cases.models import CaseStatus
from incident.dates import TOKYO, UTC
from incident.drafts.models import Draft, DraftEvent, DraftStatus, DraftType, Outcome, Publication
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.reports import metrics

PERIOD = {"from": "2026-01", "to": "2026-03"}


def at(text: str) -> dt.datetime:
    """A Tokyo wall-clock time as aware UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=TOKYO).astimezone(UTC)


def set_times(case, *, detected, acknowledged=None, closed=None):
    case.detected_at = at(detected)
    case.created_at = at(detected)
    case.acknowledged_at = at(acknowledged) if acknowledged else None
    if closed:
        case.closed_at = at(closed)
        case.status = CaseStatus.CLOSED
    elif acknowledged:
        case.status = CaseStatus.RESPONDING
    db.session.commit()


def publish(case, kind, when, user, draft=None):
    db.session.add(Publication(case_id=case.id, draft_id=draft.id if draft else None, kind=kind,
                               published_at=at(when), recorded_by_id=user.id))
    db.session.commit()


def takedown(case, platform, sent, user, outcome=None, answered=None):
    draft = Draft(case_id=case.id, type=DraftType.TAKEDOWN, platform=platform, status=DraftStatus.SENT,
                  outcome=Outcome(outcome) if outcome else None, created_by_id=user.id)
    db.session.add(draft)
    db.session.commit()
    publish(case, "takedown", sent, user, draft)
    if answered:
        db.session.add(DraftEvent(draft_id=draft.id, action="answered", data={"outcome": outcome},
                                  actor_id=user.id, created_at=at(answered)))
        db.session.commit()


def escalation(case, trigger, level, when):
    db.session.add(Escalation(case_id=case.id, trigger=trigger, level=level, created_at=at(when)))
    db.session.commit()


@pytest.fixture
def data(city, make):
    """Department A's four cases (one detected before the period) and department B's one, with set times.

    Hand-computed for department A, January to March 2026 (Tokyo):
      opened Jan 1 (a1), Feb 2 (a2 just after midnight Tokyo, still January in UTC; a3), Mar 0;
      closed Jan 2 (a1, and a4 detected in December), Feb 0, Mar 1 (a3);
      to acknowledge: a1 60 min, a2 30, a3 120 → Jan 60, Feb median 75, total median 60;
      to the first public response: a1 180 (interim notice), a2 240 (correction; a later correct-info post
      is not the first) → total median 210;
      to close: a1 2880 (2 days), a3 27360 (19 days) → total median 15120;
      takedowns: a1 to X sent Jan, removed after 1440 min; a3 to Facebook refused after 2880 min and to X
      still waiting (both sent Feb) → X 2 sent, Facebook 1, median answer 2160;
      escalations: a1 unacknowledged, reached the supervisors (Jan); a3 manual, reached the PR office (Feb)."""
    user = city.responder_a
    a1 = make.case(user, kind="flaming", severity="high", platform="x", title="a1")
    set_times(a1, detected="2026-01-10T09:00", acknowledged="2026-01-10T10:00", closed="2026-01-12T09:00")
    publish(a1, "interim_notice", "2026-01-10T12:00", user)
    takedown(a1, "x", "2026-01-10T13:00", user, "removed", "2026-01-11T13:00")
    escalation(a1, "unacknowledged", 1, "2026-01-10T09:05")
    a2 = make.case(user, kind="flaming", severity="medium", title="a2")
    set_times(a2, detected="2026-02-01T00:30", acknowledged="2026-02-01T01:00")
    publish(a2, "correction", "2026-02-01T04:30", user)
    publish(a2, "correct_info", "2026-02-02T09:00", user)
    a3 = make.case(user, kind="impersonation", severity="high", platform="facebook", title="a3")
    set_times(a3, detected="2026-02-10T10:00", acknowledged="2026-02-10T12:00", closed="2026-03-01T10:00")
    takedown(a3, "facebook", "2026-02-11T10:00", user, "refused", "2026-02-13T10:00")
    takedown(a3, "x", "2026-02-12T10:00", user)
    escalation(a3, "manual", 2, "2026-02-10T10:30")
    a4 = make.case(user, kind="flaming", severity="low", title="a4")
    set_times(a4, detected="2025-12-20T10:00", acknowledged="2025-12-20T11:00", closed="2026-01-05T10:00")
    b1 = make.case(city.responder_b, kind="false_information", severity="critical", title="b1")
    set_times(b1, detected="2026-01-15T10:00", acknowledged="2026-01-15T10:10", closed="2026-01-16T10:00")
    escalation(b1, "unacknowledged", 2, "2026-01-15T10:05")
    return types.SimpleNamespace(a1=a1, a2=a2, a3=a3, a4=a4, b1=b1)


def metrics_csv(client, **args):
    response = client.get("/metrics.csv", query_string={**PERIOD, **args})
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def row(rows, table, label):
    return next(r for r in rows if r[:2] == [table, label])


def test_the_service_gives_the_hand_computed_figures(app, city, data):
    filters, errors = metrics.filters_from_args(PERIOD, [d.code for d in all_departments()])
    assert errors == {}
    report = metrics.compute(city.responder_a, filters, all_departments())
    months = report.tables["month"]
    assert list(months) == ["2026-01", "2026-02", "2026-03"]
    assert [(f.opened, f.closed) for f in months.values()] == [(1, 2), (2, 0), (0, 1)]
    # (how many cases have the time, their median in seconds): February's is the mean of 1800 and 7200.
    assert months["2026-01"].acknowledge == metrics.Measured(1, 3600)
    assert months["2026-02"].acknowledge == metrics.Measured(2, 4500)
    assert metrics.Figures.median(months["2026-02"].acknowledge) == 4500
    assert months["2026-03"].acknowledge == metrics.Measured(0, None)
    assert metrics.Figures.median(months["2026-03"].acknowledge) is None
    total = report.total
    assert (total.opened, total.closed, total.takedowns, total.escalations) == (3, 3, 3, 2)
    assert metrics.Figures.median(total.acknowledge) == 3600
    assert metrics.Figures.median(total.first_response) == 210 * 60
    assert metrics.Figures.median(total.close) == 15120 * 60
    assert {k.value: (f.opened, f.closed) for k, f in report.tables["kind"].items()} == {
        "flaming": (2, 2), "impersonation": (1, 1)}
    x, facebook = report.takedowns["x"], report.takedowns["facebook"]
    assert (x.sent, x.outcomes, x.pending, x.answer) == (2, {"removed": 1}, 1, metrics.Measured(1, 1440 * 60))
    assert (facebook.sent, facebook.outcomes, facebook.answer) == (1, {"refused": 1}, metrics.Measured(1, 2880 * 60))
    assert metrics.Figures.median(report.takedown_total.answer) == 2160 * 60
    assert report.escalations == {("supervisors", "unacknowledged"): 1, ("pr_office", "manual"): 1}


def test_every_breakdown_has_its_own_hand_computed_medians_and_negative_times_are_left_out(city, data, make):
    """Per kind, severity, platform and department (department A's cases a1-a3 in the period):
      flaming a1, a2: acknowledge 60 and 30 min → median 45; first response 180 and 240 → 210; close a1 2880;
      impersonation a3: acknowledge 120, no public response, close 27360; high a1, a3: acknowledge 90;
      X a1 60, Facebook a3 120, no platform a2 30. A case whose acknowledgement was entered before its
      detection (a5, March) counts as opened but gives no time to acknowledge."""
    a5 = make.case(city.responder_a, kind="flaming", severity="low", title="a5")
    set_times(a5, detected="2026-03-05T10:00", acknowledged="2026-03-05T09:00")
    filters, _errors = metrics.filters_from_args(PERIOD, [d.code for d in all_departments()])
    report = metrics.compute(city.responder_a, filters, all_departments())
    kinds = {k.value: f for k, f in report.tables["kind"].items()}
    assert (kinds["flaming"].acknowledge, kinds["flaming"].first_response, kinds["flaming"].close) == (
        metrics.Measured(2, 45 * 60), metrics.Measured(2, 210 * 60), metrics.Measured(1, 2880 * 60))
    assert (kinds["impersonation"].acknowledge, kinds["impersonation"].first_response,
            kinds["impersonation"].close) == (
        metrics.Measured(1, 120 * 60), metrics.Measured(0, None), metrics.Measured(1, 27360 * 60))
    assert {k.value: f.acknowledge for k, f in report.tables["severity"].items()} == {
        "high": metrics.Measured(2, 90 * 60), "medium": metrics.Measured(1, 30 * 60),
        "low": metrics.Measured(0, None)}
    assert {getattr(k, "value", k): f.acknowledge for k, f in report.tables["platform"].items()} == {
        "x": metrics.Measured(1, 60 * 60), "facebook": metrics.Measured(1, 120 * 60),
        "": metrics.Measured(1, 30 * 60)}  # a5 (no platform either) has no time to acknowledge
    (department,) = report.tables["department"].values()
    assert (department.opened, department.acknowledge, department.close) == (
        4, metrics.Measured(3, 60 * 60), metrics.Measured(2, 15120 * 60))
    march = report.tables["month"]["2026-03"]
    assert (march.opened, march.acknowledge) == (1, metrics.Measured(0, None))
    assert report.total.acknowledge == metrics.Measured(3, 60 * 60)


def test_the_csv_gives_the_same_figures_in_minutes(client, login, city, data):
    login(city.responder_a)
    rows = metrics_csv(client)
    assert row(rows, "月別", "2026-01")[2:] == ["1", "2", "60", "1", "180", "1", "2880", "1", "1", "1"]
    assert row(rows, "月別", "2026-02")[2:] == ["2", "0", "75", "2", "240", "1", "27360", "1", "2", "1"]
    assert row(rows, "月別", "2026-03")[2:] == ["0", "1", "", "0", "", "0", "", "0", "0", "0"]
    assert row(rows, "合計", "")[2:] == ["3", "3", "60", "3", "210", "2", "15120", "2", "3", "2"]
    assert row(rows, "種別ごと", "なりすまし")[2:4] == ["1", "1"]
    assert row(rows, "プラットフォームごと", "（なし）")[2:4] == ["1", "1"]  # a2 opened, a4 closed: no platform
    assert row(rows, "削除依頼", "X")[2:] == ["2", "1", "0", "0", "1", "1440", "1"]
    assert row(rows, "削除依頼", "Facebook")[2:] == ["1", "0", "1", "0", "0", "2880", "1"]
    assert row(rows, "削除依頼", "合計")[2:] == ["3", "1", "1", "0", "1", "2160", "2"]
    assert row(rows, "エスカレーション", "所属長")[2:] == ["受付されないまま時間が過ぎた", "1"]
    assert row(rows, "エスカレーション", "秘書広報課")[2:] == ["手動のエスカレーション", "1"]


def test_the_page_shows_medians_counts_chart_and_definitions(client, login, city, data):
    login(city.responder_a)
    page = client.get("/metrics", query_string=PERIOD)
    assert page.status_code == 200
    text = page.text
    assert "<svg" in text and "2026-01：発生 1 件、終了 2 件" in text  # the chart, its bars titled
    assert "1時間15分" in text  # February's median time to acknowledge (75 min)
    assert "3時間30分" in text and "10日12時間" in text  # total first response (210 min), close (15120 min)
    assert "—" in text  # March has nothing to measure
    assert "数字の定義" in text and "検知日時" in text
    assert "http://" not in text.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org/2000/svg", "")
    assert 'href="/metrics.csv?from=2026-01&amp;to=2026-03"' in text


def test_a_responder_counts_only_cases_they_may_see(client, login, city, data):
    login(city.responder_b)
    rows = metrics_csv(client)
    assert row(rows, "合計", "")[2:4] == ["1", "1"]
    assert [r[1] for r in rows if r and r[0] == "所属ごと"] == ["観光課"]
    page = client.get("/metrics", query_string=PERIOD).text
    assert "防災課" not in page and 'name="department"' not in page  # no department picker either
    login(city.responder_a)
    assert "観光課" not in client.get("/metrics", query_string=PERIOD).text


def test_the_pr_office_sees_every_department_and_filters_by_one(client, login, city, data):
    login(city.admin)
    rows = metrics_csv(client)
    assert row(rows, "合計", "")[2:4] == ["4", "4"]
    assert row(rows, "月別", "2026-01")[2:4] == ["2", "3"]
    only_b = metrics_csv(client, department="dept-b")
    assert row(only_b, "合計", "")[2:] == ["1", "1", "10", "1", "", "0", "1440", "1", "0", "1"]
    assert row(only_b, "エスカレーション", "秘書広報課")[2:] == ["受付されないまま時間が過ぎた", "1"]
    assert 'name="department"' in client.get("/metrics").text


def test_the_period_defaults_to_the_last_twelve_months(app):
    period = metrics.default_period(dt.date(2026, 3, 15))
    assert period.months[0] == "2025-04" and period.months[-1] == "2026-03" and len(period.months) == 12
    assert period.start == at("2025-04-01T00:00") and period.end == at("2026-04-01T00:00")
    filters, errors = metrics.filters_from_args({"to": "2026-01"}, [], today=dt.date(2026, 3, 15))
    assert errors == {} and filters.period.months[0] == "2025-02"


@pytest.mark.parametrize("args", [
    {"from": "2026-13"}, {"from": "abc"}, {"to": "2026-1"}, {"from": "2026-03", "to": "2026-01"},
    {"from": "2020-01", "to": "2026-01"}, {"department": "no-such"}, {"from": "9999999999-01"},
    {"from": "2026-01\x00"}, {"department": "x" * 5000},
])
def test_bad_filters_answer_400_never_500(client, login, city, args):
    login(city.admin)
    page = client.get("/metrics", query_string=args)
    assert page.status_code == 400
    if not any("\x00" in value for value in args.values()):  # (a NUL byte is refused before any page, also with 400)
        assert 'aria-invalid="true"' in page.text and 'class="error"' in page.text  # said by the field
    assert client.get("/metrics.csv", query_string=args).status_code == 400


def test_signed_out_users_are_sent_to_log_in(client):
    assert client.get("/metrics").status_code == 302
    assert client.get("/metrics.csv").status_code == 302


def test_the_page_costs_the_same_queries_with_5_or_50_cases(client, login, city, make, count_queries):
    def cost():
        login(city.admin)
        with count_queries() as counter:
            assert client.get("/metrics").status_code == 200
        return counter.count

    for _ in range(5):
        case = make.case(city.responder_a)
        escalation(case, "manual", 1, "2026-01-10T09:00")
    few = cost()
    for _ in range(45):
        make.case(city.responder_b, platform="line")
    assert cost() == few
