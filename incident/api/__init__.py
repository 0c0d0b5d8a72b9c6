"""JSON API v1: the blueprint every API module registers on, personal-token authentication, and the
OpenAPI document generated from the routes' schemas (flask-smorest), served with a docs page."""
from __future__ import annotations

import flask_smorest
from flask import Flask, g, request
from flask_babel import lazy_gettext as _l

from incident import policy
from incident.api.requests import Blueprint, Unauthorized
from incident.api.schemas import ErrorOut
from incident.auth import mfa
from incident.auth.models import User
from incident.auth.tokens import TokenRefused, check_token
from incident.database import MAX_ID
from incident.errors import PermissionDenied
from incident.extensions import db

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Route converter for ids in URLs: an out-of-range id is simply a 404.
ID = f"int(max={MAX_ID})"

#: Endpoints that need no token (read-only, nothing private): the public list of official accounts
#: (3(2)ア), and the API's own documentation, which describes the API but shows no data.
PUBLIC_ENDPOINTS = frozenset({"api.public_accounts", "api_docs.openapi", "api_docs.page", "api_docs.asset"})

#: What a read-only token may do (issue 13); anything else answers 403.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

TITLE = "incident — JSON API"
VERSION = "1"
DESCRIPTION = """\
The JSON API of the city's social-media incident response (案件・文案・証拠・公式アカウント).

**Authentication.** Every call needs a personal token, `Authorization: Bearer inc_…` (create one under
設定 in the app, or `flask --app incident token create EMAIL`), except `GET /api/v1/public/accounts`.
A token expires (90 days unless another expiry was chosen) and may be read-only: such a token may only
GET, anything else answers 403. An expired or revoked token answers 401.

**Errors** are `{"error": {"code", "message", "fields"?}}`: 400 (malformed JSON, NUL, nesting deeper
than 32), 401 (no or bad token), 403, 404 (also for anything you may not see), 405, 409 (stale version,
forbidden transition), 413, 422 (invalid fields, each named in `fields`). Messages are in the caller's
language (Japanese by default).

**Ids** are whole numbers from 1 to 2,147,483,647: any other number in a path answers 404, in a body 422.
**Times** are ISO 8601 with an offset; one without an offset is read as Japan time.
"""


#: The groups of operations, in the order the reference shows them.
TAGS = (
    ("me", "The caller."),
    ("cases", "Cases: opening, editing with versions, status, assignment, notes, offending items, timeline."),
    ("playbooks", "The playbooks and a case's checklist."),
    ("drafts", "Outgoing texts: generation, revisions, approval, sending, the ledger."),
    ("evidence", "Evidence files of a case."),
    ("fake accounts", "The register of known fake accounts."),
    ("escalations", "Escalations of cases to the next level."),
    ("notifications", "The caller's notifications."),
    ("official accounts", "The registry of official accounts (様式1, 様式2) and the public list."),
    ("PR disclosure", "The guideline-5 check of a commissioned post."),
    ("reshuffles", "Personnel reshuffles (人事異動) from a CSV: preview, then apply (PR office)."),
    ("people", "People and departments: adding, editing, moving, deactivating with handover (PR office)."),
    ("search", "One search over cases, notes, offending items, known fakes, drafts and reviews."),
)


class Api(flask_smorest.Api):
    """flask-smorest's Api without its error handlers: the app's own (incident/setup.py) answer every
    error, for pages and the API alike, in the shape `ErrorOut` documents."""

    ERROR_SCHEMA = ErrorOut

    def _register_error_handlers(self) -> None:
        pass

    def register_blueprint(self, blp: flask_smorest.Blueprint, **options: object) -> None:
        """flask-smorest's registration without a tag named after the blueprint (operations are tagged by
        the resource they act on, see TAGS)."""
        self._app.extensions["flask-smorest"]["blp_name_to_api"][blp.name] = self
        self._app.register_blueprint(blp, **options)
        blp.register_views_in_doc(self, self._app, self.spec, name=blp.name, parameters=None)


def init_app(app: Flask) -> Api:
    """Register the API on `app` and build its OpenAPI document from the routes' schemas."""
    api = Api(app, spec_kwargs={
        "title": TITLE, "version": VERSION, "openapi_version": "3.0.3",
        "info": {"description": DESCRIPTION},
        "security": [{"token": []}],
    })
    api.spec.components.security_scheme("token", {
        "type": "http", "scheme": "bearer", "bearerFormat": "inc_…",
        "description": "A personal API token (設定 → API トークン).",
    })
    for name, description in TAGS:
        api.spec.tag({"name": name, "description": description})
    api.register_blueprint(bp)
    app.register_blueprint(docs.bp)
    return api


@bp.before_request
def authenticate() -> None:
    """Every API call needs `Authorization: Bearer <token>`, except the endpoints in PUBLIC_ENDPOINTS."""
    if request.endpoint in PUBLIC_ENDPOINTS and request.method in ("GET", "HEAD", "OPTIONS"):
        return

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_l("API トークンが必要です（Authorization: Bearer <token>）。"))
    try:
        api_token = check_token(token.strip())  # unknown, revoked or expired: 401 (issue 13)
    except TokenRefused as refused:
        raise Unauthorized(refused.message) from None
    user, read_only = api_token.user, api_token.read_only
    # The one commit outside the transaction boundary (incident/boundary.py), and on purpose: it ends the
    # read snapshot taken to find the token, so that it is not older than the token-use write of a read
    # request (incident/auth/tokens.py, _note_token_use, in its own transaction), and for a write request
    # it records the token use even when the view then fails and the boundary rolls its work back.
    db.session.commit()
    if policy.must_change_password_first(user):  # a temporary password from the PR office (issue 13)
        raise PermissionDenied(_l("仮のパスワードが発行されています。画面からログインしてパスワードを変更するまで、API は使えません。"))
    if mfa.must_enrol(user):  # a role that must use MFA, not set up yet (MFA_REQUIRED_ROLES)
        raise PermissionDenied(_l("多要素認証が必須です。画面からログインして多要素認証を設定するまで、API は使えません。"))
    if read_only and request.method not in READ_METHODS:
        raise PermissionDenied(_l("読み取り専用の API トークンです。読み取り（GET）のほかは使えません。"))
    g.api_user = user


def api_user() -> User:
    """The user the current API request acts for."""
    return g.api_user


from incident.api import (  # noqa: E402,F401  (routes register on bp)
    accounts,
    cases,
    disclosure,
    docs,
    drafts,
    escalations,
    evidence,
    fakes,
    general,
    people,
    reshuffles,
    search,
    steps,
)
