"""The official-account forms: 様式1 fields (PR office) and the 様式2 notice."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Length, Optional

from incident import labels
from incident.auth.forms import at_most

NOTICE_KIND_CHOICES = labels.options([("opening", _l("開設")), ("change", _l("変更")), ("closure", _l("廃止"))])


class AccountForm(FlaskForm):
    """Every field of 様式1 (運用ポリシー) plus the operator."""

    platform = SelectField(_l("媒体"), choices=labels.choices(labels.PLATFORM_LABELS))
    name = StringField(_l("アカウント名"), validators=[DataRequired(_l("入力してください。")), Length(max=200)])
    url = URLField(_l("登録URL（開設後に記載可）"), validators=[Optional(), Length(max=500)])
    department_id = SelectField(_l("開設所属"), choices=[])
    operator_type = SelectField(_l("運用者"), choices=labels.choices(labels.OPERATOR_LABELS))
    operator_name = StringField(_l("指定管理者・委託業者の名称"), validators=[Length(max=200)])
    responsible_person = StringField(_l("責任者"), validators=[Length(max=200)])
    content = TextAreaField(_l("発信情報"), validators=[Length(max=2000)])
    purpose = TextAreaField(_l("利用目的"), validators=[Length(max=2000)])
    start_date = DateField(_l("運用開始日"), validators=[Optional()])
    end_date = DateField(_l("運用終了日（運用期間を決めている場合）"), validators=[Optional()])
    operating_hours = StringField(_l("運用時間"), validators=[Length(max=300)])
    reply_policy = TextAreaField(_l("投稿に対する返信"), validators=[Length(max=2000)])
    remarks = TextAreaField(_l("備考"), validators=[Length(max=2000)])


class NoticeForm(FlaskForm):
    """A 様式2 notice of opening, change or closure."""

    kind = SelectField(_l("届出の種類"), choices=NOTICE_KIND_CHOICES)
    effective_date = DateField(_l("開設・変更・廃止日"), validators=[DataRequired(_l("日付を入力してください。"))])
    contact = StringField(_l("担当者（連絡先）"), validators=[DataRequired(_l("入力してください。")), Length(max=300)])
    details = TextAreaField(_l("変更内容・廃止理由"), validators=[Length(max=2000)])
    remarks = TextAreaField(_l("備考"), validators=[Length(max=2000)])
    #: The case the notice is filed from (the view loads it, 404 when the user may not see it).
    case_id = HiddenField()


class MfaForm(FlaskForm):
    """Multi-factor authentication was checked: "1" found on (the default), anything else found off."""

    enabled = HiddenField(default="1")


class ClosureTaskForm(FlaskForm):
    """A done item of the closure checklist, with an optional note."""

    # The service's limit and message (it counts the note before trimming, as this does).
    note = StringField(_l("メモ"), validators=[at_most(2000)])
