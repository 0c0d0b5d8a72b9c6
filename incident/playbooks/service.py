"""The checklist of a case: pinning a playbook version, step states, and recording step actions."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload

from incident import policy, signals
from incident.accounts.models import AccountNotice
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases.models import Case, TimelineEvent
from incident.cases.service import require_open
from incident.dates import utcnow
from incident.drafts.models import Draft, DraftStatus, DraftType, Outcome, Publication
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.playbooks import due, facts  # noqa: F401 (due: its listeners keep case_step_due)
from incident.playbooks.loader import Playbook, Step, load_all
from incident.playbooks.models import PlaybookVersion, StepEvent
from incident.playbooks.states import (  # noqa: F401 (the checklist's states, used from here by others)
    _STATE_OF_ACTION,
    DONE,
    NOT_APPLICABLE,
    PENDING,
    SKIPPED,
    WAITING,
    WAIVED,
    StepState,
    parse_stored,
    states_of,
)
from incident.validation import city_url, normalise_target

REASON_MAX = 2000


def load_registry(app: Any) -> dict[str, Playbook]:
    """Load and validate every playbook at start-up; a broken file stops the app with its name."""
    directory = Path(app.config["PLAYBOOK_DIR"])
    registry = load_all(directory)
    app.extensions["playbooks"] = registry
    return registry


def current_playbook(kind: str) -> Playbook:
    """The playbook for a kind as the files say now."""
    return current_app.extensions["playbooks"][kind]


def playbook_of(case: Case) -> Playbook | None:
    """The playbook version the case is pinned to (parsed from its stored text)."""
    if case.playbook_version is None:
        return None
    stored = db.session.get(PlaybookVersion, case.playbook_version)
    if stored is None:
        return None
    return parse_stored(stored.version, stored.text, stored.file_name)


def pin_playbook(case: Case) -> Playbook:
    """Pin the case to the current playbook of its kind, storing that version's text once."""
    playbook = current_playbook(case.kind.value)
    path = Path(current_app.config["PLAYBOOK_DIR"]) / playbook.path
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(PlaybookVersion)
        .values(version=playbook.version, kind=playbook.kind, file_name=playbook.path,
                text=path.read_text(encoding="utf-8"), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["version"])
    )
    case.playbook_version = playbook.version
    return playbook


def step_events(case: Case) -> list[StepEvent]:
    """The case's step events under its pinned version, oldest first, actors loaded."""
    return list(db.session.scalars(
        select(StepEvent)
        .where(StepEvent.case_id == case.id, StepEvent.playbook_version == case.playbook_version)
        .options(joinedload(StepEvent.actor))
        .order_by(StepEvent.id)
    ))


def checklist(case: Case, events: list[StepEvent] | None = None, now: dt.datetime | None = None) -> list[StepState]:
    """Every step of the case's playbook with its state, answer, due time and overdue flag."""
    playbook = playbook_of(case)
    if playbook is None:
        return []
    events = step_events(case) if events is None else events
    return states_of(playbook, case.detected_at, case.severity.value, events, now or utcnow())


def progress(states: list[StepState]) -> tuple[int, int]:
    """(done, total) over the required steps that apply."""
    relevant = [s for s in states if s.step.required and s.state not in (NOT_APPLICABLE, WAITING)]
    return sum(1 for s in relevant if s.state in (DONE, WAIVED)), len(relevant)


def open_required(case: Case) -> list[StepState]:
    """Required steps still open (pending) — they stop the case from closing."""
    return [s for s in checklist(case) if s.step.required and s.state == PENDING]


def _state_for(actor: User, case: Case, key: str) -> StepState:
    if not policy.can_view(actor, case):
        raise NotFound()
    require_open(case)  # every step action (complete, decide, skip, waive, reopen) comes through here
    for state in checklist(case):
        if state.step.key == key:
            return state
    raise NotFound(_l("その手順はこの案件にありません。"))


def _check_actor(actor: User, case: Case, step: Step) -> None:
    if step.actor == "supervisor" and not policy.can_act_as_supervisor(actor, case):
        raise PermissionDenied(_l("この手順は所属長（または秘書広報課）が行います。"))


def _check_applicable(state: StepState) -> None:
    if state.state == WAITING:
        raise CaseError(_l("この手順は、前の判断が済むまで行えません。"))
    if state.state == NOT_APPLICABLE:
        raise CaseError(_l("この手順は、前の判断によりこの案件には当てはまりません。"))


def _reason(raw: Any, required: bool) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValidationFailed(fields={"reason": _l("文字列で入力してください。")})
    text = raw.strip()
    if "\x00" in text:
        raise ValidationFailed(fields={"reason": _l("使用できない制御文字（NUL）が含まれています。")})
    if required and not text:
        raise ValidationFailed(fields={"reason": _l("理由を入力してください。")})
    if len(text) > REASON_MAX:
        raise ValidationFailed(fields={"reason": _l("%(max)d 文字以内で入力してください。", max=REASON_MAX)})
    return text


def _step_data(step: Step, raw: dict[str, Any], actor: User, case: Case) -> tuple[dict[str, Any], bool]:
    """Check what the step asks for; returns (data to store, whether it is flagged against ア(イ))."""
    data: dict[str, Any] = _sent_draft(case, step) if step.type == "draft" else {}
    flagged = False
    if step.input == "city_url":
        data["url"] = city_url(raw.get("url") or data.pop("link", None))
    elif step.input == "url":
        try:
            data["url"] = normalise_target(raw.get("url"))
        except ValueError as exc:
            raise ValidationFailed(fields={"url": exc.args[0]}) from None
    elif step.input == "prohibited_item":
        item: Any = raw.get("prohibited_item")  # whatever the form or JSON sent; int() below sorts it out
        try:
            number = int(item)
        except (TypeError, ValueError):
            number = 0
        if isinstance(item, bool) or not 1 <= number <= 10:
            raise ValidationFailed(fields={"prohibited_item": _l("運用ポリシーの禁止事項 (1)〜(10) から選んでください。")})
        data["prohibited_item"] = number
    elif step.input == "fake_account":
        data.update(facts.fake_input(raw, case))
    elif step.input == "mfa":
        data.update(facts.mfa_input(raw, case))
    elif step.input == "deletion_record":
        deleted = raw.get("deleted")
        if deleted in (True, "1", "true", "yes", "on"):
            data["deleted"] = True
            flagged = True
        else:
            data["deleted"] = False
    data.pop("link", None)
    return data, flagged


def _sent_draft(case: Case, step: Step) -> dict[str, Any]:
    """A draft step is done only when a draft of its type was approved and published (or submitted)."""
    row = db.session.execute(
        select(Draft, Publication).join(Publication, Publication.draft_id == Draft.id)
        .where(Draft.case_id == case.id, Draft.type == step.draft_type, Draft.status == DraftStatus.SENT,
               Publication.kind == step.draft_type)
        .order_by(Publication.id.desc()).limit(1)
    ).first()
    if row is None:
        raise CaseError(_l("この手順は、文案が承認され、公開（削除依頼は提出）されると完了します。下の「文案」から作成してください。"))
    draft, publication = row
    return {"draft_id": draft.id, "publication_id": publication.id, "link": draft.link,
            "where": publication.url or publication.reference or publication.channel}


def _record(actor: User, case: Case, state: StepState, action: str, *, answer: bool | None = None,
            reason: str = "", data: dict[str, Any] | None = None, flagged: bool = False) -> StepEvent:
    event = StepEvent(case_id=case.id, playbook_version=case.playbook_version, step_key=state.step.key,
                      action=action, answer=answer, reason=reason, data=data or {},
                      actor_id=actor.id if actor else None)
    db.session.add(event)
    db.session.flush()
    timeline_data = {"step": state.step.key, "title": state.step.title_ja, "title_en": state.step.title_en,
                     "clause": state.step.clause, "action": action, "reason": reason, **(data or {})}
    if answer is not None:
        timeline_data["answer"] = answer
    if flagged:
        timeline_data["flag"] = "3(4)ア(イ)"
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id if actor else None,
                                 event="step_flagged" if flagged else f"step_{action}", data=timeline_data))
    audit.record(actor, f"step.{action}", "step_event", event.id, case_id=case.id,
                 changes={"step": (None, state.step.key), "state": (state.state, _STATE_OF_ACTION[action]),
                          **({"answer": (None, answer)} if answer is not None else {}),
                          **({"reason": (None, reason)} if reason else {})})
    return event


def complete_step(actor: User, case: Case, key: str, note: Any = "", inputs: dict[str, Any] | None = None) -> StepEvent:
    """Mark a check, draft or approval step done, with what it asks for."""
    state = _state_for(actor, case, key)
    _check_actor(actor, case, state.step)
    _check_applicable(state)
    if state.step.type == "decision":
        raise CaseError(_l("判断の手順は「判断する」で記録してください。"))
    if state.state != PENDING:
        raise CaseError(_l("この手順はすでに記録済みです。誤りなら「取り消す」で訂正してください。"))
    data, flagged = _step_data(state.step, inputs or {}, actor, case)
    reason = _reason(note, required=False)
    if flagged:
        # Deleting the original post goes against 3(4)ア(イ): only a supervisor may record it, with a reason.
        if not policy.can_act_as_supervisor(actor, case):
            raise PermissionDenied(_l("元の投稿の削除は 3(4)ア(イ) に反するため、所属長が理由を付けて記録します。"))
        reason = _reason(note, required=True)
    facts.apply(actor, case, state.step, data)  # the registry / the register of fakes hold the step's facts
    return _record(actor, case, state, "complete", reason=reason, data=data, flagged=flagged)


def decide(actor: User, case: Case, key: str, answer: Any, reason: Any) -> StepEvent:
    """Answer a decision step yes or no, with a reason; later steps switch on or off."""
    state = _state_for(actor, case, key)
    _check_actor(actor, case, state.step)
    _check_applicable(state)
    if state.step.type != "decision":
        raise CaseError(_l("この手順は判断ではありません。"))
    if state.state != PENDING:
        raise CaseError(_l("この判断はすでに記録済みです。変えるには「取り消す」で訂正してください。"))
    if not isinstance(answer, bool):
        raise ValidationFailed(fields={"answer": _l("はい・いいえで答えてください。")})
    return _record(actor, case, state, "decide", answer=answer, reason=_reason(reason, required=True))


def skip_step(actor: User, case: Case, key: str, reason: Any) -> StepEvent:
    """Skip an optional step, with a reason (required steps are waived by a supervisor instead)."""
    state = _state_for(actor, case, key)
    _check_actor(actor, case, state.step)
    _check_applicable(state)
    if state.step.required:
        raise CaseError(_l("必須の手順は省略できません。所属長が理由を付けて免除できます。"))
    if state.state != PENDING:
        raise CaseError(_l("この手順はすでに記録済みです。"))
    return _record(actor, case, state, "skip", reason=_reason(reason, required=True))


def waive_step(actor: User, case: Case, key: str, reason: Any) -> StepEvent:
    """A supervisor waives a step with a reason, so the case may close without it."""
    state = _state_for(actor, case, key)
    if not policy.can_act_as_supervisor(actor, case):
        raise PermissionDenied(_l("手順の免除は所属長（または秘書広報課）が行います。"))
    _check_applicable(state)
    if state.state != PENDING:
        raise CaseError(_l("この手順はすでに記録済みです。"))
    return _record(actor, case, state, "waive", reason=_reason(reason, required=True))


def reopen_step(actor: User, case: Case, key: str, reason: Any) -> StepEvent:
    """Correct a mistaken entry: the step is open again; the earlier entry stays on the record."""
    state = _state_for(actor, case, key)
    _check_actor(actor, case, state.step)
    if state.state in (PENDING, WAITING, NOT_APPLICABLE):
        raise CaseError(_l("取り消す記録がありません。"))
    if state.state == WAIVED and not policy.can_act_as_supervisor(actor, case):
        raise PermissionDenied(_l("免除の取り消しは所属長（または秘書広報課）が行います。"))
    return _record(actor, case, state, "reopen", reason=_reason(reason, required=True))


def on_acknowledged(actor: User, case: Case) -> None:
    """A supervisor's acknowledgement completes the "consult your supervisor" step (3(4)※)."""
    if not policy.can_act_as_supervisor(actor, case):
        return
    for state in checklist(case):
        if state.step.completes_on == "supervisor_acknowledgement" and state.state == PENDING:
            _record(actor, case, state, "complete", reason="", data={"by": "acknowledgement"})


def on_account_notice(actor: User, case: Case, notice: AccountNotice) -> None:
    """A 様式2 notice filed from the case completes the open step waiting for one (completes_on = "account_notice")."""
    for state in checklist(case):
        if (state.step.completes_on == "account_notice" and state.state == PENDING
                and (state.step.actor != "supervisor" or policy.can_act_as_supervisor(actor, case))):
            _record(actor, case, state, "complete", reason="",
                    data={"notice_id": notice.id, "notice_kind": notice.kind.value, "where": f"様式2 #{notice.id}"})
            return


def on_takedown_removed(actor: User, case: Case, draft: Draft) -> None:
    """A platform's answer "removed" completes the open steps that wait for it (completes_on =
    "takedown_removed"), once no other takedown request of the case still awaits its answer. A closed case's
    steps are read-only: a late answer changes the fakes (drafts.sending), never its checklist."""
    if policy.is_read_only(case):
        return
    waiting = db.session.scalar(
        select(Draft.id).where(Draft.case_id == case.id, Draft.type == DraftType.TAKEDOWN,
                               Draft.status == DraftStatus.SENT, Draft.outcome.is_(None)).limit(1))
    if waiting is not None:
        return
    for state in checklist(case):
        if state.step.completes_on == "takedown_removed" and state.state == PENDING:
            _record(actor, case, state, "complete", reason="",
                    data={"by": "takedown_removed", "draft_id": draft.id})


def on_draft_sent(actor: User, case: Case, draft: Draft, publication: Publication) -> None:
    """Publishing (or submitting) an approved draft completes the open step that asked for it."""
    for state in checklist(case):
        if state.step.type == "draft" and state.step.draft_type == draft.type.value and state.state == PENDING:
            data = {"draft_id": draft.id, "publication_id": publication.id,
                    "where": publication.url or publication.reference or publication.channel}
            if state.step.input == "city_url" and draft.link:
                data["url"] = draft.link
            _record(actor, case, state, "complete", reason="", data=data)
            return


# ---- what other domains' events do to the checklist (incident.signals) ----------------------------


@signals.case_opening.connect
def _pin_on_opening(case: Case, **_: Any) -> None:
    """A new case follows the current playbook of its kind."""
    pin_playbook(case)


@signals.case_kind_changed.connect
def _pin_on_kind_change(case: Case, **_: Any) -> None:
    """A case that turns out to be another kind follows that kind's playbook from now on."""
    pin_playbook(case)


@signals.case_acknowledged.connect
def _on_case_acknowledged(case: Case, *, actor: User, **_: Any) -> None:
    on_acknowledged(actor, case)


@signals.case_closing.connect
def _before_closing(case: Case, *, actor: User, reason: str, waive_open_steps: bool, review: bool = False,
                    **_: Any) -> None:
    """A case closes only when every required step is done or waived; a review given with the closing
    completes the step that asks for it (completes_on = "case_review"); a supervisor closing with
    `waive_open_steps` (e.g. a false alarm) waives the rest with the closing reason."""
    if review:
        for state in checklist(case):
            if state.step.completes_on == "case_review" and state.state == PENDING:
                _record(actor, case, state, "complete", reason="", data={"by": "case_review"})
    still_open = open_required(case)
    if still_open and waive_open_steps:
        if not reason:
            raise ValidationFailed(fields={"reason": _l("免除する理由を入力してください。")})
        for state in still_open:
            waive_step(actor, case, state.step.key, reason)
        still_open = []
    if still_open:
        names = "、".join(f"「{s.step.title_ja}」" for s in still_open)
        raise CaseError(
            _l("必須の手順が終わっていないため終了できません：%(steps)s。手順を完了するか、所属長が理由を付けて免除してください。",
               steps=names),
            fields={"steps": ", ".join(s.step.key for s in still_open)},
        )


@signals.account_notice_filed.connect
def _on_account_notice_filed(case: Case, *, actor: User, notice: AccountNotice, **_: Any) -> None:
    on_account_notice(actor, case, notice)


@signals.draft_answered.connect
def _on_draft_answered(draft: Draft, *, actor: User, case: Case, outcome: Outcome | None, **_: Any) -> None:
    if draft.type == DraftType.TAKEDOWN and outcome == Outcome.REMOVED:
        on_takedown_removed(actor, case, draft)


@signals.draft_sent.connect
def _on_draft_sent(draft: Draft, *, actor: User, case: Case, publication: Publication, **_: Any) -> None:
    on_draft_sent(actor, case, draft, publication)


def perform(actor: User, case: Case, key: str, action: str, payload: dict[str, Any]) -> StepEvent:
    """Dispatch one checklist action by name, for the page and the API alike."""
    if action == "complete":
        return complete_step(actor, case, key, payload.get("note", ""), payload)
    if action == "decide":
        return decide(actor, case, key, payload.get("answer"), payload.get("reason"))
    actions = {"skip": skip_step, "waive": waive_step, "reopen": reopen_step}
    if action not in actions:
        raise NotFound()
    return actions[action](actor, case, key, payload.get("reason"))
