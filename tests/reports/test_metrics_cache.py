"""The metrics figures are computed once per change of data: a second view with nothing changed reuses them
(one query), any audited change computes them again, and one person's figures never serve another."""
from __future__ import annotations

import datetime as dt

import pytest

from incident.auth.service import all_departments
from incident.cases import service as cases
from incident.extensions import db
from incident.reports import metrics, metrics_cache


@pytest.fixture
def computed(monkeypatch):
    """The reports metrics.compute made, in order."""
    made: list[metrics.Report] = []
    real = metrics.compute

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(metrics, "compute", counting)
    return made


def _report(user):
    filters, errors = metrics.filters_from_args({}, [d.code for d in all_departments()])
    assert errors == {}
    return metrics_cache.report(user, filters, all_departments())


def test_a_second_view_reuses_the_figures_until_something_changes(city, make, computed, count_queries):
    make.case(city.responder_a)
    first = _report(city.admin)
    departments = all_departments()
    filters, _ = metrics.filters_from_args({}, [d.code for d in departments])
    with count_queries() as counter:
        again = metrics_cache.report(city.admin, filters, departments)
    assert len(computed) == 1 and counter.count == 1
    assert again.total == first.total and again.total.opened == 1
    # Opening a case writes an audit row: the next view counts it.
    make.case(city.responder_b)
    assert _report(city.admin).total.opened == 2 and len(computed) == 2
    case = make.case(city.responder_a)
    cases.change_status(city.supervisor_a, case, cases.CaseStatus.RESPONDING)
    db.session.commit()
    assert _report(city.admin).total.opened == 3 and len(computed) == 3


def test_each_person_gets_their_own_figures(city, make, computed):
    make.case(city.responder_a)
    make.case(city.responder_b)
    assert _report(city.admin).total.opened == 2
    assert _report(city.responder_b).total.opened == 1
    assert _report(city.responder_a).total.opened == 1
    assert len(computed) == 3
    assert _report(city.responder_b).total.opened == 1 and len(computed) == 3


def test_a_department_filter_is_part_of_the_key(city, make, computed):
    make.case(city.responder_a)
    departments = all_departments()
    codes = [d.code for d in departments]
    everything, _ = metrics.filters_from_args({}, codes)
    one, _ = metrics.filters_from_args({"department": city.dept_b.code}, codes)
    assert metrics_cache.report(city.admin, everything, departments).total.opened == 1
    assert metrics_cache.report(city.admin, one, departments).total.opened == 0
    assert len(computed) == 2


def test_an_escalation_the_sweep_raises_counts_at_the_next_view(city, make, computed):
    """The sweep writes no audit row, but a timeline entry: that is a change of data too."""
    from incident.escalation import sweeping

    case = make.case(city.responder_a, severity="high")
    assert _report(city.admin).total.escalations == 0
    assert sweeping.sweep(case.created_at + dt.timedelta(minutes=16)).raised == 1
    db.session.commit()
    assert _report(city.admin).total.escalations == 1 and len(computed) == 2
