"""The PR office's list of every user's API tokens (with revoking), and the page a password-reset link
opens (issue 13). Routes register on the auth blueprint."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary, policy
from incident.auth import reset, service, tokens
from incident.auth.forms import EmptyForm, ResetForm
from incident.auth.views import bp
from incident.errors import NotFound, ValidationFailed
from incident.pagination import page_args


@bp.route("/admin/tokens")
@login_required
def tokens_admin():
    """Every user's API tokens, active first, filterable by e-mail address, each with a revoke button (404 for
    all but the PR office)."""
    page, per_page = page_args(request.args)
    email = (request.args.get("email") or "").strip()[:254] or None
    listing = tokens.tokens_for_admin(current_user, page, per_page, email)
    args = {"email": email} if email else {}
    return render_template("auth/tokens_admin.html", listing=listing, args=args, revoke_form=EmptyForm(),
                           token_state=tokens.state_of, revoked_by_office=tokens.revoked_by_office)


@bp.route("/admin/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_any_token(token_id: int):
    """The PR office revokes a user's token (404 for others); the owner sees on 設定 who revoked it."""
    form = EmptyForm()
    if form.validate_on_submit():
        token = tokens.revoke_for_pr_office(current_user, token_id)
        flash(_("%(email)s のトークン「%(name)s」を失効させました。", email=token.user.email, name=token.name),
              "success")
    elif not policy.can_manage_users(current_user):
        raise NotFound()
    return redirect(url_for("auth.tokens_admin", email=request.args.get("email") or None))


def _private(response):
    """A reset page: never cached, indexed, or named to another site in a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Set a new password from a one-time link the PR office issued; opened without signing in. A bad,
    expired or used link gets a plain message (400 or 410) and nothing else."""
    form = ResetForm()
    try:
        reset.user_for_link(token)
        if form.validate_on_submit():
            reset.reset_password(token, form.new_password.data, form.confirm_password.data)
            flash(_("パスワードを設定しました。新しいパスワードでログインしてください。"), "success")
            return _private(redirect(url_for("auth.login")))
    except reset.ResetLinkInvalid as exc:
        boundary.abandon()
        return _private(make_response(render_template("auth/reset.html", invalid=exc.message), exc.status))
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
    status = 422 if form.is_submitted() else 200
    page = render_template("auth/reset.html", form=form, invalid=None, min_length=service.MIN_PASSWORD_LENGTH)
    return _private(make_response(page, status))
