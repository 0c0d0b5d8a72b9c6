"""The end of a record's retention (公文書の保存期間の満了): the case's full record written out for the city's
records system, then its personal data removed as a recorded redaction that keeps the skeleton, the
timeline and the audit chain (README, "Redaction of expired records", says why it is built this way)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, Table, func, select, update

from incident import policy
from incident.audit import service as audit
from incident.audit.chain import seal_hash, seals_digest
from incident.audit.models import AuditLog, AuditSeal
from incident.auth.models import User
from incident.cases import retention
from incident.cases.models import (
    Case,
    CaseReview,
    CaseStatus,
    Evidence,
    Note,
    OffendingItem,
    RecordExport,
    Redaction,
    TimelineEvent,
)
from incident.dates import isoformat, to_tokyo, utcnow
from incident.errors import NotFound, PermissionDenied, ValidationFailed
from incident.escalation.models import Escalation
from incident.evidence.service import download_name, file_path
from incident.extensions import Model, db
from incident.notifications.models import Notification
from incident.playbooks.models import StepEvent
from incident.reports.models import DisclosureMask, DisclosureRequest
from incident.search.models import SearchEntry

#: Keys of audit rows' changes (and of timeline events' data) that hold what people typed about the case:
#: descriptions, notes, file names, reasons. Removed by a redaction.
PERSONAL_KEYS = frozenset({"description", "source", "body", "note", "original_name", "name", "reason",
                           "what_happened", "what_was_done", "cause", "passage", "withdrawn"})
#: Audit actions about keeping the record itself: their reasons are the city's, and they stay.
RECORD_KEEPING_ACTIONS = ("case.retention", "case.redact", "record.export", "disclosure.")
#: Evidence removed by every redaction: identity documents some platforms ask for.
ALWAYS_REMOVED_PURPOSES = ("id_document",)
#: Exports up to this size are handed out from memory (most are a few MB of screenshots).
IN_MEMORY = 32 << 20
#: Tables the export leaves out: per-user notices, derived indexes, and the export's own bookkeeping.
_NOT_EXPORTED = frozenset({"notification", "search_entry", "case_step_due", "record_export", "redaction",
                           "audit_seal"})


def _today() -> dt.date:
    return to_tokyo(utcnow()).date()


def _require_records_office(actor: User) -> None:
    if not policy.can_manage_retention(actor):
        raise PermissionDenied(_l("記録の書き出しと個人情報の消去は秘書広報課が行います。"))


def expired(actor: User) -> Select[tuple[Case]]:
    """Closed cases whose retention ended before today and whose personal data is still held, oldest
    first (the PR office only)."""
    if not policy.can_manage_retention(actor):
        raise NotFound()
    return select(Case).where(retention.expired_and_held(_today())).order_by(Case.retention_until, Case.id)


def latest_exports(case_ids: Iterable[int]) -> dict[int, RecordExport]:
    """The newest export of each of these cases (one query)."""
    ids = list(case_ids)
    if not ids:
        return {}
    newest = (select(func.max(RecordExport.id)).where(RecordExport.case_id.in_(ids))
              .group_by(RecordExport.case_id))
    return {e.case_id: e for e in db.session.scalars(select(RecordExport).where(RecordExport.id.in_(newest)))}


def last_change_id(case: Case) -> int | None:
    """The newest audit row of the case other than an export's: every change to a case writes one."""
    return db.session.scalar(select(func.max(AuditLog.id)).where(
        AuditLog.case_id == case.id, AuditLog.action != "record.export"))


def is_current(export: RecordExport | None, case: Case) -> bool:
    """Whether an export holds the case as it stands (nothing changed since)."""
    return export is not None and export.last_audit_id == last_change_id(case)


# ---- the export -------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
        return value.value
    return value


def _rows(table: Table, where: Any) -> list[dict[str, Any]]:
    return [{key: _plain(value) for key, value in row._mapping.items()}
            for row in db.session.execute(select(table).where(where).order_by(table.c.id))]


def record_json(case: Case) -> dict[str, Any]:
    """Every row of every table about the case, table by table, with the names of the people they refer to:
    one query per table, found from the schema (a table added later is exported without a change here)."""
    tables = Model.metadata.tables
    record: dict[str, Any] = {"cases": _rows(tables["cases"], tables["cases"].c.id == case.id)}
    direct = [t for t in Model.metadata.sorted_tables if "case_id" in t.c and t.name not in _NOT_EXPORTED]
    for table in direct:
        record[table.name] = _rows(table, table.c.case_id == case.id)
    for table in Model.metadata.sorted_tables:
        if table.name in record or table.name in _NOT_EXPORTED:
            continue
        for key in table.foreign_keys:
            parent = key.column.table.name
            if parent in record and parent != "cases" and key.column.name == "id" and record[parent]:
                record[table.name] = _rows(table, key.parent.in_([row["id"] for row in record[parent]]))
                break
    people = {value for rows in record.values() for row in rows for column, value in row.items()
              if column.endswith(("_by_id", "actor_id", "author_id", "user_id", "reporter_id", "assignee_id"))
              and isinstance(value, int)}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(people))).tuples().all()) if people else {}
    return {"format": "incident-record/1", "case_number": case.number, "exported_at": isoformat(utcnow()),
            "people": {str(k): v for k, v in sorted(names.items())}, "tables": record}


@dataclasses.dataclass
class Archive:
    """A written-out record: the ZIP (a temporary file, removed when closed), its name and its export row."""

    file: Any
    name: str
    export: RecordExport


def _evidence_entries(case: Case) -> list[tuple[str, Path]]:
    rows = db.session.scalars(select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id))
    entries = []
    for evidence in rows:
        path = file_path(evidence)
        if path.is_file():
            entries.append((f"evidence/{evidence.id:06d}-{download_name(evidence)}", path))
    return entries


def export_record(actor: User, case: Case, report_html: str, report_md: str) -> Archive:
    """Write the case's full record into a ZIP: the printable report, its Markdown, record.json, every
    evidence file, and manifest-sha256.txt (`sha256sum -c` checks it); record the export (audited).
    The PR office only, for closed cases."""
    _require_records_office(actor)
    if case.status != CaseStatus.CLOSED:
        raise ValidationFailed(_l("記録を書き出せるのは終了した案件だけです。"))
    last = last_change_id(case)
    members: list[tuple[str, bytes | Path]] = [
        ("report.html", report_html.encode("utf-8")),
        ("report.md", report_md.encode("utf-8")),
        ("record.json", json.dumps(record_json(case), ensure_ascii=False, indent=1, sort_keys=True,
                                   default=str).encode("utf-8")),
        *_evidence_entries(case),
    ]
    lines = []
    # Built in a temporary file; handed out from memory up to IN_MEMORY bytes, else as that file (closed,
    # and so removed, by send_file when the download ends).
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the response, which closes it)
    with zipfile.ZipFile(spooled, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            digest = hashlib.sha256()
            arcname = f"{case.number}/{name}"
            if isinstance(content, Path):
                with content.open("rb") as source, archive.open(arcname, "w") as target:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        target.write(chunk)
            else:
                digest.update(content)
                archive.writestr(arcname, content)
            lines.append(f"{digest.hexdigest()}  {name}\n")
        manifest = "".join(lines).encode("utf-8")
        archive.writestr(f"{case.number}/manifest-sha256.txt", manifest)
    size = spooled.tell()
    spooled.seek(0)
    whole = hashlib.sha256()
    while chunk := spooled.read(1 << 20):
        whole.update(chunk)
    spooled.seek(0)
    handed: Any = spooled
    if size <= IN_MEMORY:
        handed = io.BytesIO(spooled.read())
        spooled.close()
    export = RecordExport(case_id=case.id, last_audit_id=last, manifest_sha256=hashlib.sha256(manifest).hexdigest(),
                          archive_sha256=whole.hexdigest(), files=len(members) + 1, size=size, actor_id=actor.id,
                          created_at=utcnow())
    db.session.add(export)
    db.session.flush()
    audit.record(actor, "record.export", "record_export", export.id, case_id=case.id,
                 changes={"archive_sha256": (None, export.archive_sha256), "files": (None, export.files)})
    return Archive(handed, f"{case.number}-record.zip", export)


# ---- the redaction ------------------------------------------------------------------------------------


def _without_personal(values: dict[str, Any], keys: Iterable[str] = PERSONAL_KEYS) -> dict[str, Any]:
    """`values` with each personal key's text blanked (an audit change [old, new] keeps its shape)."""
    wanted = set(keys)

    def blank(value: Any) -> Any:
        if isinstance(value, str):
            return ""
        if isinstance(value, list):
            return [blank(v) for v in value]
        return value

    return {key: blank(value) if key in wanted else value for key, value in values.items()}


@dataclasses.dataclass
class Plan:
    """What a redaction of a case would remove, shown before anyone confirms it."""

    case: Case
    export: RecordExport | None
    export_is_current: bool
    notes: int
    items: int
    reviews: int
    masks: int
    evidence: list[Evidence]

    @property
    def always_removed(self) -> list[Evidence]:
        return [e for e in self.evidence if e.purpose in ALWAYS_REMOVED_PURPOSES]


def plan(actor: User, case: Case, export: RecordExport | None = None) -> Plan:
    """What a redaction of the case would remove (the PR office only; a fixed number of queries); `export`,
    the case's newest export, when the caller read it already."""
    _require_records_office(actor)
    export = export or latest_exports([case.id]).get(case.id)

    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return Plan(
        case=case, export=export, export_is_current=is_current(export, case),
        notes=count(Note, Note.case_id == case.id, Note.body != ""),
        items=count(OffendingItem, OffendingItem.case_id == case.id, OffendingItem.note != ""),
        reviews=count(CaseReview, CaseReview.case_id == case.id),
        masks=count(DisclosureMask, DisclosureMask.request_id.in_(
            select(DisclosureRequest.id).where(DisclosureRequest.case_id == case.id)), DisclosureMask.passage != ""),
        evidence=list(db.session.scalars(select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id))),
    )


def _check_redactable(case: Case, export: RecordExport | None) -> None:
    if case.redacted_at is not None:
        raise ValidationFailed(_l("この記録の個人情報はすでに消去されています。"))
    if case.status != CaseStatus.CLOSED or case.retention_until is None or case.retention_until >= _today():
        raise ValidationFailed(_l("保存期間が満了した記録だけ、個人情報を消去できます。"))
    if not is_current(export, case):
        raise ValidationFailed(_l("先に記録を書き出してください（書き出した後に変更があった場合も、もう一度書き出します）。"))


def redact(actor: User, case: Case, remove_evidence: Iterable[int | str] = (), confirmation: str = "") -> Redaction:
    """Remove the personal data of an expired record after its full record was written out: descriptions,
    notes, file names, reasons and the chosen evidence files, in place, in one transaction, recorded as a
    Redaction and on the timeline and audited. The case's skeleton (number, kind, dates, people, steps,
    drafts sent, the ledger), its timeline and its audit chain stay; audit rows changed are sealed so the
    chain still verifies. Files are removed by remove_files after the commit."""
    _require_records_office(actor)
    export = latest_exports([case.id]).get(case.id)
    _check_redactable(case, export)
    assert export is not None
    if confirmation.strip() != case.number:
        raise ValidationFailed(fields={"confirmation": _l("確認のため、案件番号 %(number)s を入力してください。",
                                                          number=case.number)})
    found = plan(actor, case, export)
    chosen = {int(i) for i in remove_evidence if str(i).isdigit()}
    by_id = {e.id: e for e in found.evidence}
    if chosen - set(by_id):
        raise ValidationFailed(fields={"remove_evidence": _l("この案件の証拠ファイルから選んでください。")})
    files = sorted(chosen | {e.id for e in found.always_removed})
    now = utcnow()
    audit_rows = [row._mapping for row in db.session.execute(
        select(AuditLog.__table__).where(AuditLog.case_id == case.id).order_by(AuditLog.id))]
    redaction = Redaction(case_id=case.id, export_id=export.id, actor_id=actor.id, created_at=now, removed={
        "notes": found.notes, "item_notes": found.items, "reviews": found.reviews, "masks": found.masks,
        "evidence_files": files, "description": bool(case.description or case.source)})
    db.session.add(redaction)
    db.session.flush()  # the triggers let the blanking through only once the redaction is recorded

    write = {"synchronize_session": False}
    case.description, case.source, case.redacted_at = "", "", now
    db.session.execute(update(OffendingItem).where(OffendingItem.case_id == case.id).values(note=""),
                       execution_options=write)
    db.session.execute(update(Note).where(Note.case_id == case.id, Note.body != "").values(body=""),
                       execution_options=write)
    db.session.execute(update(Evidence).where(Evidence.case_id == case.id).values(original_name="", note=""),
                       execution_options=write)
    db.session.execute(update(CaseReview).where(CaseReview.case_id == case.id)
                       .values(what_happened="", what_was_done="", cause=""), execution_options=write)
    db.session.execute(update(DisclosureMask).where(DisclosureMask.request_id.in_(
        select(DisclosureRequest.id).where(DisclosureRequest.case_id == case.id))).values(passage=""),
        execution_options=write)
    db.session.execute(update(StepEvent).where(StepEvent.case_id == case.id, StepEvent.reason != "")
                       .values(reason=""), execution_options=write)
    db.session.execute(update(Escalation).where(Escalation.case_id == case.id, Escalation.trigger == "manual")
                       .values(reason=""), execution_options=write)
    for event in db.session.execute(select(TimelineEvent.id, TimelineEvent.data)
                                    .where(TimelineEvent.case_id == case.id)):
        data = event.data or {}
        cleaned = _without_personal(data, PERSONAL_KEYS - {"reason"} if data.get("trigger") not in (None, "manual")
                                    else PERSONAL_KEYS)
        if cleaned != data:
            db.session.execute(update(TimelineEvent).where(TimelineEvent.id == event.id).values(data=cleaned),
                               execution_options=write)
    seals = []
    for row in audit_rows:
        if row["action"].startswith(RECORD_KEEPING_ACTIONS):
            continue
        cleaned = _without_personal(row["changes"] or {})
        if cleaned == (row["changes"] or {}):
            continue
        db.session.execute(update(AuditLog).where(AuditLog.id == row["id"]).values(changes=cleaned),
                           execution_options=write)
        sealed = seal_hash({**row, "changes": cleaned})
        db.session.add(AuditSeal(audit_id=row["id"], redaction_id=redaction.id, sealed_hash=sealed))
        seals.append((row["id"], sealed))
    # In-app notices repeat return comments and escalation reasons.
    db.session.execute(update(Notification).where(Notification.case_id == case.id, Notification.body != "")
                       .values(body=""), execution_options=write)
    # The search index's copies of the notes and reviews (the case's and items' follow by trigger).
    db.session.execute(update(SearchEntry).where(SearchEntry.case_id == case.id,
                                                 SearchEntry.source.in_(("note", "review"))).values(body=""),
                       execution_options=write)
    db.session.flush()
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id, event="redacted",
                                 data={"redaction_id": redaction.id, "export_id": export.id,
                                       "files": len(files), "notes": found.notes}))
    audit.record(actor, "case.redact", "redaction", redaction.id, case_id=case.id, changes={
        "export_id": (None, export.id), "archive_sha256": (None, export.archive_sha256),
        "sealed": (None, seals_digest(seals)), "audit_rows": (None, len(seals)), "evidence_files": (None, files)})
    return redaction


def remove_files(redaction: Redaction) -> list[int]:
    """Delete the evidence files a committed redaction removed (again safely: a missing file is skipped);
    the ids whose file could not be deleted."""
    failed = []
    ids = [int(i) for i in redaction.removed.get("evidence_files", [])]
    for evidence in db.session.scalars(select(Evidence).where(Evidence.id.in_(ids))) if ids else []:
        try:
            file_path(evidence).unlink(missing_ok=True)
        except OSError:
            current_app.logger.exception("redaction %s: evidence %s could not be deleted", redaction.id, evidence.id)
            failed.append(evidence.id)
    return failed


def redaction_of(case: Case) -> Redaction | None:
    """The case's redaction, if its personal data was removed."""
    if case.redacted_at is None:
        return None
    return db.session.scalar(select(Redaction).where(Redaction.case_id == case.id))
