"""A generated case's whole history: whom it falls to, its notes, drafts, escalations and closing."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from flask import current_app
from sqlalchemy import Table, select

from incident.accounts.models import OfficialAccount, Platform
from incident.auth.models import User
from incident.cases import retention
from incident.cases.models import Case, CaseKind, CaseStatus, Note, OffendingItem, RetentionEvent, Severity
from incident.dates import isoformat, to_tokyo
from incident.demo_bulk.rows import Chunk, Ids, table_of
from incident.demo_bulk.text import REASON, SOURCES, SUBJECTS, TITLES, note_body, sentence
from incident.drafts.models import Draft, DraftEvent, DraftRevision, DraftStatus, DraftType, Publication, Route
from incident.escalation.levels import rules
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.playbooks.models import StepEvent
from incident.playbooks.service import pin_playbook
from incident.roles import Role

BODY_POOL = 400
KINDS = {CaseKind.FLAMING: 35, CaseKind.FALSE_INFORMATION: 30, CaseKind.IMPERSONATION: 20,
         CaseKind.DORMANT_ACCOUNT: 10, CaseKind.ACCOUNT_TAKEOVER: 5}
SEVERITIES = {Severity.LOW: 40, Severity.MEDIUM: 35, Severity.HIGH: 20, Severity.CRITICAL: 5}


class City:
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


class Batch(Chunk):
    """A chunk being generated: the city its cases are spread over and the random source."""

    def __init__(self, city: City, ids: Ids, rng: random.Random, request_id: str) -> None:
        super().__init__(ids, request_id)
        self.city, self.rng = city, rng
        #: Note texts drawn from a pool: cheaper than composing each one, and still varied.
        self.bodies = [note_body(rng) for _ in range(BODY_POOL)]


def _ids_for(batch: Batch, table: Table, count: int) -> Iterator[int]:
    return iter(batch.ids.take(table, count))


def queue_case(batch: Batch, case_id: int, number: tuple[int, int], created: dt.datetime, now: dt.datetime,
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
    retention_class = str(current_app.config["RETENTION_DEFAULTS"].get(kind.value, retention.PERMANENT))
    kept = (retention_class, retention.kept_until(to_tokyo(end).date(), retention_class))
    fields = {"kind": kind, "title": title, "severity": severity, "description": sentence(rng),
              "platform": account.platform if account else Platform(rng.choice(["x", "facebook", "instagram", "line"])),
              "official_account_id": account.id if account else None, "detected_at": detected,
              "source": rng.choice(SOURCES)}
    batch.add(table_of(Case), id=case_id, year=year, sequence=sequence, number=f"{year}-{sequence:04d}",
              status=status, reporter_id=reporter.id, department_id=department_id,
              assignee_id=None if status == CaseStatus.NEW and rng.random() < 0.5 else assignee.id,
              acknowledged_at=acknowledged, acknowledged_by_id=assignee.id if acknowledged else None,
              closed_at=None if open_case else end, created_at=created, updated_at=end,
              playbook_version=city.playbooks[kind].version, version=1,
              retention_class=None if open_case else kept[0], retention_until=None if open_case else kept[1], **fields)
    if not open_case:  # closed: its record's retention, as a closing gives it (incident.cases.retention)
        batch.add(table_of(RetentionEvent), case_id=case_id, retention_class=kept[0], retention_until=kept[1],
                  reason="", actor_id=assignee.id, created_at=end)
    batch.event(case_id, reporter, "opened", created, playbook_version=city.playbooks[kind].version[:12],
                number=f"{year}-{sequence:04d}", kind=kind.value, severity=severity.value, title=title)
    batch.audit_row(reporter, "case.create", "case", case_id, case_id, created,
                    **{k: (None, isoformat(v) if isinstance(v, dt.datetime) else v) for k, v in fields.items()})
    for n in range(rng.choice([0, 1, 1, 2])):
        target = f"https://x.com/example_{case_id}_{n}/status/{rng.randint(10**9, 10**10)}"
        item_id = batch.add(table_of(OffendingItem), case_id=case_id, target=target, note="",
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
    queue_notes(batch, case_id, rng.randint(3, 17), acknowledged, end, responders)
    if rng.random() < 0.25:
        _draft(batch, case_id, assignee, chief, acknowledged, end, sent=not open_case)
    if open_case:
        if rng.random() < 0.3:
            _escalation(batch, case_id, "manual", assignee, 1, supervisors, acknowledged + (end - acknowledged) / 2)
        return
    for key in city.waivable[kind]:
        step_id = batch.add(table_of(StepEvent), case_id=case_id, playbook_version=city.playbooks[kind].version,
                            step_key=key, action="waive", answer=None, reason=REASON, data={},
                            actor_id=chief.id, created_at=end)
        batch.event(case_id, chief, "step_waive", end, step=key, action="waive", reason=REASON)
        batch.audit_row(chief, "step.waive", "step_event", step_id, case_id, end, step=(None, key),
                        state=("pending", "waived"), reason=(None, REASON))
    batch.event(case_id, chief, "status_changed", end, old="responding", new="closed", reason="")
    batch.audit_row(chief, "case.status", "case", case_id, case_id, end,
                    status=(CaseStatus.RESPONDING, CaseStatus.CLOSED))


def queue_notes(batch: Batch, case_id: int, count: int, start: dt.datetime, end: dt.datetime,
           authors: list[User]) -> None:
    """Queue `count` notes spread between start and end; now and then one corrects the note before it."""
    rng = batch.rng
    ids = _ids_for(batch, table_of(Note), count)
    step = (end - start) / max(count, 1)
    previous: tuple[int, str] | None = None
    for n in range(count):
        author, at = rng.choice(authors), start + step * n + dt.timedelta(seconds=rng.randint(0, 59))
        body = rng.choice(batch.bodies)
        corrects = previous if previous is not None and rng.random() < 0.03 else None
        note_id = batch.add(table_of(Note), id=next(ids), case_id=case_id, author_id=author.id, body=body,
                            corrects_id=corrects[0] if corrects else None, created_at=at)
        if corrects is None:
            batch.event(case_id, author, "note_added", at, note_id=note_id)
            batch.audit_row(author, "note.create", "note", note_id, case_id, at, body=(None, body))
        else:
            batch.event(case_id, author, "note_corrected", at, note_id=note_id, corrects_id=corrects[0])
            batch.audit_row(author, "note.correct", "note", note_id, case_id, at, body=(corrects[1], body),
                            corrects_id=(None, corrects[0]))
        previous = None if corrects else (note_id, body)


def _draft(batch: Batch, case_id: int, author: User, chief: User, start: dt.datetime, end: dt.datetime,
           sent: bool) -> None:
    """Queue a press-release draft with one to three revisions; sent (approved and published) when `sent`."""
    rng = batch.rng
    draft_id = batch.add(table_of(Draft), case_id=case_id, type=DraftType.PRESS, lang="ja",
                         status=DraftStatus.SENT if sent else DraftStatus.EDITING,
                         route=Route.SUPERVISOR if sent else None, created_by_id=author.id,
                         created_at=start, updated_at=end, version=1)
    batch.audit_row(author, "draft.created", "draft", draft_id, case_id, start)
    revision_id = 0
    for number in range(1, rng.randint(1, 3) + 1):
        body = "報道機関各位\n\n" + "".join(sentence(rng) for _ in range(3))
        revision_id = batch.add(table_of(DraftRevision), draft_id=draft_id, number=number, body=body,
                                origin="generated" if number == 1 else "edited", author_id=author.id,
                                created_at=start + dt.timedelta(minutes=10 * number))
        batch.add(table_of(DraftEvent), draft_id=draft_id, revision_id=revision_id,
                  action="created" if number == 1 else "revised", actor_id=author.id, created_at=start)
    batch.event(case_id, author, "draft_created", start, draft_id=draft_id, type="press")
    if not sent:
        return
    batch.approved.append({"draft_id": draft_id, "revision_id": revision_id})
    for action, actor in (("submitted", author), ("approved", chief), ("sent", author)):
        batch.add(table_of(DraftEvent), draft_id=draft_id, revision_id=revision_id, action=action,
                  actor_id=actor.id, created_at=end)
        batch.audit_row(actor, f"draft.{action}", "draft", draft_id, case_id, end)
    batch.add(table_of(Publication), case_id=case_id, draft_id=draft_id, revision_id=revision_id, kind="press",
              channel="press", published_at=end, recorded_by_id=author.id, recorded_at=end)


def _escalation(batch: Batch, case_id: int, trigger: str, actor: User | None, level: int,
                told: list[User], at: dt.datetime) -> None:
    """Queue an unanswered escalation at `level` with a notice to each person told."""
    reason = "受付されないまま時間が過ぎた" if trigger == "unacknowledged" else "判断を仰ぎたい"
    escalation_id = batch.add(
        table_of(Escalation), case_id=case_id, trigger=trigger, subject="",
        dedupe_key=f"unacknowledged:{case_id}:" if trigger == "unacknowledged" else None, reason=reason,
        level=level, next_at=at + dt.timedelta(minutes=5), raised_by_id=actor.id if actor else None,
        created_at=at)
    for person in told:
        batch.add(table_of(EscalationNotice), escalation_id=escalation_id, level=level,
                  level_name=batch.city.levels[min(level, len(batch.city.levels) - 1)], user_id=person.id,
                  created_at=at)
    batch.event(case_id, actor, "escalated", at, escalation_id=escalation_id, trigger=trigger, reason=reason,
                level=batch.city.levels[min(level, len(batch.city.levels) - 1)])
    if actor is not None:
        batch.audit_row(actor, "escalation.create", "escalation", escalation_id, case_id, at,
                        reason=(None, reason))
