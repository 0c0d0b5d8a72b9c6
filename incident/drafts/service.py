"""Writing and approving drafts: generation from the case, revisions, section-4 checks, approval routes."""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from flask import current_app
from flask_babel import LazyString, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from incident import policy, signals
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases import loading
from incident.cases.models import Case, OffendingItem, TimelineEvent
from incident.cases.service import require_open
from incident.drafts import blanks, length, states
from incident.drafts.context import build_context
from incident.drafts.models import (
    FOLLOWED_UP_TYPES,
    Draft,
    DraftCheck,
    DraftEvent,
    DraftRevision,
    DraftStatus,
    DraftType,
    Publication,
    Route,
)
from incident.drafts.wording import CHANNELS, LETTER_TYPES, PLATFORMS, ChannelFacts, Wording
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
#: Letters and forms (requests to a platform, the press release; LETTER_TYPES of wording.py): no channel, no
#: website rendition, and recorded as sent once. Every other type is a notice posted somewhere (Draft.channel).
#: The channel of the city website, where a notice's long rendition (DraftRevision.web_body) goes.
WEBSITE = "website"
BODY_LABEL = _l("本文")
WEB_BODY_LABEL = _l("市ホームページ用（長文）")


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


def default_platform(case: Case, draft_type: DraftType = DraftType.TAKEDOWN) -> str:
    """A takedown goes to the case's platform, else the first fake's, else "other"; a recovery request goes to
    the platform of the case's official account (the one taken over) first."""
    if draft_type == DraftType.RECOVERY and case.official_account is not None:
        return case.official_account.platform.value
    if case.platform is not None:
        return case.platform.value
    fakes = fakes_of_case(case)
    return fakes[0].platform.value if fakes else "other"


# ---- channels (where a notice is posted) and the length of its texts --------------------------------


def is_letter(draft_type: DraftType) -> bool:
    """A request or press release: no channel, no website rendition, recorded once."""
    return draft_type in LETTER_TYPES


def channel_facts(key: str | None) -> ChannelFacts | None:
    """A channel of platforms.toml ([channels.KEY]), or None."""
    return wording().channels.get(key or "")


def channel_name(facts: ChannelFacts) -> str:
    """The channel's name in the reader's language."""
    return facts.name_en if str(get_locale()) == "en" else facts.name_ja


def channel_labels() -> dict[str, str]:
    """Each channel's name in the reader's language (the ledger's places); none while the wording is broken
    (an app started only for `flask playbooks check`)."""
    words = current_app.extensions.get("wording")
    return {key: channel_name(facts) for key, facts in words.channels.items()} if words is not None else {}


def counter_rules() -> dict[str, Any]:
    """What the editor's live counter (static/draft-length.js) counts with: twitter-text's rules, each
    channel's name, limit and way of counting, and its two messages in the reader's language. Handed to the
    page as data, so that the numbers live only on the server."""
    slots = {"name": "{name}", "limit": "{limit}", "count": "{count}"}
    return {
        "weighted": length.RULES,
        "channels": {key: {"name": channel_name(facts), "limit": facts.limit, "counting": facts.counting}
                     for key, facts in wording().channels.items()},
        "counter": _("%(channel)s：%(count)s / %(limit)s", channel="{name}", count="{count}", limit="{limit}"),
        "over": _("%(name)s の上限 %(limit)s を超えています（現在 %(count)s）。", **slots),
        "within": _("%(name)s の上限 %(limit)s 以内です（現在 %(count)s）。", **slots),
    }


def headed_texts(draft: Draft, revision: DraftRevision) -> list[tuple[str, str]]:
    """(heading, text) of what export and print show: the body alone (no heading), or, with a website
    rendition, 「本文（X）」 and 「市ホームページ用（長文）」 each under its heading."""
    if not revision.web_body.strip():
        return [("", revision.body)]
    facts = channel_facts(draft.channel)
    heading = _("本文（%(channel)s）", channel=channel_name(facts)) if facts else str(BODY_LABEL)
    return [(heading, revision.body), (str(WEB_BODY_LABEL), revision.web_body)]


def default_channel(case: Case, draft_type: DraftType) -> str | None:
    """Where a notice is posted unless chosen: the platform of the case's official account (the city posts
    on its own account), else the case's platform, else the city website; letters have none."""
    if is_letter(draft_type):
        return None
    account = case.official_account.platform if case.official_account is not None else None
    for platform in (account, case.platform):
        if platform is not None and platform.value in CHANNELS:
            return platform.value
    return WEBSITE


def _channel(raw: Any, draft_type: DraftType) -> str | None:
    """A chosen channel, checked; None when not given."""
    if raw in (None, ""):
        return None
    if is_letter(draft_type):
        raise _invalid("channel", _l("削除依頼・復旧依頼・報道機関への提供の文案には、投稿先はありません。"))
    if not isinstance(raw, str) or raw not in CHANNELS:
        raise _invalid("channel", _l("投稿先を選んでください。"))
    return raw


def _web_text(raw: Any, draft_type: DraftType) -> str:
    """The website rendition, checked: notices only."""
    text = _text(raw, "web_body", max_len=BODY_MAX, required=False)
    if text and is_letter(draft_type):
        raise _invalid("web_body", _l("市ホームページ用（長文）は、周知・訂正などの文案にだけ付けられます。"))
    return text


def texts_of(revision: DraftRevision) -> list[tuple[str, Any, str]]:
    """(field, label, text) of each text of a revision: the body, and the website rendition when there is one
    (the body's label is None then: its messages stay as they always were)."""
    if not revision.web_body.strip():
        return [("body", None, revision.body)]
    return [("body", BODY_LABEL, revision.body), ("web_body", WEB_BODY_LABEL, revision.web_body)]


def text_for(revision: DraftRevision, place: str) -> str:
    """What is published at `place`: the website rendition on the website when there is one, else the body."""
    if place == WEBSITE and revision.web_body.strip():
        return revision.web_body
    return revision.body


def measures(draft: Draft, revision: DraftRevision) -> dict[str, length.Measure]:
    """The length of each text against its channel: the body against the draft's channel, the website
    rendition against the website's limit (none for a letter, or a text without a channel)."""
    found = {}
    facts = channel_facts(draft.channel)
    if facts is not None:
        found["body"] = length.measure(revision.body, facts)
    web = channel_facts(WEBSITE)
    if web is not None and revision.web_body.strip():
        found["web_body"] = length.measure(revision.web_body, web)
    return found


def place_measures(revision: DraftRevision) -> dict[str, length.Measure]:
    """For each channel, the length of what would be published there against its limit."""
    return {key: length.measure(text_for(revision, key), facts) for key, facts in wording().channels.items()}


def over_limit(measure: length.Measure) -> Any:
    """「X の上限 280 を超えています（現在 312）。」, in the reader's language when it is shown."""
    facts = channel_facts(measure.channel)
    return LazyString(lambda: _("%(name)s の上限 %(limit)s を超えています（現在 %(count)s）。",
                                name=channel_name(facts) if facts else measure.channel,
                                limit=measure.limit, count=measure.count))


def require_within(found: list[length.Measure]) -> None:
    """Raise a 422 naming each text over its channel's limit with its count, unless none is."""
    over = [over_limit(m) for m in found if m.over]
    if over:
        raise ValidationFailed(LazyString(lambda: " ".join(str(message) for message in over)))


def generate(actor: User, case: Case, draft: Draft, *, interim: Publication | None,
             corrects: Publication | OffendingItem | None) -> tuple[str, str]:
    """(body, web_body) generated for this draft from the case as it is now. The long template's text is the
    body when it fits the draft's channel (the website, Facebook...), with no website rendition; when it does
    not (X: 280), the notice's short template (`<type>.short.<lang>.txt`) gives the body and the long text
    becomes the website rendition. A type without a short template keeps the long text as its body."""
    words = wording()
    facts = (words.platforms.get(draft.platform)
             if draft.type in FOLLOWED_UP_TYPES and draft.platform is not None else None)
    template = words.template(draft.type.value, draft.platform, draft.lang)
    if template is None:
        raise _invalid("lang", _l("この言語のひな形はありません。"))
    context = build_context(actor, case, lang=draft.lang, platform=facts, interim=interim, corrects=corrects,
                            link=draft.link, date_style=words.date_style(draft.type.value))
    long_text = template.render(context).strip() + "\n"
    channel = channel_facts(draft.channel)
    brief = None if is_letter(draft.type) else words.short_template(draft.type.value, draft.lang)
    if brief is None or channel is None or draft.channel == WEBSITE or not length.measure(long_text, channel).over:
        return long_text, ""
    return brief.render(context).strip() + "\n", long_text


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
    if draft_type in FOLLOWED_UP_TYPES:  # a request to a platform: takedown or recovery
        platform = data.get("platform") or default_platform(case, draft_type)
        if not isinstance(platform, str) or platform not in PLATFORMS:
            raise _invalid("platform", _l("媒体を選んでください。"))
    channel = _channel(data.get("channel"), draft_type) or default_channel(case, draft_type)
    web_body = _web_text(data.get("web_body"), draft_type)
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
    draft = Draft(case_id=case.id, type=draft_type, platform=platform, lang=lang, channel=channel,
                  status=DraftStatus.EDITING, link=link, supersedes_id=supersedes.id if supersedes else None,
                  corrects_item_id=corrects.id if isinstance(corrects, OffendingItem) else None,
                  created_by_id=actor.id)
    db.session.add(draft)
    db.session.flush()
    body, generated_web = generate(actor, case, draft, interim=interim, corrects=corrects)
    # A website text given with the request is the author's own: it is kept instead of the generated one.
    revision = DraftRevision(draft=draft, number=1, body=body, web_body=web_body + "\n" if web_body else generated_web,
                             origin="generated", author_id=actor.id)
    db.session.add(revision)
    db.session.flush()
    _event(actor, draft, "created", revision=revision,
           data={"platform": platform, "lang": lang, **({"channel": channel} if channel else {}),
                 **({"link": link} if link else {})})
    return draft


def revise(actor: User, draft: Draft, body: Any, *, base_revision: Any = None, web_body: Any = None,
           channel: Any = None) -> DraftRevision:
    """Save new wording (the body and the website rendition together) as the next revision, and the channel;
    any earlier approval no longer applies. `web_body` or `channel` None keeps it as it is."""
    case = case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    states.check(draft, "revise")
    text = _text(body, "body", max_len=BODY_MAX, required=True)
    latest = latest_revision(draft)
    web = latest.web_body.strip() if web_body is None else _web_text(web_body, draft.type)
    chosen = _channel(channel, draft.type) or draft.channel
    if base_revision not in (None, "") and str(base_revision) != str(latest.number):
        raise Conflict(_l("この文案は、あなたが開いた後に他の人が書き換えました（現在の版：%(n)d）。差分を確かめてから、もう一度保存してください。",
                          n=latest.number))
    same_text = text == latest.body.strip() and web == latest.web_body.strip()
    if same_text and chosen == draft.channel:
        raise CaseError(_l("前の版と同じ内容です。"))
    previous = draft.status
    revision = latest
    if not same_text:
        revision = DraftRevision(draft=draft, number=latest.number + 1, body=text + "\n",
                                 web_body=web + "\n" if web else "", origin="edited", author_id=actor.id)
        db.session.add(revision)
    data: dict[str, Any] = {}
    if chosen != draft.channel:  # another channel, another limit: approved again too
        data["channel"] = chosen
        draft.channel = chosen
    states.move(draft, "revise", DraftStatus.EDITING)
    draft.route = None
    draft.scope = None
    draft.approved_revision_id = None
    _flush(draft)
    if previous in (DraftStatus.SUBMITTED, DraftStatus.APPROVED):
        data["approval_cleared"] = True
    _event(actor, draft, "revised", revision=None if same_text else revision, data=data)
    return revision


def _checks(raw: Any) -> list[str]:
    ticked = raw if isinstance(raw, (list, tuple)) else []
    missing = [key for key in SECTION4_CHECKS if key not in ticked]
    if missing:
        raise _invalid("checks", _l("ガイドライン第4項の確認をすべて済ませてください（未確認：%(n)d 件）。", n=len(missing)))
    return list(SECTION4_CHECKS)


def _ready(checks: Any, draft: Draft, revision: DraftRevision) -> None:
    """The section-4 checks all ticked and no blank left in the revision's texts (blanks.py), one 422 naming
    both; then each text within its channel's limit (a 422 with the count)."""
    fields: dict[str, Any] = {}
    try:
        _checks(checks)
    except ValidationFailed as exc:
        fields.update(exc.fields)
    unfilled = blanks.refusal_in(texts_of(revision))
    if unfilled is not None:
        fields.update(unfilled.fields)
    if fields:
        raise ValidationFailed(unfilled.message if unfilled is not None else None, fields=fields)
    require_within(list(measures(draft, revision).values()))


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
    _ready(checks, draft, revision)
    _store_checks(actor, revision)
    states.move(draft, "submit", DraftStatus.SUBMITTED)
    draft.route = Route.SUPERVISOR
    draft.approved_revision_id = revision.id
    _flush(draft)
    signals.draft_submitted.send(draft, actor=actor, case=case, pre_approved=False)
    return _event(actor, draft, "submitted", revision=revision, data={"checks": list(SECTION4_CHECKS)})


def second_person_available(case: Case, author: User) -> bool:
    """Whether the department has another active member who could check a pre-approved text (3(1)イ(ウ)c):
    someone who may see the case (an outside operator's user only if their organisation runs its account)."""
    others = db.session.scalars(select(User).where(
        User.department_id == case.department_id, User.active.is_(True), User.id != author.id))
    return any(policy.can_view(user, case) for user in others)


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
    _ready(checks, draft, revision)
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
    submitted = _submitted_revision(draft)
    blanks.require_filled_in(texts_of(submitted))  # submitted before blanks were refused
    require_within(list(measures(draft, submitted).values()))  # or before the limits were checked
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
