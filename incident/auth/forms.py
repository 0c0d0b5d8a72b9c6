"""Forms for login, language and API tokens."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from incident.labels import options


class LoginForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(_l("メールアドレス"), validators=[DataRequired(_l("入力してください。")), Length(max=254)])
    password = PasswordField(_l("パスワード"), validators=[DataRequired(_l("入力してください。")), Length(max=200)])
    remember = BooleanField(_l("ログイン状態を保持する"))
    next = HiddenField()


class LanguageForm(FlaskForm):
    """The UI language."""

    locale = SelectField(_l("表示言語"), choices=options([("ja", "日本語"), ("en", "English")]))


class TokenForm(FlaskForm):
    """A new API token's name."""

    name = StringField(_l("トークンの名前（用途）"),
                       validators=[DataRequired(_l("入力してください。")), Length(max=100)])


class ContactForm(FlaskForm):
    """The department's contact, printed on press and public notices."""

    contact = StringField(_l("所属の連絡先（電話・メール。報道発表や周知文に載ります）"),
                          validators=[Length(max=300, message=_l("300 文字以内で入力してください。"))])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for one-button actions."""
