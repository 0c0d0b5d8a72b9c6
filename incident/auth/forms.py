"""Forms for login, the settings page and one-button actions, and what every page's forms share: the
services' messages and limits, and turning a failed form into the domain error a service would raise."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from incident.auth.passwords import MIN_PASSWORD_LENGTH
from incident.errors import ValidationFailed
from incident.labels import options

#: The services' message for a missing value, so a form refuses input in the words a service would.
REQUIRED = _l("入力してください。")


class LoginForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(_l("メールアドレス"), validators=[DataRequired(_l("入力してください。")), Length(max=254)])
    password = PasswordField(_l("パスワード"), validators=[DataRequired(_l("入力してください。")), Length(max=200)])
    remember = BooleanField(_l("ログイン状態を保持する"))
    next = HiddenField()


class SettingsForm(FlaskForm):
    """One of several forms posted to the same page, each with its own prefix."""

    def is_posted(self) -> bool:
        """Whether this form was the one submitted: any of its own fields is in the posted data."""
        return self.is_submitted() and any(field.raw_data for field in self if field.type != "CSRFTokenField")


class LanguageForm(SettingsForm):
    """The UI language."""

    locale = SelectField(_l("表示言語"), choices=options([("ja", "日本語"), ("en", "English")]))


class TokenForm(SettingsForm):
    """A new API token: its name, expiry (the choices are set from the configuration) and scope; the
    service checks the expiry, so a value not offered gets its message."""

    name = StringField(_l("トークンの名前（用途）"),
                       validators=[DataRequired(_l("入力してください。")), Length(max=100)])
    days = SelectField(_l("有効期限"), choices=[], validate_choice=False)
    read_only = BooleanField(_l("読み取り専用（変更の操作はできないトークン）"))


class ResetForm(FlaskForm):
    """Setting a new password from a reset link: the new one twice (the rule is the service's)."""

    new_password = PasswordField(_l("新しいパスワード（%(n)d 文字以上）", n=MIN_PASSWORD_LENGTH), validators=[
        DataRequired(REQUIRED), Length(max=200, message=_l("%(max)d 文字以内で入力してください。"))])
    confirm_password = PasswordField(_l("新しいパスワード（確認のためもう一度）"), validators=[
        DataRequired(REQUIRED), Length(max=200, message=_l("%(max)d 文字以内で入力してください。"))])


class ContactForm(SettingsForm):
    """The department's contact, printed on press and public notices."""

    contact = StringField(_l("所属の連絡先（電話・メール。報道発表や周知文に載ります）"),
                          validators=[Length(max=300, message=_l("300 文字以内で入力してください。"))])


class PasswordForm(FlaskForm):
    """Changing one's own password: the current one, and the new one twice (the rule is the service's)."""

    current_password = PasswordField(_l("現在のパスワード"), validators=[
        DataRequired(REQUIRED), Length(max=200, message=_l("%(max)d 文字以内で入力してください。"))])
    new_password = PasswordField(_l("新しいパスワード（%(n)d 文字以上）", n=MIN_PASSWORD_LENGTH), validators=[
        DataRequired(REQUIRED), Length(max=200, message=_l("%(max)d 文字以内で入力してください。"))])
    confirm_password = PasswordField(_l("新しいパスワード（確認のためもう一度）"), validators=[
        DataRequired(REQUIRED), Length(max=200, message=_l("%(max)d 文字以内で入力してください。"))])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for one-button actions."""


def form_error(form: FlaskForm) -> ValidationFailed:
    """A form that failed validation as the error a service raises for the same input: the first message
    of each field, so views show it the one way they show any domain error (boundary.refuse)."""
    return ValidationFailed(fields={name: errors[0] for name, errors in form.errors.items() if name and errors})


def at_most(limit: int) -> Length:
    """The services' length rule and message: at most `limit` characters."""
    return Length(max=limit, message=_l("%(max)d 文字以内で入力してください。"))


def stripped(value: Any) -> Any:
    """Trim text before it is checked, as the services trim it before counting."""
    return value.strip() if isinstance(value, str) else value
