"""The escalation sweep with a fixed clock: raise, climb, stop on acknowledgement, idempotent."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from incident.cases import service as cases
from incident.escalation import service, sweeping
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
    assert sweeping.sweep(start + dt.timedelta(minutes=14)).raised == 0
    report = sweeping.sweep(start + dt.timedelta(minutes=16))
    db.session.commit()
    assert report.raised == 1
    assert [n.level_name for n in told(town["supervisor"])] == ["supervisors"]
    assert told(town["admin"]) == [] and told(town["other_supervisor"]) == []
    # Running it again at the same moment changes nothing.
    again = sweeping.sweep(start + dt.timedelta(minutes=16))
    assert (again.raised, again.climbed) == (0, 0)
    # Nobody acknowledged: 15 minutes later (next_level_minutes for high) it reaches the PR office.
    assert sweeping.sweep(start + dt.timedelta(minutes=32)).climbed == 1
    db.session.commit()
    assert [n.level_name for n in told(town["admin"])] == ["pr_office"]
    assert sweeping.sweep(start + dt.timedelta(minutes=32)).climbed == 0


@pytest.mark.parametrize("statement", ["UPDATE {table} SET level = level", "DELETE FROM {table}"])
def test_who_was_told_is_append_only(town, make, refuses_sql, statement):
    """The record of who was told at which level (the metrics) cannot be rewritten."""
    case = make.case(town["responder"], severity="high")
    sweeping.sweep(case.created_at + dt.timedelta(minutes=16))
    db.session.commit()
    refuses_sql("escalation_notice", statement)


def test_acknowledging_the_case_stops_the_escalation(town, make):
    case = make.case(town["responder"], severity="high")
    start = case.created_at
    sweeping.sweep(start + dt.timedelta(minutes=16))
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    report = sweeping.sweep(start + dt.timedelta(minutes=60))
    db.session.commit()
    assert report.climbed == 0
    unacknowledged = db.session.scalars(select(Escalation).where(Escalation.trigger == "unacknowledged")).one()
    assert unacknowledged.resolved_at is not None and not unacknowledged.is_open
    assert [n.level_name for n in told(town["admin"]) if n.escalation_id == unacknowledged.id] == []


def test_acknowledging_the_escalation_stops_the_climb(town, make):
    case = make.case(town["responder"], severity="high")
    sweeping.sweep(case.created_at + dt.timedelta(minutes=16))
    escalation = db.session.scalars(select(Escalation).where(Escalation.trigger == "unacknowledged")).one()
    service.acknowledge(town["supervisor"], escalation)
    db.session.commit()
    sweeping.sweep(case.created_at + dt.timedelta(minutes=90))
    assert [n for n in told(town["admin"]) if n.escalation_id == escalation.id] == []


def test_opening_a_case_notifies_supervisors_and_queues_mail(town, make):
    make.case(town["responder"], title="新しい件")
    rows = list(db.session.scalars(select(Notification).where(Notification.user_id == town["supervisor"].id)))
    assert len(rows) == 1 and "新しい件" in rows[0].title
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)
                             .where(OutboxMail.to_addr == town["supervisor"].email)) == 1


# ---- steps, approvals, closing, repeat -------------------------------------------------------

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]


def escalations(trigger: str) -> list[Escalation]:
    db.session.expire_all()
    return list(db.session.scalars(select(Escalation).where(Escalation.trigger == trigger).order_by(Escalation.id)))


def notices_of(escalation: Escalation) -> list[tuple[str, int]]:
    return [(n.level_name, n.user_id) for n in db.session.scalars(
        select(EscalationNotice).where(EscalationNotice.escalation_id == escalation.id).order_by(EscalationNotice.id))]


def test_overdue_required_step_escalates_to_the_assignee_and_resolves_when_done(town, make):
    from incident.playbooks import service as playbooks

    # medium: stay_calm is due 30 minutes after opening, step_overdue_minutes is 60.
    case = make.case(town["responder"], severity="medium", title="手順遅れ")
    cases.assign(town["supervisor"], case, town["responder"].id)
    cases.acknowledge(town["supervisor"], case)  # completes consult_supervisor; no unacknowledged escalation
    db.session.commit()
    start = case.created_at
    sweeping.sweep(start + dt.timedelta(minutes=89))
    db.session.commit()
    assert escalations("step_overdue") == []
    report = sweeping.sweep(start + dt.timedelta(minutes=91))
    db.session.commit()
    assert report.raised == 1
    [escalation] = escalations("step_overdue")
    assert escalation.subject == "stay_calm" and escalation.is_open
    # The assignee is the first level; the supervisors are not told yet.
    assert notices_of(escalation) == [("assignee", town["responder"].id)]
    note = db.session.scalars(select(Notification).where(Notification.user_id == town["responder"].id,
                                                         Notification.kind == "escalation")).one()
    assert note.case_id == case.id and note.link == f"/cases/{case.id}#escalations"

    playbooks.complete_step(town["responder"], case, "stay_calm")
    db.session.commit()
    # The next sweep (no other required step is overdue yet) resolves it.
    report = sweeping.sweep(start + dt.timedelta(minutes=92))
    db.session.commit()
    escalation = db.session.get(Escalation, escalation.id)
    assert report.resolved == 1 and escalation.resolved_at is not None and not escalation.is_open
    # It did not climb to the supervisors once the step was done.
    assert notices_of(escalation) == [("assignee", town["responder"].id)]


def test_overdue_step_still_pending_climbs_to_the_supervisors(town, make):
    case = make.case(town["responder"], severity="medium")
    cases.assign(town["supervisor"], case, town["responder"].id)
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    sweeping.sweep(case.created_at + dt.timedelta(minutes=91))
    db.session.commit()
    [escalation] = escalations("step_overdue")
    report = sweeping.sweep(escalation.next_at)
    db.session.commit()
    assert report.climbed >= 1
    assert notices_of(escalation) == [("assignee", town["responder"].id), ("supervisors", town["supervisor"].id)]


def test_completed_step_resolves_at_the_next_sweep(town, make):
    """Not only when its next level falls due: the banner and the queue stop showing it at once."""
    from incident.playbooks import service as playbooks

    case = make.case(town["responder"], severity="medium")
    cases.assign(town["supervisor"], case, town["responder"].id)
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    start = case.created_at
    sweeping.sweep(start + dt.timedelta(minutes=91))
    db.session.commit()
    playbooks.complete_step(town["responder"], case, "stay_calm")
    db.session.commit()
    report = sweeping.sweep(start + dt.timedelta(minutes=92))
    db.session.commit()
    [escalation] = escalations("step_overdue")
    assert report.resolved == 1 and escalation.resolved_at is not None
    assert service.open_escalations(case) == []


def test_an_acknowledged_step_escalation_returns_when_another_step_falls_overdue(town, make):
    """Acknowledging says "I am on it" for the steps named; a step that falls overdue later alarms again."""
    case = make.case(town["responder"], severity="medium")
    cases.assign(town["supervisor"], case, town["responder"].id)
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    start = case.created_at
    sweeping.sweep(start + dt.timedelta(minutes=91))
    [first] = escalations("step_overdue")
    service.acknowledge(town["responder"], first)
    db.session.commit()
    assert sweeping.sweep(start + dt.timedelta(minutes=92)).raised == 0  # the same overdue steps: no new alarm
    later = sweeping.sweep(start + dt.timedelta(hours=12))  # by now further required steps are overdue
    db.session.commit()
    assert later.raised == 1
    assert len(escalations("step_overdue")) == 2


def test_a_returned_and_resubmitted_draft_can_escalate_again(town, make):
    from incident.drafts import service as drafts

    case = make.case(town["responder"], severity="medium")
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    draft = _submitted_draft(town, case)
    sweeping.sweep(draft.updated_at + dt.timedelta(minutes=121))
    drafts.return_draft(town["supervisor"], draft, "表現を見直してください")
    drafts.submit(town["responder"], draft, CHECKS)
    db.session.commit()
    report = sweeping.sweep(draft.updated_at + dt.timedelta(minutes=121))
    db.session.commit()
    assert report.resolved == 1 and report.raised == 1  # the first wait ended; the second one alarms anew
    assert len(escalations("approval_wait")) == 2


def _submitted_draft(town, case):
    from incident.drafts import service as drafts
    from incident.drafts.blanks import find_blanks

    draft = drafts.create_draft(town["responder"], case, {"type": "press"})
    text = drafts.latest_revision(draft).body
    for blank in find_blanks(text):  # staff write in what the template left blank before submitting
        text = text.replace(blank.text, "確認した内容", 1)
    if text != drafts.latest_revision(draft).body:
        drafts.revise(town["responder"], draft, text)
    drafts.submit(town["responder"], draft, CHECKS)
    db.session.commit()
    return draft


def test_draft_waiting_for_approval_escalates_to_supervisors_and_resolves_when_approved(town, make):
    from incident.drafts import service as drafts

    case = make.case(town["responder"], severity="medium", title="文案待ち")
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    draft = _submitted_draft(town, case)
    submitted = draft.updated_at
    sweeping.sweep(submitted + dt.timedelta(minutes=119))
    db.session.commit()
    assert escalations("approval_wait") == []
    report = sweeping.sweep(submitted + dt.timedelta(minutes=121))
    db.session.commit()
    assert report.raised >= 1
    [escalation] = escalations("approval_wait")
    assert escalation.subject == f"{draft.id}:{draft.version}"  # a resubmission is a new wait
    # approval_wait starts at the supervisors, not the assignee or the PR office.
    assert notices_of(escalation) == [("supervisors", town["supervisor"].id)]
    assert told(town["other_supervisor"]) == []

    drafts.approve(town["supervisor"], draft)
    db.session.commit()
    report = sweeping.sweep(escalation.next_at)
    db.session.commit()
    [escalation] = escalations("approval_wait")
    assert escalation.resolved_at is not None and report.resolved >= 1
    assert escalation.acknowledged_at is None  # it ended because the draft was decided, not taken on
    assert [n for n in told(town["admin"]) if n.escalation_id == escalation.id] == []


def test_draft_still_waiting_climbs_to_the_pr_office(town, make):
    case = make.case(town["responder"], severity="medium")
    cases.acknowledge(town["supervisor"], case)
    db.session.commit()
    draft = _submitted_draft(town, case)
    sweeping.sweep(draft.updated_at + dt.timedelta(minutes=121))
    db.session.commit()
    [escalation] = escalations("approval_wait")
    sweeping.sweep(escalation.next_at)
    db.session.commit()
    assert notices_of(escalation) == [("supervisors", town["supervisor"].id), ("pr_office", town["admin"].id)]


def test_closing_a_case_resolves_its_open_escalations(town, make):
    from incident.cases.models import CaseStatus

    case = make.case(town["responder"], severity="high")
    sweeping.sweep(case.created_at + dt.timedelta(minutes=16))
    service.escalate(town["responder"], case, "一人では判断できません")
    db.session.commit()
    before = escalations("unacknowledged") + escalations("manual")
    assert len(before) == 2 and all(e.is_open for e in before)
    cases.change_status(town["supervisor"], case, CaseStatus.CLOSED, "誤報でした", waive_open_steps=True)
    db.session.commit()
    after = escalations("unacknowledged") + escalations("manual")
    assert all(e.resolved_at is not None and e.next_at is None for e in after)
    assert service.open_escalations(case) == []
    notices = db.session.scalar(select(func.count()).select_from(EscalationNotice))
    report = sweeping.sweep(case.created_at + dt.timedelta(hours=24))
    db.session.commit()
    assert (report.raised, report.climbed) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(EscalationNotice)) == notices


def test_repeat_notifies_the_last_level_again_after_another_interval(app, town, make):
    """`repeat = true` is a city's explicit choice to remind the last level (off in the shipped file)."""
    import dataclasses

    app.extensions["escalation"] = dataclasses.replace(app.extensions["escalation"], repeat=True)
    case = make.case(town["responder"], severity="high")
    start = case.created_at
    sweeping.sweep(start + dt.timedelta(minutes=16))   # supervisors
    sweeping.sweep(start + dt.timedelta(minutes=32))   # PR office
    db.session.commit()
    [escalation] = escalations("unacknowledged")
    assert [name for name, _ in notices_of(escalation)] == ["supervisors", "pr_office"]
    sweeping.sweep(start + dt.timedelta(minutes=40))   # not yet: 15 minutes between notices
    db.session.commit()
    assert [name for name, _ in notices_of(escalation)] == ["supervisors", "pr_office"]
    report = sweeping.sweep(start + dt.timedelta(minutes=48))
    db.session.commit()
    assert report.climbed >= 1
    [escalation] = escalations("unacknowledged")
    assert notices_of(escalation) == [("supervisors", town["supervisor"].id), ("pr_office", town["admin"].id),
                                      ("pr_office", town["admin"].id)]
    assert escalation.is_open and escalation.next_at == start + dt.timedelta(minutes=63)
    # ... and again after the next interval, still at the last level.
    sweeping.sweep(start + dt.timedelta(minutes=64))
    db.session.commit()
    assert [name for name, _ in notices_of(escalation)] == ["supervisors"] + ["pr_office"] * 3


def test_by_default_the_last_level_is_told_once(town, make):
    """The shipped escalation.toml has `repeat = false`: the PR office hears of one cause once."""
    case = make.case(town["responder"], severity="high")
    start = case.created_at
    sweeping.sweep(start + dt.timedelta(minutes=16))
    sweeping.sweep(start + dt.timedelta(minutes=32))
    sweeping.sweep(start + dt.timedelta(minutes=48))
    sweeping.sweep(start + dt.timedelta(minutes=64))
    db.session.commit()
    [escalation] = escalations("unacknowledged")
    assert [name for name, _ in notices_of(escalation)] == ["supervisors", "pr_office"]
    assert escalation.next_at is None and escalation.is_open


# ---- escalation.toml validation --------------------------------------------------------------


@pytest.fixture
def rules_copy(app, tmp_path):
    from pathlib import Path

    source = Path(app.config["PLAYBOOK_DIR"]) / "escalation.toml"
    target = tmp_path / "escalation.toml"
    text = source.read_text(encoding="utf-8")
    target.write_text(text, encoding="utf-8")
    return target, text


def test_the_shipped_rules_load(rules_copy):
    from incident.escalation.rules import load_rules

    rules = load_rules(rules_copy[0])
    assert rules.levels == ("assignee", "supervisors", "pr_office") and rules.repeat is False
    assert rules.timings["high"].unacknowledged_minutes == 15
    # Critical (緊急) escalates in minutes, faster than high at every step.
    critical, high = rules.timings["critical"], rules.timings["high"]
    assert critical.unacknowledged_minutes <= 10 and critical.next_level_minutes <= 10
    assert all(getattr(critical, name) < getattr(high, name) for name in (
        "unacknowledged_minutes", "step_overdue_minutes", "approval_wait_minutes", "next_level_minutes"))


@pytest.mark.parametrize("change, words", [
    (lambda t: t.replace("[severity.low]", "[unused.low]"), "unused"),
    (lambda t: t[:t.index("\n[severity.low]")] + t[t.index("\n[chain]\n"):], "severity.low"),
    (lambda t: t.replace('"pr_office"]', '"mayor"]'), "levels"),
    (lambda t: t.replace("unacknowledged_minutes = 15", 'unacknowledged_minutes = "15"'), "unacknowledged_minutes"),
    (lambda t: t.replace("next_level_minutes = 60", "next_level_minutes = 1.5"), "next_level_minutes"),
    (lambda t: t.replace("next_level_minutes = 240", "next_level_minutes = 240\nsnooze_minutes = 5"), "severity.low"),
    (lambda t: t.replace("repeat = false", "repeat = false\nloop = 3"), "chain"),
    (lambda t: t[:t.index("\n[severity.critical]")] + t[t.index("\n[severity.high]"):], "severity.critical"),
    (lambda t: t + "\n[extra]\nx = 1\n", "extra"),
], ids=["missing-severity-renamed", "missing-severity", "unknown-level", "string-minutes", "float-minutes",
        "unknown-key-in-severity", "unknown-key-in-chain", "missing-critical", "unknown-table"])
def test_broken_rules_name_the_file(rules_copy, change, words):
    from incident.escalation.rules import EscalationRulesError, load_rules

    path, text = rules_copy
    changed = change(text)
    assert changed != text
    path.write_text(changed, encoding="utf-8")
    with pytest.raises(EscalationRulesError) as info:
        load_rules(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_broken_rules_stop_the_app_from_starting(app, rules_copy, tmp_path):
    import shutil
    from pathlib import Path

    from incident import create_app
    from incident.escalation.rules import EscalationRulesError

    path, text = rules_copy
    folder = tmp_path / "playbooks"
    shutil.copytree(Path(app.config["PLAYBOOK_DIR"]), folder)
    (folder / "escalation.toml").write_text(text.replace('"pr_office"]', '"mayor"]'), encoding="utf-8")
    config = {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
              "PLAYBOOK_DIR": str(folder)}
    with pytest.raises(EscalationRulesError, match="escalation.toml"):
        create_app(config)


# ---- flask escalate ---------------------------------------------------------------------------


def test_escalate_command_with_a_fixed_clock(runner, town, make):
    case = make.case(town["responder"], severity="high", title="CLI")
    jst = dt.timezone(dt.timedelta(hours=9))
    at = (case.created_at + dt.timedelta(minutes=16)).astimezone(jst).isoformat(timespec="seconds")
    assert at.startswith("20") and at.endswith("+09:00")
    result = runner.invoke(args=["escalate", "--now", at])
    assert result.exit_code == 0, result.output
    assert "escalations raised 1, climbed 0, resolved 0" in result.output
    db.session.expire_all()
    assert [n.level_name for n in told(town["supervisor"])] == ["supervisors"]
    again = runner.invoke(args=["escalate", "--now", at])
    assert again.exit_code == 0 and again.exception is None, again.output
    assert "escalations raised 0, climbed 0, resolved 0" in again.output
    db.session.expire_all()
    assert len(escalations("unacknowledged")) == 1 and len(told(town["supervisor"])) == 1


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T10:00", "11/24/2026"])
def test_escalate_command_refuses_a_bad_clock(runner, town, value):
    result = runner.invoke(args=["escalate", "--now", value])
    assert result.exit_code == 2, result.output
    assert "--now" in result.output and "ISO 8601" in result.output
    assert db.session.scalar(select(func.count()).select_from(Escalation)) == 0


def test_escalate_command_reads_a_naive_clock_as_tokyo_time(runner, town, make):
    case = make.case(town["responder"], severity="high", title="JST")
    jst = dt.timezone(dt.timedelta(hours=9))

    def wall(minutes: int) -> str:  # Tokyo wall-clock time without an offset
        return (case.created_at + dt.timedelta(minutes=minutes)).astimezone(jst).replace(tzinfo=None).isoformat(
            timespec="seconds")

    # Read as UTC, 14 minutes after opening would be 9 hours later and escalate.
    result = runner.invoke(args=["escalate", "--now", wall(14)])
    assert result.exit_code == 0 and "escalations raised 0" in result.output, result.output
    result = runner.invoke(args=["escalate", "--now", wall(16)])
    assert result.exit_code == 0 and "escalations raised 1" in result.output, result.output
