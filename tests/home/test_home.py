"""Issue 14: the home page after login. Each block (my open cases, steps overdue or due today, drafts waiting
for my approval, escalations to me, takedown/recovery follow-ups due, notices owed) shows each role what is
theirs and never another department's case, not even in a count; the PR office gets a summary by department;
every block answers in the same number of queries however much data there is."""
from __future__ import annotations

import datetime as dt
import re
import types

import pytest

from incident import pagination
from incident.cases import service as cases
from incident.dates import TOKYO, utcnow
from incident.drafts import sending
from incident.drafts import service as drafts
from incident.drafts.blanks import find_blanks
from incident.drafts.models import Draft, DraftStatus, DraftType, Publication, Route
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.home import service as home
from incident.playbooks import service as playbooks

CHECKS = list(drafts.SECTION4_CHECKS)
ORG = "株式会社いしのまき広告"
#: Long ago: every step with a deadline is overdue.
LONG_AGO = "2025-04-01T09:00"


def _filled(text: str) -> str:
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    return text


def _draft(author, case, type_: str, **data) -> Draft:
    """A draft generated from the case, its blanks filled in by its author (ready to submit)."""
    draft = drafts.create_draft(author, case, {"type": type_, **data})
    revision = drafts.latest_revision(draft)
    drafts.revise(author, draft, _filled(revision.body), web_body=_filled(revision.web_body))
    return draft


def _sent(author, approver, case, type_: str, data: dict) -> Draft:
    draft = _draft(author, case, type_)
    drafts.submit(author, draft, CHECKS)
    drafts.approve(approver, draft)
    sending.record_sent(author, draft, data)
    return draft


def _escalate(case, *told) -> Escalation:
    """An open escalation of the case, as the escalation service records it: who was told at its level."""
    escalation = Escalation(case_id=case.id, trigger="manual", reason="至急確認を", level=0)
    db.session.add(escalation)
    db.session.flush()
    for user in told:
        db.session.add(EscalationNotice(escalation_id=escalation.id, level=0, level_name="supervisors",
                                        user_id=user.id))
    return escalation


def _load_up(w, case, responder, supervisor) -> types.SimpleNamespace:
    """Everything the home blocks look for, on one case: a press release on the supervisor route, an interim
    notice with no final notice, a takedown request whose follow-up date has come, an escalation."""
    press = _draft(responder, case, "press")
    drafts.submit(responder, press, CHECKS)
    sent_at = (utcnow() - dt.timedelta(days=30)).isoformat()
    interim = _sent(responder, supervisor, case, "interim_notice",
                    {"channel": "post", "url": "https://x.com/city/status/1", "sent_at": sent_at})
    follow_up = (utcnow() - dt.timedelta(days=28)).astimezone(TOKYO).date().isoformat()
    takedown = _sent(responder, supervisor, case, "takedown",
                     {"channel": "form", "sent_at": sent_at, "follow_up_on": follow_up})
    return types.SimpleNamespace(press=press, interim=interim, takedown=takedown)


@pytest.fixture
def w(make):
    """Department A (two responders, a supervisor, a contractor's person), department B (a responder and a
    supervisor) and the PR office; cases of both departments with something in every block."""
    w = types.SimpleNamespace()
    w.dept_a = make.department("bousai", "防災課")
    w.dept_b = make.department("kanko", "観光課")
    w.pr = make.department("hisho-koho", "秘書広報課")
    w.responder_a = make.user("responder", w.dept_a, name="防災 担当")
    w.colleague_a = make.user("responder", w.dept_a, name="防災 同僚")
    w.supervisor_a = make.user("supervisor", w.dept_a, name="防災 課長")
    w.op_a = make.user("responder", w.dept_a, name="委託 一郎", organisation=ORG)
    w.responder_b = make.user("responder", w.dept_b, name="観光 担当")
    w.supervisor_b = make.user("supervisor", w.dept_b, name="観光 課長")
    w.admin = make.user("admin", w.pr, name="広報 担当")
    w.op_account = make.account(w.dept_a, platform="x", name="防災X（委託）", operator_type="contractor",
                                operator_name=ORG)
    # Mine (responder A's): overdue steps, and every draft block.
    w.mine = make.case(w.responder_a, kind="impersonation", platform="x", title="防災の担当案件",
                       detected_at=LONG_AGO)
    # Department A's, unassigned: its supervisor's work, not responder A's.
    w.team = make.case(w.responder_a, title="防災の未割り当て案件", detected_at=LONG_AGO)
    # The contractor's: a case about the account their organisation runs, assigned to them.
    w.op_case = make.case(w.responder_a, title="委託アカウントの案件", official_account_id=w.op_account.id,
                          detected_at=LONG_AGO)
    # Department B's: never on department A's home page.
    w.other = make.case(w.responder_b, kind="impersonation", platform="x", title="観光の秘密の案件",
                        detected_at=LONG_AGO)
    cases.assign(w.supervisor_a, w.mine, w.responder_a.id)
    cases.assign(w.supervisor_a, w.op_case, w.op_a.id)
    cases.assign(w.supervisor_b, w.other, w.responder_b.id)
    w.mine_drafts = _load_up(w, w.mine, w.responder_a, w.supervisor_a)
    w.other_drafts = _load_up(w, w.other, w.responder_b, w.supervisor_b)
    # A pre-approved text on the team case: a colleague's second check (not its author's, not the contractor's).
    w.pre = _draft(w.responder_a, w.team, "correct_info", link="https://www.city.ishinomaki.lg.jp/bousai/a.html")
    drafts.mark_pre_approved(w.responder_a, w.pre, "a", "市ホームページ 2025-04-01 掲載", CHECKS)
    assert w.pre.status == DraftStatus.SUBMITTED
    w.esc_mine = _escalate(w.mine, w.responder_a, w.supervisor_a, w.admin)
    w.esc_other = _escalate(w.other, w.supervisor_b, w.admin)
    # Told once about a city-run case the contractor cannot see: still not theirs to see.
    w.esc_hidden = _escalate(w.team, w.op_a, w.supervisor_a)
    db.session.commit()
    return w


def test_a_responder_sees_their_own_work_only(w):
    page = home.home_for(w.responder_a)
    assert page.cases.count == 1 and [c.id for c in page.cases.rows] == [w.mine.id]
    assert page.steps.count == _overdue(w.mine) > 0 and {d.case.id for d in page.steps.rows} == {w.mine.id}
    assert all(d.state.overdue for d in page.steps.rows)
    # Their own press release waits for the supervisor; the pre-approved text is their own: nothing to approve.
    assert page.approvals.count == 0
    assert page.escalations.count == 1 and [e.id for e, _c in page.escalations.rows] == [w.esc_mine.id]
    assert page.follow_ups.count == 1 and [d.id for d, _c in page.follow_ups.rows] == [w.mine_drafts.takedown.id]
    assert page.notices.count == 1 and [c.id for c, _at in page.notices.rows] == [w.mine.id]
    assert page.departments is None


def test_a_colleague_is_asked_for_the_second_check_of_a_pre_approved_text(w):
    page = home.home_for(w.colleague_a)
    assert page.approvals.count == 1 and [d.id for d, _c in page.approvals.rows] == [w.pre.id]
    assert page.cases.count == page.steps.count == page.escalations.count == 0
    assert page.follow_ups.count == page.notices.count == 0  # not assigned to them: their supervisor's to chase


def _overdue(*cases_) -> int:
    """How many steps of these cases are overdue, as their case pages say."""
    return sum(1 for case in cases_ for state in playbooks.checklist(case) if state.overdue)


def _case_ids(page: home.Home) -> set[int]:
    """Every case any block of the page names."""
    ids = {c.id for c in page.cases.rows} | {d.case.id for d in page.steps.rows}
    for block in (page.approvals, page.escalations, page.follow_ups):
        ids |= {c.id for _row, c in block.rows}
    return ids | {c.id for c, _at in page.notices.rows}


def test_a_supervisor_sees_the_departments_work_and_nothing_of_another(w):
    page = home.home_for(w.supervisor_a)
    assert page.cases.count == 0
    assert {d.case.id for d in page.steps.rows} == {w.mine.id, w.team.id, w.op_case.id}
    # The counts are exactly department A's: nothing of department B is counted either.
    assert page.steps.count == _overdue(w.mine, w.team, w.op_case)
    assert {d.id for d, _c in page.approvals.rows} == {w.mine_drafts.press.id, w.pre.id}
    assert page.approvals.count == 2
    assert {e.id for e, _c in page.escalations.rows} == {w.esc_mine.id, w.esc_hidden.id}
    assert page.escalations.count == 2
    assert page.follow_ups.count == 1 and page.notices.count == 1
    assert w.other.id not in _case_ids(page)
    # Every approval offered is one the drafts service lets them make.
    for draft, case in page.approvals.rows:
        assert drafts.can_approve(w.supervisor_a, draft, case)


def test_the_other_departments_supervisor_sees_only_theirs(w):
    page = home.home_for(w.supervisor_b)
    assert _case_ids(page) == {w.other.id}
    assert page.steps.count == _overdue(w.other)
    assert [d.id for d, _c in page.approvals.rows] == [w.other_drafts.press.id]
    assert [e.id for e, _c in page.escalations.rows] == [w.esc_other.id]
    assert [c.id for c, _at in page.notices.rows] == [w.other.id]
    assert [d.id for d, _c in page.follow_ups.rows] == [w.other_drafts.takedown.id]


def test_a_contractors_user_sees_only_the_cases_of_their_organisations_account(w):
    page = home.home_for(w.op_a)
    assert _case_ids(page) == {w.op_case.id}
    assert [c.id for c in page.cases.rows] == [w.op_case.id]
    assert page.steps.count == _overdue(w.op_case)
    assert {d.case.id for d in page.steps.rows} == {w.op_case.id}
    # Told about a city-run case once, a colleague's pre-approved text on it: neither is theirs to see.
    assert page.escalations.count == 0 and page.approvals.count == 0
    assert page.follow_ups.count == page.notices.count == 0


def test_the_pr_office_sees_every_department_with_a_summary(w):
    page = home.home_for(w.admin)
    assert {d.case.id for d in page.steps.rows} >= {w.mine.id, w.other.id}
    assert {d.id for d, _c in page.approvals.rows} == {w.mine_drafts.press.id, w.other_drafts.press.id, w.pre.id}
    assert {e.id for e, _c in page.escalations.rows} == {w.esc_mine.id, w.esc_other.id}
    assert page.follow_ups.count == 2 and page.notices.count == 2
    lines = {line.department.code: line for line in page.departments}
    assert set(lines) == {"bousai", "kanko", "hisho-koho"}
    assert (lines["bousai"].open_cases, lines["kanko"].open_cases, lines["hisho-koho"].open_cases) == (3, 1, 0)
    assert (lines["bousai"].approvals, lines["kanko"].approvals) == (2, 1)
    assert (lines["bousai"].escalations, lines["kanko"].escalations) == (2, 1)
    assert lines["bousai"].overdue_steps > lines["kanko"].overdue_steps > 0
    assert lines["hisho-koho"].overdue_steps == 0


def test_the_pr_office_summary_is_counted_once_per_change_and_minute(w, make, count_queries):
    """Its grouped counts read every open case: a second view with nothing changed reuses them (two queries:
    the data's version and the departments), and any change or the next minute counts again."""
    now = utcnow().replace(second=0, microsecond=0)
    first = {line.department.code: line.open_cases for line in home.department_summary(w.admin, now)}
    with count_queries() as counter:
        again = home.department_summary(w.admin, now + dt.timedelta(seconds=59))
    assert counter.count == 2
    assert {line.department.code: line.open_cases for line in again} == first == {
        "bousai": 3, "kanko": 1, "hisho-koho": 0}
    make.case(w.responder_b, title="観光の新しい案件")
    changed = {line.department.code: line.open_cases for line in home.department_summary(w.admin, now)}
    assert changed["kanko"] == 2
    with count_queries() as counter:
        home.department_summary(w.admin, now + dt.timedelta(minutes=1))
    assert counter.count > 2
    # One person's summary never serves another: a supervisor sees only what they may see.
    assert {line.department.code: line.open_cases for line in home.department_summary(w.supervisor_b, now)}[
        "bousai"] == 0


def test_a_final_notice_settles_what_is_owed_and_an_answer_ends_the_follow_up(w):
    sent_at = (utcnow() - dt.timedelta(days=1)).isoformat()
    final = _draft(w.responder_a, w.mine, "final_notice")
    drafts.submit(w.responder_a, final, CHECKS)
    drafts.approve(w.supervisor_a, final)
    sending.record_sent(w.responder_a, final, {"channel": "post", "url": "https://x.com/city/status/2",
                                               "sent_at": sent_at})
    sending.record_answer(w.responder_a, w.mine_drafts.takedown, {"outcome": "removed"})
    db.session.commit()
    page = home.home_for(w.responder_a)
    assert page.notices.count == 0 and page.follow_ups.count == 0


def test_a_withdrawn_interim_notice_is_not_owed_a_final_one(w):
    assert home.notices_owed(w.responder_a).count == 1
    entry = db.session.query(Publication).filter_by(draft_id=w.mine_drafts.interim.id).one()
    sending.withdraw(w.supervisor_a, entry, "誤って投稿した")
    db.session.commit()
    assert home.notices_owed(w.responder_a).count == 0


def test_steps_due_later_today_are_listed_but_not_overdue(make):
    dept = make.department()
    responder = make.user("responder", dept)
    supervisor = make.user("supervisor", dept)
    case = make.case(supervisor, title="今朝の案件", detected_at="2026-01-10T09:00", assignee_id=responder.id)
    morning = dt.datetime(2026, 1, 10, 9, 1, tzinfo=TOKYO)
    due = home.due_steps(responder, now=morning)
    assert due.count > 0 and not any(d.state.overdue for d in due.rows)
    assert all(d.state.due_at.astimezone(TOKYO).date() == morning.date() for d in due.rows)
    next_day = home.due_steps(responder, now=morning + dt.timedelta(days=1))
    assert next_day.count == due.count and all(d.state.overdue for d in next_day.rows)
    # Steps due tomorrow or later are not today's work.
    make.case(supervisor, title="深夜の案件", detected_at="2026-01-10T23:50", severity="low", assignee_id=responder.id)
    at_night = dt.datetime(2026, 1, 10, 23, 51, tzinfo=TOKYO)
    assert {d.case.id for d in home.due_steps(responder, now=at_night).rows} == {case.id}


# ---- the pages ----------------------------------------------------------------------------------


def test_home_after_login_and_login_page_when_logged_out(w, client, login):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].split("?")[0].endswith("/login")
    c = login(w.responder_a)
    page = c.get("/")
    assert page.status_code == 200
    text = page.text
    assert "<h1>ホーム</h1>" in text and "防災の担当案件" in text
    assert "観光の秘密の案件" not in text and w.other.number not in text
    assert 'aria-current="page">ホーム</a>' in text
    assert re.search(r'id="h-cases">自分が担当する未終了の案件 <span class="block-count">（1 件）', text)
    assert "所属ごとの状況" not in text


def test_the_home_page_counts_are_in_the_text_and_link_to_the_fuller_lists(w, client, login):
    text = login(w.supervisor_a).get("/").text
    assert re.search(r'id="h-approvals">自分の承認を待っている文案 <span class="block-count">（2 件）', text)
    assert re.search(r'id="h-escalations">自分へのエスカレーション <span class="block-count">（2 件）', text)
    assert 'href="/home/approvals"' in text and 'href="/queue"' in text and 'href="/home/steps"' in text
    assert "観光の秘密の案件" not in text and w.other.number not in text
    steps = client.get("/home/steps").text
    assert "防災の未割り当て案件" in steps and "期限超過" in steps and "観光の秘密の案件" not in steps
    for block in ("approvals", "follow_ups", "notices"):
        page = client.get(f"/home/{block}")
        assert page.status_code == 200 and "観光の秘密の案件" not in page.text
    assert client.get("/home/everything").status_code == 404


def test_counts_stop_at_the_cap_and_say_so(w, client, login, monkeypatch):
    """Counting stops past COUNT_CAP: the block says "N 件以上" rather than a number it did not count."""
    page = home.home_for(w.supervisor_a)
    assert page.approvals.count == 2 and not page.approvals.capped
    monkeypatch.setattr(pagination, "COUNT_CAP", 1)
    page = home.home_for(w.supervisor_a)
    assert page.approvals.count == 2 and page.approvals.capped and page.steps.capped
    text = login(w.supervisor_a).get("/").text
    assert re.search(r'id="h-approvals">自分の承認を待っている文案 <span class="block-count">（1 件以上）', text)
    steps = client.get("/home/steps").text
    assert "件以上）" in steps and "（1 件以上）" in steps
    monkeypatch.setattr(pagination, "COUNT_CAP", 1000)
    assert "（1 件以上）" not in client.get("/").text


def test_the_pr_office_home_has_the_department_table(w, client, login):
    text = login(w.admin).get("/").text
    assert "所属ごとの状況" in text and "観光課" in text and "防災課" in text
    assert 'href="/cases?department=kanko"' in text


def test_the_brand_link_and_login_lead_home(w, client):
    response = client.post("/login", data={"email": w.responder_a.email, "password": "correct-horse-battery"})
    assert response.headers["Location"] == "/"
    assert 'class="brand"><a href="/">' in client.get("/cases").text


# ---- a fixed number of queries ------------------------------------------------------------------


def _bulk(make, dept, responder, supervisor, n: int) -> None:
    """n cases of the department, each with overdue steps, a submitted draft, a takedown to chase, an interim
    notice and an escalation to its responder and supervisor (rows as the services leave them)."""
    long_ago = utcnow() - dt.timedelta(days=60)
    for i in range(n):
        case = make.case(supervisor, title=f"大量の案件{i}", detected_at=LONG_AGO, assignee_id=responder.id)
        db.session.add_all([
            Draft(case_id=case.id, type=DraftType.PRESS, status=DraftStatus.SUBMITTED, route=Route.SUPERVISOR,
                  created_by_id=responder.id),
            Draft(case_id=case.id, type=DraftType.TAKEDOWN, status=DraftStatus.SENT, platform="x",
                  follow_up_on=long_ago.date(), created_by_id=responder.id),
            Publication(case_id=case.id, kind=DraftType.INTERIM_NOTICE.value, published_at=long_ago,
                        recorded_by_id=responder.id),
        ])
        _escalate(case, responder, supervisor)
    db.session.commit()


@pytest.mark.parametrize("who", ["responder", "supervisor", "admin"])
def test_the_home_page_takes_the_same_number_of_queries_for_3_and_30_cases(make, login, client, count_queries,
                                                                              who):
    dept = make.department("bousai", "防災課")
    make.department("kanko", "観光課")
    responder = make.user("responder", dept)
    supervisor = make.user("supervisor", dept)
    admin = make.user("admin", make.department("hisho-koho", "秘書広報課"))
    user = {"responder": responder, "supervisor": supervisor, "admin": admin}[who]
    login(user)
    counts = []
    for added in (3, 27):  # 3 cases, then 30
        _bulk(make, dept, responder, supervisor, added)
        db.session.expire_all()
        with count_queries() as counter:
            response = client.get("/")
        assert response.status_code == 200
        counts.append(counter.count)
        assert "大量の案件" in response.text
    assert counts[0] == counts[1], counts
    # And the blocks hold what was made (not a page that is fast because it is empty).
    page = home.home_for(user)
    if who != "admin":
        assert page.steps.count >= 30 and page.follow_ups.count == 30 and page.notices.count == 30
    if who == "supervisor":
        assert page.approvals.count == 30 and page.escalations.count == 30
    if who == "admin":
        assert {line.department.code: line.open_cases for line in page.departments}["bousai"] == 30
