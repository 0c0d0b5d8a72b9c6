"""Search results: the matching texts a user may see, grouped by case, with the matching passages marked."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import joinedload

from incident import policy
from incident.accounts.models import FakeAccount
from incident.auth.models import User
from incident.cases.models import Case
from incident.extensions import db
from incident.search.match import matching, terms_of
from incident.search.models import SearchEntry

#: Matching texts looked at per page of results (grouped by case, so a page shows up to this many groups).
WINDOW = 30
#: On the first page, the newest cases whose number, title or description match are put first.
CASE_HITS = 5
SNIPPET_BEFORE = 24
SNIPPET_LENGTH = 120

SOURCE_LABELS = {
    "case": _l("案件"),
    "note": _l("メモ"),
    "item": _l("問題の投稿・アカウント"),
    "fake": _l("偽アカウント"),
    "draft": _l("文案"),
    "review": _l("振り返り"),
}


@dataclasses.dataclass
class Hit:
    """One matching text: where it is (its source and id) and the highlighted passage."""

    source: str
    source_id: int
    snippet: Markup

    @property
    def label(self) -> str:
        return str(SOURCE_LABELS[self.source])


@dataclasses.dataclass
class Result:
    """A case (or a fake account) with its matching texts, newest first."""

    case: Case | None = None
    fake: FakeAccount | None = None
    hits: list[Hit] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SearchPage:
    """A page of results, and the entry id to continue from (None on the last page)."""

    terms: list[str]
    results: list[Result]
    next_before: int | None


def _visible(actor: User) -> ColumnElement[bool]:
    """Entries of cases the actor may see, and fake accounts (the registry is open to every user)."""
    return or_(and_(SearchEntry.case_id.is_not(None), policy.visible_cases_clause(actor, Case)),
               SearchEntry.source == "fake")


def _entries(actor: User, terms: Sequence[str], *, before: int | None, limit: int,
             sources: Sequence[str] | None = None) -> list[Any]:
    """The newest matching entries the actor may see (id, source, source_id, case_id, body)."""
    query = (select(SearchEntry.id, SearchEntry.source, SearchEntry.source_id, SearchEntry.case_id,
                    SearchEntry.body)
             .outerjoin(Case, Case.id == SearchEntry.case_id).where(_visible(actor)).limit(limit))
    if sources:
        query = query.where(SearchEntry.source.in_(sources))
    narrowed = matching(query, terms, before=before, page_size=limit)
    return [] if narrowed is None else list(db.session.execute(narrowed))


def _pattern(terms: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE)


def snippet(body: str, terms: Sequence[str]) -> Markup:
    """The passage around the first matching word, with every matching word marked (escaped HTML)."""
    flat = " ".join(body.split())
    pattern = _pattern(terms)
    first = pattern.search(flat)
    start = max(0, (first.start() if first else 0) - SNIPPET_BEFORE)
    end = min(len(flat), start + SNIPPET_LENGTH)
    passage = flat[start:end]
    parts: list[str] = ["…" if start else ""]
    position = 0
    for match in pattern.finditer(passage):
        parts.append(str(escape(passage[position:match.start()])))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    parts.append(str(escape(passage[position:])))
    parts.append("…" if end < len(flat) else "")
    return Markup("".join(parts))


def search(actor: User, q: str | None, before: int | None = None) -> SearchPage:
    """A page of results in a fixed number of queries: on the first page the newest matching cases
    themselves, then every matching text newest first, grouped by case in the order of their newest match."""
    terms = terms_of(q)
    if not terms:
        return SearchPage(terms, [], None)
    rows = _entries(actor, terms, before=before, limit=WINDOW + 1)
    more = len(rows) > WINDOW
    rows = rows[:WINDOW]
    leading = _entries(actor, terms, before=None, limit=CASE_HITS, sources=("case",)) if before is None else []
    groups: dict[tuple[str, int], list[Hit]] = {}
    for row in [*leading, *rows]:
        key = ("fake", row.source_id) if row.case_id is None else ("case", row.case_id)
        hits = groups.setdefault(key, [])
        if all((hit.source, hit.source_id) != (row.source, row.source_id) for hit in hits):
            hits.append(Hit(row.source, row.source_id, snippet(row.body, terms)))
    case_ids = [key[1] for key in groups if key[0] == "case"]
    fake_ids = [key[1] for key in groups if key[0] == "fake"]
    cases = {case.id: case for case in db.session.scalars(
        select(Case).where(Case.id.in_(case_ids)).options(joinedload(Case.department)))} if case_ids else {}
    fakes = {fake.id: fake for fake in db.session.scalars(
        select(FakeAccount).where(FakeAccount.id.in_(fake_ids)))} if fake_ids else {}
    results = [Result(case=cases.get(key[1]), hits=hits) if key[0] == "case" else
               Result(fake=fakes.get(key[1]), hits=hits) for key, hits in groups.items()]
    return SearchPage(terms, [r for r in results if r.case or r.fake], rows[-1].id if more else None)
