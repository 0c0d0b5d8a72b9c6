"""The home page after login: what needs me now, and a full list of each block."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from incident.home import service

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index() -> str:
    """Home: my open cases, steps due, drafts to approve, escalations to me, follow-ups, notices owed."""
    return render_template("home/index.html", home=service.home_for(current_user), limit=service.HOME_LIMIT)


@bp.route("/home/<any(steps, approvals, follow_ups, notices):block>")
@login_required
def full_list(block: str) -> str:
    """One block of the home page in full (up to FULL_LIMIT rows)."""
    return render_template("home/list.html", block=block, data=service.FULL_LISTS[block](current_user),
                           limit=service.FULL_LIMIT)
