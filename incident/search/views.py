"""The search page (the box in the header) and its JSON twin in the API."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from incident.home import search as service

bp = Blueprint("search", __name__)


def before_arg() -> int | None:
    """The `before` argument (an entry id to continue from), or None when absent or not a positive number."""
    raw = request.args.get("before", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63 else None


@bp.route("/search")
@login_required
def index() -> str:
    """Results for the words in `q`, newest first, grouped by case, with the matching passages marked."""
    q = (request.args.get("q") or "").strip()[:200]
    page = service.search(current_user, q, before_arg())
    return render_template("search/index.html", q=q, page=page, first_page=request.args.get("before") is None)
