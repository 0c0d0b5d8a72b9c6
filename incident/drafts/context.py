"""The facts a draft template is filled with, gathered from the case (plain values, never ORM objects)."""
from __future__ import annotations

import datetime as dt
import types
from typing import Any

from flask import current_app
from flask_babel import force_locale

from incident.accounts.models import FAKE_STATE_LABELS, OPERATOR_LABELS, PLATFORM_LABELS, OperatorType
from incident.auth.models import User
from incident.cases.models import KIND_LABELS, Case, OffendingItem
from incident.dates import era_date, format_datetime, to_tokyo, utcnow
from incident.drafts.models import DraftRevision, Publication
from incident.evidence.service import evidence_list
from incident.extensions import db
from incident.fakes.service import fakes_of_case, handle_from_url

EXCERPT_CHARS = 200


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


def _account(case: Case) -> types.SimpleNamespace | None:
    account = case.official_account
    if account is None:
        return None
    operator = ""
    if account.operator_type != OperatorType.CITY:
        operator = f"{OPERATOR_LABELS[account.operator_type]} {account.operator_name or ''}".strip()
    handle = handle_from_url(account.url)
    return _ns(name=account.name, url=account.url or "", handle=f"@{handle}" if handle else "",
               platform=account.platform.value, platform_label=str(PLATFORM_LABELS[account.platform]),
               department=account.department.name, operator=operator)


def _platform(facts: Any) -> types.SimpleNamespace | None:
    if facts is None:
        return None
    return _ns(key=facts.key, name=facts.name, route_ja=facts.route_ja, route_en=facts.route_en,
               form_url=facts.form_url, notes_ja=facts.notes_ja, notes_en=facts.notes_en,
               answer_days=facts.answer_days)


def build_context(actor: User, case: Case, *, lang: str, platform: Any = None, interim: Publication | None = None,
                  corrects: Publication | OffendingItem | None = None, link: str = "",
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything a template may use (see playbooks/README.md), labels in the draft's language."""
    now = now or utcnow()
    with force_locale(lang):
        fakes = [
            _ns(platform=f.platform.value, platform_label=str(PLATFORM_LABELS[f.platform]),
                handle=f"@{f.handle}" if f.handle else "", url=f.url or "", display_name=f.display_name,
                first_seen=format_datetime(f.first_seen_at), last_seen=format_datetime(f.last_seen_at),
                state_label=str(FAKE_STATE_LABELS[f.state]))
            for f in fakes_of_case(case)
        ]
        case_ns = _ns(number=case.number, title=case.title, kind=case.kind.value,
                      kind_label=str(KIND_LABELS[case.kind]), detected_at=format_datetime(case.detected_at),
                      detected_ja=japanese_datetime(case.detected_at), detected_reiwa=era_date(case.detected_at),
                      description=case.description)
        account = _account(case)
    items = [_ns(target=i.target, note=i.note, captured_at=format_datetime(i.captured_at))
             for i in case.offending_items]
    evidence = [_ns(name=e["name"], type=e["content_type"], size=human_size(e["size"]), sha256=e["sha256"],
                    captured_at=format_datetime(e["captured_at"]), note=e["note"], target=e["target"] or "")
                for e in evidence_list(case) if e.get("purpose", "capture") == "capture"]
    interim_ns = None
    if interim is not None:
        interim_ns = _ns(published_at=format_datetime(interim.published_at),
                         published_ja=japanese_date(interim.published_at),
                         published_reiwa=era_date(interim.published_at), url=interim.url,
                         excerpt=publication_excerpt(interim))
    corrects_ns = None
    if isinstance(corrects, Publication):
        corrects_ns = _ns(target=corrects.url, published_ja=japanese_date(corrects.published_at),
                          excerpt=publication_excerpt(corrects))
    elif isinstance(corrects, OffendingItem):
        # The item's note is staff wording about the post, not the post's text: never quote it publicly.
        corrects_ns = _ns(target=corrects.target, published_ja="", excerpt="")
    domains = current_app.config["CITY_WEB_DOMAINS"]
    return {
        "city": _ns(name=current_app.config["CITY_NAME"], name_en=current_app.config["CITY_NAME_EN"],
                    website=f"https://www.{domains[0]}/" if domains else ""),
        "today": _ns(iso=to_tokyo(now).date().isoformat(), ja=japanese_date(now), reiwa=era_date(now),
                     en=english_date(now)),
        "case": case_ns,
        "department": _ns(name=case.department.name, contact=case.department.contact or ""),
        "author": _ns(name=actor.name, email=actor.email),
        "account": account,
        "fakes": fakes,
        "items": items,
        "evidence": evidence,
        "platform": _platform(platform),
        "interim": interim_ns,
        "corrects": corrects_ns,
        "link": link or "",
    }
