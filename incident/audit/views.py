"""The audit log page (PR office)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from incident import policy
from incident.audit.service import audit_page
from incident.pagination import page_args
from incident.validation import parse_id

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.route("")
@login_required
def index():
    """Every change, newest first, filterable by case id and action."""
    if not policy.can_view_audit_log(current_user):
        abort(404)
    page, per_page = page_args(request.args)
    try:
        case_id = parse_id(request.args.get("case_id"))
    except ValueError:
        case_id = 0  # no case has this number: an empty list, not an error page
    action = (request.args.get("action") or "").strip() or None
    pagination = audit_page(page, per_page, case_id=case_id, action=action)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("audit/list.html", pagination=pagination, args=args)
