"""The search index: what is indexed, and the SQL that keeps it current inside the database itself.

Every searchable text is copied into `search_entry` (one row per case, note, offending item, fake account,
draft and closing review) by triggers on the source tables, so a note is findable in the transaction that
saves it, bulk inserts and restores are indexed too, and no code path can forget it. On SQLite an FTS5
table with the trigram tokenizer indexes the copies; on PostgreSQL two GIN indexes do (pg_trgm for three
characters or more, and the text's character pairs for one- and two-character words). README.md,
"Search", says why.
"""
from __future__ import annotations

import dataclasses

from sqlalchemy import Connection

#: FTS5 indexes each text with this appended, so every one- and two-character substring begins some trigram
#: (a word at the very end of a text would otherwise begin none) and short words can be found by prefix.
SQLITE_SENTINEL = "char(10) || char(10)"


@dataclasses.dataclass(frozen=True)
class Source:
    """A table whose rows are searchable: how a row becomes an entry (SQL over NEW)."""

    name: str
    table: str
    #: The entry's key within its source (one entry per draft and per case's review, not per revision).
    key: str
    case_id: str
    body: str
    #: Columns whose UPDATE changes the entry (empty: the table is append-only).
    updated_by: tuple[str, ...] = ()


def _joined(*parts: str) -> str:
    """SQL joining the parts (NULL as empty) with line breaks (a literal newline works in both dialects)."""
    return " || '\n' || ".join(f"coalesce({part}, '')" for part in parts)


SOURCES = (
    Source("case", "cases", "NEW.id", "NEW.id", _joined("NEW.number", "NEW.title", "NEW.description"),
           ("number", "title", "description")),
    Source("note", "note", "NEW.id", "NEW.case_id", "NEW.body"),
    Source("item", "offending_item", "NEW.id", "NEW.case_id", _joined("NEW.target", "NEW.note"),
           ("target", "note")),
    Source("fake", "fake_account", "NEW.id", "NULL",
           _joined("'@' || NEW.handle", "NEW.url", "NEW.display_name"), ("handle", "url", "display_name")),
    Source("draft", "draft_revision", "NEW.draft_id", "(SELECT case_id FROM draft WHERE id = NEW.draft_id)",
           _joined("NEW.body", "NEW.web_body")),
    Source("review", "case_review", "NEW.case_id", "NEW.case_id",
           _joined("NEW.what_happened", "NEW.what_was_done", "NEW.cause", "NEW.changes")),
)
SOURCE_NAMES = tuple(source.name for source in SOURCES)


def _upsert(source: Source) -> str:
    """The statement (over NEW) that writes the source row's entry, replacing an earlier one of the same key."""
    return (f"INSERT INTO search_entry (source, source_id, case_id, body) VALUES ('{source.name}', "
            f"{source.key}, {source.case_id}, {source.body}) ON CONFLICT (source, source_id) "
            f"DO UPDATE SET body = excluded.body, case_id = excluded.case_id")


def _sqlite_ddl() -> list[str]:
    statements = [
        "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='search_entry', content_rowid='id', "
        "tokenize='trigram')",
        "CREATE VIRTUAL TABLE search_vocab USING fts5vocab(search_fts, 'row')",
        f"CREATE TRIGGER search_entry_ai AFTER INSERT ON search_entry BEGIN "
        f"INSERT INTO search_fts (rowid, body) VALUES (NEW.id, NEW.body || {SQLITE_SENTINEL}); END",
        f"CREATE TRIGGER search_entry_ad AFTER DELETE ON search_entry BEGIN "
        f"INSERT INTO search_fts (search_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body || {SQLITE_SENTINEL}); "
        f"END",
        f"CREATE TRIGGER search_entry_au AFTER UPDATE OF body ON search_entry BEGIN "
        f"INSERT INTO search_fts (search_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body || {SQLITE_SENTINEL}); "
        f"INSERT INTO search_fts (rowid, body) VALUES (NEW.id, NEW.body || {SQLITE_SENTINEL}); END",
    ]
    for source in SOURCES:
        body = _upsert(source)
        statements.append(f"CREATE TRIGGER search_{source.name}_ai AFTER INSERT ON {source.table} "
                          f"BEGIN {body}; END")
        if source.updated_by:
            statements.append(f"CREATE TRIGGER search_{source.name}_au AFTER UPDATE OF "
                              f"{', '.join(source.updated_by)} ON {source.table} BEGIN {body}; END")
    return statements


def _postgresql_ddl(trigram_schema: str) -> list[str]:
    statements = [
        # The text's lower-cased character pairs, the last character paired with a space: a two-character
        # word is one pair, a one-character word the prefix of one. PL/pgSQL: three times faster than the same
        # in SQL with generate_series, and this runs for every text written.
        "CREATE OR REPLACE FUNCTION incident_pairs(t text) RETURNS tsvector LANGUAGE plpgsql IMMUTABLE STRICT "
        "PARALLEL SAFE AS $$ DECLARE padded text := lower(t) || ' '; pairs text[] := '{}'; "
        "BEGIN FOR i IN 1..length(t) LOOP pairs := pairs || substr(padded, i, 2); END LOOP; "
        "RETURN array_to_tsvector(pairs); END $$",
        # Qualified: the extension lives in one schema of the database, which need not be on the search path.
        f'CREATE INDEX ix_search_entry_trgm ON search_entry USING gin (body "{trigram_schema}".gin_trgm_ops)',
        "CREATE INDEX ix_search_entry_pairs ON search_entry USING gin (incident_pairs(body))",
    ]
    for source in SOURCES:
        body = _upsert(source)
        statements.append(
            f"CREATE OR REPLACE FUNCTION search_{source.name}_entry() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body}; RETURN NULL; END $$")
        columns = f" OF {', '.join(source.updated_by)}" if source.updated_by else ""
        statements.append(
            f"CREATE TRIGGER search_{source.name}_entry AFTER INSERT OR UPDATE{columns} ON {source.table} "
            f"FOR EACH ROW EXECUTE FUNCTION search_{source.name}_entry()"
            if source.updated_by else
            f"CREATE TRIGGER search_{source.name}_entry AFTER INSERT ON {source.table} "
            f"FOR EACH ROW EXECUTE FUNCTION search_{source.name}_entry()")
    return statements


def trigram_schema(connection: Connection) -> str | None:
    """The schema pg_trgm is installed in (None: not installed)."""
    return connection.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'").scalar()


def search_ddl(connection: Connection) -> list[str]:
    """The SQL (after `search_entry` exists) that indexes its texts and keeps it filled from the sources; on
    PostgreSQL it first makes sure pg_trgm is installed (a trusted extension: the database owner may)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return _sqlite_ddl()
    if dialect == "postgresql":
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return _postgresql_ddl(trigram_schema(connection) or "public")
    raise RuntimeError(f"the search index is not written for {dialect}")


def fill_statements() -> list[str]:
    """SQL that (re)builds every entry from the source tables (the triggers then index them)."""
    statements = ["DELETE FROM search_entry"]
    for source in SOURCES:
        new = source.table if source.name not in ("draft", "review") else "latest"
        select_from = {
            "draft": "(SELECT * FROM draft_revision r WHERE r.id = (SELECT max(id) FROM draft_revision "
                     "WHERE draft_id = r.draft_id)) AS latest",
            "review": "(SELECT * FROM case_review r WHERE r.id = (SELECT max(id) FROM case_review "
                      "WHERE case_id = r.case_id)) AS latest",
        }.get(source.name, source.table)

        def over(sql: str, alias: str = new) -> str:
            return sql.replace("NEW.", f"{alias}.")

        statements.append(
            f"INSERT INTO search_entry (source, source_id, case_id, body) SELECT '{source.name}', "
            f"{over(source.key)}, {over(source.case_id)}, {over(source.body)} FROM {select_from} "
            f"ORDER BY {over(source.key)}")
    return statements
