"""The JSON shapes API v1 answers with, shared between its modules: users, accounts, cases, notes,
offending items, timeline entries and errors (each module declares the rest beside its routes)."""
from __future__ import annotations

from marshmallow import fields

from incident.accounts.models import OperatorType, Platform
from incident.api.fields import Output, Timestamp, enum_field
from incident.auth.models import Role
from incident.cases.models import CaseKind, CaseStatus, Severity
from incident.text import render_markdown


class UserRefOut(Output):
    """A short reference to a user."""

    id = fields.Integer()
    name = fields.String()


class DepartmentOut(Output):
    """A department by its code and name."""

    code = fields.String()
    name = fields.String()


class MeOut(Output):
    """The caller's own profile."""

    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = enum_field(Role)
    organisation = fields.String(allow_none=True, metadata={
        "description": "The contractor or designated manager the caller works for (null for city staff); "
                       "such a caller sees only the cases of the accounts it runs, and those they opened or "
                       "are assigned."})
    operator_kind = fields.Function(
        lambda user: user.operator.kind.value if user.operator else None,
        metadata={"type": "string", "enum": [OperatorType.CONTRACTOR.value, OperatorType.DESIGNATED_MANAGER.value,
                                             None], "nullable": True,
                  "description": "What `organisation` is: `contractor` (委託業者) or `designated_manager` (指定管理者)."})
    department = fields.Nested(DepartmentOut)
    locale = fields.Function(lambda user: user.locale or "ja", metadata={"type": "string", "enum": ["ja", "en"]})


class AccountOut(Output):
    """An official account."""

    id = fields.Integer()
    platform = enum_field(Platform)
    name = fields.String()
    url = fields.String(allow_none=True)
    department = fields.Nested(DepartmentOut)
    operator_type = enum_field(OperatorType)
    operator_name = fields.String(allow_none=True)


class NoteOut(Output):
    """A note, with its Markdown body rendered to sanitised HTML."""

    id = fields.Integer()
    body = fields.String()
    body_html = fields.Function(lambda note: str(render_markdown(note.body)), metadata={"type": "string"})
    author = fields.Nested(UserRefOut)
    created_at = Timestamp()
    corrects_id = fields.Integer(allow_none=True)


class OffendingItemOut(Output):
    """An offending post or account."""

    id = fields.Integer()
    target = fields.String()
    note = fields.String()
    captured_at = Timestamp()
    captured_by = fields.Nested(UserRefOut)


class CaseSummaryOut(Output):
    """A case as it appears in lists."""

    id = fields.Integer()
    number = fields.String()
    kind = enum_field(CaseKind)
    severity = enum_field(Severity)
    status = enum_field(CaseStatus)
    title = fields.String()
    platform = enum_field(Platform, allow_none=True)
    official_account_id = fields.Integer(allow_none=True)
    department = fields.Nested(DepartmentOut)
    assignee = fields.Nested(UserRefOut, allow_none=True)
    detected_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()
    version = fields.Integer()


class CaseOut(CaseSummaryOut):
    """A case with its description, notes and offending items."""

    description = fields.String()
    description_html = fields.Function(lambda case: str(render_markdown(case.description)),
                                       metadata={"type": "string"})
    source = fields.String()
    reporter = fields.Nested(UserRefOut)
    acknowledged_at = Timestamp(allow_none=True)
    acknowledged_by = fields.Nested(UserRefOut, allow_none=True)
    closed_at = Timestamp(allow_none=True)
    official_account = fields.Nested(AccountOut, allow_none=True)
    notes = fields.List(fields.Nested(NoteOut))
    offending_items = fields.List(fields.Nested(OffendingItemOut))


class EventOut(Output):
    """A timeline entry; `data` depends on the event."""

    id = fields.Integer()
    event = fields.String()
    actor = fields.Nested(UserRefOut, allow_none=True)
    data = fields.Dict(keys=fields.String())
    note_id = fields.Integer(allow_none=True)
    created_at = Timestamp()


class ErrorBodyOut(Output):
    """What went wrong: a code for programs, a message for people, and a message per field."""

    code = fields.String(required=True, metadata={"example": "validation_failed"})
    message = fields.String(required=True)
    field_messages = fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields",
                                 metadata={"description": "A message for each field in error (422)."})


class ErrorOut(Output):
    """Every error answer: `{"error": {"code", "message", "fields"?}}`."""

    error = fields.Nested(ErrorBodyOut, required=True)

