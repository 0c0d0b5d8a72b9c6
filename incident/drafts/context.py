"""The facts a draft template is filled with, gathered from the case (plain values, never ORM objects)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import types
from typing import Any

from flask import current_app
from flask_babel import force_locale

from incident.accounts.models import (
    FAKE_STATE_LABELS,
    OPERATOR_LABELS,
    PLATFORM_LABELS,
    AccountStatus,
    FakeAccount,
    OperatorType,
    Platform,
)
from incident.auth.models import User
from incident.cases.models import KIND_LABELS, Case, OffendingItem
from incident.dates import era_date, format_datetime, to_tokyo, utcnow
from incident.drafts.models import DraftRevision, Publication
from incident.evidence.service import evidence_list
from incident.extensions import db
from incident.fakes.service import fakes_of_case, handle_from_url, normalise_fake_url, normalise_handle, platform_of

EXCERPT_CHARS = 200
#: How a draft writes its dates (playbooks/drafts/types.toml); English drafts always use English dates.
DATE_STYLES = ("reiwa", "western")


def _ns(**values: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**values)


def japanese_date(value: dt.date | dt.datetime) -> str:
    """2026年11月23日 (Asia/Tokyo)."""
    day = to_tokyo(value).date() if isinstance(value, dt.datetime) else value
    return f"{day.year}年{day.month}月{day.day}日"


def japanese_datetime(value: dt.datetime) -> str:
    """2026年11月23日 10時30分 (Asia/Tokyo)."""
    moment = to_tokyo(value)
    return f"{japanese_date(moment)} {moment.hour}時{moment.minute:02d}分"


def english_date(value: dt.date | dt.datetime) -> str:
    """23 November 2026 (Asia/Tokyo)."""
    day = to_tokyo(value).date() if isinstance(value, dt.datetime) else value
    return f"{day.day} {day.strftime('%B')} {day.year}"


def styled_date(value: dt.date | dt.datetime | None, style: str) -> str:
    """A date as a draft writes it: reiwa 令和8年11月23日, western 2026年11月23日, en 23 November 2026; "" for None."""
    if value is None:
        return ""
    if style == "reiwa":
        return era_date(value)
    return english_date(value) if style == "en" else japanese_date(value)


def styled_datetime(value: dt.datetime | None, style: str) -> str:
    """A moment as a draft writes it (Asia/Tokyo): 令和8年11月23日 9時05分, 2026年11月23日 9時05分 or
    23 November 2026, 09:05; "" for None."""
    if value is None:
        return ""
    moment = to_tokyo(value)
    if style == "en":
        return f"{english_date(moment)}, {moment:%H:%M}"
    return f"{styled_date(moment, style)} {moment.hour}時{moment.minute:02d}分"


def first_seen(*observations: dt.datetime | None) -> dt.datetime | None:
    """The one definition of "first seen": the earliest time the city observed something.

    Observations are the times the city saw it: an offending item's capture time, a known fake's first
    sighting, the case's detection. A record's creation time is never one (typing a URL in is not seeing
    it). For one account or post: its fake's first_seen_at and the captured_at of the case's items naming
    it; for a case (`case.first_seen`): its detected_at, every item's captured_at and every linked fake's
    first_seen_at (see case_first_seen). None when nothing was observed."""
    seen = [moment for moment in observations if moment is not None]
    return min(seen) if seen else None


def case_first_seen(case: Case, fakes: list[FakeAccount]) -> dt.datetime:
    """When the city first observed anything of the case (first_seen over detection, items and fakes)."""
    return first_seen(case.detected_at, *(i.captured_at for i in case.offending_items),
                      *(f.first_seen_at for f in fakes)) or case.detected_at


def human_size(size: int) -> str:
    """A file size people read: 950 B, 120 KB, 2.4 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1048576:.1f} MB"


def excerpt(text: str) -> str:
    """The start of a text on one line, for citing an earlier post."""
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS] + "…"


def publication_excerpt(publication: Publication) -> str:
    """The start of the text a ledger entry published."""
    if publication.revision_id is None:
        return ""
    revision = db.session.get(DraftRevision, publication.revision_id)
    return excerpt(revision.body) if revision else ""


def _account(case: Case, style: str) -> types.SimpleNamespace | None:
    account = case.official_account
    if account is None:
        return None
    operator = ""
    if account.operator_type != OperatorType.CITY:
        operator = f"{OPERATOR_LABELS[account.operator_type]} {account.operator_name or ''}".strip()
    handle = handle_from_url(account.url)
    closed = account.status == AccountStatus.CLOSED
    return _ns(name=account.name, url=account.url or "", handle=f"@{handle}" if handle else "",
               platform=account.platform.value, platform_label=str(PLATFORM_LABELS[account.platform]),
               department=account.department.name, operator=operator, closed=closed,
               closed_date=styled_date(account.closed_at, style) if closed else "")


@dataclasses.dataclass
class _Sighting:
    """One offending item of the case, read as an account or post: where it is and when it was captured."""

    url: str
    handle: str  # lower-case, without @; "" when the item names none
    platform: str | None  # platform key; None for an @handle on a case without a platform
    captured_at: dt.datetime

    @property
    def key(self) -> str:
        return self.url or f"@{self.handle}"

    def names(self, fake: FakeAccount) -> bool:
        """Whether this item is (the profile of) a known fake."""
        if self.url and fake.url and self.url == fake.url:
            return True
        return bool(self.handle and fake.handle == self.handle
                    and (self.platform is None or self.platform == fake.platform.value))


def _sighting(item: OffendingItem, case: Case) -> _Sighting:
    target = item.target
    if target.startswith("@"):
        try:
            handle = normalise_handle(target) or ""
        except ValueError:
            handle = target.lstrip("@")
        return _Sighting("", handle, case.platform.value if case.platform else None, item.captured_at)
    try:
        url = normalise_fake_url(target) or target
    except ValueError:
        url = target
    return _Sighting(url, handle_from_url(url) or "", (platform_of(url) or Platform.OTHER).value, item.captured_at)


def _on_platform(platform: str | None, where: str | None) -> bool:
    """Whether something on `where` (None: unknown) belongs in a request to `platform` (None: no platform,
    as for a notice; "other" takes everything)."""
    return platform in (None, Platform.OTHER.value) or where is None or where == platform


def _fake_first_seen(fake: FakeAccount, sightings: list[_Sighting]) -> dt.datetime | None:
    return first_seen(fake.first_seen_at, *(s.captured_at for s in sightings if s.names(fake)))


def _targets(case: Case, fakes: list[FakeAccount], sightings: list[_Sighting], platform: str | None,
             style: str) -> list[types.SimpleNamespace]:
    """The offending accounts and posts a request names: every linked known fake on the platform, then every
    offending item on it that is not one of those fakes (nor the case's own official account), each with
    when the city first saw it."""
    own = case.official_account
    own_url = normalise_fake_url(own.url) if own is not None and own.url else None
    own_handle = handle_from_url(own_url) if own_url else None
    entries = []
    for fake in fakes:
        if not _on_platform(platform, fake.platform.value):
            continue
        entries.append(_target(fake.platform.value, fake.url or "", fake.handle or "", fake.display_name,
                               _fake_first_seen(fake, sightings), style,
                               state_label=str(FAKE_STATE_LABELS[fake.state]), known=True))
    listed: dict[str, list[_Sighting]] = {}
    for sighting in sightings:
        if any(sighting.names(fake) for fake in fakes) or not _on_platform(platform, sighting.platform):
            continue
        if own is not None and ((own_url and sighting.url == own_url) or (
                own_handle and sighting.handle == own_handle and not sighting.url
                and sighting.platform in (None, own.platform.value))):
            continue
        listed.setdefault(sighting.key, []).append(sighting)
    for same in listed.values():
        first = same[0]
        entries.append(_target(first.platform or (platform or Platform.OTHER.value), first.url, first.handle, "",
                               first_seen(*(s.captured_at for s in same)), style, state_label="", known=False))
    return entries


def _target(platform: str, url: str, handle: str, display_name: str, seen: dt.datetime | None, style: str, *,
            state_label: str, known: bool) -> types.SimpleNamespace:
    try:
        label = str(PLATFORM_LABELS[Platform(platform)])
    except ValueError:
        label = platform
    return _ns(platform=platform, platform_label=label, url=url, handle=f"@{handle}" if handle else "",
               display_name=display_name, first_seen=format_datetime(seen), first_seen_date=styled_date(seen, style),
               first_seen_datetime=styled_datetime(seen, style), state_label=state_label, known=known,
               is_account=known or bool(handle))


def _platform(facts: Any) -> types.SimpleNamespace | None:
    if facts is None:
        return None
    return _ns(key=facts.key, name=facts.name, route_ja=facts.route_ja, route_en=facts.route_en,
               form_url=facts.form_url, notes_ja=facts.notes_ja, notes_en=facts.notes_en,
               answer_days=facts.answer_days)


def build_context(actor: User, case: Case, *, lang: str, platform: Any = None, interim: Publication | None = None,
                  corrects: Publication | OffendingItem | None = None, link: str = "",
                  date_style: str = "western", now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything a template may use (see playbooks/README.md), labels in the draft's language and dates in
    its style (`date_style` of playbooks/drafts/types.toml; always English dates in English)."""
    now = now or utcnow()
    style = "en" if lang == "en" else (date_style if date_style in DATE_STYLES else "western")
    linked = fakes_of_case(case)
    sightings = [_sighting(item, case) for item in case.offending_items]
    with force_locale(lang):
        fakes = []
        for f in linked:
            seen = _fake_first_seen(f, sightings)
            fakes.append(_ns(platform=f.platform.value, platform_label=str(PLATFORM_LABELS[f.platform]),
                             handle=f"@{f.handle}" if f.handle else "", url=f.url or "", display_name=f.display_name,
                             first_seen=format_datetime(seen), first_seen_date=styled_date(seen, style),
                             first_seen_datetime=styled_datetime(seen, style),
                             last_seen=format_datetime(f.last_seen_at), state_label=str(FAKE_STATE_LABELS[f.state])))
        targets = _targets(case, linked, sightings, getattr(platform, "key", None), style)
        seen_case = case_first_seen(case, linked)
        case_ns = _ns(number=case.number, title=case.title, kind=case.kind.value,
                      kind_label=str(KIND_LABELS[case.kind]), detected_at=format_datetime(case.detected_at),
                      detected_ja=japanese_datetime(case.detected_at), detected_reiwa=era_date(case.detected_at),
                      detected_date=styled_date(case.detected_at, style),
                      detected_datetime=styled_datetime(case.detected_at, style),
                      first_seen=format_datetime(seen_case), first_seen_date=styled_date(seen_case, style),
                      first_seen_datetime=styled_datetime(seen_case, style),
                      description=case.description)
        account = _account(case, style)
    items = [_ns(target=i.target, note=i.note, captured_at=format_datetime(i.captured_at))
             for i in case.offending_items]
    evidence = [_ns(name=e["name"], type=e["content_type"], size=human_size(e["size"]), sha256=e["sha256"],
                    captured_at=format_datetime(e["captured_at"]), note=e["note"], target=e["target"] or "")
                for e in evidence_list(case) if e.get("purpose", "capture") == "capture"]
    interim_ns = None
    if interim is not None:
        interim_ns = _ns(published_at=format_datetime(interim.published_at),
                         published_ja=japanese_date(interim.published_at),
                         published_reiwa=era_date(interim.published_at),
                         published_date=styled_date(interim.published_at, style), url=interim.url,
                         excerpt=publication_excerpt(interim))
    corrects_ns = None
    if isinstance(corrects, Publication):
        corrects_ns = _ns(target=corrects.url, published_ja=japanese_date(corrects.published_at),
                          published_date=styled_date(corrects.published_at, style),
                          excerpt=publication_excerpt(corrects))
    elif isinstance(corrects, OffendingItem):
        # The item's note is staff wording about the post, not the post's text: never quote it publicly.
        corrects_ns = _ns(target=corrects.target, published_ja="", published_date="", excerpt="")
    domains = current_app.config["CITY_WEB_DOMAINS"]
    return {
        "city": _ns(name=current_app.config["CITY_NAME"], name_en=current_app.config["CITY_NAME_EN"],
                    website=f"https://www.{domains[0]}/" if domains else ""),
        "today": _ns(iso=to_tokyo(now).date().isoformat(), ja=japanese_date(now), reiwa=era_date(now),
                     en=english_date(now), date=styled_date(now, style)),
        "case": case_ns,
        "department": _ns(name=case.department.name, contact=case.department.contact or ""),
        "author": _ns(name=actor.name, email=actor.email),
        "account": account,
        "fakes": fakes,
        "targets": targets,
        "items": items,
        "evidence": evidence,
        "platform": _platform(platform),
        "interim": interim_ns,
        "corrects": corrects_ns,
        "link": link or "",
    }
