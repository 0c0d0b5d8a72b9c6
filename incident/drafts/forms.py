"""Forms of the draft pages: creating from the case page, editing, approval, sending and the ledger.

The services check every rule again (and choices, ids and dates in their own words); the forms declare
the fields and refuse missing or over-long text with the services' messages and limits.
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Optional

from incident.auth.forms import REQUIRED, at_most, stripped
from incident.drafts.sending import NOTE_MAX, REFERENCE_MAX
from incident.drafts.service import BODY_MAX, COMMENT_MAX, SCOPES, SECTION4_CHECKS, SOURCE_MAX
from incident.drafts.wording import CHANNELS
from incident.labels import options
from incident.validation import TARGET_MAX


class NewDraftForm(FlaskForm):
    """The type of draft to generate from the case, and what that type needs."""

    type = StringField(_l("種類"))
    platform = StringField(_l("媒体"))
    lang = StringField(_l("言語"))
    link = StringField(_l("URL"), filters=[stripped], validators=[Optional(), at_most(TARGET_MAX)])
    channel = StringField(_l("投稿先"))
    supersedes_id = StringField()
    corrects_item_id = StringField()


class ReviseForm(FlaskForm):
    """The edited text and, for a notice, its website rendition and channel, with the revision it was based
    on (a stale base is a conflict)."""

    body = TextAreaField(_l("本文"), filters=[stripped], validators=[DataRequired(REQUIRED), at_most(BODY_MAX)])
    web_body = TextAreaField(_l("市ホームページ用（長文）"), filters=[stripped], validators=[at_most(BODY_MAX)])
    channel = StringField(_l("投稿先"))
    base_revision = HiddenField()

    def sent(self, name: str) -> Any:
        """The field's value when the page sent it, else None (the service then keeps what the draft has)."""
        field = self[name]
        return field.data if field.raw_data else None


#: The section-4 checks; the service says which are missing, so the form takes what was ticked.
_CHECKS = options((key, key) for key in SECTION4_CHECKS)


class SubmitForm(FlaskForm):
    """Ask the supervisor to approve, with the section-4 checks."""

    checks = SelectMultipleField(choices=_CHECKS, validate_choice=False)


class PreApprovedForm(FlaskForm):
    """Within a scope approved in advance: which scope, where it was published, and the checks."""

    scope = StringField(_l("範囲"), validators=[
        AnyOf(SCOPES, message=_l("事前に承認された範囲 (a)(b)(c) のどれに当たるかを選んでください。"))])
    source = StringField(filters=[stripped], validators=[DataRequired(REQUIRED), at_most(SOURCE_MAX)])
    checks = SelectMultipleField(choices=_CHECKS, validate_choice=False)


class ApproveForm(FlaskForm):
    """Approval (or the second person's check), with an optional comment."""

    comment = TextAreaField(_l("コメント（任意）"), filters=[stripped], validators=[at_most(COMMENT_MAX)])


class ReturnForm(FlaskForm):
    """Sending the draft back needs a comment saying what to change."""

    comment = TextAreaField(filters=[stripped], validators=[DataRequired(REQUIRED), at_most(COMMENT_MAX)])


class SentForm(FlaskForm):
    """Where, when and how the approved text went out (the service checks the channel, URL and dates).

    A notice names its places: a ticked place, or one whose URL is filled in (field `url_<channel>`)."""

    channel = StringField()
    url = StringField(_l("URL"), filters=[stripped], validators=[at_most(TARGET_MAX)])
    places = SelectMultipleField(choices=options((key, key) for key in CHANNELS), validate_choice=False)
    reference = StringField(_l("受付番号"), filters=[stripped], validators=[at_most(REFERENCE_MAX)])
    sent_at = StringField(_l("日時"))
    follow_up_on = StringField()
    note = TextAreaField(_l("メモ（任意）"), filters=[stripped], validators=[at_most(NOTE_MAX)])

    def payload(self) -> dict[str, Any]:
        """What the sending service takes: the fields, with `places` as [{place, url}] for the places chosen."""
        data = dict(self.data)
        chosen = [key for key in CHANNELS if key in (self.places.data or []) or data.get(f"url_{key}")]
        data["places"] = [{"place": key, "url": data.get(f"url_{key}") or ""} for key in chosen]
        return data


for _key in CHANNELS:  # one URL per place a notice may be published in
    setattr(SentForm, f"url_{_key}", StringField(_l("URL"), filters=[stripped], validators=[at_most(TARGET_MAX)]))


class AnswerForm(FlaskForm):
    """The platform's answer to a takedown request, or the next day to check."""

    outcome = StringField()
    answer = TextAreaField(_l("回答の内容"), filters=[stripped], validators=[at_most(NOTE_MAX)])
    follow_up_on = StringField(_l("次に確認する日"))


class WithdrawForm(FlaskForm):
    """Withdrawing a published text needs a reason."""

    reason = TextAreaField(_l("取り下げた理由"), filters=[stripped],
                           validators=[DataRequired(REQUIRED), at_most(NOTE_MAX)])
