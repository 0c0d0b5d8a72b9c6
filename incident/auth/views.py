"""Login, logout and the user's own settings (language, API tokens)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from incident import boundary, policy
from incident.audit import service as audit
from incident.auth import service
from incident.auth.forms import ContactForm, EmptyForm, LanguageForm, LoginForm, TokenForm
from incident.errors import ValidationFailed

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Only a same-site relative path is followed after login; anything else is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with e-mail and password; any failure gets the same message."""
    if current_user.is_authenticated:
        return redirect(url_for("cases.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = service.authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            flash(_("メールアドレスまたはパスワードが違います。"), "error")
        else:
            login_user(user, remember=bool(form.remember.data))
            audit.record(user, "user.login", "user", user.id)
            return redirect(safe_next(form.next.data) or url_for("cases.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST with a CSRF token, so a link elsewhere cannot log anyone out)."""
    form = EmptyForm()
    if form.validate_on_submit():
        logout_user()
        flash(_("ログアウトしました。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """The user's language and API tokens; for supervisors, the department's contact."""
    language_form = LanguageForm(prefix="lang")
    token_form = TokenForm(prefix="token")
    contact_form = ContactForm(prefix="dept")
    may_set_contact = policy.can_set_department_contact(current_user, current_user.department)
    if request.method == "GET":
        language_form.locale.data = current_user.locale or "ja"
        contact_form.contact.data = current_user.department.contact
    # The page has three forms; the one whose fields were posted is the one submitted.
    if may_set_contact and contact_form.is_posted() and contact_form.validate_on_submit():
        try:
            service.set_department_contact(current_user, current_user.department, contact_form.contact.data)
        except ValidationFailed as exc:
            boundary.refuse(exc, contact_form)
        else:
            flash(_("所属の連絡先を保存しました。"), "success")
            return redirect(url_for("auth.settings"))
    if language_form.is_posted() and language_form.validate_on_submit():
        service.set_locale(current_user, language_form.locale.data)
        flash(_("表示言語を変更しました。"), "success")
        return redirect(url_for("auth.settings"))
    new_token = None
    if token_form.is_posted() and token_form.validate_on_submit():
        try:
            _token, new_token = service.create_token(current_user, token_form.name.data or "")
        except ValidationFailed as exc:
            boundary.refuse(exc, token_form)
    return render_template(
        "auth/settings.html",
        language_form=language_form,
        token_form=token_form,
        tokens=service.tokens_of(current_user),
        new_token=new_token,
        revoke_form=EmptyForm(),
        contact_form=contact_form if may_set_contact else None,
    )


@bp.route("/settings/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's tokens."""
    form = EmptyForm()
    if form.validate_on_submit():
        service.revoke_token(current_user, token_id)
        flash(_("トークンを無効にしました。"), "success")
    return redirect(url_for("auth.settings"))
