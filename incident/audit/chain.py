"""The audit log's hash chain: each row hashes its own content and the previous row's hash."""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, func, select

from incident.audit.models import AuditLog, AuditSeal
from incident.dates import UTC
from incident.extensions import db

#: The prev_hash of the first row.
GENESIS = "0" * 64
#: pg_advisory_xact_lock key that serialises appends to the chain ("incaudit" in ASCII).
LOCK_KEY = 0x696E6361_75646974
#: Where the chain's head is remembered within one transaction (db.session.info).
_HEAD = "incident.audit.chain.head"
#: The columns the hash covers, in the order the canonical form lists them.
CONTENT_COLUMNS = ("id", "actor_id", "action", "object_type", "object_id", "case_id", "changes",
                   "request_id", "created_at")


def _utc_text(value: dt.datetime) -> str:
    """A fixed UTC text for a stored time, to the microsecond."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(row: Mapping[str, Any] | RowMapping) -> bytes:
    """The bytes a row's hash covers: its content as sorted-key, compact JSON (UTF-8)."""
    payload = {name: row[name] for name in CONTENT_COLUMNS}
    payload["created_at"] = _utc_text(row["created_at"])
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def seal_hash(row: Mapping[str, Any] | RowMapping) -> str:
    """SHA-256 (hex) of a row's canonical content alone: what a redaction seals a row with."""
    return hashlib.sha256(canonical_content(row)).hexdigest()


def seals_digest(seals: list[tuple[int, str]]) -> str:
    """SHA-256 (hex) of a redaction's seals, "audit_id:sealed_hash" lines in id order: its audit row holds it."""
    return hashlib.sha256("".join(f"{i}:{h}\n" for i, h in sorted(seals)).encode("ascii")).hexdigest()


def chain_hash(prev_hash: str, content: bytes) -> str:
    """SHA-256 (hex) of the previous row's hash and this row's canonical content."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content).hexdigest()


# ---- appending ----

def _transaction_key() -> tuple[Any, Any]:
    session = db.session()
    return session.get_transaction(), session.get_nested_transaction()


def _same_transaction(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    return a[0] is not None and a[0] is b[0] and a[1] is b[1]


def chain_head() -> tuple[int, str]:
    """The last row's id and hash, with the chain locked until this transaction ends.

    PostgreSQL takes a transaction-level advisory lock before reading, so concurrent writers append
    one after another; SQLite's write transactions (BEGIN IMMEDIATE) are serialised already. Ids are
    handed out here (the last id + 1), so two writers that read the same head could not both insert:
    the primary key refuses a fork. The head is remembered for the rest of the transaction (and
    forgotten when a savepoint or the transaction ends), so a request writing several rows reads it once.
    """
    cached = db.session.info.get(_HEAD)
    if cached is not None and _same_transaction(cached[0], _transaction_key()):
        return cached[1], cached[2]
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    last = db.session.execute(
        select(AuditLog.id, AuditLog.row_hash).order_by(AuditLog.id.desc()).limit(1)
    ).first()
    return (last.id, last.row_hash) if last is not None else (0, GENESIS)


def remember_head(row_id: int, row_hash: str) -> None:
    """Note the row just appended as the head for the rest of this transaction."""
    db.session.info[_HEAD] = (_transaction_key(), row_id, row_hash)


# ---- verifying ----

class Problem(enum.Enum):
    """What is wrong at a broken link."""

    CONTENT_CHANGED = "content changed"
    SEAL_MISMATCH = "redaction seals differ from the redaction's record"
    PREVIOUS_HASH_MISMATCH = "previous hash mismatch"
    ROW_MISSING = "row missing"
    HEAD_CHANGED = "recorded head changed"


@dataclass(frozen=True)
class ChainBreak:
    """The first broken link: the row where the chain stops holding, and why."""

    row_id: int
    problem: Problem
    detail: str

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.problem.value} ({self.detail})"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain."""

    rows: int
    last_id: int | None
    last_hash: str
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def _batches(batch_size: int) -> Iterator[list[RowMapping]]:
    """Every audit row in id order, a batch per short read transaction (never all in memory)."""
    table = AuditLog.__table__
    after = None
    while True:
        query = select(table).order_by(table.c.id).limit(batch_size)
        if after is not None:
            query = query.where(table.c.id > after)
        with db.engine.connect() as connection:
            rows = [row._mapping for row in connection.execute(query)]
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        after = rows[-1]["id"]


def _check(row: RowMapping, prev_id: int, prev_hash: str, seal: str | None = None) -> ChainBreak | None:
    """The first thing wrong with `row`, given the row before it (id 0 and GENESIS for the first). A row a
    redaction sealed keeps its row_hash (the links hold) and must match its seal instead."""
    if seal is not None:
        if seal_hash(row) != seal:
            return ChainBreak(row["id"], Problem.CONTENT_CHANGED,
                              "it was redacted, and its content no longer matches the redaction's seal")
    elif row["row_hash"] != chain_hash(row["prev_hash"] or "", canonical_content(row)):
        return ChainBreak(row["id"], Problem.CONTENT_CHANGED,
                          "its row_hash does not match its content and prev_hash")
    if row["prev_hash"] == prev_hash:
        return None
    before = f"row {prev_id}'s row_hash" if prev_id else "the start of the chain"
    if row["id"] != prev_id + 1:
        gap = f"id {prev_id + 1}" if row["id"] == prev_id + 2 else f"ids {prev_id + 1}–{row['id'] - 1}"
        return ChainBreak(row["id"], Problem.ROW_MISSING,
                          f"{gap} absent; its prev_hash does not match {before}")
    return ChainBreak(row["id"], Problem.PREVIOUS_HASH_MISMATCH,
                      f"its prev_hash does not match {before}; that row or its hash was rewritten")


def _check_head(row: RowMapping | None, head: tuple[int, str], last_id: int) -> ChainBreak | None:
    """Whether a head recorded earlier (id, hash) is still in the chain: `row` is the first row at or
    after its id (None when the log ends before it)."""
    head_id, head_hash = head
    if row is None or row["id"] != head_id:
        where = f"the log ends at id {last_id}" if row is None else f"the next row is id {row['id']}"
        return ChainBreak(head_id, Problem.ROW_MISSING, f"the recorded head is absent; {where}")
    if row["row_hash"] != head_hash:
        return ChainBreak(head_id, Problem.HEAD_CHANGED,
                          "its row_hash differs from the one recorded: the log was rewritten up to here")
    return None


def verify_chain(batch_size: int = 1000, head: tuple[int, str] | None = None) -> ChainReport:
    """Walk the committed audit log in id order and report the row count or the first broken link.

    The log is read through connections of its own, a batch per short transaction (with no
    transaction of the caller's open on SQLite). `head`, an (id, row_hash) printed by an earlier run,
    must still be there: a chain rewritten from some row onwards, or cut short, still links up.
    """
    seals, by_redaction, recorded = _seals()
    count, prev_id, prev_hash = 0, 0, GENESIS
    for rows in _batches(batch_size):
        for row in rows:
            broken = _check(row, prev_id, prev_hash, seals.get(row["id"]))
            if broken is None and head is not None and prev_id < head[0] <= row["id"]:
                broken = _check_head(row, head, prev_id)
            if broken is not None:
                return ChainReport(count, prev_id or None, prev_hash, broken)
            count, prev_id, prev_hash = count + 1, row["id"], row["row_hash"]
    if head is not None and prev_id < head[0]:
        return ChainReport(count, prev_id or None, prev_hash, _check_head(None, head, prev_id))
    return ChainReport(count, prev_id or None, prev_hash, _check_seals(by_redaction, recorded))


Seals = tuple[dict[int, str], dict[int, list[tuple[int, str]]], dict[int, tuple[int, Any]]]


def _seals() -> Seals:
    """The seals of redacted rows (by audit row and by redaction) and each redaction's audit row (id, changes):
    two queries, however long the log (redacted rows are a small part of it)."""
    by_row: dict[int, str] = {}
    by_redaction: dict[int, list[tuple[int, str]]] = {}
    with db.engine.connect() as connection:
        for redaction_id, audit_id, sealed in connection.execute(
                select(AuditSeal.redaction_id, AuditSeal.audit_id, AuditSeal.sealed_hash)):
            by_row[audit_id] = sealed
            by_redaction.setdefault(redaction_id, []).append((audit_id, sealed))
        recorded = {row.object_id: (row.id, row.changes) for row in connection.execute(
            select(AuditLog.id, AuditLog.object_id, AuditLog.changes)
            .where(AuditLog.action == "case.redact", AuditLog.object_type == "redaction"))}
    return by_row, by_redaction, recorded


def _check_seals(found: dict[int, list[tuple[int, str]]], recorded: dict[int, tuple[int, Any]]) -> ChainBreak | None:
    """Whether each redaction's seals are those its own (chained, unsealed) audit row recorded: a seal added
    or changed afterwards cannot excuse a rewritten row."""
    for redaction_id in sorted(set(found) | set(recorded)):
        entry = recorded.get(redaction_id)
        audit_id = entry[0] if entry else None
        changes: dict[str, Any] = (entry[1] if entry else None) or {}
        digest = (changes.get("sealed") or [None, None])[1]
        if audit_id is None or digest != seals_digest(found.get(redaction_id, [])):
            first = min((a for a, _ in found.get(redaction_id, [])), default=audit_id or 0)
            return ChainBreak(first, Problem.SEAL_MISMATCH,
                              f"the seals of redaction {redaction_id} differ from what its audit row recorded")
    return None
