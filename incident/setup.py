"""Wiring: extensions, engine settings, login, locale, request ids, headers, errors and blueprints."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

from flask import Flask, abort, g, jsonify, render_template, request, send_from_directory, session
from flask.json.provider import DefaultJSONProvider
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from incident import labels, messages, policy
from incident.audit.service import new_request_id
from incident.auth import sessions
from incident.boundary import abandon
from incident.database import MAX_ID
from incident.dates import format_datetime, machine_time, parse_iso
from incident.extensions import babel, csrf, db, login_manager, migrate
from incident.text import render_markdown

MIGRATIONS_DIR = __file__.rsplit("/", 1)[0] + "/migrations"

# Powerful browser features the app never uses, switched off for its pages (and anything injected).
_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), usb=()"
)

# Content Security Policy: everything from this app only; no inline script, no framing.
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _select_locale() -> str:
    """The user's chosen language, else ?lang= (the login page), else the one chosen there before signing in
    (the MFA code page, a reset link), else Japanese."""
    if current_user and current_user.is_authenticated and current_user.locale:
        return str(current_user.locale)
    requested = request.args.get("lang") if request else None
    if requested not in ("ja", "en") and request and not current_user.is_authenticated:
        requested = session.get(sessions.LOGIN_LOCALE_KEY)
    return requested if requested in ("ja", "en") else "ja"


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` URL parts beyond a database integer are simply not found (not a 500)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        # Refusing the match (ValidationError) would make werkzeug answer 405 when the same path has a
        # rule for another method; id 0 is never a row, so the view answers 404 like any unknown id.
        number = int(value)
        return number if number <= MAX_ID else 0


def init_app(app: Flask) -> None:
    """Attach everything the application needs to `app`."""
    from incident import models  # noqa: F401  (register every model with the metadata)

    # The domains that react to case and draft signals subscribe when their modules are imported.
    from incident.cases import retention as _retention  # noqa: F401
    from incident.escalation import service as _escalation  # noqa: F401
    from incident.fakes import service as _fakes  # noqa: F401
    from incident.notifications import hooks as _hooks  # noqa: F401
    from incident.playbooks import service as _playbooks  # noqa: F401

    app.url_map.converters["int"] = BoundedIntConverter
    proxies = int(app.config["PROXY_FIX"] or 0)
    if proxies:
        # Trust exactly this many proxies for the client address, scheme, host, port and prefix.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies,  # type: ignore[method-assign]
                                x_port=proxies, x_prefix=proxies)
    # Readable Japanese in JSON; the app keeps Flask's default provider, which has the setting.
    cast(DefaultJSONProvider, app.json).ensure_ascii = False

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    from incident.drafts.wording import WordingError, load_wording
    from incident.escalation.rules import EscalationRulesError, load_rules
    from incident.playbooks.loader import PlaybookError
    from incident.playbooks.service import load_registry

    try:
        load_registry(app)  # a broken playbook stops the app here, naming file, line and step
        # Draft templates and platform facts, checked the same way (file and line of any mistake).
        app.extensions["wording"] = load_wording(Path(app.config["PLAYBOOK_DIR"]))
        app.extensions["escalation"] = load_rules(Path(app.config["PLAYBOOK_DIR"]) / "escalation.toml")
    except (PlaybookError, WordingError, EscalationRulesError):
        # `flask playbooks check` needs an app to run in, and exists to report exactly this error.
        if sys.argv[-2:] != ["playbooks", "check"] and "playbooks" not in sys.argv[-4:-1]:
            raise
        app.extensions["playbooks"] = {}
    _init_login(app)
    with app.app_context():
        from incident.database import configure_engine

        configure_engine(app)
    _init_request_hooks(app)
    _init_templates(app)
    messages.init_app(app)
    _init_errors(app)
    _register_blueprints(app)
    _favicon(app)
    from incident.cli import register_cli

    register_cli(app)


def _init_login(app: Flask) -> None:
    from incident.auth.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("ログインしてください。")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @app.before_request
    def load_the_user_afresh() -> None:
        # Flask-Login keeps the user in `g`, which outlives the request when an app context was already
        # pushed (tests, scripts): each request checks its own session again.
        g.pop("_login_user", None)

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # The id is "<user id>:<session token>" (incident.auth.sessions), from the session cookie or the
        # "remember me" cookie: an unknown, ended, idle or expired session signs the browser out, drops
        # the "remember me" cookie and leaves the reason for the login page.
        user, reason = sessions.resolve(user_id)
        if user is None:
            session.pop("_user_id", None)
            session["_remember"] = "clear"
            if reason:
                session["signed_out"] = reason
        return user


def _init_request_hooks(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters() -> None:
        # PostgreSQL cannot store NUL in text, and no legitimate form or query carries one.
        values = list(request.args.values()) + (list(request.form.values()) if request.form else [])
        if any("\x00" in value for value in values) or "\x00" in request.path:
            abort(400)

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else new_request_id()

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", _PERMISSIONS_POLICY)
        hsts = int(app.config["HSTS_MAX_AGE"] or 0)
        if request.is_secure and hsts:  # over plain HTTP the header means nothing (RFC 6797 7.2)
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.endpoint and not request.endpoint.startswith("static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _plain_lazy(value: Any) -> Any:
    return str(value) if isinstance(value, LazyString) else value


def _init_templates(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["machine_time"] = machine_time
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["isodatetime"] = lambda text: format_datetime(parse_iso(text)) if text else ""
    app.jinja_env.globals.update(
        labels=labels,
        policy=policy,
        get_locale=get_locale,
        city_name=lambda: app.config["CITY_NAME_EN" if str(get_locale()) == "en" else "CITY_NAME"],
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    # Flask-Babel's lazy strings claim to be safe HTML (__html__ returns the raw text), so a lazy message
    # carrying user input would bypass autoescaping. Printing them as plain str makes Jinja escape them.
    app.jinja_env.finalize = _plain_lazy


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _init_errors(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    from incident.errors import DomainError

    def json_error(status: int, code: str, message: Any, fields: dict[str, Any] | None = None):
        body: dict[str, Any] = {"error": {"code": code, "message": str(message)}}
        if fields:
            body["error"]["fields"] = {k: str(v) for k, v in fields.items()}
        return jsonify(body), status

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        abandon()
        message = _l("フォームの有効期限が切れたか、不正な送信です。ページを再読み込みしてやり直してください。")
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        abandon()
        if _wants_json():
            return json_error(error.status, error.code, error.message, error.fields)
        return render_template("errors/error.html", code=error.status, message=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        abandon()
        messages = {
            400: _l("リクエストが正しくありません。"),
            401: _l("ログインが必要です。"),
            403: _l("この操作を行う権限がありません。"),
            404: _l("ページが見つかりません。"),
            405: _l("この操作はできません。"),
            413: _l("ファイルが大きすぎます。"),
        }
        status = error.code or 500
        message = messages.get(status, error.description)
        if _wants_json():
            codes = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                     405: "method_not_allowed", 413: "too_large"}
            response = json_error(status, codes.get(status, "error"), message)
            if isinstance(error, MethodNotAllowed) and error.valid_methods:
                response[0].headers["Allow"] = ", ".join(error.valid_methods)
            return response
        return render_template("errors/error.html", code=status, message=message), status


def _favicon(app: Flask) -> None:
    """/favicon.ico, which browsers ask for on every page whatever the page links."""

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                                   max_age=7 * 24 * 3600)


def _register_blueprints(app: Flask) -> None:
    from incident.accounts.views import bp as accounts_bp
    from incident.api import bp as api_bp
    from incident.api import init_app as init_api
    from incident.audit.views import bp as audit_bp
    from incident.auth.views import bp as auth_bp
    from incident.cases.views import bp as cases_bp
    from incident.home.views import bp as home_bp
    from incident.playbooks.views import bp as steps_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(steps_bp)
    app.register_blueprint(accounts_bp)
    from incident.accounts.public import bp as public_accounts_bp  # the public list, no login (3(2)ア)

    app.register_blueprint(public_accounts_bp)
    app.register_blueprint(audit_bp)
    from incident.drafts.disclosure_views import bp as disclosure_bp
    from incident.evidence.views import bp as evidence_bp
    from incident.fakes.views import bp as fakes_bp

    app.register_blueprint(evidence_bp)
    app.register_blueprint(fakes_bp)
    from incident.drafts.views import bp as drafts_bp

    app.register_blueprint(drafts_bp)
    from incident.escalation.views import bp as escalation_bp
    from incident.notifications.views import bp as notifications_bp

    app.register_blueprint(escalation_bp)
    from incident.escalation.on_call_views import bp as on_call_bp

    app.register_blueprint(on_call_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(disclosure_bp)
    from incident.reports.metrics_views import bp as metrics_bp

    app.register_blueprint(metrics_bp)
    from incident.reports.case_report_views import bp as report_bp

    app.register_blueprint(report_bp)
    from incident.reports.records_views import bp as records_bp

    app.register_blueprint(records_bp)
    from incident.search.views import bp as search_bp

    app.register_blueprint(search_bp)
    init_api(app)  # the API blueprint with its OpenAPI document and docs page
    csrf.exempt(api_bp)
