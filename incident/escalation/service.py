"""Escalating a case by hand, acknowledging an escalation, and taking escalations on by acting on the case."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from incident import policy, signals
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases import loading
from incident.cases.models import Case
from incident.cases.service import require_open
from incident.dates import utcnow
from incident.drafts.models import Draft
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.escalation.hours import is_working_time
from incident.escalation.levels import (
    level_index,
    next_at,
    note_on_timeline,
    notify_from,
    on_call_for,
    recipients,
    rules,
    schedule_for,
    tell,
    write,
)
from incident.escalation.models import ESCALATION_LEVEL_LABELS, Escalation, EscalationNotice
from incident.escalation.queries import open_escalations
from incident.escalation.schedules import on_call_now
from incident.escalation.sweeping import sweep
from incident.extensions import db

# Also the names the API, the CLI and reports import from here: the rules, who is told, the sweep.
__all__ = [
    "REASON_MAX", "acknowledge", "escalate", "get_escalation", "open_escalations", "recipients", "resolve_for_case",
    "rules", "sweep", "take_on_by_acting", "was_told",
]

REASON_MAX = 2000


def _start_level(actor: User, case: Case, wanted: Any) -> str:
    """The level a hand-raised escalation starts at: the one asked for, if the actor may start there."""
    allowed = policy.escalation_start_levels(actor, case)
    if wanted in (None, ""):
        return allowed[0]
    if isinstance(wanted, str) and wanted in allowed:
        return wanted
    if wanted == "pr_office" and "supervisors" in allowed:
        message = _l("担当者が秘書広報課へ直接エスカレーションできるのは、重大度が「緊急」の案件だけです。")
    else:
        message = _l("エスカレーション先は「%(levels)s」から選んでください。",
                     levels="」「".join(str(ESCALATION_LEVEL_LABELS[name]) for name in allowed))
    raise ValidationFailed(fields={"level": message})


def escalate(actor: User, case: Case, reason: Any, level: Any = None) -> Escalation:
    """Bring a case to the next level by hand: a responder's to the supervisors (a critical case's straight to
    the PR office if `level` asks), a supervisor's to the PR office."""
    if not policy.can_view(actor, case):
        raise NotFound()
    require_open(case)  # a closed case needs nobody's attention; reopen it first
    text = reason.strip() if isinstance(reason, str) else ""
    errors: dict[str, Any] = {}
    if not text or len(text) > REASON_MAX or "\x00" in text:
        errors["reason"] = _l("理由を %(max)d 文字以内で入力してください。", max=REASON_MAX)
    try:
        start_level = _start_level(actor, case, level)
    except ValidationFailed as exc:
        errors.update(exc.fields or {})
    if errors:
        raise ValidationFailed(fields=errors)
    now = utcnow()
    start = level_index(start_level)
    schedule = schedule_for(case)
    # Outside working hours the person on call hears first; the level asked for is told at next_at.
    on_shift = (on_call_now([case.department_id], now).get(case.department_id)
                if not is_working_time(schedule, now) else None)  # no query in the daytime
    on_call = on_call_for(case, now, schedule, on_shift, besides=actor)
    escalation = Escalation(case_id=case.id, trigger="manual", reason=text, level=start,
                            raised_by_id=actor.id, created_at=now, next_at=next_at(case, now, schedule),
                            on_call_id=on_call.id if on_call is not None else None)
    db.session.add(escalation)
    db.session.flush()
    if on_call is not None:
        tell(escalation, case, start, [on_call], now, level_name="on_call")
        told = "on_call"
    else:
        level = notify_from(escalation, case, start, now)
        if level is None:  # nobody above (e.g. the PR office escalating with no other admin): tell the last level
            level = notify_from(escalation, case, len(rules().levels) - 1, now)
        escalation.level = level if level is not None else start
        told = rules().levels[escalation.level]
    note_on_timeline(case, actor, "escalated", escalation, level=told)
    audit.record(actor, "escalation.create", "escalation", escalation.id, case_id=case.id,
                 changes={"reason": (None, text), "level": (None, told)})
    return escalation


def get_escalation(actor: User, escalation_id: int) -> Escalation:
    """An escalation of a case the actor may see (or was told about), or NotFound."""
    def may_see(actor: User, case: Case, escalation: Escalation) -> bool:
        return policy.can_view_escalation(actor, case, told=was_told(actor, escalation))

    return loading.load(actor, Escalation, escalation_id, may_see=may_see)


def was_told(user: User, escalation: Escalation) -> bool:
    """Whether the user was notified of this escalation."""
    return db.session.scalar(select(EscalationNotice.id).where(
        EscalationNotice.escalation_id == escalation.id, EscalationNotice.user_id == user.id).limit(1)) is not None


def acknowledge(actor: User, escalation: Escalation) -> Escalation:
    """A recipient (or a supervisor of the case) takes it on: it stops climbing and leaves the case banner."""
    case = db.session.get_one(Case, escalation.case_id)
    if not policy.can_take_escalation(actor, case, told=was_told(actor, escalation)):
        raise PermissionDenied(_l("このエスカレーションを受けたのは別の人です。"))
    if not escalation.is_open:
        raise CaseError(_l("このエスカレーションはすでに受けられているか、解消しています。"))
    now = utcnow()
    taken = write(
        update(Escalation).where(Escalation.id == escalation.id, Escalation.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by_id=actor.id, next_at=None))
    if taken != 1:
        raise CaseError(_l("このエスカレーションはすでに受けられているか、解消しています。"))
    db.session.refresh(escalation)
    note_on_timeline(case, actor, "escalation_acknowledged", escalation)
    audit.record(actor, "escalation.acknowledge", "escalation", escalation.id, case_id=case.id,
                 changes={"acknowledged_at": (None, now)})
    return escalation


def resolve_for_case(case: Case, trigger: str) -> None:
    """The cause went away (e.g. the case was acknowledged): its open timed escalations stop climbing."""
    db.session.execute(update(Escalation).where(
        Escalation.case_id == case.id, Escalation.trigger == trigger, Escalation.acknowledged_at.is_(None),
        Escalation.resolved_at.is_(None)).values(resolved_at=utcnow(), next_at=None))


def take_on_by_acting(actor: User, case: Case, how: str, *, besides: Draft | None = None) -> list[Escalation]:
    """Someone at (or above) an open escalation's current level acted on the case (`how`, a key of
    ESCALATION_TAKEN_BY_LABELS): it is theirs now, acknowledged in their name, and climbs no further. So does the
    on-call person told first, while the chain waits on them. The person who raised it, and anyone below its
    level, acting on the case leaves it climbing. The approval wait of a draft just decided (`besides`) is not
    taken on: its cause is gone, and the sweep resolves it."""
    levels = rules().levels
    now = utcnow()
    taken = []
    for escalation in open_escalations(case):
        if (besides is not None and escalation.trigger == "approval_wait"
                and escalation.subject.partition(":")[0] == str(besides.id)):
            continue
        level = levels[min(escalation.level, len(levels) - 1)]
        on_call = escalation.on_call_id is not None and escalation.on_call_id == actor.id
        if not (on_call and actor.id != escalation.raised_by_id) and not policy.takes_escalation_by_acting(
                actor, case, level, raised_by_id=escalation.raised_by_id):
            continue
        if write(update(Escalation).where(
                Escalation.id == escalation.id, Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by_id=actor.id, next_at=None)) != 1:
            continue  # taken on or resolved meanwhile
        db.session.refresh(escalation)
        note_on_timeline(case, actor, "escalation_acknowledged", escalation, by=how)
        audit.record(actor, "escalation.acknowledge", "escalation", escalation.id, case_id=case.id,
                     changes={"acknowledged_at": (None, now), "by": (None, how)})
        taken.append(escalation)
    return taken


@signals.case_acknowledged.connect
def _on_case_acknowledged(case: Case, *, actor: User, **_: Any) -> None:
    """Acknowledging a case resolves its unacknowledged-case escalation (the cause is gone) and takes on the
    others at the acknowledging person's level."""
    resolve_for_case(case, "unacknowledged")
    take_on_by_acting(actor, case, "case_acknowledged")


@signals.case_assigned.connect
def _on_case_assigned(case: Case, *, actor: User, **_: Any) -> None:
    """Assigning a case takes on its escalations at the assigning person's level."""
    take_on_by_acting(actor, case, "case_assigned")


@signals.draft_decided.connect
def _on_draft_decided(draft: Draft, *, actor: User, case: Case, approved: bool, **_: Any) -> None:
    """Approving or returning a draft takes on the case's escalations at the deciding person's level (the
    draft's own approval wait resolves at the next sweep: it no longer waits)."""
    take_on_by_acting(actor, case, "draft_approved" if approved else "draft_returned", besides=draft)


@signals.case_closed.connect
def _resolve_on_closing(case: Case, **_: Any) -> None:
    """A closed case needs nobody's attention: its open escalations resolve."""
    for trigger in ("unacknowledged", "step_overdue", "approval_wait", "manual"):
        resolve_for_case(case, trigger)
