"""Evidence pages: upload, download (as an attachment) and withdrawal, on the case page."""
from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

from flask import Blueprint, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary
from incident.auth.forms import form_error
from incident.cases import service as cases
from incident.errors import CaseError, NotFound, ValidationFailed
from incident.evidence import service
from incident.evidence.forms import UploadForm, WithdrawEvidenceForm
from incident.evidence.service import Evidence
from incident.messages import flash_at

bp = Blueprint("evidence", __name__)


@bp.app_template_global("case_evidence")
def case_evidence(case: Any) -> list[service.EvidenceRow]:
    """The evidence rows the case page's partial lists."""
    return service.evidence_rows(case)


@bp.app_template_global("evidence_file_name")
def evidence_file_name(evidence: Evidence) -> str:
    """The name an evidence file is shown and downloaded under (its extension from the detected type)."""
    return service.download_name(evidence)


def send_evidence(evidence: Evidence):
    """The stored file as a download with its detected type and a sanitised name ending in its extension."""
    path = service.file_path(evidence)
    if not path.is_file():
        raise NotFound()
    # Files are at most EVIDENCE_MAX_BYTES; reading them whole keeps no file handle open.
    name = service.download_name(evidence)
    response = send_file(io.BytesIO(path.read_bytes()), mimetype=evidence.content_type, as_attachment=True,
                         download_name=service.ascii_fallback(name), max_age=0,
                         conditional=False, etag=False)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{service.ascii_fallback(name)}"; filename*=UTF-8\'\'{quote(name, safe="")}'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/cases/<int:case_id>/evidence", methods=["POST"])
@login_required
def upload(case_id: int):
    """Attach a screenshot or document to the case."""
    case = cases.get_case(current_user, case_id)
    form = UploadForm()
    upload_file = form.file.data
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.add_evidence(
            current_user, case, upload_file.stream if upload_file and upload_file.filename else None,
            upload_file.filename if upload_file else "",
            note=form.note.data or "", captured_at=form.captured_at.data,
            offending_item_id=form.offending_item_id.data or None,
            purpose=form.purpose.data or None,
        )
    except ValidationFailed as exc:
        # An error page with every reason (the generic one shows only the summary); 4xx rolls back.
        return _error_page(exc)
    flash_at("evidence", _("証拠ファイルを添付しました。"))
    return redirect(url_for("cases.show", case_id=case.id, _anchor="evidence"))


def _error_page(exc: ValidationFailed):
    """A refused upload: the error page with 422 (or 413 for a file over the limit)."""
    message = " ".join([str(exc.message), *(str(m) for m in exc.fields.values())])
    return render_template("errors/error.html", code=exc.status, message=message), exc.status


@bp.route("/cases/<int:case_id>/evidence/<int:evidence_id>/file")
@login_required
def download(case_id: int, evidence_id: int):
    """Download an evidence file (only for users who can see the case)."""
    return send_evidence(service.get_evidence(current_user, case_id, evidence_id))


@bp.route("/cases/<int:case_id>/evidence/<int:evidence_id>/withdraw", methods=["POST"])
@login_required
def withdraw(case_id: int, evidence_id: int):
    """Mark an evidence file withdrawn with a reason (it stays listed and downloadable)."""
    evidence = service.get_evidence(current_user, case_id, evidence_id)
    form = WithdrawEvidenceForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.withdraw(current_user, evidence, form.reason.data)
    except (ValidationFailed, CaseError) as exc:  # no reason, or withdrawn already
        boundary.refuse(exc, at=f"evidence-{evidence_id}")
        return redirect(url_for("cases.show", case_id=case_id, _anchor=f"evidence-{evidence_id}"))
    flash_at(f"evidence-{evidence_id}", _("証拠ファイルを取り下げました。記録は残ります。"))
    return redirect(url_for("cases.show", case_id=case_id, _anchor=f"evidence-{evidence_id}"))
