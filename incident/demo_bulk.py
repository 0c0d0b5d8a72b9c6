"""Bulk demo data for benchmarks: N cases over two years with notes, timelines, drafts, escalations and
hash-chained audit rows, written by Core executemany in chunks (one transaction per chunk, ids taken here).

Runs after incident.demo.load_demo (its departments, users and accounts); deterministic for a seed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import operator
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from sqlalchemy import JSON, Enum, Table, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from incident.accounts.models import OfficialAccount, Platform
from incident.audit.chain import CONTENT_COLUMNS, canonical_content, chain_hash, chain_head
from incident.audit.models import AuditLog
from incident.audit.service import current_request_id
from incident.auth.models import User
from incident.cases.models import (
    Case,
    CaseCounter,
    CaseKind,
    CaseStatus,
    Note,
    OffendingItem,
    Severity,
    TimelineEvent,
)
from incident.database import UTCDateTime
from incident.dates import UTC, isoformat, tokyo_year, utcnow
from incident.drafts.models import Draft, DraftEvent, DraftRevision, DraftStatus, DraftType, Publication, Route
from incident.escalation.models import Escalation, EscalationNotice
from incident.escalation.service import rules
from incident.extensions import db
from incident.playbooks.models import StepEvent
from incident.playbooks.service import pin_playbook
from incident.roles import Role

#: Cases written per transaction (about 60 rows each across the tables).
CHUNK_CASES = 500
SPAN = dt.timedelta(days=730)
BODY_POOL = 400
KINDS = {CaseKind.FLAMING: 35, CaseKind.FALSE_INFORMATION: 30, CaseKind.IMPERSONATION: 20,
         CaseKind.DORMANT_ACCOUNT: 10, CaseKind.ACCOUNT_TAKEOVER: 5}
SEVERITIES = {Severity.LOW: 40, Severity.MEDIUM: 35, Severity.HIGH: 20, Severity.CRITICAL: 5}
SUBJECTS = ["観光案内所", "市民プール", "中央図書館", "博物館の企画展", "川開き祭り", "花火大会", "ごみの収集日",
            "防災無線", "給付金の申請", "市立病院", "港の朝市", "マンガロード", "市役所の窓口", "復興祈念公園"]
TITLES = {
    CaseKind.FLAMING: "{s}の投稿への批判コメントが拡散",
    CaseKind.FALSE_INFORMATION: "{s}について誤った情報が拡散",
    CaseKind.IMPERSONATION: "{s}をかたる偽アカウント",
    CaseKind.DORMANT_ACCOUNT: "{s}の旧アカウントが放置されている",
    CaseKind.ACCOUNT_TAKEOVER: "{s}のアカウントに不正ログインの疑い",
}
OPENERS = ["午前中に", "昼過ぎに", "夕方に", "夜間に", "本日", "先ほど"]
EVENTS = ["市民から電話で問い合わせがあった", "投稿の引用が増えている", "リプライ欄で批判が続いている",
          "関係課に事実関係を確認した", "担当者が現地で状況を確認した", "プラットフォームに報告した",
          "スクリーンショットを保存した", "所属長に状況を報告した", "新しい投稿は見られない",
          "報道機関から問い合わせがあった", "正しい情報を市のウェブサイトに掲載した"]
CLOSERS = ["引き続き経過を見る。", "明日の朝に再確認する。", "対応方針を相談する。", "以上。", "特に変化はない。"]
SOURCES = ["市民からの電話", "職員が巡回中に発見", "観光案内所からの連絡", "報道機関からの問い合わせ", ""]
REASON = "対応を終えたため、残りの手順は不要と判断した。"


@dataclasses.dataclass
class BulkReport:
    """How many rows of each kind one run wrote, and how long it took."""

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {count:,}" for name, count in self.counts.items())
        return f"Bulk demo data: {parts} in {self.seconds:.1f} s"


def _t(model: Any) -> Table:
    """A model's table, typed as one."""
    return cast(Table, model.__table__)


def _insert(table: Table) -> Any:
    """An INSERT for the session's dialect (both have on_conflict_do_update)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class _Ids:
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


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(OPENERS)}、{rng.choice(EVENTS)}。{rng.choice(CLOSERS)}"


def note_body(rng: random.Random) -> str:
    """A Japanese note of one to three sentences; about one in five uses Markdown."""
    roll = rng.random()
    if roll < 0.08:
        return "**確認したこと**\n\n" + "\n".join(f"- {rng.choice(EVENTS)}" for _ in range(rng.randint(2, 4)))
    if roll < 0.14:
        return f"{_sentence(rng)}\n\n> {rng.choice(EVENTS)}との連絡あり。"
    if roll < 0.2:
        return f"{_sentence(rng)} 参考: [市のお知らせ](https://www.city.ishinomaki.example/news/{rng.randint(1, 9999)})"
    return "".join(_sentence(rng) for _ in range(rng.randint(1, 3)))


class _City:
    """The departments' people and accounts the generated cases are spread over (read once)."""

    def __init__(self) -> None:
        users = [u for u in db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.id))
                 if u.operator_id is None]
        if not users:
            raise RuntimeError("no users: load the demo (flask seed-demo) first")
        self.admins = [u for u in users if u.role == Role.ADMIN] or users[:1]
        self.departments: dict[int, tuple[list[User], list[User]]] = {}
        for user in users:
            responders, supervisors = self.departments.setdefault(user.department_id, ([], []))
            (supervisors if user.role != Role.RESPONDER else responders).append(user)
        for responders, supervisors in self.departments.values():
            responders.extend([] if responders else supervisors)
            supervisors.extend([] if supervisors else self.admins)
        self.accounts: dict[int, list[OfficialAccount]] = {}
        for account in db.session.scalars(select(OfficialAccount).order_by(OfficialAccount.id)):
            self.accounts.setdefault(account.department_id, []).append(account)
        # Departments weighted by their people: the busiest department gets most cases.
        self.weights = [len(r) + len(s) for r, s in self.departments.values()]
        self.levels = rules().levels
        self.playbooks = {kind: pin_playbook(Case(kind=kind)) for kind in CaseKind}
        self.waivable = {kind: [s.key for s in book.steps if s.required and s.when is None]
                         for kind, book in self.playbooks.items()}


class _Batch:
    """The rows of one chunk, table by table, and the audit rows still to be chained."""

    def __init__(self, city: _City, ids: _Ids, rng: random.Random, request_id: str) -> None:
        self.city, self.ids, self.rng, self.request_id = city, ids, rng, request_id
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.audit: list[dict[str, Any]] = []
        self.approved: list[dict[str, Any]] = []
        #: Note texts drawn from a pool: cheaper than composing each one, and still varied.
        self.bodies = [note_body(rng) for _ in range(BODY_POOL)]

    def add(self, table: Table, **row: Any) -> int:
        """Queue a row (its id taken now) and return the id."""
        if "id" not in row:
            row["id"] = self.ids.take(table, 1)[0]
        self.rows.setdefault(table.name, []).append(row)
        return int(row["id"])

    def event(self, case_id: int, actor: User | None, event: str, at: dt.datetime,
              note_id: int | None = None, **data: Any) -> None:
        self.add(_t(TimelineEvent), case_id=case_id, actor_id=actor.id if actor else None, event=event,
                 data=data, note_id=note_id, created_at=at)

    def audit_row(self, actor: User | None, action: str, object_type: str, object_id: int, case_id: int,
                  at: dt.datetime, **changes: tuple[Any, Any]) -> None:
        plain = {k: [v.value if hasattr(v, "value") else v for v in pair] for k, pair in changes.items()}
        self.audit.append({"actor_id": actor.id if actor else None, "action": action, "object_type": object_type,
                           "object_id": object_id, "case_id": case_id, "changes": plain,
                           "request_id": self.request_id, "created_at": at})


def _ids_for(batch: _Batch, table: Table, count: int) -> Iterator[int]:
    return iter(batch.ids.take(table, count))


def _case(batch: _Batch, case_id: int, number: tuple[int, int], created: dt.datetime, now: dt.datetime,
          open_case: bool) -> None:
    """Queue one case with its whole history."""
    rng, city = batch.rng, batch.city
    department_id = rng.choices(list(city.departments), city.weights)[0]
    responders, supervisors = city.departments[department_id]
    reporter, assignee, chief = rng.choice(responders), rng.choice(responders), rng.choice(supervisors)
    kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
    severity = rng.choices(list(SEVERITIES), list(SEVERITIES.values()))[0]
    accounts = city.accounts.get(department_id, [])
    account = rng.choice(accounts) if accounts and rng.random() < 0.6 else None
    status = (rng.choices([CaseStatus.NEW, CaseStatus.RESPONDING, CaseStatus.MONITORING], [2, 5, 3])[0]
              if open_case else CaseStatus.CLOSED)
    detected = created - dt.timedelta(minutes=rng.randint(0, 360))
    end = now if open_case else min(now, created + dt.timedelta(hours=rng.randint(6, 24 * 20)))
    acknowledged = None if status == CaseStatus.NEW else min(end, created + dt.timedelta(minutes=rng.randint(3, 180)))
    title = TITLES[kind].format(s=rng.choice(SUBJECTS))
    year, sequence = number
    fields = {"kind": kind, "title": title, "severity": severity, "description": _sentence(rng),
              "platform": account.platform if account else Platform(rng.choice(["x", "facebook", "instagram", "line"])),
              "official_account_id": account.id if account else None, "detected_at": detected,
              "source": rng.choice(SOURCES)}
    batch.add(_t(Case), id=case_id, year=year, sequence=sequence, number=f"{year}-{sequence:04d}",
              status=status, reporter_id=reporter.id, department_id=department_id,
              assignee_id=None if status == CaseStatus.NEW and rng.random() < 0.5 else assignee.id,
              acknowledged_at=acknowledged, acknowledged_by_id=assignee.id if acknowledged else None,
              closed_at=None if open_case else end, created_at=created, updated_at=end,
              playbook_version=city.playbooks[kind].version, version=1, **fields)
    batch.event(case_id, reporter, "opened", created, playbook_version=city.playbooks[kind].version[:12],
                number=f"{year}-{sequence:04d}", kind=kind.value, severity=severity.value, title=title)
    batch.audit_row(reporter, "case.create", "case", case_id, case_id, created,
                    **{k: (None, isoformat(v) if isinstance(v, dt.datetime) else v) for k, v in fields.items()})
    for n in range(rng.choice([0, 1, 1, 2])):
        target = f"https://x.com/example_{case_id}_{n}/status/{rng.randint(10**9, 10**10)}"
        item_id = batch.add(_t(OffendingItem), case_id=case_id, target=target, note="",
                            captured_at=detected, captured_by_id=reporter.id, created_at=created)
        batch.event(case_id, reporter, "item_added", created, target=target)
        batch.audit_row(reporter, "offending_item.create", "offending_item", item_id, case_id, created,
                        target=(None, target))
    if acknowledged is None:
        if rng.random() < 0.7 and now - created > dt.timedelta(minutes=10):
            _escalation(batch, case_id, "unacknowledged", None, 1, supervisors, created + dt.timedelta(minutes=5))
        return
    batch.event(case_id, chief, "assigned", acknowledged, old_id=None, old_name=None,
                new_id=assignee.id, new_name=assignee.name)
    batch.audit_row(chief, "case.assign", "case", case_id, case_id, acknowledged, assignee_id=(None, assignee.id))
    batch.event(case_id, assignee, "acknowledged", acknowledged)
    batch.audit_row(assignee, "case.status", "case", case_id, case_id, acknowledged,
                    status=(CaseStatus.NEW, CaseStatus.RESPONDING))
    _notes(batch, case_id, rng.randint(3, 17), acknowledged, end, responders)
    if rng.random() < 0.25:
        _draft(batch, case_id, assignee, chief, acknowledged, end, sent=not open_case)
    if open_case:
        if rng.random() < 0.3:
            _escalation(batch, case_id, "manual", assignee, 1, supervisors, acknowledged + (end - acknowledged) / 2)
        return
    for key in city.waivable[kind]:
        step_id = batch.add(_t(StepEvent), case_id=case_id, playbook_version=city.playbooks[kind].version,
                            step_key=key, action="waive", answer=None, reason=REASON, data={},
                            actor_id=chief.id, created_at=end)
        batch.event(case_id, chief, "step_waive", end, step=key, action="waive", reason=REASON)
        batch.audit_row(chief, "step.waive", "step_event", step_id, case_id, end, step=(None, key),
                        state=("pending", "waived"), reason=(None, REASON))
    batch.event(case_id, chief, "status_changed", end, old="responding", new="closed", reason="")
    batch.audit_row(chief, "case.status", "case", case_id, case_id, end,
                    status=(CaseStatus.RESPONDING, CaseStatus.CLOSED))


def _notes(batch: _Batch, case_id: int, count: int, start: dt.datetime, end: dt.datetime,
           authors: list[User]) -> None:
    """Queue `count` notes spread between start and end; now and then one corrects the note before it."""
    rng = batch.rng
    ids = _ids_for(batch, _t(Note), count)
    step = (end - start) / max(count, 1)
    previous: tuple[int, str] | None = None
    for n in range(count):
        author, at = rng.choice(authors), start + step * n + dt.timedelta(seconds=rng.randint(0, 59))
        body = rng.choice(batch.bodies)
        corrects = previous if previous is not None and rng.random() < 0.03 else None
        note_id = batch.add(_t(Note), id=next(ids), case_id=case_id, author_id=author.id, body=body,
                            corrects_id=corrects[0] if corrects else None, created_at=at)
        if corrects is None:
            batch.event(case_id, author, "note_added", at, note_id=note_id)
            batch.audit_row(author, "note.create", "note", note_id, case_id, at, body=(None, body))
        else:
            batch.event(case_id, author, "note_corrected", at, note_id=note_id, corrects_id=corrects[0])
            batch.audit_row(author, "note.correct", "note", note_id, case_id, at, body=(corrects[1], body),
                            corrects_id=(None, corrects[0]))
        previous = None if corrects else (note_id, body)


def _draft(batch: _Batch, case_id: int, author: User, chief: User, start: dt.datetime, end: dt.datetime,
           sent: bool) -> None:
    """Queue a press-release draft with one to three revisions; sent (approved and published) when `sent`."""
    rng = batch.rng
    draft_id = batch.add(_t(Draft), case_id=case_id, type=DraftType.PRESS, lang="ja",
                         status=DraftStatus.SENT if sent else DraftStatus.EDITING,
                         route=Route.SUPERVISOR if sent else None, created_by_id=author.id,
                         created_at=start, updated_at=end, version=1)
    batch.audit_row(author, "draft.created", "draft", draft_id, case_id, start)
    revision_id = 0
    for number in range(1, rng.randint(1, 3) + 1):
        body = "報道機関各位\n\n" + "".join(_sentence(rng) for _ in range(3))
        revision_id = batch.add(_t(DraftRevision), draft_id=draft_id, number=number, body=body,
                                origin="generated" if number == 1 else "edited", author_id=author.id,
                                created_at=start + dt.timedelta(minutes=10 * number))
        batch.add(_t(DraftEvent), draft_id=draft_id, revision_id=revision_id,
                  action="created" if number == 1 else "revised", actor_id=author.id, created_at=start)
    batch.event(case_id, author, "draft_created", start, draft_id=draft_id, type="press")
    if not sent:
        return
    batch.approved.append({"draft_id": draft_id, "revision_id": revision_id})
    for action, actor in (("submitted", author), ("approved", chief), ("sent", author)):
        batch.add(_t(DraftEvent), draft_id=draft_id, revision_id=revision_id, action=action,
                  actor_id=actor.id, created_at=end)
        batch.audit_row(actor, f"draft.{action}", "draft", draft_id, case_id, end)
    batch.add(_t(Publication), case_id=case_id, draft_id=draft_id, revision_id=revision_id, kind="press",
              channel="press", published_at=end, recorded_by_id=author.id, recorded_at=end)


def _escalation(batch: _Batch, case_id: int, trigger: str, actor: User | None, level: int,
                told: list[User], at: dt.datetime) -> None:
    """Queue an unanswered escalation at `level` with a notice to each person told."""
    reason = "受付されないまま時間が過ぎた" if trigger == "unacknowledged" else "判断を仰ぎたい"
    escalation_id = batch.add(
        _t(Escalation), case_id=case_id, trigger=trigger, subject="",
        dedupe_key=f"unacknowledged:{case_id}:" if trigger == "unacknowledged" else None, reason=reason,
        level=level, next_at=at + dt.timedelta(minutes=5), raised_by_id=actor.id if actor else None,
        created_at=at)
    for person in told:
        batch.add(_t(EscalationNotice), escalation_id=escalation_id, level=level,
                  level_name=batch.city.levels[min(level, len(batch.city.levels) - 1)], user_id=person.id,
                  created_at=at)
    batch.event(case_id, actor, "escalated", at, escalation_id=escalation_id, trigger=trigger, reason=reason,
                level=batch.city.levels[min(level, len(batch.city.levels) - 1)])
    if actor is not None:
        batch.audit_row(actor, "escalation.create", "escalation", escalation_id, case_id, at,
                        reason=(None, reason))


#: Tables in foreign-key order.
ORDER = [Case, OffendingItem, Note, Draft, DraftRevision, DraftEvent, Publication, StepEvent, Escalation,
         EscalationNotice, TimelineEvent]


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


def _write(batch: _Batch, report: BulkReport) -> None:
    """Insert the chunk's rows, chain its audit rows onto the log's head and commit."""
    for model in ORDER:
        rows = batch.rows.get(_t(model).name, [])
        if rows:
            _insert_rows(_t(model), rows)
            report.counts[_t(model).name] = report.counts.get(_t(model).name, 0) + len(rows)
        if model is DraftRevision and batch.approved:
            table = _t(Draft)
            db.session.execute(update(table).where(table.c.id == bindparam("draft_id"))
                               .values(approved_revision_id=bindparam("revision_id")), batch.approved)
    last_id, last_hash = chain_head()
    for row in batch.audit:
        last_id += 1
        row["id"], row["prev_hash"] = last_id, last_hash
        row["row_hash"] = last_hash = chain_hash(last_hash, canonical_content(
            {name: row[name] for name in CONTENT_COLUMNS}))
    if batch.audit:
        _insert_rows(_t(AuditLog), batch.audit)
        report.counts["audit_log"] = report.counts.get("audit_log", 0) + len(batch.audit)
    db.session.commit()


def _numbers(years: list[int]) -> list[tuple[int, int]]:
    """Case numbers for cases of these years (in order), handed out by bumping each year's counter once."""
    wanted: dict[int, int] = {}
    for year in years:
        wanted[year] = wanted.get(year, 0) + 1
    next_of: dict[int, int] = {}
    for year, count in wanted.items():
        statement = (_insert(_t(CaseCounter)).values(year=year, last=count)
                     .on_conflict_do_update(index_elements=["year"], set_={"last": CaseCounter.last + count})
                     .returning(CaseCounter.last))
        next_of[year] = int(db.session.execute(statement).scalar_one()) - count + 1
    numbers = []
    for year in years:
        numbers.append((year, next_of[year]))
        next_of[year] += 1
    return numbers


def generate(count: int, *, seed: int = 14, echo: Callable[[str], None] | None = None,
             now: dt.datetime | None = None) -> BulkReport:
    """Write `count` cases created over the last two years (about 90% closed), committing every chunk."""
    started, now = time.perf_counter(), now or utcnow()
    rng, report, ids = random.Random(seed), BulkReport(), _Ids()
    city = _City()
    request_id = current_request_id()
    db.session.commit()  # the demo's rows and the pinned playbook versions, before the first chunk
    times = sorted(now - SPAN * rng.random() for _ in range(count))
    for first in range(0, count, CHUNK_CASES):
        chunk = times[first:first + CHUNK_CASES]
        batch = _Batch(city, ids, rng, request_id)
        numbers = _numbers([tokyo_year(at) for at in chunk])
        for case_id, number, created in zip(ids.take(_t(Case), len(chunk)), numbers, chunk,
                                            strict=True):
            recent = now - created < dt.timedelta(days=45)
            _case(batch, case_id, number, created, now, rng.random() < (0.8 if recent else 0.05))
        _write(batch, report)
        if echo is not None:
            echo(f"  {first + len(chunk):,} / {count:,} cases ({time.perf_counter() - started:.0f} s)")
    report.seconds = time.perf_counter() - started
    return report


def add_notes(case_id: int, count: int, *, seed: int = 14) -> BulkReport:
    """Append `count` notes (with timeline events and audit rows) to one case, e.g. a long case page."""
    started, rng = time.perf_counter(), random.Random(seed)
    case = db.session.get_one(Case, case_id)
    city = _City()
    authors = city.departments.get(case.department_id, (city.admins, city.admins))[0]
    batch, report = _Batch(city, _Ids(), rng, current_request_id()), BulkReport()
    _notes(batch, case_id, count, case.created_at, case.closed_at or utcnow(), authors)
    _write(batch, report)
    report.seconds = time.perf_counter() - started
    return report
