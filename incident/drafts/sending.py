"""After approval: recording what went out (the published ledger), takedown follow-ups, platform checklists."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from incident import policy, signals
from incident.accounts.models import FakeAccountState
from incident.auth.models import User
from incident.cases import loading
from incident.cases.models import Case
from incident.cases.service import require_open
from incident.dates import to_tokyo, utcnow
from incident.drafts import blanks, length, service, states
from incident.drafts.models import FOLLOWED_UP_TYPES, OUTCOMES, Draft, DraftStatus, DraftType, Outcome, Publication
from incident.drafts.wording import CHANNELS, ChannelFacts
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.evidence.service import evidence_list
from incident.extensions import db
from incident.fakes.service import change_state, fakes_of_case
from incident.validation import TARGET_MAX, city_url, is_web_url, normalise_target, past_time

#: How a takedown or recovery request (FOLLOWED_UP_TYPES) was submitted.
TAKEDOWN_CHANNELS = ("form", "email", "in_app")
#: How a notice went out.
NOTICE_CHANNELS = ("post", "website", "press", "email", "other")
#: Days to wait for a platform's answer when platforms.toml gives none (2025 platform law: about 7).
DEFAULT_FOLLOW_UP_DAYS = 7
REFERENCE_MAX = 200
NOTE_MAX = 2000


def _invalid(name: str, message: Any) -> ValidationFailed:
    return ValidationFailed(fields={name: message})


def today() -> dt.date:
    """Today in Japan."""
    return to_tokyo(utcnow()).date()


def _moment(raw: Any, name: str) -> dt.datetime:
    if raw in (None, ""):
        return utcnow()
    try:
        return past_time(raw)
    except ValueError as exc:
        raise _invalid(name, exc.args[0]) from None


def _date(raw: Any, name: str) -> dt.date | None:
    if raw in (None, ""):
        return None
    try:
        value = dt.date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None:
        raise _invalid(name, _l("日付は 2026-11-30 のような形式で入力してください。"))
    return value


def follow_up_days(draft: Draft) -> int:
    """The platform's answer time from platforms.toml, or the default."""
    facts = service.wording().platforms.get(draft.platform or "")
    return facts.answer_days if facts and facts.answer_days > 0 else DEFAULT_FOLLOW_UP_DAYS


def record_sent(actor: User, draft: Draft, data: dict[str, Any]) -> Publication:
    """Record that the approved text went out: where (URL), when, how; it enters the case's ledger.
    The first ledger entry (see `publish`, which records one per place)."""
    return publish(actor, draft, data)[0]


def publish(actor: User, draft: Draft, data: dict[str, Any]) -> list[Publication]:
    """Record where the approved text went out: one ledger entry per place (`places`: [{place, url}], the
    channels of platforms.toml), or one entry as before (`channel` and `url`; letters always so).

    The first recording marks the draft sent and completes its playbook step; a notice already out may be
    recorded in more places later, for the same approved revision (no new approval). Each place gets the
    text that goes there (the website rendition on the website) and refuses it over the place's limit."""
    case = service.case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    first = draft.status != DraftStatus.SENT
    letter = service.is_letter(draft.type)
    states.check(draft, "send" if first or letter else "add_place")
    revision = service._submitted_revision(draft)
    blanks.require_filled_in(service.texts_of(revision))  # what goes out has no ［…を記入］ left
    takedown = draft.type in FOLLOWED_UP_TYPES  # a request to the platform, followed up until answered
    rows = _places(draft, data, letter=letter, takedown=takedown)
    if not first and not all(place for _channel, place, _url in rows):
        raise _invalid("places", _l("追加する公開場所（SNS・市ホームページ）を選んでください。"))
    recorded = {p.place for p in publications_of(draft) if p.place}
    for _channel, place, _url in rows:
        facts = service.channel_facts(place)
        if facts is not None and place in recorded:  # the ledger already has it: a state, not a typo (409)
            raise CaseError(_about(facts, _l("この場所への公開はすでに記録されています。")))
    service.require_within([length.measure(service.text_for(revision, place), facts) for _channel, place, _url in rows
                            if (facts := service.channel_facts(place)) is not None])
    reference = service._text(data.get("reference"), "reference", max_len=REFERENCE_MAX, required=False)
    note = service._text(data.get("note"), "note", max_len=NOTE_MAX, required=False)
    sent_at = _moment(data.get("sent_at"), "sent_at")
    follow_up = _date(data.get("follow_up_on"), "follow_up_on") if takedown else None
    if follow_up is not None and follow_up < to_tokyo(sent_at).date():
        raise _invalid("follow_up_on", _l("確認する日は、提出した日より後にしてください。"))
    publications = [Publication(
        case_id=case.id, draft_id=draft.id, revision_id=revision.id, kind=draft.type.value, url=url,
        channel=channel, place=place, reference=reference, note=note, supersedes_id=draft.supersedes_id,
        corrects_item_id=draft.corrects_item_id, published_at=sent_at, recorded_by_id=actor.id)
        for channel, place, url in rows]
    db.session.add_all(publications)
    if first:
        states.move(draft, "send", DraftStatus.SENT)
    else:
        states.move(draft, "add_place", DraftStatus.SENT)
        draft.updated_at = utcnow()  # a new version: two people adding the same place at once cannot both win
    if takedown:
        follow_up = follow_up or to_tokyo(sent_at).date() + dt.timedelta(days=follow_up_days(draft))
        draft.follow_up_on = follow_up
    service._flush(draft)
    head = publications[0]
    places = [p.place for p in publications if p.place]
    service._event(actor, draft, "sent", revision=revision,
                   data={"publication_id": head.id, "url": head.url, "channel": head.channel, "reference": reference,
                         **({"places": places, "publication_ids": [p.id for p in publications]} if places else {}),
                         **({"added": True} if not first else {}),
                         **({"follow_up_on": follow_up.isoformat()} if follow_up is not None else {})})
    if first:
        if draft.type == DraftType.TAKEDOWN:
            _mark_fakes_reported(actor, case, draft)
        # Its playbook step is done: once per draft, however many places it is recorded in.
        signals.draft_sent.send(draft, actor=actor, case=case, publication=head)
    return publications


def _about(facts: ChannelFacts, message: Any) -> Any:
    """「X：message」: a message about one place, in the reader's language when it is shown."""
    return LazyString(lambda: _("%(place)s：%(message)s", place=service.channel_name(facts), message=message))


def _places(draft: Draft, data: dict[str, Any], *, letter: bool, takedown: bool) -> list[tuple[str, str, str]]:
    """(how it went out, place, URL) of each ledger entry to record: one per place of `places`, or the
    single entry of `channel` and `url`."""
    raw = data.get("places")
    if raw in (None, "", []):
        return [_single(draft, data, letter=letter, takedown=takedown)]
    if letter:
        raise _invalid("places", _l("削除依頼・復旧依頼・報道機関への提供は、公開場所を選ばずに 1 回だけ記録します。"))
    if not isinstance(raw, list) or len(raw) > len(CHANNELS):
        raise _invalid("places", _l("公開した場所を選んでください。"))
    rows: list[tuple[str, str, str]] = []
    for index, item in enumerate(raw):
        name = f"places.{index}"
        place = item.get("place") if isinstance(item, dict) else None
        facts = service.channel_facts(place) if isinstance(place, str) else None
        if facts is None:
            raise _invalid(f"{name}.place", _l("公開した場所を選んでください。"))
        if any(row[1] == facts.key for row in rows):
            raise _invalid(f"{name}.place", _about(facts, _l("同じ場所が 2 回選ばれています。")))
        url = _place_url(item.get("url"), facts, f"{name}.url")
        rows.append(("website" if facts.key == service.WEBSITE else "post", facts.key, url))
    return rows


def _place_url(raw: Any, facts: ChannelFacts, name: str) -> str:
    """The published post's or page's URL at one place: required where the place has URLs, on the city's
    own website for the website."""
    if raw in (None, ""):
        if facts.needs_url:
            raise _invalid(name, _about(facts, _l("公開した投稿・ページの URL を入力してください。")))
        return ""
    if not isinstance(raw, str):
        raise _invalid(name, _about(facts, _l("URL を文字列で入力してください。")))
    text = raw.strip()
    if facts.key == service.WEBSITE:
        try:
            return city_url(text, name)
        except ValidationFailed as exc:
            raise _invalid(name, _about(facts, exc.fields[name])) from None
    if len(text) > TARGET_MAX:
        raise _invalid(name, _about(facts, _l("%(max)d 文字以内で入力してください。", max=TARGET_MAX)))
    if not is_web_url(text):
        raise _invalid(name, _about(facts, _l("http:// または https:// で始まる URL を入力してください。")))
    return text


def _single(draft: Draft, data: dict[str, Any], *, letter: bool, takedown: bool) -> tuple[str, str, str]:
    """The one ledger entry of `channel` (how it went out) and `url`; a notice posted on social media is at
    the draft's channel, one on the website at the website."""
    channel = data.get("channel") or ("form" if takedown else "post")
    allowed = TAKEDOWN_CHANNELS if takedown else NOTICE_CHANNELS
    if not isinstance(channel, str) or channel not in allowed:
        raise _invalid("channel", _l("出し方を選んでください。"))
    url = data.get("url") or ""
    if url:
        try:
            url = normalise_target(url)
        except ValueError as exc:
            raise _invalid("url", exc.args[0]) from None
        if not url.startswith(("http://", "https://")):
            raise _invalid("url", _l("http:// または https:// で始まる URL を入力してください。"))
    elif not takedown and channel in ("post", "website"):
        raise _invalid("url", _l("公開した投稿・ページの URL を入力してください。"))
    place = ""
    if not letter and channel == "website":
        place = service.WEBSITE
    elif not letter and channel == "post" and draft.channel not in (None, service.WEBSITE):
        place = draft.channel or ""
    return channel, place, url


def publications_of(draft: Draft) -> list[Publication]:
    """The draft's ledger entries (not withdrawals), oldest first."""
    return list(db.session.scalars(
        select(Publication).where(Publication.draft_id == draft.id, Publication.kind != "withdrawal")
        .options(joinedload(Publication.recorded_by))
        .order_by(Publication.published_at, Publication.id)))


def _mark_fakes_reported(actor: User, case: Case, draft: Draft) -> None:
    """A fake still marked live on the request's platform is now reported (its history says by which request)."""
    for fake in fakes_of_case(case):
        if fake.state == FakeAccountState.LIVE and fake.platform.value == draft.platform:
            change_state(actor, fake, FakeAccountState.REPORTED.value, f"#{draft.id}")


def _mark_fakes_removed(actor: User, case: Case, draft: Draft) -> None:
    """The platform removed what the request named: the case's fakes on its platform still live or reported
    are now removed, citing the request. A late answer on a closed case does this too: the register of
    fakes is not the case."""
    for fake in fakes_of_case(case):
        if fake.state in (FakeAccountState.LIVE, FakeAccountState.REPORTED) and fake.platform.value == draft.platform:
            change_state(actor, fake, FakeAccountState.REMOVED.value, f"#{draft.id} の回答")


def record_answer(actor: User, draft: Draft, data: dict[str, Any]) -> None:
    """A platform's answer to a takedown or recovery request: the outcome, or a new follow-up date while waiting."""
    case = service.case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    # No require_open: a platform's late answer is recorded on a closed case too (see cases.service).
    if draft.type not in FOLLOWED_UP_TYPES or draft.status != DraftStatus.SENT:
        raise CaseError(_l("提出済みの削除依頼・復旧依頼にだけ回答を記録できます。"))
    if draft.outcome is not None:
        raise CaseError(_l("この依頼の結果は記録済みです。"))
    raw = data.get("outcome") or None
    if raw is not None and (not isinstance(raw, str) or raw not in {o.value for o in Outcome}):
        raise _invalid("outcome", _l("結果を選んでください。"))
    if raw is not None and Outcome(raw) not in OUTCOMES[draft.type]:
        raise _invalid("outcome", _l("削除依頼の結果は「削除された」、復旧依頼の結果は「復旧した」などから選んでください。"))
    answer = service._text(data.get("answer"), "answer", max_len=NOTE_MAX, required=False)
    follow_up = _date(data.get("follow_up_on"), "follow_up_on")
    if follow_up is not None and follow_up < today():
        raise _invalid("follow_up_on", _l("次に確認する日は、今日以降にしてください。"))
    if raw is None and follow_up is None:
        raise _invalid("follow_up_on", _l("結果がまだなら、次に確認する日を入力してください。"))
    if raw is not None:
        draft.outcome = Outcome(raw)
    if follow_up is not None and raw is None:
        draft.follow_up_on = follow_up
    service._flush(draft)
    service._event(actor, draft, "answered", comment=answer,
                   data={"outcome": raw, **({"follow_up_on": follow_up.isoformat()} if follow_up and raw is None else {})})
    if draft.type == DraftType.TAKEDOWN and draft.outcome == Outcome.REMOVED:
        _mark_fakes_removed(actor, case, draft)
    # Playbooks completes the steps that wait for the removal (never on a closed case).
    signals.draft_answered.send(draft, actor=actor, case=case, outcome=draft.outcome)


def withdraw(actor: User, publication: Publication, reason: Any) -> Publication:
    """Withdraw a published text: a new ledger entry superseding it (the original entry stays)."""
    case = db.session.get_one(Case, publication.case_id)
    if not policy.can_view(actor, case):
        raise NotFound()
    require_open(case)
    if not policy.can_act_as_supervisor(actor, case):
        raise PermissionDenied(_l("公開した文の取り下げは所属長（または秘書広報課）が記録します。"))
    if publication.kind == "withdrawal" or service.withdrawn_ids(case) & {publication.id}:
        raise CaseError(_l("この記録はすでに取り下げられています。"))
    text = service._text(reason, "reason", max_len=NOTE_MAX, required=True)
    entry = Publication(case_id=case.id, draft_id=publication.draft_id, kind="withdrawal", note=text,
                        place=publication.place, supersedes_id=publication.id, published_at=utcnow(),
                        recorded_by_id=actor.id)
    db.session.add(entry)
    db.session.flush()
    if publication.draft_id:
        draft = db.session.get_one(Draft, publication.draft_id)
        service._event(actor, draft, "withdrawn", comment=text, data={"publication_id": publication.id})
    return entry


def get_publication(actor: User, case_id: int, publication_id: int) -> Publication:
    """A ledger entry of a case the actor may see, or NotFound."""
    return loading.load(actor, Publication, publication_id, case_id=case_id)


def ledger(case: Case) -> list[Publication]:
    """Everything the case published or submitted, oldest first (supersedes links loaded)."""
    return list(db.session.scalars(
        select(Publication).where(Publication.case_id == case.id)
        .options(joinedload(Publication.recorded_by), joinedload(Publication.supersedes))
        .order_by(Publication.published_at, Publication.id)
    ))


def follow_ups_due(case_ids: list[int], on: dt.date | None = None) -> dict[int, dt.date]:
    """For each case, the earliest takedown or recovery follow-up date that has come without an outcome (one query)."""
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(Draft.case_id, func.min(Draft.follow_up_on))
        .where(Draft.case_id.in_(case_ids), Draft.type.in_(FOLLOWED_UP_TYPES), Draft.status == DraftStatus.SENT,
               Draft.outcome.is_(None), Draft.follow_up_on <= (on or today()))
        .group_by(Draft.case_id))
    return {case_id: day for case_id, day in rows}


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One thing a platform's removal form asks for, and whether the case has it."""

    key: str
    ok: bool
    missing: Any


_MISSING = {
    "reporter": _l("依頼者（担当者）の名前がありません"),
    "email": _l("依頼者のメールアドレスがありません"),
    "authority_proof": _l("権限の証明（委任状・公式アカウント一覧など）が添付されていません"),
    "id_document": _l("身分証明書が添付されていません"),
    "fake_url": _l("偽アカウントの URL が分かっていません"),
    "fake_handle": _l("偽アカウントの @ハンドルが分かっていません"),
    "genuine_url": _l("正規アカウントの URL が分かっていません（案件の「関係する公式アカウント」を選ぶか、登録簿に URL を記入）"),
    "description": _l("なりすましの説明（文案の本文）がありません"),
    "screenshots": _l("スクリーンショットが添付されていません"),
}
def platform_checklist(actor: User, case: Case, draft: Draft) -> list[Requirement]:
    """What the platform's removal form asks for, checked against the case, naming what is still missing
    (takedowns only: a recovery request goes through the platform's hacked-account route instead)."""
    facts = service.wording().platforms.get(draft.platform or "")
    if facts is None or draft.type != DraftType.TAKEDOWN:
        return []
    fakes = fakes_of_case(case)
    files = evidence_list(case)
    purposes = {f["purpose"] for f in files}
    items = case.offending_items
    have = {
        "reporter": bool(actor.name),
        "email": bool(actor.email),
        "authority_proof": "authority_proof" in purposes,
        "id_document": "id_document" in purposes,
        "fake_url": any(f.url for f in fakes) or any(i.is_url for i in items),
        "fake_handle": any(f.handle for f in fakes) or any(i.target.startswith("@") for i in items),
        "genuine_url": bool(case.official_account and case.official_account.url),
        "description": bool(service.latest_revision(draft).body.strip()),
        "screenshots": "capture" in purposes,
    }
    return [Requirement(key, have[key], _MISSING[key]) for key in facts.asks]
