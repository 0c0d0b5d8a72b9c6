"""API v1: check a commissioned third-party post against guideline 5 (see incident/drafts/disclosure.py)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from incident.api import bp
from incident.api.fields import Input, Output, Text
from incident.api.requests import Body
from incident.drafts.disclosure import check_with_config
from incident.drafts.disclosure_views import TEXT_MAX


class DisclosureIn(Input):
    """The text of the post."""

    text = Text(TEXT_MAX, blank=False, required=True)


class ProblemOut(Output):
    """One way the post fails guideline 5; `token` is the offending hashtag, as written."""

    code = fields.String()
    message = fields.Function(lambda problem: str(problem.message), metadata={"type": "string"})
    token = fields.String()

    @ma.post_dump
    def without_empty_token(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """`token` only when the problem is about one hashtag."""
        if data.get("token") is None:
            data.pop("token", None)
        return data


class DisclosureOut(Output):
    """Whether the post may go out as it is, and why not."""

    ok = fields.Boolean()
    problems = fields.List(fields.Nested(ProblemOut))


@bp.post("/pr-disclosure/check", tags=["PR disclosure"])
@bp.body(DisclosureIn)
@bp.response(200, DisclosureOut)
def check_pr_disclosure(body: Body) -> dict[str, Any]:
    """`{"text": …}` → `{"ok": …, "problems": [{"code", "message", "token"?}]}`; nothing is stored."""
    problems = check_with_config(body()["text"])
    return {"ok": not problems, "problems": problems}
