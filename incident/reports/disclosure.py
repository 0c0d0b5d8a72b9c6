"""Disclosure packages (情報公開): a case's report with chosen passages masked (■), each mask recorded with
who, why and the ordinance's ground, as a printable page and Markdown; masks are applied to the rendered
report, so every place a passage appears is covered, in every section."""
from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable

from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from incident import policy
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases import queries
from incident.cases.models import Case
from incident.dates import to_tokyo, utcnow
from incident.errors import NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.reports.case_report import md_inline
from incident.reports.models import DisclosureMask, DisclosureMaskWithdrawal, DisclosureRequest

MASK = "■"
#: Shorter passages would black out parts of ordinary words all over the report.
PASSAGE_MIN = 2
PASSAGE_MAX = 500
REASON_MAX = 500
REFERENCE_MAX = 50
#: Where the masked part of the printable page starts and ends (reports/case_report.html): the page's
#: header and menus around it are the viewer's, not the record's.
START, END = "<!-- disclosed-report -->", "<!-- /disclosed-report -->"
_TAG = re.compile(r"(<[^>]*>)")
_SPACE = re.compile(r"\s+")


def grounds() -> list[str]:
    """The grounds a passage may be withheld on (DISCLOSURE_GROUNDS: the ordinance's articles)."""
    return [str(g) for g in current_app.config["DISCLOSURE_GROUNDS"]]


def _case(actor: User, case_id: int) -> Case:
    """The case, for those who prepare its disclosure (the PR office, the department's supervisors):
    NotFound for who may not see the case, PermissionDenied for who sees it but may not prepare it."""
    case = queries.load_case_page(actor, case_id, notes=False)
    if not policy.can_prepare_disclosure(actor, case):
        raise PermissionDenied(_l("情報公開の準備は、秘書広報課と所属長が行います。"))
    return case


def requests_of(actor: User, case_id: int) -> tuple[Case, list[DisclosureRequest]]:
    """The case and its disclosure requests, newest first."""
    case = _case(actor, case_id)
    return case, list(db.session.scalars(select(DisclosureRequest).where(DisclosureRequest.case_id == case.id)
                                         .order_by(DisclosureRequest.id.desc())))


def open_request(actor: User, case_id: int, reference: str, received_on: dt.date | None) -> DisclosureRequest:
    """Record a disclosure request that covers the case."""
    case = _case(actor, case_id)
    reference = (reference or "").strip()
    errors = {}
    if not reference or len(reference) > REFERENCE_MAX:
        errors["reference"] = _l("受付番号を %(max)d 文字以内で入力してください。", max=REFERENCE_MAX)
    if received_on is None or received_on > to_tokyo(utcnow()).date():
        errors["received_on"] = _l("受付日を今日以前の日付で入力してください。")
    if errors:
        raise ValidationFailed(fields=errors)
    assert received_on is not None
    request = DisclosureRequest(case_id=case.id, reference=reference, received_on=received_on,
                                created_by_id=actor.id)
    db.session.add(request)
    db.session.flush()
    audit.record(actor, "disclosure.open", "disclosure_request", request.id, case_id=case.id,
                 changes={"reference": (None, reference), "received_on": (None, received_on)})
    return request


def get_request(actor: User, case_id: int, request_id: int) -> tuple[Case, DisclosureRequest]:
    """One of the case's disclosure requests with its masks; NotFound for anyone who may not prepare it."""
    case = _case(actor, case_id)
    request = db.session.scalar(select(DisclosureRequest).where(
        DisclosureRequest.id == request_id, DisclosureRequest.case_id == case.id).options(
        selectinload(DisclosureRequest.masks).selectinload(DisclosureMask.withdrawal)))
    if request is None:
        raise NotFound()
    return case, request


def in_force(request: DisclosureRequest) -> list[DisclosureMask]:
    """The masks not withdrawn, in the order they were recorded."""
    return [m for m in request.masks if m.withdrawal is None]


def add_mask(actor: User, case: Case, request: DisclosureRequest, passage: str, ground: str, reason: str,
             report_text: str) -> DisclosureMask:
    """Mask a passage of the report (`report_text`: the page's text as read, visible_text) on a ground."""
    passage = (passage or "").strip()
    reason = (reason or "").strip()
    errors = {}
    if len(passage) < PASSAGE_MIN or len(passage) > PASSAGE_MAX:
        errors["passage"] = _l("伏せる文字列を %(min)d〜%(max)d 文字で入力してください。", min=PASSAGE_MIN, max=PASSAGE_MAX)
    elif places(report_text, passage) == 0:
        errors["passage"] = _l("報告書にこの文字列が見つかりません。報告書に表示されているとおりに入力してください。")
    if ground not in grounds():
        errors["ground"] = _l("不開示の根拠を選んでください。")
    if not reason or len(reason) > REASON_MAX:
        errors["reason"] = _l("理由を %(max)d 文字以内で入力してください。", max=REASON_MAX)
    if errors:
        raise ValidationFailed(fields=errors)
    mask = DisclosureMask(request_id=request.id, passage=passage, ground=ground, reason=reason,
                          created_by_id=actor.id)
    db.session.add(mask)
    db.session.flush()
    audit.record(actor, "disclosure.mask", "disclosure_mask", mask.id, case_id=case.id,
                 changes={"request_id": (None, request.id), "ground": (None, ground), "reason": (None, reason),
                          "length": (None, len(passage))})
    return mask


def withdraw_mask(actor: User, case: Case, request: DisclosureRequest, mask_id: int, reason: str) -> None:
    """Take a mask back (the passage is disclosed after all), recording why."""
    mask = next((m for m in request.masks if m.id == mask_id), None)
    if mask is None:
        raise NotFound()
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed(fields={"reason": _l("理由を %(max)d 文字以内で入力してください。", max=REASON_MAX)})
    if mask.withdrawal is not None:
        raise ValidationFailed(_l("この黒塗りはすでに取り消されています。"))
    db.session.add(DisclosureMaskWithdrawal(mask_id=mask.id, reason=reason, created_by_id=actor.id))
    db.session.flush()
    audit.record(actor, "disclosure.unmask", "disclosure_mask", mask.id, case_id=case.id,
                 changes={"withdrawn": (False, True), "reason": (None, reason)})


# ---- applying the masks ----------------------------------------------------------------------------------


def markdown_forms(passage: str) -> set[str]:
    """How a passage may stand in the Markdown report: as shown, or escaped by md_inline."""
    return {passage, md_inline(passage)}


def html_forms(passage: str) -> set[str]:
    """How a passage stands in the page's text: HTML-escaped."""
    return {str(escape(passage)), passage}


def _spaced(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _texts(page: str) -> tuple[str, list[str], str]:
    """The page before the report, the report split into tags and texts, the page after it."""
    before, start, rest = page.partition(START)
    body, end, after = rest.partition(END)
    if not start or not end:
        raise RuntimeError("the report template lost its disclosure markers")
    return before, _TAG.split(body), after


def visible_text(page: str) -> str:
    """The report's text as a reader sees it on the printable page (what a passage is looked for in)."""
    _before, parts, _after = _texts(page)
    return _spaced(" ".join(html.unescape(part) for part in parts if not part.startswith("<")))


def places(text: str, passage: str) -> int:
    """How many times the passage appears in the report's visible text."""
    return text.count(_spaced(passage))


def _masked(text: str, passages: Iterable[str], forms: Callable[[str], set[str]]) -> str:
    # Longest first, so a passage inside a longer one cannot leave part of the longer one showing.
    for passage in sorted(set(passages), key=len, reverse=True):
        for form in sorted(forms(passage), key=len, reverse=True):
            if form:
                text = text.replace(form, MASK * len(passage))
    return text


def mask_markdown(text: str, passages: Iterable[str]) -> str:
    """The Markdown report with every passage, wherever it stands, replaced by ■ (one per character)."""
    return _masked(text, passages, markdown_forms)


def mask_html(page: str, passages: Iterable[str]) -> tuple[Markup, list[str]]:
    """The printable page with every passage masked in the text between START and END (never inside a tag,
    so the markup stays whole), and the passages still readable there (one that runs across a change of
    element, e.g. an account's name and its address): the page must not be handed out while there are any."""
    before, parts, after = _texts(page)
    wanted = [p for p in passages if p]  # a redaction blanks the passages: nothing is left to mask
    masked = [part if part.startswith("<") else _masked(part, wanted, html_forms) for part in parts]
    body = "".join(masked)
    readable = visible_text(START + body + END)
    return Markup(before + START + body + END + after), [p for p in wanted if places(readable, p)]
