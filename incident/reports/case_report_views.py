"""The case report: a printable A4 page and the same report as a Markdown download."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, render_template
from flask_login import current_user, login_required

from incident.cases.review import REVIEW_FIELDS, REVIEW_LABELS
from incident.dates import era_date, utcnow
from incident.reports import case_report as report

bp = Blueprint("report", __name__)


def _context(case_id: int) -> dict[str, Any]:
    """What both renditions show: the gathered report, today's date in the Japanese era, the labels."""
    now = utcnow()
    return {"report": report.case_report(current_user, case_id), "report_date": era_date(now), "now": now,
            "review_fields": REVIEW_FIELDS, "review_labels": REVIEW_LABELS}


@bp.route("/cases/<int:case_id>/report")
@login_required
def case_report(case_id: int):
    """The printable report of a case (A4 from the browser's print)."""
    context = _context(case_id)
    return render_template("reports/case_report.html", case=context["report"].case, **context)


@bp.route("/cases/<int:case_id>/report.md")
@login_required
def case_report_markdown(case_id: int):
    """The report as a Markdown file (UTF-8), downloaded as an attachment."""
    context = _context(case_id)
    case = context["report"].case
    body = render_template("reports/case_report.md", case=case, md=report.md_inline, code=report.md_code,
                           block=report.md_block, **context)
    name = f"{case.number}-report.md"
    # Werkzeug adds "; charset=utf-8" to every text/* mimetype.
    response = Response(body, mimetype="text/markdown")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
