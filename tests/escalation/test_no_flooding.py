"""Escalation informs without flooding (issue 12): for one case, at one level, people are told once per
cause; one problem raises one alarm; and the climb stops when someone at the current level acts.

The clock is simulated: the sweep runs every minute for hours, as the worker would, and the tests count
who was told (EscalationNotice rows) and the mail queued (OutboxMail rows) per person."""
from __future__ import annotations

import datetime as dt
import types
from collections import Counter

import pytest
from sqlalchemy import select

from incident.cases import service as cases
from incident.drafts import service as drafts
from incident.drafts.blanks import find_blanks
from incident.escalation import service
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.notifications.models import OutboxMail
from incident.playbooks import service as playbooks

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        admin=make.user("admin", pr, name="広報 花子"),
    )


def run_worker(start: dt.datetime, minutes: int, every: int = 1) -> None:
    """Sweep every `every` minutes (the worker: each minute) from `start` for `minutes` minutes, committing
    each sweep like the worker."""
    for minute in range(0, minutes + 1, every):
        service.sweep(start + dt.timedelta(minutes=minute))
        db.session.commit()


def escalations(trigger: str | None = None) -> list[Escalation]:
    db.session.expire_all()
    query = select(Escalation).order_by(Escalation.id)
    if trigger:
        query = query.where(Escalation.trigger == trigger)
    return list(db.session.scalars(query))


def notices(user) -> Counter[tuple[int, str]]:
    """(escalation id, level) -> how many times the user was told of it at that level."""
    return Counter((n.escalation_id, n.level_name) for n in db.session.scalars(
        select(EscalationNotice).where(EscalationNotice.user_id == user.id)))


def escalation_mails(user) -> int:
    return len(db.session.scalars(select(OutboxMail).where(
        OutboxMail.to_addr == user.email, OutboxMail.kind == "escalation")).all())


def filled_draft(author, case, draft_type: str):
    """A draft of `draft_type` its author filled in (no ［…を記入］ blank left)."""
    draft = drafts.create_draft(author, case, {"type": draft_type})
    text = drafts.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    if text != drafts.latest_revision(draft).body:
        drafts.revise(author, draft, text)
    return draft


# ---- one alarm per cause, once per level ---------------------------------------------------------


@pytest.mark.parametrize("severity", ["critical", "high", "medium"])
def test_an_unattended_case_tells_each_level_once(town, make, severity):
    """The bug: an unattended case raised "unacknowledged" and "step overdue" (for the step only a
    supervisor's acknowledgement completes) at every level, and the PR office was reminded again and
    again. Now one escalation climbs, and each person hears of it once, in four hours of sweeps."""
    case = make.case(town.responder, kind="flaming", severity=severity, title="放置された炎上")
    run_worker(case.detected_at, 4 * 60)
    [only] = escalations()
    assert only.trigger == "unacknowledged" and only.is_open
    assert notices(town.supervisor) == {(only.id, "supervisors"): 1}
    assert notices(town.admin) == {(only.id, "pr_office"): 1}
    assert notices(town.responder) == {} and notices(town.colleague) == {}
    assert escalation_mails(town.admin) == 1 and escalation_mails(town.supervisor) == 1
    # Nothing is left to climb: the last level was told and `repeat` is off.
    assert only.next_at is None


def test_a_step_only_the_acknowledgement_completes_never_escalates_on_its_own(town, make):
    """Once a supervisor has taken the unacknowledged-case escalation on (by assigning the case) the other
    late steps escalate, but 「所属長に報告・相談する」 — late only because nobody acknowledged the case —
    does not become a second alarm."""
    case = make.case(town.responder, kind="flaming", severity="high", title="割り当てだけ")
    run_worker(case.detected_at, 20)  # the unacknowledged escalation reached the supervisors
    [unacknowledged] = escalations("unacknowledged")
    cases.assign(town.supervisor, case, town.responder.id)  # a supervisor acts: they have it
    db.session.commit()
    run_worker(case.detected_at + dt.timedelta(minutes=21), 3 * 60, every=5)
    assert db.session.get(Escalation, unacknowledged.id).acknowledged_by_id == town.supervisor.id
    [steps] = escalations("step_overdue")
    assert "冷静に対応する" in steps.reason  # the responder's own late step does alarm
    assert "所属長に報告・相談する" not in steps.reason
    assert steps.subject != "consult_supervisor"
    # Told once per level: the assignee, then (nobody acting) the supervisors, then the PR office.
    assert notices(town.responder) == {(steps.id, "assignee"): 1}
    assert notices(town.supervisor) == {(unacknowledged.id, "supervisors"): 1, (steps.id, "supervisors"): 1}
    assert notices(town.admin) == {(steps.id, "pr_office"): 1}


def test_a_case_a_responder_acknowledged_still_needs_the_supervisor(town, make):
    """Acknowledged by a responder, the case is taken, but the supervisor was never consulted (3(4)※):
    that step is a problem of its own and escalates."""
    case = make.case(town.responder, kind="flaming", severity="high")
    cases.acknowledge(town.responder, case)
    db.session.commit()
    run_worker(case.detected_at, 40)
    assert escalations("unacknowledged") == []
    [steps] = escalations("step_overdue")
    assert "所属長に報告・相談する" in steps.reason


def test_a_draft_waiting_for_approval_is_one_alarm_not_two(town, make):
    """A draft step whose draft awaits approval is late because of the approver: that is the approval-wait
    escalation, not also a step escalation."""
    case = make.case(town.responder, kind="flaming", severity="high", title="訂正待ち")
    cases.acknowledge(town.supervisor, case)
    playbooks.decide(town.responder, case, "did_city_post_wrong", True, "日付を誤って掲載した")
    draft = filled_draft(town.responder, case, "correction")
    drafts.submit(town.responder, draft, CHECKS)
    db.session.commit()
    for minute in range(0, 3 * 60, 5):  # the supervisor takes on each step escalation as it comes
        service.sweep(case.detected_at + dt.timedelta(minutes=minute))
        for escalation in service.open_escalations(case):
            if escalation.trigger == "step_overdue":
                service.acknowledge(town.supervisor, escalation)
        db.session.commit()
    [waiting] = escalations("approval_wait")
    assert waiting.subject.startswith(f"{draft.id}:")
    step_reasons = " ".join(e.reason for e in escalations("step_overdue"))
    assert "冷静に対応する" in step_reasons  # other late steps still alarm
    assert "訂正を出す" not in step_reasons
    assert notices(town.admin)[(waiting.id, "pr_office")] == 1


# ---- the climb stops when someone at the current level acts ----------------------------------------


def test_a_supervisor_assigning_the_case_takes_on_the_responders_escalation(town, make, client, login):
    case = make.case(town.responder, severity="high", title="手動")
    cases.acknowledge(town.supervisor, case)
    manual = service.escalate(town.responder, case, "批判が止まりません")
    db.session.commit()
    assert notices(town.supervisor) == {(manual.id, "supervisors"): 1}
    cases.assign(town.supervisor, case, town.responder.id)
    db.session.commit()
    manual = escalations("manual")[0]
    assert manual.acknowledged_by_id == town.supervisor.id and manual.next_at is None and not manual.is_open
    run_worker(manual.created_at, 3 * 60, every=5)
    assert [key for key in notices(town.admin) if key[0] == manual.id] == []  # the PR office never hears of it
    # Shown as taken on by that supervisor: on the escalation card and the timeline (with how).
    login(town.responder)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "受けたエスカレーション（1 件）" in page and "所属長 三郎が受けました" in page
    assert "担当者の割り当てにより" in page


def test_acknowledging_the_case_takes_on_an_escalation_raised_before(town, make):
    case = make.case(town.responder, severity="high")
    manual = service.escalate(town.responder, case, "至急確認を")
    cases.acknowledge(town.supervisor, case)
    db.session.commit()
    manual = db.session.get(Escalation, manual.id)
    assert manual.acknowledged_by_id == town.supervisor.id
    run_worker(case.detected_at, 2 * 60, every=5)
    assert [key for key in notices(town.admin) if key[0] == manual.id] == []


def test_approving_a_draft_takes_on_the_escalation(town, make):
    case = make.case(town.responder, severity="high")
    cases.acknowledge(town.supervisor, case)
    draft = filled_draft(town.responder, case, "press")
    drafts.submit(town.responder, draft, CHECKS)
    manual = service.escalate(town.responder, case, "承認をお願いします")
    db.session.commit()
    drafts.approve(town.supervisor, draft)
    db.session.commit()
    assert db.session.get(Escalation, manual.id).acknowledged_by_id == town.supervisor.id


def test_returning_a_draft_takes_on_the_escalation_and_ends_the_wait(town, make):
    """Returning takes on the responder's escalation; the draft's own approval wait is not "taken on" but
    resolved (it no longer waits)."""
    case = make.case(town.responder, severity="high")
    cases.acknowledge(town.supervisor, case)
    draft = filled_draft(town.responder, case, "press")
    drafts.submit(town.responder, draft, CHECKS)
    db.session.commit()
    run_worker(draft.updated_at, 35)  # high: the approval wait reaches the supervisors after 30 minutes
    [waiting] = escalations("approval_wait")
    manual = service.escalate(town.responder, case, "判断をお願いします")
    drafts.return_draft(town.supervisor, draft, "数字を確認してください")
    db.session.commit()
    assert db.session.get(Escalation, manual.id).acknowledged_by_id == town.supervisor.id
    service.sweep(draft.updated_at + dt.timedelta(minutes=36))  # the wait ended with the decision
    db.session.commit()
    waiting = db.session.get(Escalation, waiting.id)
    assert waiting.resolved_at is not None and waiting.next_at is None and waiting.acknowledged_at is None
    run_worker(draft.updated_at + dt.timedelta(minutes=36), 2 * 60, every=5)
    assert [key for key in notices(town.admin) if key[0] in (manual.id, waiting.id)] == []


def test_the_person_who_raised_it_acting_does_not_stop_it(town, make):
    """The PR office raising an escalation and then assigning the case is no answer to it."""
    case = make.case(town.responder, severity="high")
    cases.acknowledge(town.supervisor, case)
    manual = service.escalate(town.admin, case, "全庁での対応が必要")
    cases.assign(town.admin, case, town.responder.id)
    db.session.commit()
    manual = db.session.get(Escalation, manual.id)
    assert manual.is_open and manual.acknowledged_at is None


def test_someone_below_the_current_level_acting_does_not_stop_it(town, make):
    """A responder's manual escalation waits at the supervisors; the responder (even as the assignee, and
    acknowledging the case) is below that level; a supervisor's escalation at the PR office is not
    answered by a supervisor assigning the case."""
    case = make.case(town.colleague, severity="high", assignee_id=None)
    raised = service.escalate(town.colleague, case, "至急")
    cases.acknowledge(town.responder, case)  # another responder: below the supervisors
    db.session.commit()
    assert db.session.get(Escalation, raised.id).is_open
    upward = service.escalate(town.supervisor, case, "秘書広報課の判断が必要")
    db.session.commit()
    assert service.rules().levels[upward.level] == "pr_office"
    cases.assign(make.user("supervisor", case.department, name="副所属長"), case, town.responder.id)
    db.session.commit()
    upward = db.session.get(Escalation, upward.id)
    assert upward.is_open  # a supervisor acting is below the PR office
    assert db.session.get(Escalation, raised.id).acknowledged_at is not None  # ... but answers the responder's


def test_an_escalation_already_at_the_pr_office_is_taken_on_by_the_pr_office_acting(town, make):
    case = make.case(town.responder, severity="critical")
    run_worker(case.detected_at, 12)  # critical: supervisors at 5 minutes, the PR office at 10
    [unacknowledged] = escalations("unacknowledged")
    assert service.rules().levels[unacknowledged.level] == "pr_office"
    cases.assign(town.admin, case, town.responder.id)
    db.session.commit()
    unacknowledged = db.session.get(Escalation, unacknowledged.id)
    assert unacknowledged.acknowledged_by_id == town.admin.id
