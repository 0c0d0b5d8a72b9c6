"""API v1 draft routes: generate, list, revise, submit, approve, return, record sending; the case's ledger."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident.api import ID, api_user, bp
from incident.api.fields import (
    Choice,
    Day,
    Extended,
    Id,
    Input,
    Output,
    Str,
    Text,
    TextList,
    Timestamp,
    day,
    enum_field,
    moment,
)
from incident.api.requests import Body, as_stored
from incident.api.schemas import UserRefOut
from incident.cases.service import get_case
from incident.drafts import sending, service
from incident.drafts.blanks import find_blanks
from incident.drafts.models import Draft, DraftStatus, DraftType, Outcome, Publication, Route
from incident.drafts.wording import CHANNELS, PLATFORMS

TAGS = ["drafts"]
BAD_DATE = _l("日付は 2026-11-30 のような形式で入力してください。")
CHECKS = Choice(service.SECTION4_CHECKS)
CHECKS_DOC = {"description": "Every section-4 check: " + ", ".join(service.SECTION4_CHECKS) + "."}
NO_CHANNEL = _l("投稿先を選んでください。")
NO_PLACE = _l("公開した場所を選んでください。")


class Computed(fields.Nested):
    """A nested object worked out from the object being shown (not one of its attributes)."""

    def __init__(self, nested: type[ma.Schema], compute: Any, **kwargs: Any) -> None:
        self.compute = compute
        super().__init__(nested, **kwargs)

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = ma.missing) -> Any:
        return self.compute(obj)


class LengthOut(Output):
    """A text's length where it is posted (platforms.toml): X counts CJK as 2 and any URL as 23."""

    channel = fields.String(metadata={"enum": list(CHANNELS)})
    count = fields.Integer()
    limit = fields.Integer()
    over = fields.Boolean()


def _measure(draft: Draft, name: str) -> Any:
    return service.measures(draft, service.latest_revision(draft)).get(name)


class BlankOut(Output):
    """An unfilled ［…を記入］ placeholder of the text (incident/drafts/blanks.py): its line and its text."""

    line = fields.Integer(metadata={"description": "Line of the text, from 1, as the editor shows it."})
    text = fields.String(metadata={"description": "The placeholder as written, e.g. ［本市の対応を記入］."})


class RevisionRefOut(Output):
    """One revision in a draft's list."""

    id = fields.Integer()
    number = fields.Integer()
    origin = fields.String(metadata={"enum": ["generated", "edited"]})
    author = fields.Nested(UserRefOut)
    created_at = Timestamp()


class DraftOut(Output):
    """A draft with its current text and revision list."""

    id = fields.Integer()
    case_id = fields.Integer()
    type = enum_field(DraftType)
    platform = fields.String(allow_none=True)
    lang = fields.String()
    status = enum_field(DraftStatus)
    route = enum_field(Route, allow_none=True)
    scope = fields.String(allow_none=True)
    scope_source = fields.Function(lambda draft: draft.scope_source or None, allow_none=True,
                                   metadata={"type": "string"})
    link = fields.Function(lambda draft: draft.link or None, allow_none=True, metadata={"type": "string"})
    supersedes_id = fields.Integer(allow_none=True)
    corrects_item_id = fields.Integer(allow_none=True)
    approved_revision_id = fields.Integer(allow_none=True)
    follow_up_on = Day(allow_none=True)
    outcome = enum_field(Outcome, allow_none=True)
    created_by = fields.Nested(UserRefOut)
    created_at = Timestamp()
    channel = fields.String(allow_none=True, metadata={
        "enum": [*CHANNELS, None], "description": "Where a notice is posted (its length limit); null for letters."})
    revision = fields.Function(lambda draft: service.latest_revision(draft).number, metadata={"type": "integer"})
    body = fields.Function(lambda draft: service.latest_revision(draft).body, metadata={"type": "string"})
    web_body = fields.Function(lambda draft: service.latest_revision(draft).web_body, metadata={
        "type": "string", "description": "The long rendition for the city website, approved with the body "
                                         "(\"\" when there is none)."})
    length = Computed(LengthOut, lambda draft: _measure(draft, "body"), allow_none=True, metadata={
        "description": "The body against the channel's limit (null without a channel)."})
    web_length = Computed(LengthOut, lambda draft: _measure(draft, "web_body"), allow_none=True, metadata={
        "description": "The website rendition against the website's limit (null without one)."})
    blanks = Computed(BlankOut, lambda draft: find_blanks(service.latest_revision(draft).body), many=True,
                      metadata={"description": "The unfilled placeholders of the latest revision's body, top to "
                                               "bottom; while any is left, submit, approve and sent answer 422."})
    revisions = fields.List(fields.Nested(RevisionRefOut))


class RequirementOut(Output):
    """What a platform's removal form asks for, and whether the case has it."""

    key = fields.String()
    ok = fields.Boolean()
    missing = fields.Function(lambda item: None if item.ok else str(item.missing), allow_none=True,
                              metadata={"type": "string"})


class DraftDetailOut(DraftOut):
    """A draft with, for a takedown, the platform's checklist against the case."""

    requirements = fields.List(fields.Nested(RequirementOut))


class PublicationOut(Output):
    """One ledger entry: a text that went out, or the withdrawal of one."""

    id = fields.Integer()
    kind = fields.String()
    draft_id = fields.Integer(allow_none=True)
    revision_id = fields.Integer(allow_none=True)
    url = fields.String()
    channel = fields.String()
    place = fields.String(metadata={"enum": ["", *CHANNELS],
                                    "description": "Where it was published (one entry per place); \"\" for letters."})
    reference = fields.String()
    note = fields.String()
    supersedes_id = fields.Integer(allow_none=True)
    corrects_item_id = fields.Integer(allow_none=True)
    published_at = Timestamp()
    recorded_by = fields.Nested(UserRefOut)


class DraftsOut(Output):
    """A case's drafts, newest first, and its ledger, oldest first."""

    items = fields.List(fields.Nested(DraftOut))
    ledger = fields.List(fields.Nested(PublicationOut))


class SentOut(Output):
    """The sent draft and its ledger entries: `publication` is the first, `publications` one per place."""

    draft = fields.Nested(DraftOut)
    publication = fields.Nested(PublicationOut)
    publications = fields.List(fields.Nested(PublicationOut))


class DraftIn(Input):
    """A new draft, generated from its template and the case."""

    type = Choice(DraftType, required=True, message=_l("文案の種類を選んでください。"))
    platform = Choice(PLATFORMS, blank=True, allow_none=True, message=_l("媒体を選んでください。"),
                      metadata={"description": "Takedowns (default: the case's platform) and recovery "
                                             "requests (default: the case's official account's platform) only."})
    lang = Str(allow_none=True, metadata={"enum": ["ja", "en", None],
                                  "description": "Only takedowns and recovery requests have English."})
    link = Str(allow_none=True, metadata={"format": "uri", "description": "A page of the city's website "
                                                                          "(required for correct_info)."})
    supersedes_id = Id(allow_none=True, metadata={"description": "The ledger entry a final notice follows."})
    corrects_item_id = Id(allow_none=True, metadata={"description": "The offending item a correction corrects."})
    channel = Choice(CHANNELS, blank=True, allow_none=True, message=NO_CHANNEL, metadata={
        "description": "Notices only: where it is posted (default: the platform of the case's official account, "
                       "else the case's platform, else website)."})
    web_body = Text(service.BODY_MAX, metadata={"description": "Notices only: a long rendition for the city "
                                                               "website, approved with the body."})


class RevisionIn(Input):
    """New wording; `base_revision` is the number the client edited (409 when it is no longer the last).
    `web_body` and `channel` left out keep what the draft has; `web_body` "" removes the website rendition."""

    body = Text(service.BODY_MAX, blank=False, required=True)
    web_body = Text(service.BODY_MAX, metadata={"description": "Notices only: the website rendition."})
    channel = Choice(CHANNELS, blank=True, allow_none=True, message=NO_CHANNEL,
                     metadata={"description": "Notices only: where it is posted."})
    base_revision = Id(allow_none=True)


class SubmitIn(Input):
    """The author's section-4 checks."""

    checks = TextList(CHECKS, required=True, metadata=CHECKS_DOC)


class PreApprovedIn(Input):
    """Within a scope approved in advance (3(1)イ(ウ)b), citing where it was published."""

    scope = Choice(service.SCOPES, required=True,
                   message=_l("事前に承認された範囲 (a)(b)(c) のどれに当たるかを選んでください。"))
    source = Text(service.SOURCE_MAX, blank=False, required=True)
    checks = TextList(CHECKS, required=True, metadata=CHECKS_DOC)


class ApproveIn(Input):
    """An optional comment with the approval."""

    comment = Text(service.COMMENT_MAX)


class ReturnIn(Input):
    """What the author should change."""

    comment = Text(service.COMMENT_MAX, blank=False, required=True)


class PlaceIn(Input):
    """One place a notice was published in, and the post's or page's URL there."""

    place = Choice(CHANNELS, required=True, message=NO_PLACE)
    url = Str(_l("URL を文字列で入力してください。"), allow_none=True, metadata={
        "format": "uri", "description": "Required except where the place has no URLs (line); on the city's "
                                        "website for website."})


class PlaceList(fields.List):
    """A list of places, each an object."""

    default_error_messages = {"invalid": NO_PLACE, "null": NO_PLACE}

    def __init__(self, **kwargs: Any) -> None:
        item = fields.Nested(PlaceIn, error_messages={"type": NO_PLACE, "null": NO_PLACE})
        super().__init__(item, metadata={"maxItems": len(CHANNELS), **kwargs.pop("metadata", {})}, **kwargs)


class SentIn(Input):
    """Where, when and how the approved text went out: `places` for a notice (one ledger entry each; more
    may be added after it is sent), or `channel` and `url` for one entry."""

    url = Str(_l("URL か @ハンドルを文字列で入力してください。"), allow_none=True,
              metadata={"format": "uri", "description": "Required for a post or a website notice."})
    reference = Text(sending.REFERENCE_MAX)
    channel = Choice(sending.TAKEDOWN_CHANNELS + sending.NOTICE_CHANNELS, blank=True, allow_none=True,
                     message=_l("出し方を選んでください。"),
                     metadata={"description": "Takedowns and recovery requests: " + ", ".join(sending.TAKEDOWN_CHANNELS)
                               + " (default form); notices: " + ", ".join(sending.NOTICE_CHANNELS)
                               + " (default post)."})
    sent_at = moment(allow_none=True, metadata={"description": "Default: now."})
    follow_up_on = day(BAD_DATE, allow_none=True, metadata={"description": "Takedowns and recovery requests: "
                                                                          "when to look again (default: the "
                                                                          "platform's answer time)."})
    note = Text(sending.NOTE_MAX)
    places = PlaceList(allow_none=True, metadata={
        "description": "Notices: each place it was published in (" + ", ".join(CHANNELS) + ") with its URL; "
                       "on a sent notice, further places (no new approval). Letters are recorded once, without."})


class AnswerIn(Input):
    """A platform's answer to a takedown or recovery request: the outcome, or the next date to look again."""

    outcome = Choice(Outcome, blank=True, allow_none=True,
                     message=_l("結果を選んでください。"))
    answer = Text(sending.NOTE_MAX)
    follow_up_on = day(BAD_DATE, allow_none=True)


class LedgerWithdrawIn(Input):
    """Why the published text is withdrawn."""

    reason = Text(sending.NOTE_MAX, blank=False, required=True)


def _draft(case_id: int, draft_id: int) -> Draft:
    return service.get_draft(api_user(), case_id, draft_id)


def _stored(draft: Draft) -> Draft:
    """The draft as the write left it."""
    as_stored()
    return draft


@bp.get(f"/cases/<{ID}:case_id>/drafts", tags=TAGS)
@bp.response(200, DraftsOut)
def list_drafts(case_id: int) -> dict[str, Any]:
    """The case's drafts, newest first, and its ledger."""
    case = get_case(api_user(), case_id)
    return {"items": service.drafts_of(case), "ledger": sending.ledger(case)}


@bp.post(f"/cases/<{ID}:case_id>/drafts", tags=TAGS)
@bp.body(DraftIn)
@bp.response(201, DraftOut)
def create_draft(case_id: int, body: Body) -> Draft:
    """A draft of `type` generated from its template and the case: revision 1."""
    case = get_case(api_user(), case_id)
    return _stored(service.create_draft(api_user(), case, body()))


@bp.get(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>", tags=TAGS)
@bp.response(200, DraftDetailOut)
def get_draft(case_id: int, draft_id: int) -> Extended:
    """One draft, with the takedown checklist against the case when it is a takedown."""
    draft = _draft(case_id, draft_id)
    return Extended(draft, requirements=sending.platform_checklist(api_user(), service.case_of(draft), draft))


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/revisions", tags=TAGS)
@bp.body(RevisionIn)
@bp.response(201, DraftOut)
def add_revision(case_id: int, draft_id: int, body: Body) -> Draft:
    """New wording: the next revision; a stale `base_revision` or unchanged text is a 409."""
    draft = _draft(case_id, draft_id)
    data = body()
    service.revise(api_user(), draft, data["body"], base_revision=data.get("base_revision"),
                   web_body=data.get("web_body"), channel=data.get("channel"))
    return _stored(draft)


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/submit", tags=TAGS)
@bp.body(SubmitIn)
@bp.response(200, DraftOut)
def submit(case_id: int, draft_id: int, body: Body) -> Draft:
    """The author confirms every section-4 check: the draft awaits the supervisor."""
    draft = _draft(case_id, draft_id)
    service.submit(api_user(), draft, body()["checks"])
    return _stored(draft)


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/pre-approved", tags=TAGS)
@bp.body(PreApprovedIn)
@bp.response(200, DraftOut)
def pre_approved(case_id: int, draft_id: int, body: Body) -> Draft:
    """Within a scope approved in advance: a second person of the department checks it (or, alone, approved)."""
    draft = _draft(case_id, draft_id)
    data = body()
    service.mark_pre_approved(api_user(), draft, data["scope"], data["source"], data["checks"])
    return _stored(draft)


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/approve", tags=TAGS)
@bp.body(ApproveIn)
@bp.response(200, DraftOut)
def approve(case_id: int, draft_id: int, body: Body) -> Draft:
    """A supervisor (not the author) approves; 403 for the author, 409 if not submitted."""
    draft = _draft(case_id, draft_id)
    service.approve(api_user(), draft, body().get("comment", ""))
    return _stored(draft)


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/return", tags=TAGS)
@bp.body(ReturnIn)
@bp.response(200, DraftOut)
def return_draft(case_id: int, draft_id: int, body: Body) -> Draft:
    """Back to the author, with a comment."""
    draft = _draft(case_id, draft_id)
    service.return_draft(api_user(), draft, body()["comment"])
    return _stored(draft)


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/sent", tags=TAGS)
@bp.body(SentIn)
@bp.response(201, SentOut)
def sent(case_id: int, draft_id: int, body: Body) -> dict[str, Any]:
    """Record that the approved text went out: 201 with its ledger entries (one per place); 409 unless
    approved, or, to add places, a sent notice."""
    draft = _draft(case_id, draft_id)
    publications = sending.publish(api_user(), draft, body())
    return {"draft": _stored(draft), "publication": publications[0], "publications": publications}


@bp.post(f"/cases/<{ID}:case_id>/drafts/<{ID}:draft_id>/answer", tags=TAGS)
@bp.body(AnswerIn)
@bp.response(200, DraftOut)
def answer(case_id: int, draft_id: int, body: Body) -> Draft:
    """A platform's answer to a sent takedown (`outcome` removed, refused, no_answer) or recovery request
    (recovered, refused, no_answer; the other type's outcome is a 422), or `follow_up_on`."""
    draft = _draft(case_id, draft_id)
    sending.record_answer(api_user(), draft, body())
    return _stored(draft)


@bp.post(f"/cases/<{ID}:case_id>/ledger/<{ID}:publication_id>/withdraw", tags=TAGS)
@bp.body(LedgerWithdrawIn)
@bp.response(201, PublicationOut)
def withdraw(case_id: int, publication_id: int, body: Body) -> Publication:
    """Withdraw a published text (supervisors): 201 with the new withdrawal entry; the original stays."""
    publication = sending.get_publication(api_user(), case_id, publication_id)
    return sending.withdraw(api_user(), publication, body()["reason"])
