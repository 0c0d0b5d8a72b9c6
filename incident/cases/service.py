"""Case operations: open, edit, acknowledge, change status, assign, notes and offending items."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.exc import StaleDataError

from incident import policy, signals
from incident.accounts.models import OfficialAccount
from incident.audit import service as audit
from incident.auth.models import Department, User
from incident.cases import loading
from incident.cases import review as case_review
from incident.cases.fields import clean_case_fields, clean_note_body, clean_targets
from incident.cases.models import (
    STATUS_LABELS,
    Case,
    CaseCounter,
    CaseStatus,
    Note,
    OffendingItem,
    TimelineEvent,
)
from incident.dates import as_utc, tokyo_year, utcnow
from incident.errors import CaseError, Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.validation import normalise_target, parse_id


@dataclasses.dataclass(frozen=True)
class Transition:
    """One allowed status change; who may make it is decided in incident.policy."""

    requires_reason: bool = False


#: Every allowed status change. Anything not listed is refused with a message.
TRANSITIONS: dict[tuple[CaseStatus, CaseStatus], Transition] = {
    (CaseStatus.NEW, CaseStatus.RESPONDING): Transition(),
    (CaseStatus.NEW, CaseStatus.CLOSED): Transition(requires_reason=True),
    (CaseStatus.RESPONDING, CaseStatus.MONITORING): Transition(),
    (CaseStatus.MONITORING, CaseStatus.RESPONDING): Transition(),
    (CaseStatus.RESPONDING, CaseStatus.CLOSED): Transition(),
    (CaseStatus.MONITORING, CaseStatus.CLOSED): Transition(),
    (CaseStatus.CLOSED, CaseStatus.RESPONDING): Transition(requires_reason=True),
}

#: Fields compared and audited when a case is edited.
EDITABLE_FIELDS = (
    "kind", "title", "severity", "description", "platform",
    "official_account_id", "detected_at", "source",
)


#: Why a change to a closed case is refused, whatever the change (see require_open).
CLOSED_MESSAGE = _l("この案件は終了しています。変更するには、先に案件を再開してください。")


# A closed case is read-only until reopened (issue 12: a step reopened on a closed case left it reading
# 9/10 while 終了). Every service that changes a case's content calls require_open: its fields, notes and
# their corrections, offending items, playbook steps, drafts (create, revise, submit, pre-approve, approve,
# return, record sent, withdraw a publication), evidence (upload, withdraw), linking a known fake from the
# case, escalating it by hand. Still allowed on purpose:
# - reopening it (change_status, whose table allows only closed -> responding, by a supervisor);
# - assigning it: who may see a case follows its assignee, so a supervisor must be able to take a closed
#   case away from someone who moved on without reopening it;
# - recording a platform's answer to a takedown request sent before closing (drafts.sending.record_answer):
#   it arrives on the platform's schedule, records what the platform did rather than the city's handling,
#   touches no step, and is what clears the follow-up reminder the case list keeps showing.
# - writing its closing review, or a revised one (incident.cases.review): it is about the closed case.
# A known fake's state (the city-wide register, incident.fakes) is not a case's content either.
def require_open(case: Case) -> None:
    """Refuse (409, CaseError) a change to the content of a closed case: reopen it first."""
    if policy.is_read_only(case):
        raise CaseError(CLOSED_MESSAGE)


def allowed_targets(case: Case) -> list[CaseStatus]:
    """The statuses a case may move to next, in a stable order."""
    return [to for (frm, to) in TRANSITIONS if frm == case.status]


def _timeline(case: Case, actor: User | None, event: str, note: Note | None = None, **data: Any) -> None:
    db.session.add(
        TimelineEvent(case_id=case.id, actor_id=actor.id if actor else None, event=event,
                      note_id=note.id if note else None, data=data)
    )


def _next_number(year: int) -> int:
    """Hand out the next sequence for a year atomically (one upsert, safe across workers)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(CaseCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": CaseCounter.last + 1})
        .returning(CaseCounter.last)
    )
    return int(db.session.execute(statement).scalar_one())


def _check_account(account_id: int | None) -> OfficialAccount | None:
    account = db.session.get(OfficialAccount, account_id) if account_id is not None else None
    if account_id is not None and account is None:
        raise ValidationFailed(fields={"official_account_id": _l("その公式アカウントは登録されていません。")},
        )
    return account


#: Why an outside operator's user may not open (or move) a case about an account (policy.can_open_case_about).
NOT_YOUR_ACCOUNT = _l("委託業者・指定管理者の方が登録できるのは、自社が運用する公式アカウントの案件だけです。")


def _check_account_for(actor: User, account: OfficialAccount | None) -> None:
    """An outside operator's user names only an account their operator runs (422 on the field otherwise)."""
    if not policy.can_open_case_about(actor, account):
        raise ValidationFailed(fields={"official_account_id": NOT_YOUR_ACCOUNT})


def get_case(actor: User, case_id: int) -> Case:
    """Load a case the actor may see, or raise NotFound (never telling whether it exists)."""
    return loading.visible(actor, db.session.get(Case, case_id))


def open_case(
    actor: User,
    data: dict[str, Any],
    *,
    department_id: int | None = None,
    assignee_id: int | None = None,
) -> Case:
    """Open a case in the actor's department (the PR office may choose another) and log it; an outside
    operator's user opens it about an account their operator runs, in that account's department."""
    fields = clean_case_fields(data, partial=False)
    targets = clean_targets(data.get("urls"))
    account = _check_account(fields.get("official_account_id"))
    _check_account_for(actor, account)
    if account is not None and policy.is_operator_user(actor):
        if department_id not in (None, actor.department_id, account.department_id):
            raise PermissionDenied(_l("他の所属の案件は登録できません。"))
        department_id = account.department_id
    elif department_id is None or department_id == actor.department_id:
        department_id = actor.department_id
    elif not policy.can_open_case_for_any_department(actor):
        raise PermissionDenied(_l("他の所属の案件は登録できません。"))
    elif db.session.get(Department, department_id) is None:
        raise ValidationFailed(fields={"department": _l("その所属はありません。")}
        )
    now = utcnow()
    year = tokyo_year(now)
    sequence = _next_number(year)
    case = Case(
        year=year,
        sequence=sequence,
        number=f"{year}-{sequence:04d}",
        status=CaseStatus.NEW,
        reporter_id=actor.id,
        department_id=department_id,
        created_at=now,
        **{"detected_at": now, "description": "", "source": "", **fields},
    )
    signals.case_opening.send(case, actor=actor)  # the playbook of its kind is pinned here
    db.session.add(case)
    db.session.flush()
    _timeline(case, actor, "opened", playbook_version=(case.playbook_version or "")[:12], number=case.number,
              kind=case.kind.value, severity=case.severity.value, title=case.title)
    audit.record(actor, "case.create", "case", case.id, case_id=case.id,
                 changes={name: (None, getattr(case, name)) for name in EDITABLE_FIELDS})
    for target in targets:  # seen when the case was detected, not when it was typed in
        add_offending_item(actor, case, target, captured_at=case.detected_at)
    # Known fake accounts: an impersonation case whose URLs / @handles match a recorded fake is linked
    # to it, so the case page shows the earlier cases that met it (incident.fakes); the supervisors hear
    # of it (incident.notifications). Sent before assigning, so the links precede the assignment.
    signals.case_opened.send(case, actor=actor, targets=targets)
    if assignee_id is not None:
        assign(actor, case, assignee_id)
    return case


def update_case(actor: User, case: Case, version: Any, data: dict[str, Any]) -> Case:
    """Change a case's fields if the caller saw the current version; otherwise raise Conflict."""
    if not policy.can_edit(actor, case):
        raise NotFound()
    try:
        seen_version = parse_id(version)
        if seen_version is None:
            raise ValueError
    except ValueError:
        raise ValidationFailed(fields={"version": _l("版番号が必要です。")}
        ) from None
    require_open(case)
    fields = clean_case_fields(data, partial=True)
    if seen_version != case.version:
        raise Conflict(
            _l("この案件は、あなたが開いた後に他の人が更新しました。最新の内容を確認してから、もう一度保存してください。"),
            current=case,
        )
    if "official_account_id" in fields:
        account = _check_account(fields["official_account_id"])
        if fields["official_account_id"] != case.official_account_id:
            _check_account_for(actor, account)
    changes = {
        name: (getattr(case, name), value)
        for name, value in fields.items()
        if getattr(case, name) != value
    }
    if not changes:
        return case
    for name, (_old, new) in changes.items():
        setattr(case, name, new)
    if "kind" in changes:
        # A case that turns out to be another kind follows that kind's playbook from now on; what was
        # done under the old one stays on the timeline (incident.playbooks pins it).
        old_version = case.playbook_version
        signals.case_kind_changed.send(case, actor=actor, old_kind=changes["kind"][0])
        changes["playbook_version"] = (old_version, case.playbook_version)
    try:
        db.session.flush()
    except StaleDataError:
        # Another transaction saved between our read and our write; the caller rolls back.
        raise Conflict(_l("この案件は、あなたが開いた後に他の人が更新しました。最新の内容を確認してから、もう一度保存してください。")) from None
    _timeline(case, actor, "edited", fields=sorted(changes))
    audit.record(actor, "case.update", "case", case.id, changes=changes, case_id=case.id)
    return case


def change_status(
    actor: User, case: Case, target: CaseStatus, reason: str = "", *, waive_open_steps: bool = False,
    review: Any = None,
) -> Case:
    """Move a case along the transition table; acknowledging a new case records who and when.

    Closing needs every required playbook step done or waived; with `waive_open_steps` a supervisor
    waives the remaining ones with the closing reason (e.g. a false alarm) in the same transaction.
    A `review` given when closing (incident.cases.review) is checked first and recorded with the closing.
    """
    if not policy.can_view(actor, case):
        raise NotFound()
    reason = (reason or "").strip()
    transition = TRANSITIONS.get((case.status, target))
    if transition is None:
        raise CaseError(
            _l("状態を「%(frm)s」から「%(to)s」には変更できません。",
               frm=status_label(case.status), to=status_label(target))
        )
    if not policy.can_change_status(actor, case, target):
        raise PermissionDenied(_l("案件の終了と再開は所属長または秘書広報課が行います。"))
    if case.redacted_at is not None:
        # Its personal data is gone with its retention: the record is final.
        raise CaseError(_l("保存期間が満了して個人情報を消去した記録は、再開できません。"))
    errors: dict[str, Any] = {}
    if transition.requires_reason and not reason:
        errors["reason"] = _l("理由を入力してください。")
    elif len(reason) > 1000:
        errors["reason"] = _l("%(max)d 文字以内で入力してください。", max=1000)
    closing_review = None
    if review is not None and target != CaseStatus.CLOSED:
        errors["review"] = _l("振り返りは案件を終了するときに記録します。")
    elif review is not None:
        try:
            closing_review = case_review.clean_review(review)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if target == CaseStatus.CLOSED and not errors:
        # incident.playbooks completes the step waiting for a review (when one is given), then refuses while
        # required steps are open, or waives them when asked to.
        signals.case_closing.send(case, actor=actor, reason=reason, waive_open_steps=waive_open_steps,
                                  review=closing_review is not None)
    if errors:
        raise ValidationFailed(fields=errors)
    old = case.status
    now = utcnow()
    case.status = target
    if old == CaseStatus.NEW and target == CaseStatus.RESPONDING:
        case.acknowledged_at = now
        case.acknowledged_by_id = actor.id
    case.closed_at = now if target == CaseStatus.CLOSED else None
    db.session.flush()
    if old == CaseStatus.NEW and target == CaseStatus.RESPONDING:
        _timeline(case, actor, "acknowledged")
        # A supervisor's acknowledgement completes its playbook step; the unacknowledged-case escalation stops.
        signals.case_acknowledged.send(case, actor=actor)
    else:
        _timeline(case, actor, "status_changed", old=old.value, new=target.value, reason=reason)
        if target == CaseStatus.CLOSED:
            signals.case_closed.send(case, actor=actor, reason=reason)  # its escalations resolve
            if closing_review is not None:
                case_review.write_review(actor, case, closing_review)
    audit.record(actor, "case.status", "case", case.id, case_id=case.id,
                 changes={"status": (old, target), **({"reason": (None, reason)} if reason else {})})
    return case


def acknowledge(actor: User, case: Case) -> Case:
    """Acknowledge a new case: it moves to responding, recording who and when."""
    if case.status != CaseStatus.NEW:
        if not policy.can_view(actor, case):
            raise NotFound()
        raise CaseError(_l("この案件はすでに受け付けられています。"))
    return change_status(actor, case, CaseStatus.RESPONDING)


def assign(actor: User, case: Case, assignee_id: Any) -> Case:
    """Assign or reassign a case (supervisors and the PR office); None unassigns."""
    if not policy.can_view(actor, case):
        raise NotFound()
    if not policy.can_assign(actor, case):
        raise PermissionDenied(_l("担当者の割り当ては所属長または秘書広報課が行います。"))
    # Allowed on a closed case too (see require_open): who may see a case follows its assignee.
    assignee: User | None = None
    try:
        wanted = parse_id(assignee_id)
    except ValueError:
        wanted = -1  # not a usable id: refused below like an unknown user
    if wanted:
        assignee = db.session.get(User, wanted) if wanted > 0 else None
        if assignee is None or not policy.can_assign_to(actor, case, assignee):
            raise ValidationFailed(fields={"assignee_id": _l("この案件に割り当てられない利用者です。")},
            )
    old = case.assignee
    if (old.id if old else None) == (assignee.id if assignee else None):
        return case
    case.assignee_id = assignee.id if assignee else None
    db.session.flush()
    _timeline(case, actor, "assigned",
              old_id=old.id if old else None, old_name=old.name if old else None,
              new_id=assignee.id if assignee else None, new_name=assignee.name if assignee else None)
    audit.record(actor, "case.assign", "case", case.id, case_id=case.id,
                 changes={"assignee_id": (old.id if old else None, case.assignee_id)})
    signals.case_assigned.send(case, actor=actor, assignee=assignee)
    return case


def add_note(actor: User, case: Case, body: Any, corrects: Note | None = None) -> Note:
    """Append a Markdown note; with `corrects`, it is a correction of that earlier note."""
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    text = clean_note_body(body)
    if corrects is not None:
        if corrects.case_id != case.id:
            raise NotFound()
        already = db.session.scalar(select(Note.id).where(Note.corrects_id == corrects.id).limit(1))
        if already is not None:
            raise CaseError(_l("このメモはすでに訂正されています。最新の訂正に対して訂正してください。"))
    note = Note(case_id=case.id, author_id=actor.id, body=text,
                corrects_id=corrects.id if corrects else None)
    db.session.add(note)
    db.session.flush()
    if corrects is None:
        _timeline(case, actor, "note_added", note=note)
        audit.record(actor, "note.create", "note", note.id, case_id=case.id, changes={"body": (None, text)})
    else:
        _timeline(case, actor, "note_corrected", note=note, corrects_id=corrects.id)
        audit.record(actor, "note.correct", "note", note.id, case_id=case.id,
                     changes={"body": (corrects.body, text), "corrects_id": (None, corrects.id)})
    return note


def get_note(case: Case, note_id: int) -> Note:
    """A note of this case, or NotFound."""
    return loading.of_case(Note, note_id, case.id)


def add_offending_item(
    actor: User, case: Case, target: Any, note: str = "", captured_at: dt.datetime | None = None
) -> OffendingItem:
    """Record an offending post or account (URL or @handle) with who captured it and when."""
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    try:
        value = normalise_target(target)
    except ValueError as exc:
        raise ValidationFailed(fields={"target": exc.args[0]}) from None
    item = OffendingItem(case_id=case.id, target=value, note=(note or "").strip()[:500],
                         captured_by_id=actor.id,
                         captured_at=as_utc(captured_at) if captured_at else utcnow())
    db.session.add(item)
    db.session.flush()
    _timeline(case, actor, "item_added", target=value)
    audit.record(actor, "offending_item.create", "offending_item", item.id, case_id=case.id,
                 changes={"target": (None, value)})
    return item


def status_label(status: CaseStatus) -> Any:
    """The Japanese (or chosen locale's) label of a status."""
    return STATUS_LABELS[status]
