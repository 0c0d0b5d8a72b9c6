"""After approval: recording what went out (the published ledger), takedown follow-ups, platform checklists."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

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
from incident.drafts import blanks, service, states
from incident.drafts.models import Draft, DraftStatus, DraftType, Outcome, Publication
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.evidence.service import evidence_list
from incident.extensions import db
from incident.fakes.service import change_state, fakes_of_case
from incident.validation import normalise_target, past_time

#: How a takedown request was submitted.
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
    """Record that the approved text went out: where (URL), when, how; it enters the case's ledger."""
    case = service.case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    states.check(draft, "send")
    blanks.require_filled(service._submitted_revision(draft).body)  # what goes out has no ［…を記入］ left
    takedown = draft.type == DraftType.TAKEDOWN
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
    reference = service._text(data.get("reference"), "reference", max_len=REFERENCE_MAX, required=False)
    note = service._text(data.get("note"), "note", max_len=NOTE_MAX, required=False)
    sent_at = _moment(data.get("sent_at"), "sent_at")
    follow_up = _date(data.get("follow_up_on"), "follow_up_on") if takedown else None
    if follow_up is not None and follow_up < to_tokyo(sent_at).date():
        raise _invalid("follow_up_on", _l("確認する日は、提出した日より後にしてください。"))
    publication = Publication(
        case_id=case.id, draft_id=draft.id, revision_id=draft.approved_revision_id, kind=draft.type.value,
        url=url, channel=channel, reference=reference, note=note, supersedes_id=draft.supersedes_id,
        corrects_item_id=draft.corrects_item_id, published_at=sent_at, recorded_by_id=actor.id)
    db.session.add(publication)
    states.move(draft, "send", DraftStatus.SENT)
    if takedown:
        follow_up = follow_up or to_tokyo(sent_at).date() + dt.timedelta(days=follow_up_days(draft))
        draft.follow_up_on = follow_up
    service._flush(draft)
    service._event(actor, draft, "sent", revision=next(r for r in draft.revisions if r.id == draft.approved_revision_id),
                   data={"publication_id": publication.id, "url": url, "channel": channel, "reference": reference,
                         **({"follow_up_on": follow_up.isoformat()} if follow_up is not None else {})})
    if takedown:
        _mark_fakes_reported(actor, case, draft)
    signals.draft_sent.send(draft, actor=actor, case=case, publication=publication)  # its playbook step is done
    return publication


def _mark_fakes_reported(actor: User, case: Case, draft: Draft) -> None:
    """A fake still marked live on the request's platform is now reported (its history says by which request)."""
    for fake in fakes_of_case(case):
        if fake.state == FakeAccountState.LIVE and fake.platform.value == draft.platform:
            change_state(actor, fake, FakeAccountState.REPORTED.value, f"#{draft.id}")


def record_answer(actor: User, draft: Draft, data: dict[str, Any]) -> None:
    """A platform's answer to a takedown request: the outcome, or a new follow-up date while waiting."""
    case = service.case_of(draft)
    if not policy.can_edit(actor, case):
        raise NotFound()
    # No require_open: a platform's late answer is recorded on a closed case too (see cases.service).
    if draft.type != DraftType.TAKEDOWN or draft.status != DraftStatus.SENT:
        raise CaseError(_l("提出済みの削除依頼にだけ回答を記録できます。"))
    if draft.outcome is not None:
        raise CaseError(_l("この削除依頼の結果は記録済みです。"))
    raw = data.get("outcome") or None
    if raw is not None and (not isinstance(raw, str) or raw not in {o.value for o in Outcome}):
        raise _invalid("outcome", _l("結果を選んでください。"))
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
                        supersedes_id=publication.id, published_at=utcnow(), recorded_by_id=actor.id)
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
    """For each case, the earliest takedown follow-up date that has come without an outcome (one query)."""
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(Draft.case_id, func.min(Draft.follow_up_on))
        .where(Draft.case_id.in_(case_ids), Draft.type == DraftType.TAKEDOWN, Draft.status == DraftStatus.SENT,
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
    """What the platform's form asks for, checked against the case, naming what is still missing."""
    facts = service.wording().platforms.get(draft.platform or "")
    if facts is None:
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
