"""Case pages: the list, opening a case, the case page and its actions, editing.

What other domains add to these pages (drafts, escalations, the checklist, evidence, fakes) comes from
template globals those domains' views register, so the case pages import no domain above cases."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from incident import boundary, labels, policy
from incident.accounts.service import all_accounts
from incident.auth import service as auth
from incident.auth.forms import form_error
from incident.cases import queries, retention, service
from incident.cases import review as case_review
from incident.cases.forms import (
    AssignForm,
    EditCaseForm,
    FilterForm,
    ItemForm,
    NewCaseForm,
    NoteForm,
    RetentionForm,
    ReviewForm,
    StatusForm,
)
from incident.cases.models import CaseStatus
from incident.dates import to_tokyo, utcnow
from incident.errors import CaseError, Conflict, NotFound, ValidationFailed
from incident.extensions import db
from incident.messages import flash_at
from incident.pagination import CursorError, page_args
from incident.reports import csv_export

bp = Blueprint("cases", __name__)


def _fill_case_choices(form: Any, case: Any = None) -> None:
    """The pickers; an outside operator's user is offered only the accounts their operator runs (and, when
    editing, the case's own)."""
    def offered(account: Any) -> bool:
        return (policy.can_open_case_about(current_user, account)
                or case is not None and (account.id if account else None) == case.official_account_id)

    form.platform.choices = labels.options([("", _("（未選択）"))]) + labels.choices(labels.PLATFORM_LABELS)
    none = [("", _("（なし）"))] if offered(None) else []
    form.official_account_id.choices = labels.options(none + [
        (str(a.id), f"{labels.PLATFORM_LABELS[a.platform]}：{a.name}（{a.department.name}）")
        for a in all_accounts() if offered(a)
    ])


def _form_data(form: Any) -> dict[str, Any]:
    """The case fields of a submitted form, in the shape the service expects."""
    data = {
        "kind": form.kind.data,
        "severity": form.severity.data,
        "title": form.title.data,
        "description": form.description.data,
        "platform": form.platform.data or None,
        "official_account_id": form.official_account_id.data or None,
        "source": form.source.data,
    }
    if form.detected_at.data:
        data["detected_at"] = form.detected_at.data  # naive: Asia/Tokyo wall-clock time
    return data


@bp.route("/cases")
@login_required
def list_cases():
    """Visible cases with filters and pagination."""
    form = FilterForm(request.args)
    any_option = labels.options([("", _("すべて"))])
    form.kind.choices = any_option + labels.choices(labels.KIND_LABELS)
    form.status.choices = (any_option + labels.options([(queries.OPEN, _("未終了"))])
                           + labels.choices(labels.STATUS_LABELS))
    form.severity.choices = any_option + labels.choices(labels.SEVERITY_LABELS)
    people = auth.active_people(None if policy.lists_every_department(current_user) else current_user.department_id)
    form.assignee_id.choices = labels.options(
        [("", _("すべて")), ("none", _("未割り当て"))] + [(str(u.id), u.name) for u in people]
    )
    form.department.choices = any_option + labels.options((d.code, d.name) for d in auth.all_departments())
    filters = queries.filters_from_args(request.args)
    page, per_page = page_args(request.args)
    if page > queries.MAX_PAGE_NUMBER:  # an old deep link by number: OFFSET would read every row before it
        flash(_("ページ番号で開けるのは %(n)d ページまでです。最初のページから「次へ」で進むか、絞り込んでください。",
                n=queries.MAX_PAGE_NUMBER), "info")
        page = 1
    try:
        pagination = queries.case_list_page(current_user, filters, per_page, page=page,
                                            cursor=request.args.get("cursor") or None)
    except CursorError:  # a cut or edited link: start again from the first page
        pagination = queries.case_list_page(current_user, filters, per_page)
    # The pager's links carry a cursor instead of a page number (keyset paging stays fast deep in the list).
    args = {k: v for k, v in request.args.items() if k not in ("page", "cursor") and v}
    return render_template("cases/list.html", form=form, pagination=pagination, args=args)


@bp.route("/cases.csv")
@login_required
def export_cases():
    """The visible cases matching the list's filters, as CSV for spreadsheets (streamed in batches)."""
    rows = csv_export.case_rows(current_user, queries.filters_from_args(request.args), labels.SEVERITY_LABELS)
    return csv_export.csv_response(rows, "cases")


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new_case():
    """Open a case."""
    form = NewCaseForm()
    _fill_case_choices(form)
    form.department_id.choices = labels.options((str(d.id), d.name) for d in auth.all_departments())
    can_assign = policy.can_assign_on_opening(current_user)
    assignees = auth.active_people(current_user.department_id) if can_assign else []
    form.assignee_id.choices = labels.options(
        [("", _("（後で割り当てる）"))] + [(str(u.id), u.name) for u in assignees]
    )
    if request.method == "GET":
        form.department_id.data = str(current_user.department_id)
        kind = request.args.get("kind")
        if kind in {option.value for option in form.kind.choices}:
            form.kind.data = kind
    if form.validate_on_submit():
        data = _form_data(form)
        data["urls"] = form.urls.data or ""
        department_id = (int(form.department_id.data) if policy.can_open_case_for_any_department(current_user)
                         and form.department_id.data else None)
        assignee_id = int(form.assignee_id.data) if can_assign and form.assignee_id.data else None
        try:
            case = service.open_case(current_user, data, department_id=department_id,
                                     assignee_id=assignee_id)
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
        else:
            flash(_("案件 %(number)s を登録しました。", number=case.number), "success")
            return redirect(url_for("cases.show", case_id=case.id))
    status = 422 if request.method == "POST" else 200
    return render_template("cases/new.html", form=form, can_assign=can_assign,
                           error_forms=[form] if form.errors else []), status


def _render_case(case_id: int, status: int = 200, **forms: Any):
    case = queries.load_case_page(current_user, case_id, notes=False)
    # Everything on asking, and when correcting a note (it may be among the older ones left out).
    everything = request.args.get("all") == "1" or forms.get("correction_note_id") is not None
    notes, hidden_notes = queries.recent_notes(case, None if everything else queries.PAGE_NOTES)
    events, hidden_events = queries.recent_timeline(case, None if everything else queries.PAGE_EVENTS)
    note_form = forms.get("note_form") or NoteForm(formdata=None)
    status_form = forms.get("status_form") or StatusForm(formdata=None)
    allowed = [s for s in service.allowed_targets(case)
               if policy.can_change_status(current_user, case, s)]
    status_form.status.choices = labels.options((s.value, labels.STATUS_LABELS[s]) for s in allowed)
    assign_form = forms.get("assign_form") or AssignForm(formdata=None)
    if policy.can_assign(current_user, case):
        assign_form.assignee_id.choices = labels.options([("", _("（未割り当て）"))] + [
            (str(u.id), f"{u.name}（{labels.ROLE_LABELS[u.role]}）")
            for u in queries.assignable_users(current_user, case)
        ])
        if "assign_form" not in forms:
            assign_form.assignee_id.data = str(case.assignee_id or "")
    item_form = forms.get("item_form") or ItemForm(formdata=None)
    corrected_by = {n.corrects_id: n for n in notes if n.corrects_id}
    reviews = case_review.reviews_of(case)
    return render_template(
        "cases/show.html",
        error_forms=[f for f in forms.values() if isinstance(f, FlaskForm) and f.errors],
        case=case,
        events=events,
        hidden_events=hidden_events,
        notes=notes,
        hidden_notes=hidden_notes,
        notes_by_id={n.id: n for n in notes},
        corrected_by=corrected_by,
        note_form=note_form,
        correction_note_id=forms.get("correction_note_id"),
        added_note_id=request.args.get("added", type=int),
        correction_form=forms.get("correction_form"),
        status_form=status_form,
        assign_form=assign_form,
        item_form=item_form,
        ack_form=NoteForm(formdata=None),
        reviews=reviews,
        review_labels=case_review.REVIEW_LABELS,
        review_form=forms.get("review_form") or ReviewForm(
            formdata=None, prefix="review", data={name: getattr(reviews[0], name) for name in
                                                  case_review.REVIEW_FIELDS} if reviews else None),
        allowed_statuses=allowed,
        can_supervise=policy.can_act_as_supervisor(current_user, case),
        reason_required=[s.value for s in allowed
                         if service.TRANSITIONS[(case.status, s)].requires_reason],
    ), status


@bp.route("/cases/<int:case_id>")
@login_required
def show(case_id: int):
    """The case page: fields, offending items, notes, timeline and actions."""
    return _render_case(case_id)


@bp.route("/cases/<int:case_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(case_id: int):
    """Acknowledge a new case (it moves to responding)."""
    case = service.get_case(current_user, case_id)
    service.acknowledge(current_user, case)
    flash(_("案件を受け付けました。対応を始めてください。"), "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/cases/<int:case_id>/status", methods=["POST"])
@login_required
def change_status(case_id: int):
    """Change the status (closing and reopening are for supervisors)."""
    case = service.get_case(current_user, case_id)
    form = StatusForm()
    form.status.choices = labels.choices(labels.STATUS_LABELS)
    if not form.validate_on_submit():
        return _render_case(case_id, 422, status_form=form)
    try:
        target = CaseStatus(form.status.data)
        # Closing from the page records the review with it ("what happened" and "what was done" required).
        service.change_status(current_user, case, target, form.reason.data or "",
                              waive_open_steps=bool(form.waive_open_steps.data),
                              review=form.review_data() if target == CaseStatus.CLOSED else None)
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
        return _render_case(case_id, 422, status_form=form)
    flash(_("状態を「%(status)s」にしました。", status=labels.STATUS_LABELS[case.status]), "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/cases/<int:case_id>/review", methods=["POST"])
@login_required
def review(case_id: int):
    """Record a revised review of a closed case (the earlier one stays on the timeline)."""
    case = service.get_case(current_user, case_id)
    form = ReviewForm(prefix="review")
    if not form.validate_on_submit():
        return _render_case(case_id, 422, review_form=form)
    try:
        case_review.write_review(current_user, case, form.review_data())
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
        return _render_case(case_id, 422, review_form=form)
    flash_at("review", _("振り返りを記録しました。"))
    return redirect(url_for("cases.show", case_id=case.id, _anchor="review"))


@bp.route("/cases/<int:case_id>/assign", methods=["POST"])
@login_required
def assign(case_id: int):
    """Assign or reassign the case."""
    case = service.get_case(current_user, case_id)
    form = AssignForm()
    if form.validate_on_submit():
        try:
            service.assign(current_user, case, form.assignee_id.data or None)
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
            return _render_case(case_id, 422, assign_form=form)
        flash(_("担当者を更新しました。"), "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/cases/<int:case_id>/notes", methods=["POST"])
@login_required
def add_note(case_id: int):
    """Append a note."""
    case = service.get_case(current_user, case_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _render_case(case_id, 422, note_form=form)
    try:
        note = service.add_note(current_user, case, form.body.data)
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
        return _render_case(case_id, 422, note_form=form)
    # The page opens at the new note, which says it was added (role=status) and takes the focus (static/app.js).
    return redirect(url_for("cases.show", case_id=case.id, added=note.id, _anchor=f"note-{note.id}"))


@bp.route("/cases/<int:case_id>/notes/<int:note_id>/correct", methods=["GET", "POST"])
@login_required
def correct_note(case_id: int, note_id: int):
    """Append a correction of an earlier note (the original stays, struck through)."""
    case = service.get_case(current_user, case_id)
    original = service.get_note(case, note_id)
    form = NoteForm(prefix="correction")  # distinct ids from the add-note form on the same page
    if request.method == "GET":
        form.body.data = original.body
        return _render_case(case_id, correction_form=form, correction_note_id=original.id)
    if not form.validate_on_submit():
        return _render_case(case_id, 422, correction_form=form, correction_note_id=original.id)
    try:
        note = service.add_note(current_user, case, form.body.data, corrects=original)
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
        return _render_case(case_id, 422, correction_form=form, correction_note_id=original.id)
    flash_at(f"note-{note.id}", _("メモを訂正しました。元のメモは取り消し線付きで残ります。"))
    return redirect(url_for("cases.show", case_id=case.id, _anchor=f"note-{note.id}"))


@bp.route("/cases/<int:case_id>/items", methods=["POST"])
@login_required
def add_item(case_id: int):
    """Record an offending post or account."""
    case = service.get_case(current_user, case_id)
    form = ItemForm()
    if not form.validate_on_submit():
        return _render_case(case_id, 422, item_form=form)
    try:
        service.add_offending_item(current_user, case, form.target.data, form.note.data or "")
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
        return _render_case(case_id, 422, item_form=form)
    flash_at("items", _("問題の投稿・アカウントを記録しました。"))
    return redirect(url_for("cases.show", case_id=case.id, _anchor="items"))


@bp.route("/cases/<int:case_id>/edit", methods=["GET", "POST"])
@login_required
def edit(case_id: int):
    """Edit the case's fields; a save based on an older version is refused and nothing typed is lost."""
    case = service.get_case(current_user, case_id)
    form = EditCaseForm(obj=case if request.method == "GET" else None)
    _fill_case_choices(form, case)
    if request.method == "GET":
        form.kind.data = case.kind.value
        form.severity.data = case.severity.value
        form.platform.data = case.platform.value if case.platform else ""
        form.official_account_id.data = str(case.official_account_id or "")
        form.detected_at.data = to_tokyo(case.detected_at).replace(tzinfo=None)
        form.version.data = str(case.version)
    conflict = None
    status = 200
    if form.validate_on_submit():
        try:
            service.update_case(current_user, case, form.version.data, _form_data(form))
        except CaseError as exc:  # a rule of the case's state, not someone else's edit
            boundary.refuse(exc)
            return redirect(url_for("cases.show", case_id=case_id))
        except Conflict as exc:
            boundary.abandon()  # reload the saved values to show beside what the user typed
            conflict = exc
            case = service.get_case(current_user, case_id)
            status = 409
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
            status = 422
        else:
            flash(_("案件を更新しました。"), "success")
            return redirect(url_for("cases.show", case_id=case.id))
    elif request.method == "POST":
        status = 422
    if conflict is not None:
        # Keep what the user typed in the form; show the current saved values beside it and
        # let them save again on top of the new version.
        form.version.data = str(case.version)
    return render_template("cases/edit.html", form=form, case=case, conflict=conflict,
                           accounts={a.id: a for a in all_accounts()}), status


# ---- retention of the records (PR office) ----------------------------------------------------------------


@bp.route("/admin/retention")
@login_required
def retention_list():
    """Closed cases whose records' retention ends in a fiscal year (this one unless ?year=), soonest first."""
    today = to_tokyo(utcnow()).date()
    this_year = retention.fiscal_year(today)
    try:
        year = int(request.args.get("year") or this_year)
    except ValueError:
        year = this_year
    year = min(max(year, 2000), this_year + 200)
    try:
        query = retention.ending_in(current_user, year)
    except NotFound:
        abort(404)
    page, per_page = page_args(request.args)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    first, last = retention.fiscal_bounds(year)
    return render_template("cases/retention.html", pagination=pagination, year=year, this_year=this_year,
                           first=first, last=last, classes=retention.classes(), form=RetentionForm(formdata=None))


@bp.route("/admin/retention/<int:case_id>", methods=["POST"])
@login_required
def extend_retention(case_id: int):
    """Keep a record longer, with the reason (never shorter)."""
    case = queries.load_case_page(current_user, case_id, notes=False)  # 404 for a case the user cannot see
    if not policy.can_manage_retention(current_user):
        abort(403)
    form = RetentionForm()
    year = request.form.get("year", "")
    try:
        if not form.validate():
            raise form_error(form)
        retention.extend(current_user, case, form.retention_class.data or "", form.reason.data or "")
    except ValidationFailed as exc:
        boundary.refuse(exc, at=f"retention-{case.id}")
    else:
        db.session.commit()
        flash_at(f"retention-{case.id}", _("%(number)s の保存期間を延長しました。", number=case.number), "success")
    return redirect(url_for("cases.retention_list", year=year if year.isdigit() else None,
                            _anchor=f"retention-{case.id}"))
