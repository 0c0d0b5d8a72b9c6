"""Evidence uploads: type by content, size limit, server-made names, SHA-256, append-only withdrawal."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from incident import policy
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases import loading
from incident.cases.models import Case, Evidence, EvidenceWithdrawal, OffendingItem, TimelineEvent
from incident.cases.service import require_open
from incident.database import MAX_ID
from incident.dates import utcnow
from incident.errors import CaseError, NotFound, ValidationFailed
from incident.evidence.checks import check_content
from incident.extensions import db
from incident.validation import past_time

NOTE_MAX = 1000
REASON_MAX = 1000
NAME_MAX = 255
#: What a file is for: what was seen, proof that the city may ask a platform, an ID document.
PURPOSES = ("capture", "authority_proof", "id_document")
#: The file name extension of each accepted type: stored and downloaded names end with it.
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "application/pdf": ".pdf"}
#: Other correct spellings, kept as the uploader wrote them.
_OTHER_EXTENSIONS = {"image/jpeg": (".jpeg",)}
#: A name suffix that looks like an extension (and is replaced): short, ASCII, with a letter.
_SUFFIX = re.compile(r"(?=[0-9]*[A-Za-z])[A-Za-z0-9]{1,8}")


class TooLarge(ValidationFailed):
    """The file is bigger than EVIDENCE_MAX_BYTES."""

    status = 413
    code = "too_large"


def detect_type(head: bytes) -> str | None:
    """The content type of a file from its first bytes (PNG, JPEG, WebP, PDF), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def clean_display_name(raw: Any) -> str:
    """The uploader's file name as display text only: last path part, no control characters."""
    text = raw if isinstance(raw, str) else ""
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C").strip().strip(".")
    return (text or "file")[:NAME_MAX]


def name_for_type(name: str, content_type: str) -> str:
    """The name with the extension of the detected type, stem kept: poly.html holding a PDF is poly.pdf."""
    ext = EXTENSIONS.get(content_type)
    if ext is None:
        return name
    stem, dot, suffix = name.rpartition(".")
    if dot and stem:
        if "." + suffix.lower() in (ext, *_OTHER_EXTENSIONS.get(content_type, ())):
            return name
        if _SUFFIX.fullmatch(suffix):
            name = stem
    return name[: NAME_MAX - len(ext)] + ext


def download_name(evidence: Evidence) -> str:
    """The name a file is shown and downloaded under (rows stored before names were fixed too)."""
    # A redaction blanks the uploader's name (it may name a person): the file is then known by its number.
    return name_for_type(evidence.original_name or f"evidence-{evidence.id}", evidence.content_type)


def upload_dir() -> Path:
    """The folder evidence files are stored in (created on first use)."""
    folder = Path(current_app.config.get("UPLOAD_DIR") or Path(current_app.instance_path) / "uploads")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _field_error(name: str, message: Any) -> ValidationFailed:
    return ValidationFailed(fields={name: message})


def _captured_at(raw: Any) -> dt.datetime | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return past_time(raw.strip() if isinstance(raw, str) else raw)
    except ValueError as exc:
        raise _field_error("captured_at", exc.args[0]) from None


def _item(case: Case, raw: Any) -> OffendingItem | None:
    if raw is None or raw == "":
        return None
    try:
        item_id = int(raw)
        if not 0 < item_id <= MAX_ID:
            raise ValueError
    except (TypeError, ValueError):
        raise _field_error("offending_item_id", _l("番号が正しくありません。")) from None
    item = db.session.get(OffendingItem, item_id)
    if item is None or item.case_id != case.id:
        raise _field_error("offending_item_id", _l("この案件の投稿・アカウントではありません。"))
    return item


def add_evidence(
    actor: User,
    case: Case,
    stream: IO[bytes] | None,
    filename: Any,
    *,
    note: Any = "",
    captured_at: Any = None,
    offending_item_id: Any = None,
    purpose: Any = None,
) -> Evidence:
    """Store an uploaded file under a random name after checking its type, size and content."""
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)  # before reading the upload: nothing is stored for a closed case
    if stream is None:
        raise _field_error("file", _l("ファイルを選んでください。"))
    note_text = note.strip() if isinstance(note, str) else ""
    if len(note_text) > NOTE_MAX or "\x00" in note_text:
        raise _field_error("note", _l("%(max)d 文字以内で入力してください。", max=NOTE_MAX))
    captured = _captured_at(captured_at)
    item = _item(case, offending_item_id)
    purpose = purpose or "capture"
    if purpose not in PURPOSES:
        raise _field_error("purpose", _l("種類を選び直してください。"))
    limit = int(current_app.config["EVIDENCE_MAX_BYTES"])
    folder = upload_dir()
    stored_name = secrets.token_hex(16)
    target = folder / stored_name
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with open(target, "xb") as out:
            while chunk := stream.read(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(_l("ファイルが大きすぎます（上限 %(mb)s MB）。", mb=f"{limit / 1048576:g}"),
                                   fields={"file": _l("ファイルが大きすぎます。")})
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise _field_error("file", _l("空のファイルです。"))
        content_type = detect_type(head)
        if content_type is None:
            raise _field_error("file", _l("PNG・JPEG・WebP の画像か PDF だけを添付できます（中身で判定します）。"))
        check_content(target, content_type, int(current_app.config["EVIDENCE_MAX_PIXELS"]))
        stored_name += EXTENSIONS[content_type]
        target = target.rename(folder / stored_name)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    evidence = Evidence(
        case_id=case.id, offending_item_id=item.id if item else None,
        original_name=name_for_type(clean_display_name(filename), content_type), stored_name=stored_name,
        content_type=content_type, size=size, sha256=digest.hexdigest(), note=note_text,
        captured_at=captured, purpose=purpose, uploaded_by_id=actor.id, uploaded_at=utcnow(),
    )
    db.session.add(evidence)
    db.session.flush()
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id, event="evidence_added",
                                 data={"evidence_id": evidence.id, "name": evidence.original_name,
                                       "sha256": evidence.sha256}))
    audit.record(actor, "evidence.create", "evidence", evidence.id, case_id=case.id,
                 changes={"original_name": (None, evidence.original_name), "sha256": (None, evidence.sha256),
                          "size": (None, size), "content_type": (None, content_type)})
    return evidence


def get_evidence(actor: User, case_id: int, evidence_id: int) -> Evidence:
    """An evidence row of a case the actor may see, or NotFound."""
    return loading.load(actor, Evidence, evidence_id, case_id=case_id)


def withdrawal_of(evidence: Evidence) -> EvidenceWithdrawal | None:
    """The withdrawal of an evidence row, if any."""
    return db.session.scalar(select(EvidenceWithdrawal).where(EvidenceWithdrawal.evidence_id == evidence.id))


def withdraw(actor: User, evidence: Evidence, reason: Any) -> EvidenceWithdrawal:
    """Mark a wrong upload withdrawn with a reason; the file and its row stay."""
    case = db.session.get(Case, evidence.case_id)
    if case is None or not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise _field_error("reason", _l("取り下げる理由を入力してください。"))
    if len(text) > REASON_MAX or "\x00" in text:
        raise _field_error("reason", _l("%(max)d 文字以内で入力してください。", max=REASON_MAX))
    if withdrawal_of(evidence) is not None:
        raise CaseError(_l("この証拠はすでに取り下げられています。"))
    row = EvidenceWithdrawal(evidence_id=evidence.id, reason=text, actor_id=actor.id, created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id, event="evidence_withdrawn",
                                 data={"evidence_id": evidence.id, "name": evidence.original_name,
                                       "reason": text}))
    audit.record(actor, "evidence.withdraw", "evidence", evidence.id, case_id=case.id,
                 changes={"withdrawn": (None, text)})
    return row


def file_path(evidence: Evidence) -> Path:
    """Where the file of an evidence row is stored (always inside the upload folder)."""
    folder = upload_dir().resolve()
    path = (folder / os.path.basename(evidence.stored_name)).resolve()
    if path.parent != folder:
        raise NotFound()
    return path


def ascii_fallback(name: str) -> str:
    """An ASCII-only version of a display name for the plain filename= parameter."""
    text = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in name).strip()
    return text or "evidence"


@dataclasses.dataclass(frozen=True)
class EvidenceRow:
    """One evidence file as lists and takedown drafts show it."""

    evidence: Evidence
    withdrawal: EvidenceWithdrawal | None
    item: OffendingItem | None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawal is not None


def evidence_rows(case: Case) -> list[EvidenceRow]:
    """The case's evidence, oldest first, with uploader, withdrawal and item (two queries)."""
    evidence = list(db.session.scalars(
        select(Evidence).where(Evidence.case_id == case.id)
        .options(joinedload(Evidence.uploaded_by)).order_by(Evidence.uploaded_at, Evidence.id)
    ))
    if not evidence:
        return []
    ids = [e.id for e in evidence]
    withdrawals = {w.evidence_id: w for w in db.session.scalars(
        select(EvidenceWithdrawal).where(EvidenceWithdrawal.evidence_id.in_(ids)))}
    items = {i.id: i for i in case.offending_items}  # already loaded on the case page
    return [EvidenceRow(e, withdrawals.get(e.id), items.get(e.offending_item_id) if e.offending_item_id else None)
            for e in evidence]


def evidence_list(case: Case, *, include_withdrawn: bool = False) -> list[dict[str, Any]]:
    """Evidence for takedown drafts: file name, capture time, SHA-256 (withdrawn ones left out)."""
    return [
        {
            "id": row.evidence.id,
            "name": download_name(row.evidence),
            "content_type": row.evidence.content_type,
            "size": row.evidence.size,
            "sha256": row.evidence.sha256,
            "captured_at": row.evidence.captured_at or row.evidence.uploaded_at,
            "uploaded_at": row.evidence.uploaded_at,
            "note": row.evidence.note,
            "purpose": row.evidence.purpose,
            "target": row.item.target if row.item else None,
            "withdrawn": row.withdrawn,
        }
        for row in evidence_rows(case)
        if include_withdrawn or not row.withdrawn
    ]
