"""The official-account form."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, URLField
from wtforms.validators import DataRequired, Length, Optional

from incident import labels


class AccountForm(FlaskForm):
    """Platform, name, URL, department and operator of an official account."""

    platform = SelectField(_l("媒体"), choices=labels.choices(labels.PLATFORM_LABELS))
    name = StringField(_l("アカウント名"), validators=[DataRequired(_l("入力してください。")), Length(max=200)])
    url = URLField(_l("登録URL（開設後に記載可）"), validators=[Optional(), Length(max=500)])
    department_id = SelectField(_l("開設所属"), choices=[])
    operator_type = SelectField(_l("運用者"), choices=labels.choices(labels.OPERATOR_LABELS))
    operator_name = StringField(_l("指定管理者・委託業者の名称"), validators=[Length(max=200)])
