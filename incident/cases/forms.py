"""Forms for opening, editing and working a case."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from incident import labels
from incident.cases.fields import DESCRIPTION_MAX, NOTE_MAX, SOURCE_MAX, TITLE_MAX
from incident.cases.review import REVIEW_MAX

_REQUIRED = _l("入力してください。")


class CaseForm(FlaskForm):
    """The fields of a case; the service re-checks every rule."""

    kind = SelectField(_l("種別"), choices=labels.choices(labels.KIND_LABELS),
                       validators=[InputRequired(_REQUIRED)], widget=labels.RequiredSelect())
    severity = SelectField(_l("重大度"), choices=labels.choices(labels.SEVERITY_LABELS),
                           default="medium", validators=[InputRequired(_REQUIRED)], widget=labels.RequiredSelect())
    title = StringField(_l("件名"), validators=[DataRequired(_REQUIRED), Length(max=TITLE_MAX)])
    description = TextAreaField(_l("概要（Markdown）"), validators=[Length(max=DESCRIPTION_MAX)])
    platform = SelectField(_l("媒体"), choices=[], validators=[Optional()])
    official_account_id = SelectField(_l("関係する公式アカウント（なりすましの場合は本物のアカウント）"),
                                      choices=[], validators=[Optional()])
    detected_at = DateTimeLocalField(_l("覚知日時"), format="%Y-%m-%dT%H:%M",
                                     validators=[Optional()])
    source = StringField(_l("情報源（例：市民からの電話、職員が発見）"), validators=[Length(max=SOURCE_MAX)])


class NewCaseForm(CaseForm):
    """Opening a case: its fields plus the offending URLs and, for supervisors, an assignee."""

    urls = TextAreaField(_l("問題の投稿・アカウントの URL または @ハンドル（1 行に 1 件）"))
    department_id = SelectField(_l("所属"), choices=[], validators=[Optional()])
    assignee_id = SelectField(_l("担当者"), choices=[], validators=[Optional()])


class EditCaseForm(CaseForm):
    """Editing a case carries the version it was read at."""

    version = HiddenField()


class NoteForm(FlaskForm):
    """A new note, or a correction of an earlier one."""

    body = TextAreaField(_l("メモ（Markdown）"), validators=[DataRequired(_REQUIRED), Length(max=NOTE_MAX)])


class ReviewForm(FlaskForm):
    """The closing review; the service requires "what happened" and "what was done" (incident.cases.review)."""

    what_happened = TextAreaField(_l("何が起きたか"), validators=[Length(max=REVIEW_MAX)])
    what_was_done = TextAreaField(_l("何をしたか"), validators=[Length(max=REVIEW_MAX)])
    cause = TextAreaField(_l("原因（任意）"), validators=[Length(max=REVIEW_MAX)])
    changes = TextAreaField(_l("今後変えること（任意）"), validators=[Length(max=REVIEW_MAX)])

    def review_data(self) -> dict[str, str]:
        """The four fields as the service takes them."""
        return {name: self[name].data or "" for name in ("what_happened", "what_was_done", "cause", "changes")}


class StatusForm(ReviewForm):
    """A status change with an optional (sometimes required) reason; closing also takes the review."""

    status = SelectField(_l("新しい状態"), choices=labels.choices(labels.STATUS_LABELS),
                         validators=[InputRequired(_REQUIRED)], widget=labels.RequiredSelect())
    reason = TextAreaField(_l("理由"), validators=[Length(max=1000)])
    waive_open_steps = BooleanField(_l("残りの必須手順をこの理由で免除して終了する（所属長）"))


class AssignForm(FlaskForm):
    """Choose the assignee ("" unassigns)."""

    # Choices are checked by the service (policy.can_assign_to), not by the form.
    assignee_id = SelectField(_l("担当者"), choices=[], validate_choice=False)


class ItemForm(FlaskForm):
    """An offending post or account."""

    target = StringField(_l("URL または @ハンドル"), validators=[DataRequired(_REQUIRED), Length(max=500)])
    note = StringField(_l("補足（任意）"), validators=[Length(max=500)])


class FilterForm(FlaskForm):
    """The list filters, sent by GET (no CSRF token: they change nothing)."""

    class Meta:
        csrf = False

    kind = SelectField(_l("種別"), choices=[], validators=[Optional()])
    status = SelectField(_l("状態"), choices=[], validators=[Optional()])
    severity = SelectField(_l("重大度"), choices=[], validators=[Optional()])
    assignee_id = SelectField(_l("担当者"), choices=[], validators=[Optional()])
    department = SelectField(_l("所属"), choices=[], validators=[Optional()])
    q = StringField(_l("番号・件名・説明・振り返りに含む語"), validators=[Optional(), Length(max=100)])
    sort = SelectField(_l("並び順"), choices=labels.options([("newest", _l("新しい順")), ("severity", _l("重大度の高い順"))]),
                       validators=[Optional()])
    page = IntegerField(validators=[Optional()])


class RetentionForm(FlaskForm):
    """A longer retention for a closed case's record, with the reason (the service checks both)."""

    retention_class = SelectField(_l("新しい保存期間"), validate_choice=False, choices=[])
    reason = StringField(_l("延長の理由"), validators=[Optional(), Length(max=500)])
