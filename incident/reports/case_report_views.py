"""The case report: a printable A4 page and the same report as a Markdown download; and the disclosure
package of a 情報公開 request, the same report with the withheld passages masked (■)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary
from incident.auth.forms import form_error
from incident.cases.review import REVIEW_FIELDS, REVIEW_LABELS
from incident.dates import era_date, utcnow
from incident.errors import NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.messages import flash_at
from incident.reports import case_report as report
from incident.reports import disclosure
from incident.reports.forms import DisclosureRequestForm, MaskForm, UnmaskForm
from incident.reports.models import DisclosureRequest

bp = Blueprint("report", __name__)


def report_context(case_id: int) -> dict[str, Any]:
    """What both renditions show: the gathered report, today's date in the Japanese era, the labels."""
    now = utcnow()
    return {"report": report.case_report(current_user, case_id), "report_date": era_date(now), "now": now,
            "review_fields": REVIEW_FIELDS, "review_labels": REVIEW_LABELS}


def report_markdown(case_id: int, context: dict[str, Any] | None = None, **extra: Any) -> tuple[str, str]:
    """The report as Markdown, and its file name (from `context` when the caller gathered it already)."""
    context = context or report_context(case_id)
    case = context["report"].case
    body = render_template("reports/case_report.md", case=case, md=report.md_inline, code=report.md_code,
                           block=report.md_block, **context, **extra)
    return body, f"{case.number}-report.md"


def _download(body: str, name: str) -> Response:
    # Werkzeug adds "; charset=utf-8" to every text/* mimetype.
    response = Response(body, mimetype="text/markdown")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/cases/<int:case_id>/report")
@login_required
def case_report(case_id: int):
    """The printable report of a case (A4 from the browser's print)."""
    context = report_context(case_id)
    return render_template("reports/case_report.html", case=context["report"].case, **context)


@bp.route("/cases/<int:case_id>/report.md")
@login_required
def case_report_markdown(case_id: int):
    """The report as a Markdown file (UTF-8), downloaded as an attachment."""
    return _download(*report_markdown(case_id))


# ---- disclosure requests (情報公開) ------------------------------------------------------------------------


def _found(call: Any, *args: Any) -> Any:
    try:
        return call(current_user, *args)
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)


@bp.route("/cases/<int:case_id>/disclosures", methods=["GET", "POST"])
@login_required
def disclosures(case_id: int):
    """The case's disclosure requests, and a new one as the 情報公開 desk received it."""
    case, requests = _found(disclosure.requests_of, case_id)
    form = DisclosureRequestForm()
    status = 200
    if form.is_submitted():
        try:
            if not form.validate():
                raise form_error(form)
            request = disclosure.open_request(current_user, case.id, form.reference.data or "", form.received_on.data)
        except ValidationFailed as exc:
            boundary.refuse(exc, form, at="new-disclosure")
            status = 422
        else:
            db.session.commit()
            flash_at("masks", _("情報公開請求「%(ref)s」を記録しました。伏せる箇所を選んでください。", ref=request.reference),
                     "success")
            return redirect(url_for("report.disclosure_request", case_id=case.id, request_id=request.id))
    return render_template("reports/disclosures.html", case=case, requests=requests, form=form), status


def _visible(case_id: int) -> str:
    """The case report's text as it reads on the printable page, unmasked."""
    context = report_context(case_id)
    # The report alone: the whole page would take this request's messages before a refusal adds its own.
    return disclosure.visible_text(render_template("reports/_case_report_article.html", case=context["report"].case,
                                                   **context))


def _editor(case_id: int, request_id: int, form: MaskForm | None = None, status: int = 200):
    case, request = _found(disclosure.get_request, case_id, request_id)
    form = form or MaskForm(formdata=None)
    form.ground.choices = [(g, g) for g in disclosure.grounds()]
    seen = _visible(case.id)
    masks = [(m, disclosure.places(seen, m.passage)) for m in request.masks]
    return render_template("reports/disclosure.html", case=case, request=request, masks=masks, form=form,
                           unmask_form=UnmaskForm(formdata=None)), status


@bp.route("/cases/<int:case_id>/disclosures/<int:request_id>", methods=["GET", "POST"])
@login_required
def disclosure_request(case_id: int, request_id: int):
    """One request: the masks recorded (who, why, on what ground), adding one, and the masked report."""
    if not MaskForm().is_submitted():
        return _editor(case_id, request_id)
    case, request = _found(disclosure.get_request, case_id, request_id)
    form = MaskForm()
    form.ground.choices = [(g, g) for g in disclosure.grounds()]
    try:
        if not form.validate():
            raise form_error(form)
        disclosure.add_mask(current_user, case, request, form.passage.data or "", form.ground.data or "",
                            form.reason.data or "", _visible(case.id))
    except ValidationFailed as exc:
        boundary.refuse(exc, form, at="add-mask")
        return _editor(case_id, request_id, form, 422)
    db.session.commit()
    flash_at("masks", _("黒塗りを記録しました。開示用の報告書で確かめてください。"), "success")
    return redirect(url_for("report.disclosure_request", case_id=case.id, request_id=request.id, _anchor="masks"))


@bp.route("/cases/<int:case_id>/disclosures/<int:request_id>/masks/<int:mask_id>/withdraw", methods=["POST"])
@login_required
def withdraw_mask(case_id: int, request_id: int, mask_id: int):
    """Take a mask back, with the reason."""
    case, request = _found(disclosure.get_request, case_id, request_id)
    form = UnmaskForm()
    try:
        if not form.validate():
            raise form_error(form)
        disclosure.withdraw_mask(current_user, case, request, mask_id, form.reason.data or "")
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        boundary.refuse(exc, at=f"mask-{mask_id}")
    else:
        db.session.commit()
        flash_at(f"mask-{mask_id}", _("黒塗りを取り消しました。"), "success")
    return redirect(url_for("report.disclosure_request", case_id=case.id, request_id=request.id,
                            _anchor=f"mask-{mask_id}"))


def _package_context(request: DisclosureRequest) -> dict[str, Any]:
    return {"disclosure": request, "disclosure_masks": disclosure.in_force(request), "mask_sign": disclosure.MASK,
            "disclosure_date": era_date(request.received_on)}


@bp.route("/cases/<int:case_id>/disclosures/<int:request_id>/print")
@login_required
def disclosure_print(case_id: int, request_id: int):
    """The disclosed report: the case report with every withheld passage masked, to print (or save as PDF)."""
    case, request = _found(disclosure.get_request, case_id, request_id)
    context = report_context(case.id)
    page = render_template("reports/case_report.html", case=case, **context, **_package_context(request))
    masked, left = disclosure.mask_html(page, [m.passage for m in disclosure.in_force(request)])
    if left:
        # Never hand out a page on which a withheld passage can still be read.
        current_app.logger.warning("disclosure %s: a passage runs across the page's markup", request.id)
        return render_template("reports/disclosure_refused.html", case=case, request=request, left=left), 409
    return masked


@bp.route("/cases/<int:case_id>/disclosures/<int:request_id>/report.md")
@login_required
def disclosure_markdown(case_id: int, request_id: int):
    """The disclosed report as Markdown, every withheld passage masked."""
    case, request = _found(disclosure.get_request, case_id, request_id)
    body, name = report_markdown(case.id, **_package_context(request))
    masked = disclosure.mask_markdown(body, [m.passage for m in disclosure.in_force(request)])
    return _download(masked, name.replace("-report.md", f"-disclosure-{request.id}.md"))
