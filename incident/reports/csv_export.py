"""CSV downloads, streamed in batches through incident.csvfile's writer: the case list with its filters and
the audit log."""
from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from flask import Response, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from incident.accounts.models import PLATFORM_LABELS
from incident.audit.models import AuditLog
from incident.auth.models import User
from incident.cases.models import KIND_LABELS, STATUS_LABELS, Case, Severity
from incident.cases.queries import CaseFilters, case_list_query
from incident.csvfile import encode_rows
from incident.dates import format_datetime, to_tokyo, utcnow
from incident.extensions import db

#: Rows fetched from the database, and sent, at a time (never the whole table in memory).
BATCH = 500


def csv_response(rows: Iterable[Sequence[Any]], name: str) -> Response:
    """A download of `rows`, streamed as they are produced; `name` gets today's date (Asia/Tokyo)."""
    filename = f"{name}-{to_tokyo(utcnow()):%Y%m%d}.csv"
    return Response(stream_with_context(encode_rows(rows, BATCH)), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=\"{filename}\"; filename*=UTF-8''{urllib.parse.quote(filename)}",
        "Cache-Control": "no-store",
    })


def case_rows(actor: User, filters: CaseFilters, severity_labels: Mapping[Severity, Any]) -> Iterator[list[Any]]:
    """The header and the visible cases matching the case list's filters, in its order, BATCH at a time
    (`severity_labels`: incident.labels', which only web modules import)."""
    yield [_("番号"), _("件名"), _("種別"), _("重大度"), _("状態"), _("所属"), _("担当者"), _("検知日時"),
           _("登録日時"), _("受付日時"), _("終了日時"), _("プラットフォーム")]
    query = case_list_query(actor, filters).execution_options(yield_per=BATCH)
    case: Case
    for case in db.session.scalars(query):
        yield [case.number, case.title, str(KIND_LABELS[case.kind]), str(severity_labels[case.severity]),
               str(STATUS_LABELS[case.status]), case.department.name,
               case.assignee.name if case.assignee else "", format_datetime(case.detected_at),
               format_datetime(case.created_at), format_datetime(case.acknowledged_at),
               format_datetime(case.closed_at), str(PLATFORM_LABELS[case.platform]) if case.platform else ""]


def audit_rows(case_id: int | None = None, action: str | None = None) -> Iterator[list[Any]]:
    """The header and the audit log rows matching the audit page's filters, newest first, BATCH at a time."""
    yield [_("日時"), _("利用者"), _("操作"), _("対象"), _("対象ID"), _("案件ID"), _("変更内容（旧 → 新）"),
           _("リクエストID")]
    query = select(AuditLog).options(joinedload(AuditLog.actor)).order_by(AuditLog.id.desc())
    if case_id is not None:
        query = query.where(AuditLog.case_id == case_id)
    if action:
        query = query.where(AuditLog.action == action)
    row: AuditLog
    for row in db.session.scalars(query.execution_options(yield_per=BATCH)):
        changes = "; ".join(f"{name}: {_change(pair)}" for name, pair in (row.changes or {}).items())
        yield [format_datetime(row.created_at), row.actor.name if row.actor else _("システム"), row.action,
               row.object_type, row.object_id, row.case_id, changes, row.request_id]


def _change(pair: Any) -> str:
    """One change of an audit row as "old → new" ("—" for none)."""
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return str(pair)
    return " → ".join("—" if value is None else str(value) for value in pair)
