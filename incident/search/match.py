"""Words to an indexed condition on search_entry, per dialect (FTS5 trigram; pg_trgm and character pairs)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, cast, column, func, literal, select, table, text
from sqlalchemy.dialects.postgresql import TSQUERY

from incident.extensions import db
from incident.search.models import SearchEntry

MAX_TERMS = 5
MAX_TERM_LENGTH = 100
#: A one- or two-character word beginning more distinct trigrams than this is so common that reading the
#: newest entries and checking them finds a page of results sooner than looking up every trigram (SQLite).
MAX_EXPANSION = 300

_fts = table("search_fts", column("rowid"), column("search_fts"))
_vocab = table("search_vocab", column("term"))


def terms_of(q: str | None) -> list[str]:
    """The words of a query (split at any space, full-width included), lower-cased, without repeats."""
    words: list[str] = []
    for word in (q or "").lower().split():
        word = word[:MAX_TERM_LENGTH]
        if word not in words:
            words.append(word)
    return words[:MAX_TERMS]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _sqlite_match(terms: Sequence[str]) -> tuple[str | None, list[ColumnElement[bool]]] | None:
    """An FTS5 query for the terms, and LIKE conditions for words too common to expand; None if a word
    occurs nowhere. Words of three characters or more are trigram phrases; shorter ones become the trigrams
    they begin (the index holds each text followed by two line breaks, so every occurrence begins one)."""
    groups: list[str] = []
    scans: list[ColumnElement[bool]] = []
    for term in terms:
        if len(term) >= 3:
            groups.append(_fts_phrase(term))
            continue
        expansion = db.session.scalars(
            select(_vocab.c.term).where(_vocab.c.term >= term, _vocab.c.term < term + "\U0010ffff")
            .limit(MAX_EXPANSION + 1)).all()
        if not expansion:
            return None
        if len(expansion) > MAX_EXPANSION:
            scans.append(SearchEntry.body.like(_like(term), escape="\\"))
        else:
            groups.append("(" + " OR ".join(_fts_phrase(trigram) for trigram in expansion) + ")")
    return (" AND ".join(groups) or None), scans


def _tsquery_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _postgresql_conditions(terms: Sequence[str]) -> list[ColumnElement[bool]]:
    """Conditions each served by a GIN index: pg_trgm for three characters or more, the text's character
    pairs for shorter words (a two-character word is a pair, a one-character word begins one)."""
    conditions: list[ColumnElement[bool]] = []
    for term in terms:
        if len(term) >= 3:
            conditions.append(SearchEntry.body.ilike(_like(term), escape="\\"))
        else:
            query = _tsquery_lexeme(term) + (":*" if len(term) == 1 else "")
            conditions.append(func.incident_pairs(SearchEntry.body).op("@@")(cast(literal(query), TSQUERY)))
            # The same test, cheap per row: without it the planner may read the newest rows by id and work
            # out each one's pairs (≈0.2 ms a row), 900 ms for a common word at 10,000 cases; with it, 18 ms.
            conditions.append(SearchEntry.body.ilike(_like(term), escape="\\"))
    return conditions


def matching(query: Select[Any], terms: Sequence[str], *, before: int | None = None,
             newest_first: bool = True) -> Select[Any] | None:
    """`query` (a select over search_entry) narrowed to the entries holding every word, newest first when
    asked, and older than the entry `before`; None when some word occurs nowhere."""
    if db.session.get_bind().dialect.name == "sqlite":
        matched = _sqlite_match(terms)
        if matched is None:
            return None
        match, scans = matched
        order: Any = SearchEntry.id
        if match is not None:
            # Ordered by the FTS table's rowid, so FTS5 hands the newest matches first and nothing is sorted.
            query = query.join(_fts, _fts.c.rowid == SearchEntry.id).where(_fts.c.search_fts.op("MATCH")(match))
            order = _fts.c.rowid
        query = query.where(*scans)
        if before is not None:
            query = query.where(order < before)
    else:
        # psycopg prepares a statement run five times on a connection, and PostgreSQL may then plan it once for
        # any words: a plan for a rare word read every row for a common one (9 s at 10,000 cases). The best
        # plan depends on the words, so this transaction plans every statement for its own values.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        query = query.where(*_postgresql_conditions(terms))
        order = SearchEntry.id
        if before is not None:
            query = query.where(order < before)
    return query.order_by(order.desc()) if newest_first else query
