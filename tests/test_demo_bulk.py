"""`flask seed-demo --cases N`: bulk demo cases that the pages, the API, the audit chain and the sweep accept."""
from __future__ import annotations

from sqlalchemy import func, select

from incident.audit.chain import verify_chain
from incident.auth.models import Department
from incident.cases.models import Case, CaseCounter, CaseStatus, Note, TimelineEvent
from incident.escalation.models import Escalation
from incident.escalation.service import sweep
from incident.extensions import db


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _seed(runner, cases: int, *extra: str) -> str:
    result = runner.invoke(args=["seed-demo", "--cases", str(cases), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_bulk_cases_have_the_asked_shape_and_a_valid_audit_chain(app, runner):
    output = _seed(runner, 200)
    assert "Bulk demo data: cases 200" in output
    bulk = list(db.session.scalars(select(Case).where(Case.id > 5)))  # the demo's own five come first
    assert len(bulk) == 200
    closed = [case for case in bulk if case.status == CaseStatus.CLOSED]
    assert 150 <= len(closed) < 200, "about 90% closed, some still open"
    assert all(case.closed_at is not None and case.closed_at >= case.created_at for case in closed)
    assert len({case.created_at.year for case in bulk}) >= 2, "spread over two years"
    assert len({case.kind for case in bulk}) == 5 and len({case.department_id for case in bulk}) == 3
    notes = _count(Note)
    assert 1200 <= notes <= 2800, "about ten notes a case"
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent)
                             .where(TimelineEvent.event == "note_added")) >= notes - 100
    assert _count(Escalation) > 0
    # Case numbers: each year's counter stands at its largest sequence, so the next case gets a new one.
    for year, last in db.session.execute(select(CaseCounter.year, CaseCounter.last)):
        assert last == db.session.scalar(select(func.max(Case.sequence)).where(Case.year == year))
    db.session.rollback()  # verify_chain reads through connections of its own
    report = verify_chain()
    assert report.ok and report.rows > 200 * 10
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "OK" in verified.output
    # The escalation sweep accepts the data (open cases with and without escalations).
    sweep()
    db.session.commit()
    assert verify_chain().ok


def test_a_second_run_adds_cases_after_the_first(app, runner):
    _seed(runner, 30, "--seed", "1")
    output = _seed(runner, 30, "--seed", "2")
    assert "users exist already" in output
    assert _count(Case) == 5 + 60
    assert len(set(db.session.scalars(select(Case.number)))) == 65
    db.session.rollback()
    assert verify_chain().ok


def test_bad_case_count_is_refused_and_writes_nothing(app, runner):
    result = runner.invoke(args=["seed-demo", "--cases", "-5"])
    assert result.exit_code == 2 and "--cases" in result.output
    assert _count(Case) == 0


def test_pages_and_api_answer_on_bulk_data(app, runner, make, login, client, api):
    _seed(runner, 200)
    departments = {d.code: d for d in db.session.scalars(select(Department))}
    pr_office = make.user(role="admin", department=departments["hisho-koho"])
    case = db.session.scalars(select(Case).join(Note).where(Case.id > 5).group_by(Case.id)
                              .order_by(func.count(Note.id).desc()).limit(1)).one()
    note = db.session.scalars(select(Note).where(Note.case_id == case.id).order_by(Note.id)).first()
    login(pr_office)
    listing = client.get("/cases")
    assert listing.status_code == 200
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200 and case.number in page.text
    assert note.body.splitlines()[-1].lstrip("-> ")[:10] in page.text
    assert client.get("/cases?status=closed&page=3").status_code == 200
    response = api("GET", "/api/v1/cases", pr_office)
    assert response.status_code == 200 and response.json["items"]
    # Someone of another department does not see the case at all.
    other = next(d for code, d in departments.items() if code != "hisho-koho" and d.id != case.department_id)
    stranger = make.user(role="responder", department=other)
    login(stranger)
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert api("GET", f"/api/v1/cases/{case.id}", stranger).status_code == 404
