"""The forms of a case's disclosure pages: a new disclosure request, a passage to mask, a mask taken back."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from incident.reports.disclosure import PASSAGE_MAX, REASON_MAX, REFERENCE_MAX


class DisclosureRequestForm(FlaskForm):
    """The request as the 情報公開 desk received it (the service checks every value)."""

    reference = StringField(_l("受付番号"), validators=[Optional(), Length(max=REFERENCE_MAX)])
    received_on = DateField(_l("受付日"), validators=[Optional()])


class MaskForm(FlaskForm):
    """A passage to withhold, exactly as the report shows it, with its ground and why."""

    passage = TextAreaField(_l("伏せる文字列（報告書のとおりに）"), validators=[Optional(), Length(max=PASSAGE_MAX)])
    ground = SelectField(_l("不開示の根拠"), validate_choice=False)
    reason = StringField(_l("理由（例：通報者の氏名と電話番号）"), validators=[Optional(), Length(max=REASON_MAX)])


class UnmaskForm(FlaskForm):
    """Why a mask is taken back."""

    reason = StringField(_l("取り消す理由"), validators=[Optional(), Length(max=REASON_MAX)])


class RecordExportForm(FlaskForm):
    """Writing a closed case's full record out (a POST: the export is recorded)."""


class RedactionForm(FlaskForm):
    """The case number typed again to confirm a redaction, and the evidence files to remove with it."""

    confirmation = StringField(_l("確認のため、案件番号を入力"), validators=[Optional(), Length(max=40)])
