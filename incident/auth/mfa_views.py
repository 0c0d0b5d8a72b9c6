"""Multi-factor authentication pages on the auth blueprint: the code after the password, 設定 → 多要素認証
(set up, new recovery codes, turn off), the PR office's reset, and sending users who must use MFA to set it up."""
from __future__ import annotations

from typing import Any

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from incident import boundary, policy
from incident.auth import mfa, oidc, service
from incident.auth.forms import REQUIRED
from incident.auth.views import _sign_in, bp, safe_next
from incident.dates import utcnow
from incident.errors import Conflict, PermissionDenied, ValidationFailed

#: The Flask session keys: the login waiting for its code, and the secret being set up.
_PENDING = "mfa_pending"
_SETUP_SECRET = "mfa_setup_secret"
#: A login waiting for its code is forgotten after this many seconds ...
PENDING_SECONDS = 5 * 60
#: ... or this many wrong codes (the user then starts again with the password).
PENDING_MAX_WRONG = 5

_CODE_LENGTH = Length(max=mfa.CODE_INPUT_MAX, message=_l("%(max)d 文字以内で入力してください。"))


class LoginCodeForm(FlaskForm):
    """The code from the authenticator app, or a recovery code."""

    code = StringField(_l("認証コード（6 桁）または回復コード"), validators=[DataRequired(REQUIRED), _CODE_LENGTH])


class SetupForm(FlaskForm):
    """The first code from the newly set up app."""

    code = StringField(_l("認証アプリに表示された 6 桁のコード"), validators=[DataRequired(REQUIRED), _CODE_LENGTH])


class RegenerateForm(FlaskForm):
    """New recovery codes: a current code from the app."""

    code = StringField(_l("認証アプリに表示された 6 桁のコード"), validators=[DataRequired(REQUIRED), _CODE_LENGTH])


class TurnOffForm(FlaskForm):
    """Turning MFA off: the password, a current code, and a confirmation."""

    password = PasswordField(_l("現在のパスワード"), validators=[DataRequired(REQUIRED), Length(max=200)])
    code = StringField(_l("認証アプリに表示された 6 桁のコード"), validators=[DataRequired(REQUIRED), _CODE_LENGTH])
    confirm = BooleanField(_l("多要素認証を無効にすることを確認しました"),
                           validators=[DataRequired(_l("確認のチェックを入れてください。"))])


class ResetForm(FlaskForm):
    """The PR office's reset: a confirmation."""

    confirm = BooleanField(_l("この利用者の多要素認証をリセットすることを確認しました"),
                           validators=[DataRequired(_l("確認のチェックを入れてください。"))])


# The login's second step.


def begin_pending(user: Any, remember: bool, next_url: str | None) -> None:
    """Remember a login whose password was right until its code is given (nothing is signed in yet)."""
    session[_PENDING] = {"user": user.id, "remember": bool(remember), "next": next_url or "",
                         "since": utcnow().timestamp(), "wrong": 0}


def _pending() -> dict[str, Any] | None:
    """The login waiting for its code, or None (none, malformed, or older than PENDING_SECONDS)."""
    pending = session.get(_PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        session.pop(_PENDING, None)
        return None
    since = pending.get("since")
    if not isinstance(since, (int, float)) or not 0 <= utcnow().timestamp() - since <= PENDING_SECONDS:
        session.pop(_PENDING, None)
        flash(_("時間が経ったため、ログインをやり直してください。"), "info")
        return None
    return pending


def _start_again(message: str) -> ResponseReturnValue:
    session.pop(_PENDING, None)
    flash(message, "error")
    return redirect(url_for("auth.login"))


@bp.route("/login/mfa", methods=["GET", "POST"])
def login_mfa() -> ResponseReturnValue:
    """The second step of a login: the code from the authenticator app, or a recovery code (once each)."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    pending = _pending()
    if pending is None:
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    if form.validate_on_submit():
        result = mfa.complete_login(pending["user"], form.code.data, request.remote_addr)
        if result.user is not None:
            session.pop(_PENDING, None)
            _sign_in(result.user, remember=bool(pending.get("remember")))
            if result.recovery_used:
                flash(_("回復コードでログインしました。残りの回復コードは %(n)d 個です。",
                        n=mfa.recovery_codes_left(result.user)), "info")
            return redirect(safe_next(pending.get("next")) or url_for("home.index"))
        if result.ended:
            return _start_again(_("ログインできませんでした。もう一度ログインしてください。"))
        if result.wait_seconds:
            flash(_("ログインに続けて失敗したため、しばらくお待ちください（あと約 %(s)d 秒）。",
                    s=result.wait_seconds), "error")
        else:
            pending["wrong"] = int(pending.get("wrong") or 0) + 1
            if pending["wrong"] >= PENDING_MAX_WRONG:
                return _start_again(_("コードの誤りが続いたため、ログインをやり直してください。"))
            session[_PENDING] = pending
            form.code.errors = [str(mfa.WRONG_CODE)]
    return render_template("auth/mfa_login.html", form=form)


# Users who must use MFA set it up before anything else (pages; the API answers 403, incident/api).

#: What such a user may still open: the set-up page, logging out, a forced password change, static files.
_OPEN_BEFORE_ENROLMENT = {"auth.mfa_setup", "auth.logout", "auth.change_password", "static", "favicon"}


@bp.before_app_request
def require_mfa_enrolment() -> ResponseReturnValue | None:
    """A user of a role that must use MFA (MFA_REQUIRED_ROLES) is sent to set it up from every page."""
    if request.blueprint == "api" or request.endpoint in _OPEN_BEFORE_ENROLMENT:
        return None
    if session.get(oidc.SIGNED_IN_KEY):  # single sign-on: the identity provider's own MFA applies
        return None
    if current_user.is_authenticated and mfa.must_enrol(current_user):
        return redirect(url_for("auth.mfa_setup"))
    return None


# 設定 → 多要素認証.


def _no_store(body: str, status: int = 200) -> ResponseReturnValue:
    """A page showing a secret or recovery codes: never kept in a cache."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _codes_page(codes: list[str], heading: str) -> ResponseReturnValue:
    return _no_store(render_template("auth/mfa_codes.html", codes=codes, heading=heading))


def _manage_page(regenerate_form: RegenerateForm | None = None, turn_off_form: TurnOffForm | None = None,
                 status: int = 200) -> ResponseReturnValue:
    return _no_store(render_template(
        "auth/mfa_manage.html",
        regenerate_form=regenerate_form or RegenerateForm(formdata=None, prefix="regen"),
        turn_off_form=turn_off_form or TurnOffForm(formdata=None, prefix="off"),
        may_turn_off=policy.may_turn_off_mfa(current_user, mfa.required_roles()),
        codes_left=mfa.recovery_codes_left(current_user),
    ), status)


@bp.route("/settings/mfa", methods=["GET", "POST"])
@login_required
def mfa_setup() -> ResponseReturnValue:
    """Set up MFA: scan the QR code (or type the secret), confirm with a code, get the recovery codes once.
    With MFA on already: the page to get new recovery codes or turn it off."""
    if mfa.has_mfa(current_user):
        return _manage_page()
    stored = session.get(_SETUP_SECRET)
    secret = stored if isinstance(stored, str) and mfa.valid_secret(stored) else mfa.new_secret()
    session[_SETUP_SECRET] = secret  # kept until confirmed (signed, like the whole session cookie)
    form = SetupForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = mfa.confirm_enrolment(current_user, secret, form.code.data)
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
            status = 422
        else:
            session.pop(_SETUP_SECRET, None)
            return _codes_page(codes, _("多要素認証を有効にしました"))
    elif form.errors:
        status = 422
    return _no_store(render_template("auth/mfa_setup.html", form=form, setup=mfa.provisioning(current_user, secret),
                                     required=mfa.must_enrol(current_user)), status)


@bp.route("/settings/mfa/recovery-codes", methods=["POST"])
@login_required
def mfa_regenerate() -> ResponseReturnValue:
    """New recovery codes (the old ones stop working), after a current code from the app."""
    form = RegenerateForm(prefix="regen")
    if not mfa.has_mfa(current_user):
        return redirect(url_for("auth.mfa_setup"))
    if form.validate_on_submit():
        try:
            codes = mfa.regenerate_recovery_codes(current_user, form.code.data)
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
        else:
            return _codes_page(codes, _("回復コードを作り直しました"))
    return _manage_page(regenerate_form=form, status=422)


@bp.route("/settings/mfa/turn-off", methods=["POST"])
@login_required
def mfa_turn_off() -> ResponseReturnValue:
    """Turn one's own MFA off (password, a current code, a confirmation); refused for roles that must use it."""
    form = TurnOffForm(prefix="off")
    if not mfa.has_mfa(current_user):
        return redirect(url_for("auth.mfa_setup"))
    if form.validate_on_submit():
        try:
            mfa.turn_off(current_user, form.password.data, form.code.data)
        except (ValidationFailed, PermissionDenied) as exc:
            boundary.refuse(exc, form)
            return _manage_page(turn_off_form=form, status=exc.status)
        flash(_("多要素認証を無効にしました。"), "success")
        return redirect(url_for("auth.settings"))
    return _manage_page(turn_off_form=form, status=422)


# The PR office's reset (the form is templates/auth/_mfa_admin.html, on the user's page).


@bp.route("/admin/users/<int:user_id>/mfa/reset", methods=["POST"])
@login_required
def mfa_reset(user_id: int) -> ResponseReturnValue:
    """The PR office resets a user's MFA (a lost phone): audited, and the user is signed out (404 for others)."""
    user = service.user_for_admin(current_user, user_id)
    form = ResetForm()
    back = safe_next(request.form.get("next")) or url_for("auth.user_detail", user_id=user.id)
    if not form.validate_on_submit():
        flash(" ".join(str(errors[0]) for errors in form.errors.values() if errors), "error")
        return redirect(back)
    try:
        mfa.reset(current_user, user)
    except Conflict as exc:
        boundary.refuse(exc)
    else:
        flash(_("%(name)s さんの多要素認証をリセットしました。", name=user.name), "success")
    return redirect(back)
