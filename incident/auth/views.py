"""Login, logout and the user's own settings (language, API tokens)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from incident import boundary, policy
from incident.auth import oidc, reset, service, sessions, tokens
from incident.auth.forms import ContactForm, EmptyForm, LanguageForm, LoginForm, PasswordForm, TokenForm
from incident.errors import Conflict, ValidationFailed
from incident.pagination import page_args

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
        return redirect(url_for("home.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if request.args.get("lang") in ("ja", "en"):  # kept after signing in (_sign_in)
        session[sessions.LOGIN_LOCALE_KEY] = request.args["lang"]
    password_login = oidc.password_login_allowed()
    if not password_login and request.method == "POST":  # single sign-on only (OIDC, PASSWORD_LOGIN = False)
        flash(_("パスワードでのログインは無効です。シングルサインオンでログインしてください。"), "error")
    elif form.validate_on_submit():
        result = service.log_in(form.email.data or "", form.password.data or "", request.remote_addr)
        user = result.user
        if result.wait_seconds:
            flash(_("ログインに続けて失敗したため、しばらくお待ちください（あと約 %(s)d 秒）。",
                    s=result.wait_seconds), "error")
        elif user is None:
            flash(_("メールアドレスまたはパスワードが違います。"), "error")
        elif user.totp_secret is not None:  # MFA: nothing is signed in until the code (incident/auth/mfa_views.py)
            mfa_views.begin_pending(user, bool(form.remember.data), safe_next(form.next.data))
            return redirect(url_for("auth.login_mfa"))
        else:
            _sign_in(user, remember=bool(form.remember.data))
            return redirect(safe_next(form.next.data) or url_for("home.index"))
    signed_out = sessions.sign_out_message(session.pop("signed_out", None))
    return render_template("auth/login.html", form=form, signed_out=signed_out, password_login=password_login,
                           sso_label=oidc.button_label())


def _sign_in(user, *, remember: bool) -> None:
    """Log `user` in with a new server-side session: Flask-Login's user id ("<user id>:<token>") names it,
    so the session cookie and the "remember me" cookie both stop working once it ends. A language chosen on
    the login page becomes the user's; without one, the user's stored language stays."""
    chosen = session.pop(sessions.LOGIN_LOCALE_KEY, None)
    if chosen in ("ja", "en"):
        service.set_locale(user, chosen)
    login_id = sessions.start_session(user, request.user_agent.string, request.remote_addr)
    login_user(user, remember=remember)
    session["_user_id"] = login_id
    session.pop("signed_out", None)
    session.pop(oidc.SIGNED_IN_KEY, None)  # set again by the single sign-on callback


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST with a CSRF token, so a link elsewhere cannot log anyone out)."""
    form = EmptyForm()
    if form.validate_on_submit():
        sessions.end_current(current_user, session.get("_user_id"))
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
    new_token, status = None, 200
    token_form.days.choices = [(str(days), _("%(n)d 日", n=days)) for days in tokens.expiry_choices()]
    if not token_form.is_posted():
        token_form.days.data = str(tokens.default_days())
    elif not token_form.validate_on_submit():
        status = 422
    else:
        try:
            _token, new_token = tokens.create_token(current_user, token_form.name.data or "", token_form.days.data,
                                                    read_only=bool(token_form.read_only.data))
        except ValidationFailed as exc:
            boundary.refuse(exc, token_form)
            status = 422
    return render_template(
        "auth/settings.html",
        language_form=language_form,
        token_form=token_form,
        tokens=tokens.tokens_of(current_user),
        token_state=tokens.state_of,
        revoked_by_office=tokens.revoked_by_office,
        new_token=new_token,
        revoke_form=EmptyForm(),
        sessions=sessions.active_sessions(current_user, session.get("_user_id")),
        contact_form=contact_form if may_set_contact else None,
        password_form=PasswordForm(formdata=None),
        min_length=service.MIN_PASSWORD_LENGTH,
    ), status


@bp.route("/settings/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's tokens."""
    form = EmptyForm()
    if form.validate_on_submit():
        tokens.revoke_token(current_user, token_id)
        flash(_("トークンを無効にしました。"), "success")
    return redirect(url_for("auth.settings"))


# Signed-in browsers (issue 13): listed on 設定, ended one by one, all but this one, or all.


@bp.route("/settings/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int):
    """Sign one of one's own browsers out (another user's session is 404)."""
    form = EmptyForm()
    if form.validate_on_submit():
        if sessions.end_session_of(current_user, session_id, session.get("_user_id")):
            logout_user()
            flash(_("ログアウトしました。"), "info")
            return redirect(url_for("auth.login"))
        flash(_("その端末をログアウトしました。"), "success")
    return redirect(url_for("auth.settings"))


@bp.route("/settings/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    """Sign out every other browser of one's own; this one stays signed in."""
    form = EmptyForm()
    if form.validate_on_submit():
        count = sessions.end_sessions(current_user, sessions.ENDED_ELSEWHERE, except_token=session.get("_user_id"))
        flash(_("ほかの端末をすべてログアウトしました（%(n)d 件）。", n=count), "success")
    return redirect(url_for("auth.settings"))


@bp.route("/settings/sessions/end-all", methods=["POST"])
@login_required
def end_all_sessions():
    """Sign out every browser of one's own, this one included."""
    form = EmptyForm()
    if form.validate_on_submit():
        sessions.end_current(current_user, session.get("_user_id"))
        sessions.end_sessions(current_user, sessions.ENDED_ELSEWHERE)
        logout_user()
        flash(_("すべての端末からログアウトしました。"), "info")
        return redirect(url_for("auth.login"))
    return redirect(url_for("auth.settings"))


# Passwords (issue 13): one's own on 設定, and the PR office's temporary passwords.

#: What a user holding a temporary password may still open: the change page, logging out, static files.
_OPEN_BEFORE_PASSWORD_CHANGE = {"auth.change_password", "auth.logout", "static", "favicon"}


@bp.before_app_request
def require_password_change():
    """A user with a temporary password is sent to the change page from every page until they change it.
    The API (its own token check, incident/api) answers 403 instead."""
    if request.blueprint == "api" or request.endpoint in _OPEN_BEFORE_PASSWORD_CHANGE:
        return None
    if session.get(oidc.SIGNED_IN_KEY):  # the rule is for password logins; single sign-on uses none
        return None
    if current_user.is_authenticated and policy.must_change_password_first(current_user):
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/settings/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password (the current one, the new one twice); after a temporary password from the
    PR office, the only page open until it is done."""
    form = PasswordForm()
    forced = policy.must_change_password_first(current_user)
    if form.validate_on_submit():
        try:
            # This browser stays signed in; the user's others are signed out (incident.auth.sessions).
            service.change_password(current_user, form.current_password.data, form.new_password.data,
                                    form.confirm_password.data, session_token=session.get("_user_id"))
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
        else:
            flash(_("パスワードを変更しました。"), "success")
            return redirect(url_for("home.index") if forced else url_for("auth.settings"))
    return render_template("auth/change_password.html", form=form, forced=forced,
                           min_length=service.MIN_PASSWORD_LENGTH)


@bp.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
@login_required
def user_password(user_id: int):
    """The PR office issues a user a temporary password or a one-time reset link (posted `kind=link`), shown
    once on this page (404 for others)."""
    user = service.user_for_admin(current_user, user_id)
    form = EmptyForm()
    temporary = link = None
    if form.validate_on_submit():
        try:
            if request.form.get("kind") == "link":
                link = reset.issue_reset_link(current_user, user_id)
            else:
                user, temporary = service.issue_temporary_password(current_user, user_id)
        except Conflict as exc:
            boundary.refuse(exc)
    link_url = current_app.config["BASE_URL"].rstrip("/") + url_for("auth.reset_password", token=link.token) \
        if link else None
    response = make_response(render_template("auth/user_password.html", user=user, form=form, temporary=temporary,
                                             link=link, link_url=link_url))
    response.headers["Cache-Control"] = "no-store"  # the password or link must not stay in a cache
    return response


# Login history and locked accounts (issue 13): the PR office's page.


@bp.route("/admin/logins")
@login_required
def logins():
    """Accounts locked by failed logins (with an unlock button), recent failures and the login history,
    filterable by e-mail address (404 for all but the PR office)."""
    page, per_page = page_args(request.args)
    email = (request.args.get("email") or "").strip()[:254] or None
    overview = service.login_overview(current_user, page, per_page, email)
    args = {"email": email} if email else {}
    return render_template("auth/logins.html", overview=overview, args=args, unlock_form=EmptyForm())


@bp.route("/admin/logins/unlock", methods=["POST"])
@login_required
def unlock():
    """The PR office unlocks an account (the user's id is posted; 404 for others)."""
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            user = service.unlock_user(current_user, request.form.get("user_id"))
        except Conflict as exc:
            boundary.refuse(exc)
        else:
            flash(_("%(email)s のロックを解除しました。", email=user.email), "success")
    return redirect(url_for("auth.logins"))


# Routes in modules of their own, registered on bp when imported.
from incident.auth import (  # noqa: E402
    credential_views,  # noqa: F401  (API tokens for the PR office, password-reset links)
    mfa_views,  # multi-factor authentication; login() calls it
    oidc_views,  # noqa: F401  (single sign-on)
    people_views,  # noqa: F401  (the PR office's people pages)
    reshuffle_views,  # noqa: F401  (personnel reshuffles, who was where when)
)
