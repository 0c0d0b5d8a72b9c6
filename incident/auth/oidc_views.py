"""Single sign-on pages on the auth blueprint: /login/sso sends the browser to the identity provider, which
sends it back to /login/sso/callback; both are 404 while single sign-on is off."""
from __future__ import annotations

from flask import abort, flash, redirect, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from incident.auth import oidc
from incident.auth.oidc import SsoResult
from incident.auth.views import _sign_in, bp, safe_next
from incident.database import in_own_transaction

#: Where to go after signing in (a same-site path), kept in the session across the trip to the provider.
_NEXT_KEY = "sso_next"


@bp.record_once
def _register_client(state: BlueprintSetupState) -> None:
    """The provider's client is registered with the routes, when the app is built (OIDC_* settings)."""
    oidc.init_app(state.app)


@bp.route("/login/sso")
def sso_login() -> Response:
    """Start a single sign-on: to the identity provider, with state, nonce and PKCE kept by Authlib."""
    provider = oidc.client()
    if provider is None:
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    session[_NEXT_KEY] = safe_next(request.args.get("next")) or ""
    try:
        return provider.authorize_redirect(url_for("auth.sso_callback", _external=True))
    except oidc.PROVIDER_ERRORS as exc:  # the provider cannot be reached, or its metadata is broken
        return _provider_error(_detail(exc))


@bp.route("/login/sso/callback")
def sso_callback() -> Response:
    """Finish a single sign-on: exchange the code, validate the ID token, match the user and sign in.
    A GET request begins as a reader (incident.database); this one writes, in a transaction of its own."""
    provider = oidc.client()
    if provider is None:
        abort(404)
    target = safe_next(session.pop(_NEXT_KEY, None))
    try:
        token = provider.authorize_access_token()
    except oidc.PROVIDER_ERRORS as exc:  # error=… from the provider, a missing or foreign state, a bad token
        return _provider_error(_detail(exc))
    claims = token.get("userinfo")
    if not claims:  # no ID token in the answer
        return _provider_error("no_id_token")
    result = in_own_transaction(lambda: _log_in(claims))
    if result.user is None:
        return _refused(result)
    return redirect(target or url_for("home.index"))


def _log_in(claims: dict[str, object]) -> SsoResult:
    """Match the user and, if found, sign this browser in (one retryable unit of work)."""
    result = oidc.log_in(claims, request.remote_addr)
    if result.user is not None:
        _sign_in(result.user, remember=False)
        session[oidc.SIGNED_IN_KEY] = True
    return result


def _provider_error(detail: str) -> Response:
    """The exchange with the provider failed: audited (in a transaction of its own), and said so."""
    return _refused(in_own_transaction(lambda: oidc.refuse(oidc.PROVIDER_ERROR, request.remote_addr, detail=detail)))


def _refused(result: SsoResult) -> Response:
    """Back to the login page with what the person can do about it (the refusal is already audited)."""
    if result.refused == oidc.PENDING:
        flash(_("利用の申請を受け付けました。秘書広報課が承認するまでログインできません。"), "info")
    elif result.refused == oidc.PROVIDER_ERROR:
        flash(_("シングルサインオンに失敗しました。もう一度お試しください。"), "error")
    else:  # unknown, inactive, another subject...: one message, which tells nobody which it was
        flash(_("このアカウントではログインできません（未登録か、利用できない状態です）。秘書広報課にお問い合わせください。"),
              "error")
    return redirect(url_for("auth.login"))


def _detail(exc: Exception) -> str:
    """What went wrong, for the audit row: the OAuth error code, else the kind of failure."""
    return str(getattr(exc, "error", "") or type(exc).__name__)
