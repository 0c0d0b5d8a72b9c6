"""The form behind every checklist action on the case page (complete, decide, skip, waive, reopen).

Each step asks for different inputs, so the form declares them all; the service checks what the step
needs (a city URL, a prohibited item, a reason) in its own words.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from incident.auth.forms import at_most, stripped
from incident.playbooks.service import REASON_MAX

#: The inputs a step may ask for, passed to the service when filled in.
INPUT_FIELDS = ("url", "where", "sent_at", "prohibited_item", "deleted", "handle", "platform", "display_name",
                "first_seen", "mfa_enabled", "mfa_method", "account_id")


class StepForm(FlaskForm):
    """One checklist action with what the step asks for, a note and a reason."""

    url = StringField(_l("URL"))
    where = StringField()
    sent_at = StringField()
    prohibited_item = StringField()
    deleted = StringField()
    handle = StringField(_l("@ハンドル"))
    platform = StringField(_l("媒体"))
    display_name = StringField(_l("表示名"))
    first_seen = StringField()
    mfa_enabled = StringField()  # the box "MFA is on for <account>" ("yes")
    mfa_method = StringField()
    account_id = StringField()  # the account an MFA step names when the case names none
    note = TextAreaField(_l("メモ（任意）"), filters=[stripped], validators=[at_most(REASON_MAX)])
    reason = TextAreaField(_l("理由"), filters=[stripped], validators=[at_most(REASON_MAX)])
    answer = StringField()  # "yes" or "no" for a decision

    def payload(self) -> dict[str, object]:
        """What the service's perform() takes: the filled-in inputs, the note, the reason and the answer."""
        data: dict[str, object] = {name: getattr(self, name).data for name in INPUT_FIELDS
                                   if getattr(self, name).data not in (None, "")}
        data["note"] = self.note.data or ""
        data["reason"] = self.reason.data or ""
        return data
