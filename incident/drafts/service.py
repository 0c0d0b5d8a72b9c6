"""Writing and approving drafts: generation from the case, revisions, section-4 checks, approval routes."""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from incident import policy, signals
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases import loading
from incident.cases.models import Case, OffendingItem, TimelineEvent
from incident.cases.service import require_open
from incident.drafts import blanks, states
from incident.drafts.context import build_context
from incident.drafts.models import (
    Draft,
    DraftCheck,
    DraftEvent,
    DraftRevision,
    DraftStatus,
    DraftType,
    Publication,
    Route,
)
from incident.drafts.wording import PLATFORMS, Wording
from incident.errors import CaseError, Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.fakes.service import fakes_of_case
from incident.validation import city_url, parse_id

BODY_MAX = 20_000
COMMENT_MAX = 2_000
SOURCE_MAX = 500
#: Section 4 of the guideline: what the author confirms before a text can be approved.
SECTION4_CHECKS = ("public_info", "accurate", "rights", "not_prohibited", "calm")
#: 3(1)イ(ウ)b: what a responder may send within a scope the supervisor approved in advance.
SCOPES = ("a", "b", "c")


def _invalid(name: str, message: Any) -> ValidationFailed:
    return ValidationFailed(fields={name: message})


def wording() -> Wording:
    """The loaded templates and platform facts."""
    return current_app.extensions["wording"]


def _text(raw: Any, name: str, *, max_len: int, required: bool) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise _invalid(name, _l("文字列で入力してください。"))
    text = raw.strip()
    if "\x00" in text:
        raise _invalid(name, _l("使用できない制御文字（NUL）が含まれています。"))
    if required and not text:
        raise _invalid(name, _l("入力してください。"))
    if len(text) > max_len:
        raise _invalid(name, _l("%(max)d 文字以内で入力してください。", max=max_len))
    return text


def _event(actor: User | None, draft: Draft, action: str, *, revision: DraftRevision | None = None,
           comment: str = "", data: dict[str, Any] | None = None) -> DraftEvent:
    """One append-only draft event, mirrored on the case timeline and in the audit log."""
    event = DraftEvent(draft_id=draft.id, revision_id=revision.id if revision else None, action=action,
                       comment=comment, data=data or {}, actor_id=actor.id if actor else None)
    db.session.add(event)
    db.session.flush()
    db.session.add(TimelineEvent(
        case_id=draft.case_id, actor_id=actor.id if actor else None, event=f"draft_{action}",
        data={"draft_id": draft.id, "type": draft.type.value, "revision": revision.number if revision else None,
              "comment": comment, **(data or {})}))
    audit.record(actor, f"draft.{action}", "draft", draft.id, case_id=draft.case_id,
                 changes={"status": (None, draft.status.value),
                          **({"revision": (None, revision.number)} if revision else {}),
                          **({"comment": (None, comment)} if comment else {})})
    return event


def _flush(draft: Draft) -> None:
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict(_l("この文案は、あなたが開いた後に他の人が更新しました。最新の内容を確認してください。")) from None


def get_draft(actor: User, case_id: int, draft_id: int) -> Draft:
    """A draft of a case the actor may see, or NotFound."""
    return loading.load(actor, Draft, draft_id, case_id=case_id)


def case_of(draft: Draft) -> Case:
    """The case a draft belongs to."""
    return db.session.get_one(Case, draft.case_id)


def latest_revision(draft: Draft) -> DraftRevision:
    """The newest wording."""
    return draft.revisions[-1]


def drafts_of(case: Case) -> list[Draft]:
    """The case's drafts, newest first, with creators, revisions and their authors loaded (no N+1)."""
    return list(db.session.scalars(
        select(Draft).where(Draft.case_id == case.id)
        .options(joinedload(Draft.created_by), selectinload(Draft.revisions).joinedload(DraftRevision.author))
        .order_by(Draft.id.desc())
    ))


def _row_of_case(model: Any, case: Case, raw: Any, name: str, message: Any) -> Any:
    """The row of `model` with the id in `raw` if it belongs to the case; None when blank."""
    try:
        number = parse_id(raw)
    except ValueError:
        number = 0
    if number is None:
        return None
    row = db.session.get(model, number) if number else None
    if row is None or row.case_id != case.id:
        raise _invalid(name, message)
    return row


def withdrawn_ids(case: Case) -> set[int]:
    """Ledger entries of the case that a later withdrawal superseded."""
    return set(db.session.scalars(select(Publication.supersedes_id).where(
        Publication.case_id == case.id, Publication.kind == "withdrawal")))


def latest_interim(case: Case) -> Publication | None:
    """The most recent published interim notice of the case that was not withdrawn (a final notice follows it)."""
    withdrawn = select(Publication.supersedes_id).where(Publication.case_id == case.id,
                                                        Publication.kind == "withdrawal",
                                                        Publication.supersedes_id.is_not(None))
    return db.session.scalars(
        select(Publication).where(Publication.case_id == case.id, Publication.kind == DraftType.INTERIM_NOTICE.value,
                                  Publication.id.not_in(withdrawn))
        .order_by(Publication.published_at.desc(), Publication.id.desc()).limit(1)
    ).first()


def default_platform(case: Case) -> str:
    """A takedown goes to the case's platform, else the first fake's, else "other"."""
    if case.platform is not None:
        return case.platform.value
    fakes = fakes_of_case(case)
    return fakes[0].platform.value if fakes else "other"


def render(actor: User, case: Case, draft: Draft, *, interim: Publication | None,
           corrects: Publication | OffendingItem | None) -> str:
    """The template's text for this draft, filled from the case as it is now."""
    words = wording()
    facts = (words.platforms.get(draft.platform)
             if draft.type == DraftType.TAKEDOWN and draft.platform is not None else None)
    template = words.template(draft.type.value, draft.platform, draft.lang)
    if template is None:
        raise _invalid("lang", _l("この言語のひな形はありません。"))
    context = build_context(actor, case, lang=draft.lang, platform=facts, interim=interim, corrects=corrects,
                            link=draft.link)
    return template.render(context).strip() + "\n"


def create_draft(actor: User, case: Case, data: dict[str, Any]) -> Draft:
    """Start a draft of a type from its template, filled from the case; revision 1 is the generated text."""
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    raw_type = data.get("type")
    if not isinstance(raw_type, str) or raw_type not in {t.value for t in DraftType}:
        raise _invalid("type", _l("文案の種類を選んでください。"))
    draft_type = DraftType(raw_type)
    platform = None
    if draft_type == DraftType.TAKEDOWN:
        platform = data.get("platform") or default_platform(case)
        if not isinstance(platform, str) or platform not in PLATFORMS:
            raise _invalid("platform", _l("媒体を選んでください。"))
    lang = data.get("lang") or "ja"
    if not isinstance(lang, str) or lang not in wording().languages(draft_type.value):
        raise _invalid("lang", _l("この種類の文案は日本語だけです。"))
    link = ""
    if draft_type == DraftType.CORRECT_INFO or data.get("link"):
        # 3(4)ウ(ア): the correct information always links the city's own page.
        link = city_url(data.get("link"), "link")
    interim = corrects = None
    supersedes = _row_of_case(Publication, case, data.get("supersedes_id"), "supersedes_id",
                              _l("この案件の公開記録ではありません。"))
    if draft_type == DraftType.FINAL_NOTICE:
        if supersedes is not None and (supersedes.kind != DraftType.INTERIM_NOTICE.value
                                       or supersedes.id in withdrawn_ids(case)):
            raise _invalid("supersedes_id", _l("最終の周知が続くのは、公開済み（取り下げていない）の中間の周知です。"))
        interim = supersedes or latest_interim(case)
        supersedes = interim
    elif draft_type == DraftType.CORRECTION:
        corrects = supersedes or _row_of_case(OffendingItem, case, data.get("corrects_item_id"), "corrects_item_id",
                                              _l("この案件の投稿・アカウントではありません。"))
    elif supersedes is not None:
        raise _invalid("supersedes_id", _l("この種類の文案は、以前の公開を置き換えません。"))
    draft = Draft(case_id=case.id, type=draft_type, platform=platform, lang=lang, status=DraftStatus.EDITING,
                  link=link, supersedes_id=supersedes.id if supersedes else None,
                  corrects_item_id=corrects.id if isinstance(corrects, OffendingItem) else None,
                  created_by_id=actor.id)
    db.session.add(draft)
    db.session.flush()
    body = render(actor, case, draft, interim=interim, corrects=corrects)
    revision = DraftRevision(draft=draft, number=1, body=body, origin="generated", author_id=actor.id)
    db.session.add(revision)
    db.session.flush()
    _event(actor, draft, "created", revision=revision,
           data={"platform": platform, "lang": lang, **({"link": link} if link else {})})
    return draft


def revise(actor: User, draft: Draft, body: Any, *, base_revision: Any = None) -> DraftRevision:
    """Save new wording as the next revision; any earlier approval no longer applies."""
    case = case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    states.check(draft, "revise")
    text = _text(body, "body", max_len=BODY_MAX, required=True)
    latest = latest_revision(draft)
    if base_revision not in (None, "") and str(base_revision) != str(latest.number):
        raise Conflict(_l("この文案は、あなたが開いた後に他の人が書き換えました（現在の版：%(n)d）。差分を確かめてから、もう一度保存してください。",
                          n=latest.number))
    if text == latest.body.strip():
        raise CaseError(_l("前の版と同じ内容です。"))
    previous = draft.status
    revision = DraftRevision(draft=draft, number=latest.number + 1, body=text + "\n", origin="edited",
                             author_id=actor.id)
    db.session.add(revision)
    states.move(draft, "revise", DraftStatus.EDITING)
    draft.route = None
    draft.scope = None
    draft.approved_revision_id = None
    _flush(draft)
    _event(actor, draft, "revised", revision=revision,
           data={"approval_cleared": True} if previous in (DraftStatus.SUBMITTED, DraftStatus.APPROVED) else {})
    return revision


def _checks(raw: Any) -> list[str]:
    ticked = raw if isinstance(raw, (list, tuple)) else []
    missing = [key for key in SECTION4_CHECKS if key not in ticked]
    if missing:
        raise _invalid("checks", _l("ガイドライン第4項の確認をすべて済ませてください（未確認：%(n)d 件）。", n=len(missing)))
    return list(SECTION4_CHECKS)


def _ready(checks: Any, revision: DraftRevision) -> None:
    """The section-4 checks all ticked and no blank left in the revision (blanks.py); one 422 naming both."""
    fields: dict[str, Any] = {}
    try:
        _checks(checks)
    except ValidationFailed as exc:
        fields.update(exc.fields)
    unfilled = blanks.refusal(revision.body)
    if unfilled is not None:
        fields.update(unfilled.fields)
    if fields:
        raise ValidationFailed(unfilled.message if unfilled is not None else None, fields=fields)


def _store_checks(actor: User, revision: DraftRevision) -> None:
    done = set(db.session.scalars(select(DraftCheck.check_key).where(DraftCheck.revision_id == revision.id)))
    for key in SECTION4_CHECKS:
        if key not in done:
            db.session.add(DraftCheck(revision_id=revision.id, check_key=key, actor_id=actor.id))


def checks_of(revision: DraftRevision) -> list[DraftCheck]:
    """The section-4 checks ticked for a revision."""
    return list(db.session.scalars(select(DraftCheck).where(DraftCheck.revision_id == revision.id)
                                   .order_by(DraftCheck.id)))


def submit(actor: User, draft: Draft, checks: Any) -> DraftEvent:
    """The author confirms the section-4 checks and asks the supervisor to approve (3(1)イ(ウ)a)."""
    case = case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    states.check(draft, "submit")
    revision = latest_revision(draft)
    _ready(checks, revision)
    _store_checks(actor, revision)
    states.move(draft, "submit", DraftStatus.SUBMITTED)
    draft.route = Route.SUPERVISOR
    draft.approved_revision_id = revision.id
    _flush(draft)
    signals.draft_submitted.send(draft, actor=actor, case=case, pre_approved=False)
    return _event(actor, draft, "submitted", revision=revision, data={"checks": list(SECTION4_CHECKS)})


def second_person_available(case: Case, author: User) -> bool:
    """Whether the department has another active member who could check a pre-approved text (3(1)イ(ウ)c)."""
    count = db.session.scalar(select(func.count()).select_from(User).where(
        User.department_id == case.department_id, User.active.is_(True), User.id != author.id))
    return bool(count)


def mark_pre_approved(actor: User, draft: Draft, scope: Any, source: Any, checks: Any) -> DraftEvent:
    """Send within a pre-approved scope (a)(b)(c), citing where it was published; a second person checks it."""
    case = case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    states.check(draft, "pre_approve")
    if not isinstance(scope, str) or scope not in SCOPES:
        raise _invalid("scope", _l("事前に承認された範囲 (a)(b)(c) のどれに当たるかを選んでください。"))
    cited = _text(source, "source", max_len=SOURCE_MAX, required=True)
    revision = latest_revision(draft)
    _ready(checks, revision)
    _store_checks(actor, revision)
    draft.route = Route.PRE_APPROVED
    draft.scope = scope
    draft.scope_source = cited
    draft.approved_revision_id = revision.id
    if second_person_available(case, actor):
        states.move(draft, "pre_approve", DraftStatus.SUBMITTED)
        _flush(draft)
        signals.draft_submitted.send(draft, actor=actor, case=case, pre_approved=True)
        return _event(actor, draft, "pre_approved", revision=revision,
                      data={"scope": scope, "source": cited, "second_check": "pending"})
    states.move(draft, "pre_approve", DraftStatus.APPROVED)
    _flush(draft)
    return _event(actor, draft, "pre_approved", revision=revision,
                  data={"scope": scope, "source": cited, "second_check": "unavailable"})


def _submitted_revision(draft: Draft) -> DraftRevision:
    return next(r for r in draft.revisions if r.id == draft.approved_revision_id)


def _submitter_id(draft: Draft) -> int | None:
    return db.session.scalar(
        select(DraftEvent.actor_id).where(DraftEvent.draft_id == draft.id,
                                          DraftEvent.action.in_(("submitted", "pre_approved")))
        .order_by(DraftEvent.id.desc()).limit(1))


def is_own(actor: User, draft: Draft) -> bool:
    """Whether the actor wrote or submitted the text awaiting approval (no one approves their own)."""
    if draft.approved_revision_id is None:
        return latest_revision(draft).author_id == actor.id
    return actor.id in (_submitted_revision(draft).author_id, _submitter_id(draft))


def can_approve(actor: User, draft: Draft, case: Case) -> bool:
    """Supervisor route: the case's supervisor or the PR office; pre-approved: any colleague. Never the author."""
    return policy.can_approve_draft(actor, case, pre_approved=draft.route == Route.PRE_APPROVED,
                                    own=is_own(actor, draft))


def approve(actor: User, draft: Draft, comment: Any = "") -> DraftEvent:
    """Approve the submitted revision, or record the second person's check of a pre-approved one."""
    case = case_of(draft)
    if not policy.can_view(actor, case):
        raise NotFound()
    require_open(case)
    if is_own(actor, draft):
        raise PermissionDenied(_l("自分が書いた（提出した）文案は承認できません。別の人が確認します。"))
    if draft.route != Route.PRE_APPROVED and not policy.can_act_as_supervisor(actor, case):
        raise PermissionDenied(_l("文案の承認は所属長（または秘書広報課）が行います（3(1)イ(ウ)a）。"))
    states.check(draft, "approve")
    blanks.require_filled(_submitted_revision(draft).body)  # submitted before blanks were refused
    note = _text(comment, "comment", max_len=COMMENT_MAX, required=False)
    states.move(draft, "approve", DraftStatus.APPROVED)
    _flush(draft)
    action = "second_checked" if draft.route == Route.PRE_APPROVED else "approved"
    signals.draft_decided.send(draft, actor=actor, case=case, approved=True, comment=note)
    return _event(actor, draft, action, revision=_submitted_revision(draft), comment=note)


def return_draft(actor: User, draft: Draft, comment: Any) -> DraftEvent:
    """Send a submitted draft back to its author with a comment saying what to change."""
    case = case_of(draft)
    if not policy.can_view(actor, case):
        raise NotFound()
    require_open(case)
    if not (policy.can_act_as_supervisor(actor, case) or can_approve(actor, draft, case)):
        raise PermissionDenied(_l("差し戻しは承認する立場の人が行います。"))
    states.check(draft, "return")
    note = _text(comment, "comment", max_len=COMMENT_MAX, required=True)
    revision = _submitted_revision(draft)
    states.move(draft, "return", DraftStatus.EDITING)
    draft.route = None
    draft.scope = None
    draft.approved_revision_id = None
    _flush(draft)
    signals.draft_decided.send(draft, actor=actor, case=case, approved=False, comment=note)
    return _event(actor, draft, "returned", revision=revision, comment=note)


def history(draft: Draft) -> list[DraftEvent]:
    """The draft's events, oldest first, actors loaded."""
    return list(db.session.scalars(select(DraftEvent).where(DraftEvent.draft_id == draft.id)
                                   .options(joinedload(DraftEvent.actor)).order_by(DraftEvent.id)))


@dataclasses.dataclass(frozen=True)
class DiffLine:
    """One line of a comparison between two revisions: op is ' ', '+' or '-'."""

    op: str
    text: str


def diff(old: str, new: str) -> list[DiffLine]:
    """Line-by-line differences between two revisions (unchanged lines included for context)."""
    lines = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith("? "):
            continue
        lines.append(DiffLine(op=line[0], text=line[2:]))
    return lines
