"""API v1 playbook routes: the kinds' playbooks and a case's checklist actions."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from incident import policy
from incident.accounts.service import MFA_METHODS
from incident.api import api_user, bp
from incident.api.fields import Extended, Flag, Id, Input, Output, Str, Text, Timestamp, Whole, list_of
from incident.api.requests import Body, as_stored
from incident.api.schemas import UserRefOut
from incident.cases.service import get_case
from incident.playbooks import facts, service
from incident.playbooks.loader import ACTORS, DRAFT_TYPES, INPUTS, STEP_TYPES

TAGS = ["playbooks"]
STATES = (service.PENDING, service.DONE, service.SKIPPED, service.WAIVED, service.NOT_APPLICABLE, service.WAITING)


class ConditionOut(Output):
    """A step applies only when an earlier decision was answered `answer`."""

    step = fields.String()
    answer = fields.Boolean()


class StepOut(Output):
    """One step of a playbook."""

    key = fields.String()
    title_ja = fields.String()
    title_en = fields.String()
    guidance_ja = fields.String()
    guidance_en = fields.String()
    clause = fields.String()
    type = fields.String(metadata={"enum": list(STEP_TYPES)})
    actor = fields.String(metadata={"enum": list(ACTORS)})
    required = fields.Boolean()
    when = fields.Nested(ConditionOut, allow_none=True)
    due_minutes = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True,
                              metadata={"description": "Minutes from the case's detection (`detected_at`), per severity."})
    draft_type = fields.String(allow_none=True, metadata={"enum": [*DRAFT_TYPES, None]})
    input = fields.String(metadata={"enum": list(INPUTS)})


class PlaybookOut(Output):
    """The current playbook of a kind of case."""

    kind = fields.String()
    title_ja = fields.String()
    title_en = fields.String()
    clause = fields.String()
    version = fields.String()
    steps = fields.List(fields.Nested(StepOut))


class StepEventOut(Output):
    """The last thing done to a step."""

    action = fields.String()
    reason = fields.String()
    data = fields.Dict(keys=fields.String())
    actor = fields.Nested(UserRefOut, allow_none=True)
    created_at = Timestamp()


class StepStateOut(StepOut):
    """A step of the case's checklist with what has been done to it."""

    state = fields.String(metadata={"enum": list(STATES)})
    answer = fields.Boolean(allow_none=True)
    due_at = Timestamp(allow_none=True)
    overdue = fields.Boolean()
    last_event = fields.Nested(StepEventOut, allow_none=True)
    suggestions = fields.List(fields.String(), metadata={
        "description": "For an open step whose input is url, city_url or fake_account: the URLs and @handles the "
                       "case already holds that fit it (a city page for city_url; offending items and linked fakes "
                       "for fake_account). With exactly one, the page pre-fills it."})


class ChecklistOut(Output):
    """A case's checklist under the playbook version pinned to it."""

    playbook_version = fields.String(allow_none=True)
    required_done = fields.Integer()
    required_total = fields.Integer()
    items = fields.List(fields.Nested(StepStateOut))


class StepActionIn(Input):
    """What an action records: `reason` (decide, skip, waive, reopen), `answer` (decide), and for complete a
    `note` and what the step's `input` asks for (url, prohibited_item, deleted, the fake account's fields, the
    MFA confirmation)."""

    note = Text(service.REASON_MAX)
    reason = Text(service.REASON_MAX)
    answer = Flag(allow_none=True, message=_l("はい・いいえで答えてください。"))
    url = Str(allow_none=True, metadata={"format": "uri"})
    handle = Str(allow_none=True)
    prohibited_item = Whole(1, 10, _l("運用ポリシーの禁止事項 (1)〜(10) から選んでください。"), allow_none=True)
    deleted = Flag(allow_none=True, metadata={"description": "The original post was deleted (3(4)ア(イ))."})
    platform = Str(allow_none=True)
    display_name = Str(allow_none=True)
    first_seen = Str(allow_none=True, metadata={
        "format": "date-time", "description": "When the fake was first seen (without an offset: Japan time)."})
    mfa_enabled = Flag(allow_none=True, metadata={"description": "mfa steps: multi-factor authentication is on."})
    mfa_method = Str(allow_none=True, metadata={"enum": list(MFA_METHODS)})
    account_id = Id(allow_none=True, metadata={
        "description": "mfa steps on a case naming no official account: which of the department's accounts."})


PlaybookListOut = list_of(PlaybookOut, "PlaybookListOut")


def _checklist(case_id: int) -> dict[str, Any]:
    case = get_case(api_user(), case_id)
    states = service.checklist(case)
    done, total = service.progress(states)
    offered = facts.for_steps(case, states).suggestions if policy.can_change_content(api_user(), case) else {}
    items = [Extended(s.step, state=s.state, answer=s.answer, due_at=s.due_at, overdue=s.overdue,
                      last_event=s.event, suggestions=[h.value for h in offered.get(s.step.key, [])])
             for s in states]
    return {"playbook_version": case.playbook_version, "required_done": done, "required_total": total,
            "items": items}


@bp.get("/playbooks", tags=TAGS)
@bp.response(200, PlaybookListOut)
def playbooks() -> dict[str, Any]:
    """The current playbook of every kind."""
    registry = current_app.extensions["playbooks"]
    return {"items": [registry[k] for k in sorted(registry)]}


@bp.get("/cases/<int:case_id>/steps", tags=TAGS)
@bp.response(200, ChecklistOut)
def steps(case_id: int) -> dict[str, Any]:
    """The case's checklist."""
    return _checklist(case_id)


@bp.post("/cases/<int:case_id>/steps/<key>/<any(complete, decide, skip, waive, reopen):action>", tags=TAGS)
@bp.body(StepActionIn)
@bp.response(200, ChecklistOut)
def act(case_id: int, key: str, action: str, body: Body) -> dict[str, Any]:
    """Record an action on a step: complete, decide (yes or no, with a reason), skip, waive (supervisors), reopen.

    403 when the step is the supervisor's, 404 for an unknown step, 409 when the step does not apply yet
    (its decision is open) or is already recorded, or when a `draft` step's draft is not published yet;
    422 for missing inputs.
    """
    case = get_case(api_user(), case_id)
    service.perform(api_user(), case, key, action, body())
    as_stored()
    return _checklist(case_id)
