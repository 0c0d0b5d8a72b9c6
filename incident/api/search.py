"""API v1 search: the header's search box as JSON (incident.home.search)."""
from __future__ import annotations

from typing import Any

from marshmallow import fields

from incident.api import api_user, bp
from incident.api.fields import Input, Output, QueryNumber, QueryText
from incident.database import MAX_ID
from incident.home import search

TAGS = ["search"]


class SearchQuery(Input):
    """The words, and where the previous page ended."""

    q = QueryText(200, metadata={"description": "Words, separated by spaces; each text found holds every word "
                                                "(from one character, as substrings)."})
    before = QueryNumber(1, MAX_ID, metadata={"description": "`next_before` of the previous page."})


class HitOut(Output):
    """A matching text: its kind (case, note, item, fake, draft, review), its id and the passage."""

    source = fields.String()
    source_id = fields.Integer()
    label = fields.String()
    snippet = fields.String(metadata={"description": "The passage around the match; matches in <mark>, "
                                                     "the rest HTML-escaped."})


class ResultOut(Output):
    """A case (or a known fake account) with its matching texts, newest first."""

    case_id = fields.Integer(allow_none=True)
    case_number = fields.String(allow_none=True)
    case_title = fields.String(allow_none=True)
    fake_account_id = fields.Integer(allow_none=True)
    hits = fields.List(fields.Nested(HitOut))


class SearchOut(Output):
    """A page of results; ask again with `before=next_before` for older ones (null: no more)."""

    results = fields.List(fields.Nested(ResultOut))
    next_before = fields.Integer(allow_none=True)


@bp.get("/search", tags=TAGS)
@bp.arguments(SearchQuery, location="query", as_kwargs=True)
@bp.response(200, SearchOut)
def search_all(q: str | None = None, before: int | None = None) -> dict[str, Any]:
    """Cases, notes, offending items, known fakes, drafts and closing reviews holding the words, newest
    first, only from cases the caller may see."""
    page = search.search(api_user(), q, before)
    return {
        "results": [{
            "case_id": r.case.id if r.case else None,
            "case_number": r.case.number if r.case else None,
            "case_title": r.case.title if r.case else None,
            "fake_account_id": r.fake.id if r.fake else None,
            "hits": [{"source": h.source, "source_id": h.source_id, "label": h.label, "snippet": str(h.snippet)}
                     for h in r.hits],
        } for r in page.results],
        "next_before": page.next_before,
    }
