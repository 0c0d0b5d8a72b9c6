"""Words to an indexed condition on search_entry, per dialect (FTS5 trigram; pg_trgm and character pairs)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, any_, cast, column, event, func, literal, select, table, text
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import Session, SessionTransaction

from incident.extensions import db
from incident.search.models import SearchEntry

MAX_TERMS = 5
MAX_TERM_LENGTH = 100
#: A one- or two-character word beginning more distinct trigrams than this is so common that reading the
#: newest entries and checking them finds a page of results sooner than looking up every trigram (SQLite).
MAX_EXPANSION = 300
#: PostgreSQL: a word in more entries than this is common. The GIN indexes find every entry holding a word,
#: and a common word's page is found sooner by checking the newest entries one by one.
MAX_INDEXED = 3000
#: PostgreSQL: how many of the newest entries are checked one by one for a common word's page before looking
#: it up in the index after all (a word common elsewhere may be rare among the cases the user may see).
RECENT_ENTRIES = 50_000

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


def _contains(term: str) -> ColumnElement[bool]:
    """The body holds the (lower-cased) word, in any case."""
    # A word without cased letters (Japanese, digits) is held the same under LIKE, which PostgreSQL checks three
    # times faster than ILIKE: that lower-cases every text it reads.
    if term.upper() == term:
        return SearchEntry.body.like(_like(term), escape="\\")
    return SearchEntry.body.ilike(_like(term), escape="\\")


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


def _pairs_query(term: str) -> str:
    """A word of one or two characters as a tsquery on the text's character pairs."""
    return _tsquery_lexeme(term) + (":*" if len(term) == 1 else "")


def _postgresql_conditions(terms: Sequence[str]) -> list[ColumnElement[bool]]:
    """Conditions each served by a GIN index: pg_trgm for three characters or more, the text's character
    pairs for shorter words (a two-character word is a pair, a one-character word begins one)."""
    conditions: list[ColumnElement[bool]] = []
    for term in terms:
        if len(term) < 3:
            pairs = cast(literal(_pairs_query(term)), TSQUERY)
            conditions.append(func.incident_pairs(SearchEntry.body).op("@@")(pairs))
        # For a short word the same test, cheap per row: without it the planner may read the newest rows by id
        # and work out each one's pairs (≈0.2 ms a row), 900 ms for a common word at 10,000 cases; with it, 18.
        conditions.append(_contains(term))
    return conditions


def _found_common() -> set[tuple[str, ...]]:
    """The word lists found common in this transaction (a page asks for its texts, then for matching cases)."""
    # Only whether, never which entries: a text saved in between must still be found.
    common: set[tuple[str, ...]] = db.session.info.setdefault("search_common", set())
    return common


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    session.info.pop("search_common", None)


def _postgresql_estimate(term: str) -> float:
    """PostgreSQL's estimate, from the pairs index's statistics, of the entries holding a one- or two-character word."""
    # Not a count: that could work out the pairs of every row it reads (≈0.1 ms each).
    plan = db.session.connection().exec_driver_sql(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM search_entry WHERE incident_pairs(body) @@ %s::tsquery",
        (_pairs_query(term),)).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def _among(ids: Sequence[int]) -> ColumnElement[bool]:
    """The entry is one of `ids`, sent as one array (hundreds of parameters took milliseconds to bind)."""
    return SearchEntry.id == any_(literal(list(ids), ARRAY(Integer)))


def _postgresql_newest(query: Select[Any], terms: Sequence[str], before: int | None, page_size: int) -> Select[Any]:
    """`query` (limited to `page_size` rows) narrowed to the matching entries older than `before`, newest first."""
    # Words in at most MAX_INDEXED entries are looked up in the index. A GIN index hands over every entry of a
    # more common word, so its page is looked for among the newest RECENT_ENTRIES, checking each (as SQLite does
    # past MAX_EXPANSION), and in the index only if they hold too few for the caller's LIMIT.
    # Each statement here reads a bounded number of rows: starting parallel workers costs more than it saves.
    db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    older = [] if before is None else [SearchEntry.id < before]
    # The same tests as _contains in a form no index serves, for rows already found or read by id.
    checked = [func.strpos(SearchEntry.body, term) > 0 if term.upper() == term else
               func.strpos(func.lower(SearchEntry.body), func.lower(term)) > 0 for term in terms]
    indexed = query.where(*_postgresql_conditions(terms), *older)
    if tuple(terms) not in _found_common():
        longer = [_contains(term) for term in terms if len(term) >= 3]
        if longer:
            found = db.session.scalars(select(SearchEntry.id).where(*longer, *older).limit(MAX_INDEXED + 1)).all()
            if len(found) <= MAX_INDEXED:  # every entry holding the longer words: the others checked on them
                return query.where(_among(found), *checked)
        if any(_postgresql_estimate(term) <= MAX_INDEXED for term in terms if len(term) < 3):
            return indexed
        _found_common().add(tuple(terms))
    top: Any = select(func.max(SearchEntry.id) + 1).scalar_subquery() if before is None else before
    recent = db.session.scalars(query.with_only_columns(SearchEntry.id).where(
        *checked, *older, SearchEntry.id >= top - RECENT_ENTRIES).order_by(SearchEntry.id.desc())).all()
    # Whether the newest entries filled the caller's page.
    return query.where(_among(recent)) if len(recent) == page_size else indexed


def matching(query: Select[Any], terms: Sequence[str], *, before: int | None = None,
             newest_first: bool = True, page_size: int | None = None) -> Select[Any] | None:
    """`query` (a select over search_entry) narrowed to the entries holding every word, newest first when
    asked, and older than the entry `before`; None when some word occurs nowhere. `page_size`: the LIMIT the
    caller put on `query` (on PostgreSQL a common word's page is then looked for among the newest entries)."""
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
        order = SearchEntry.id
        if newest_first and page_size is not None:
            query = _postgresql_newest(query, terms, before, page_size)
        else:
            query = query.where(*_postgresql_conditions(terms), *([] if before is None else [order < before]))
    return query.order_by(order.desc()) if newest_first else query
