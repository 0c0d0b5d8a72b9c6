"""Writing generated rows in bulk: fresh ids, a chunk's rows by table, chained audit rows, case numbers."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import operator
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import JSON, Enum, Table, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from incident.audit.chain import CONTENT_COLUMNS, canonical_content, chain_hash, chain_head
from incident.audit.models import AuditLog
from incident.auth.models import User
from incident.cases.models import Case, CaseCounter, Note, OffendingItem, RetentionEvent, TimelineEvent
from incident.database import UTCDateTime
from incident.dates import UTC
from incident.drafts.models import Draft, DraftEvent, DraftRevision, Publication
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.playbooks.models import StepEvent


@dataclasses.dataclass
class BulkReport:
    """How many rows of each kind one run wrote, and how long it took."""

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {count:,}" for name, count in self.counts.items())
        return f"Bulk demo data: {parts} in {self.seconds:.1f} s"


def table_of(model: Any) -> Table:
    """A model's table, typed as one."""
    return cast(Table, model.__table__)


def _insert(table: Table) -> Any:
    """An INSERT for the session's dialect (both have on_conflict_do_update)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class Ids:
    """Fresh primary keys: from each table's sequence on PostgreSQL (fetched a block at a time, so a few
    may go unused), after the largest id on SQLite."""

    BLOCK = 5000

    def __init__(self) -> None:
        self.postgresql = db.session.get_bind().dialect.name == "postgresql"
        self.next: dict[str, int] = {}
        self.free: dict[str, list[int]] = {}

    def take(self, table: Table, count: int) -> list[int]:
        """`count` new ids for `table`, ascending."""
        if not self.postgresql:
            if table.name not in self.next:
                self.next[table.name] = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
            start = self.next[table.name]
            self.next[table.name] += count
            return list(range(start, start + count))
        free = self.free.setdefault(table.name, [])
        if len(free) < count:
            free.extend(db.session.scalars(text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
            ), {"table": table.name, "count": max(count - len(free), self.BLOCK)}))
        taken, self.free[table.name] = free[:count], free[count:]
        return taken


class Chunk:
    """The rows of one chunk, table by table, and the audit rows still to be chained."""

    def __init__(self, ids: Ids, request_id: str) -> None:
        self.ids, self.request_id = ids, request_id
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.audit: list[dict[str, Any]] = []
        self.approved: list[dict[str, Any]] = []

    def add(self, table: Table, **row: Any) -> int:
        """Queue a row (its id taken now) and return the id."""
        if "id" not in row:
            row["id"] = self.ids.take(table, 1)[0]
        self.rows.setdefault(table.name, []).append(row)
        return int(row["id"])

    def event(self, case_id: int, actor: User | None, event: str, at: dt.datetime,
              note_id: int | None = None, **data: Any) -> None:
        """Queue a timeline event of the case."""
        self.add(table_of(TimelineEvent), case_id=case_id, actor_id=actor.id if actor else None, event=event,
                 data=data, note_id=note_id, created_at=at)

    def audit_row(self, actor: User | None, action: str, object_type: str, object_id: int, case_id: int,
                  at: dt.datetime, **changes: tuple[Any, Any]) -> None:
        """Queue an audit row, chained when the chunk is written."""
        plain = {k: [v.value if hasattr(v, "value") else v for v in pair] for k, pair in changes.items()}
        self.audit.append({"actor_id": actor.id if actor else None, "action": action, "object_type": object_type,
                           "object_id": object_id, "case_id": case_id, "changes": plain,
                           "request_id": self.request_id, "created_at": at})


#: Tables in foreign-key order.
ORDER = [Case, OffendingItem, Note, Draft, DraftRevision, DraftEvent, Publication, StepEvent, Escalation,
         EscalationNotice, TimelineEvent, RetentionEvent]


def _sqlite_time(value: dt.datetime | None) -> str | None:
    """A UTC time as SQLAlchemy stores it in SQLite (naive UTC text to the microsecond)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_converter(column: Any) -> Callable[[Any], Any] | None:
    """How a Python value of this column becomes what SQLite stores (None: as it is)."""
    if isinstance(column.type, UTCDateTime):
        return _sqlite_time
    if isinstance(column.type, JSON):
        return json.dumps
    if isinstance(column.type, Enum):
        return lambda value: value.value if isinstance(value, enum.Enum) else value
    return None


def _insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows in one executemany. On SQLite the values are converted here and go straight to the
    driver (SQLAlchemy's per-row bookkeeping would be most of the cost of a bulk load)."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(table.insert(), rows)
        return
    given = list(rows[0])
    defaults: list[tuple[str, Any]] = [(c.name, c.default) for c in table.c
                                       if c.name not in given and c.default is not None]
    names = given + [name for name, _default in defaults]
    converters = [(i, f) for i, f in enumerate(_sqlite_converter(table.c[name]) for name in names)
                  if f is not None]
    pick = operator.itemgetter(*given)
    values = []
    for row in rows:
        value = list(pick(row)) if len(given) > 1 else [row[given[0]]]
        value.extend(default.arg if default.is_scalar else default.arg(None) for _name, default in defaults)
        for i, convert in converters:
            value[i] = convert(value[i])
        values.append(tuple(value))
    columns = ", ".join(f'"{name}"' for name in names)
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" * len(names))})',
                               values)


def write(batch: Chunk, report: BulkReport) -> None:
    """Insert the chunk's rows, chain its audit rows onto the log's head and commit."""
    for model in ORDER:
        rows = batch.rows.get(table_of(model).name, [])
        if rows:
            _insert_rows(table_of(model), rows)
            report.counts[table_of(model).name] = report.counts.get(table_of(model).name, 0) + len(rows)
        if model is DraftRevision and batch.approved:
            table = table_of(Draft)
            db.session.execute(update(table).where(table.c.id == bindparam("draft_id"))
                               .values(approved_revision_id=bindparam("revision_id")), batch.approved)
    last_id, last_hash = chain_head()
    for row in batch.audit:
        last_id += 1
        row["id"], row["prev_hash"] = last_id, last_hash
        row["row_hash"] = last_hash = chain_hash(last_hash, canonical_content(
            {name: row[name] for name in CONTENT_COLUMNS}))
    if batch.audit:
        _insert_rows(table_of(AuditLog), batch.audit)
        report.counts["audit_log"] = report.counts.get("audit_log", 0) + len(batch.audit)
    db.session.commit()


def case_numbers(years: list[int]) -> list[tuple[int, int]]:
    """Case numbers for cases of these years (in order), handed out by bumping each year's counter once."""
    wanted: dict[int, int] = {}
    for year in years:
        wanted[year] = wanted.get(year, 0) + 1
    next_of: dict[int, int] = {}
    for year, count in wanted.items():
        statement = (_insert(table_of(CaseCounter)).values(year=year, last=count)
                     .on_conflict_do_update(index_elements=["year"], set_={"last": CaseCounter.last + count})
                     .returning(CaseCounter.last))
        next_of[year] = int(db.session.execute(statement).scalar_one()) - count + 1
    numbers = []
    for year in years:
        numbers.append((year, next_of[year]))
        next_of[year] += 1
    return numbers
