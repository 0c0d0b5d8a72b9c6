"""Known fake account pages: the list, one fake's page, recording one (optionally from a case), state changes."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary, labels
from incident.accounts.service import all_accounts
from incident.cases import service as cases
from incident.errors import CaseError, Conflict, ValidationFailed
from incident.extensions import db
from incident.fakes import service
from incident.fakes.forms import FakeForm, FakeStateForm
from incident.pagination import page_args
from incident.validation import parse_id

bp = Blueprint("fakes", __name__)


@bp.app_context_processor
def fake_globals() -> dict[str, Any]:
    return {"fake_state_labels": labels.FAKE_STATE_LABELS, "fake_label": service.fake_label}


@bp.app_template_global("case_fakes")
def case_fakes(case: Any) -> list[service.CaseFake]:
    """The fakes the case met, for the case page's partial."""
    return service.case_fakes(current_user, case)


@bp.app_template_global("fakes_for_account")
def fakes_for_account(account: Any) -> list[Any]:
    """The known fakes of a genuine account, for templates/fakes/_for_account.html."""
    return service.fakes_for_account(account)


@bp.route("/fakes")
@login_required
def list_fakes():
    """Known fake accounts, filterable by text and state."""
    q, state = service.filters_from_args(request.args)
    page, per_page = page_args(request.args)
    pagination = db.paginate(service.fakes_query(q, state), page=page, per_page=per_page, error_out=False)
    counts = service.visible_case_counts(current_user, [f.id for f in pagination.items])
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("fakes/list.html", pagination=pagination, counts=counts, args=args,
                           q=q or "", state=state.value if state else "")


@bp.route("/fakes/new", methods=["GET", "POST"])
@login_required
def new_fake():
    """Record a fake account; with ?case_id= it is linked to that case."""
    form = FakeForm()
    form.genuine_account_id.choices = labels.options(
        [("", _("（なし）"))] + [(str(a.id), f"{labels.PLATFORM_LABELS[a.platform]}：{a.name}") for a in all_accounts()]
    )
    case = None
    raw_case = form.case_id.data or request.args.get("case_id", "")
    if raw_case:
        try:
            case_id = parse_id(raw_case)
        except ValueError:
            abort(404)  # like any case that is not there (an out-of-range number must not reach the database)
        case = cases.get_case(current_user, case_id)
        form.case_id.data = str(case.id)
    if request.method == "GET" and case is not None:
        form.platform.data = case.platform.value if case.platform else ""
        form.genuine_account_id.data = str(case.official_account_id or "")
        items = [i.target for i in case.offending_items]
        form.url.data = next((t for t in items if not t.startswith("@")), "")
        form.handle.data = next((t for t in items if t.startswith("@")), "")
    status = 200
    if request.method == "POST":
        try:
            if not form.validate_on_submit():
                raise ValidationFailed()  # each field's message is on the form already
            fake, created = service.record_fake(current_user, _fake_data(form), case)
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
            status = 422
        except CaseError as exc:  # the case is closed: nothing is linked to it
            boundary.refuse(exc)
            return redirect(url_for("cases.show", case_id=case.id) if case else url_for("fakes.list_fakes"))
        except Conflict as exc:  # recorded before: go to that one
            boundary.refuse(exc)
            return redirect(url_for("fakes.show", fake_id=exc.current.id))
        else:
            if created:
                flash(_("偽アカウントを登録しました。"), "success")
            else:
                flash(_("登録済みの偽アカウントにこの案件を関連付けました。"), "success")
            if case is not None:
                return redirect(url_for("cases.show", case_id=case.id, _anchor="fakes"))
            return redirect(url_for("fakes.show", fake_id=fake.id))
    return render_template("fakes/new.html", case=case, form=form), status


def _fake_data(form: FakeForm) -> dict[str, Any]:
    """The form's fields in the shape the service takes (what was not posted is blank, as before)."""
    return {name: getattr(form, name).data or "" for name in
            ("platform", "handle", "url", "display_name", "genuine_account_id")}


@bp.route("/fakes/<int:fake_id>")
@login_required
def show(fake_id: int):
    """One fake account: details, state history and the linked cases the user may see."""
    return _show_page(service.get_fake(fake_id))


def _show_page(fake: Any, form: FakeStateForm | None = None):
    """The fake's page; the state form only for users who may change the state."""
    return render_template("fakes/show.html", fake=fake, events=service.history(fake),
                           linked=service.linked_cases(current_user, fake),
                           can_change_state=service.may_change_state(current_user, fake),
                           state_form=form or FakeStateForm(formdata=None))


@bp.route("/fakes/<int:fake_id>/state", methods=["POST"])
@login_required
def change_state(fake_id: int):
    """Record a state change (reported, removed, still live); users the rule leaves out get 403."""
    fake = service.get_fake(fake_id)
    form = FakeStateForm()
    try:
        if not form.validate_on_submit():
            raise ValidationFailed()  # each field's message is on the form already
        service.change_state(current_user, fake, form.state.data, form.note.data or "")
    except ValidationFailed as exc:
        boundary.refuse(exc, form)
        return _show_page(fake, form), 422
    flash(_("状態を記録しました。"), "success")
    return redirect(url_for("fakes.show", fake_id=fake.id))
