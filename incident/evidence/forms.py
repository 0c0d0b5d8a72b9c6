"""Forms of the evidence section of the case page: uploading a file and withdrawing one."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired

from incident.auth.forms import at_most, stripped
from incident.evidence.service import NOTE_MAX, REASON_MAX


class UploadForm(FlaskForm):
    """A screenshot or document with what it shows; the service checks the file's type, size and content,
    the time and the offending item."""

    file = FileField(_l("ファイル（PNG・JPEG・WebP・PDF）"))
    note = TextAreaField(_l("メモ（任意）"), filters=[stripped], validators=[at_most(NOTE_MAX)])
    captured_at = StringField(_l("撮影日時（任意）"))
    offending_item_id = StringField()
    purpose = StringField()


class WithdrawEvidenceForm(FlaskForm):
    """Withdrawing a wrong upload needs a reason (the file and its row stay)."""

    reason = TextAreaField(_l("取り下げる理由"), filters=[stripped], validators=[
        DataRequired(_l("取り下げる理由を入力してください。")), at_most(REASON_MAX)])
