"""The API's documentation: its OpenAPI document and a page that shows it (Swagger UI, served from the
app itself: the page loads nothing from elsewhere and runs under the app's Content Security Policy)."""
from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from flask import Blueprint, current_app, jsonify, render_template, send_from_directory, url_for

#: Public, like the API's own public endpoints (incident.api.PUBLIC_ENDPOINTS): no token is asked.
bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")

#: The Swagger UI files the page uses, from the swagger-ui-bundle package.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of API v1, generated from the routes' schemas."""
    return current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document (it describes the API and shows no data, so it needs no token)."""
    return jsonify(openapi_document())


@bp.get("/docs")
def page():
    """A readable reference of the API, drawn from the OpenAPI document in the browser."""
    return render_template("api/docs.html", spec_url=url_for(".openapi"))


@bp.get(f"/docs/assets/<any({', '.join(repr(name) for name in ASSETS)}):name>")
def asset(name: str):
    """Swagger UI's script and stylesheet."""
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=24 * 3600)
