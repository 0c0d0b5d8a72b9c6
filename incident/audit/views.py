"""The audit log page (PR office)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from incident import policy
from incident.audit.service import audit_page
from incident.pagination import page_args
from incident.reports import csv_export
from incident.validation import parse_id

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _id_arg(name: str) -> int | None:
    """An id from the query string; nonsense reads as absent (the newest page), never an error page."""
    try:
        return parse_id(request.args.get(name))
    except ValueError:
        return None


@bp.route("")
@login_required
def index():
    """Every change, newest first, filterable by case id and action, paged by id (older / newer)."""
    if not policy.can_view_audit_log(current_user):
        abort(404)
    _page, per_page = page_args(request.args)
    try:
        case_id = parse_id(request.args.get("case_id"))
    except ValueError:
        case_id = 0  # no case has this number: an empty list, not an error page
    action = (request.args.get("action") or "").strip() or None
    before, after = _id_arg("before"), _id_arg("after")
    page = audit_page(per_page, case_id=case_id, action=action, before=before,
                      after=after if before is None else None)
    args = {k: v for k, v in request.args.items() if k not in ("page", "before", "after") and v}
    return render_template("audit/list.html", page=page, args=args, first=before is None and after is None)


@bp.route("/export.csv")
@login_required
def export():
    """The audit log as CSV for the PR office (UTF-8 with BOM, formula guard), with the list's filters."""
    if not policy.can_view_audit_log(current_user):
        abort(404)
    try:
        case_id = parse_id(request.args.get("case_id"))
    except ValueError:
        case_id = 0  # no case has this number: an empty file, not an error
    action = (request.args.get("action") or "").strip() or None
    return csv_export.csv_response(csv_export.audit_rows(case_id=case_id, action=action), "audit-log")
