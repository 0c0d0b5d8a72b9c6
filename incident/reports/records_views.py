"""The PR office's pages for records whose retention ended: the list, the export (a ZIP download), and the
redaction of their personal data after a confirmation."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary, policy
from incident.auth.forms import form_error
from incident.auth.models import User
from incident.cases import queries
from incident.cases.models import Case
from incident.errors import PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.messages import flash_at
from incident.pagination import page_args
from incident.reports import records
from incident.reports.case_report_views import report_context, report_markdown
from incident.reports.forms import RecordExportForm, RedactionForm

bp = Blueprint("records", __name__)


def _records_office() -> None:
    """403 for a user who sees the case but is not the PR office (the caller loaded the case: 404 before)."""
    if not policy.can_manage_retention(current_user):
        abort(403)


def export_archive(actor: User, case: Case) -> records.Archive:
    """The case's record written out, with the report rendered as its page shows it (the CLI calls this
    inside a request context of its own, signed in as `actor`)."""
    context = report_context(case.id)
    html = render_template("reports/case_report.html", case=context["report"].case, **context)
    return records.export_record(actor, case, html, report_markdown(case.id, context)[0])  # gathered once


@bp.route("/admin/retention/expired")
@login_required
def expired():
    """Closed cases whose retention ended and whose personal data is still held, oldest first."""
    if not policy.can_manage_retention(current_user):
        abort(404)
    page, per_page = page_args(request.args)
    pagination = db.paginate(records.expired(current_user), page=page, per_page=per_page, error_out=False)
    exports = records.latest_exports(case.id for case in pagination.items)
    return render_template("reports/expired_records.html", pagination=pagination, exports=exports,
                           form=RecordExportForm(formdata=None))


@bp.route("/cases/<int:case_id>/record-export", methods=["POST"])
@login_required
def export(case_id: int):
    """The case's full record as a ZIP (report, record.json, evidence files, manifest-sha256.txt)."""
    case = queries.load_case_page(current_user, case_id, notes=False)
    _records_office()
    back = request.form.get("next") == "redaction"
    form = RecordExportForm()
    try:
        if not form.validate():
            raise form_error(form)
        archive = export_archive(current_user, case)
    except (ValidationFailed, PermissionDenied) as exc:
        boundary.refuse(exc, at="record-export")
        return redirect(url_for("records.redaction", case_id=case_id) if back else url_for("records.expired"))
    db.session.commit()
    response = send_file(archive.file, mimetype="application/zip", as_attachment=True,
                         download_name=archive.name, max_age=0, conditional=False, etag=False)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"{archive.name}\"; "
                                               f"filename*=UTF-8''{quote(archive.name)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Archive-SHA256"] = archive.export.archive_sha256
    return response


@bp.route("/cases/<int:case_id>/redaction", methods=["GET", "POST"])
@login_required
def redaction(case_id: int):
    """What removing the record's personal data would take away, and doing it once the number is typed."""
    case = queries.load_case_page(current_user, case_id, notes=False)
    _records_office()
    done = records.redaction_of(case)
    form = RedactionForm()
    status = 200
    if form.is_submitted() and done is None:
        try:
            if not form.validate():
                raise form_error(form)
            made = records.redact(current_user, case, request.form.getlist("remove_evidence"),
                                  form.confirmation.data or "")
        except ValidationFailed as exc:
            boundary.refuse(exc, form, at="redaction")
            status = 422
        else:
            db.session.commit()
            failed = records.remove_files(made)
            if failed:
                flash_at("redaction", _("個人情報を消去しましたが、証拠ファイル %(ids)s を削除できませんでした。"
                                        "管理者に連絡してください。", ids=", ".join(f"#{i}" for i in failed)), "error")
            else:
                flash_at("redaction", _("%(number)s の個人情報を消去しました。記録の骨格と経過、監査ログは残ります。",
                                        number=case.number), "success")
            return redirect(url_for("records.redaction", case_id=case.id))
    plan = records.plan(current_user, case) if done is None else None
    return render_template("reports/redaction.html", case=case, plan=plan, done=done, form=form,
                           export_form=RecordExportForm(formdata=None),
                           chosen={int(i) for i in request.form.getlist("remove_evidence") if i.isdigit()}), status
