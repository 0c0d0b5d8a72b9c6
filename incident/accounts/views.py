"""Pages for the registry of official accounts."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from incident import labels, policy
from incident.accounts import service
from incident.accounts.forms import AccountForm
from incident.auth.models import Department
from incident.errors import ValidationFailed
from incident.extensions import db

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def _form_data(form: AccountForm) -> dict:
    return {
        "platform": form.platform.data,
        "name": form.name.data,
        "url": form.url.data,
        "department_id": form.department_id.data,
        "operator_type": form.operator_type.data,
        "operator_name": form.operator_name.data,
    }


def _prepare(form: AccountForm) -> None:
    departments = db.session.scalars(select(Department).order_by(Department.name))
    form.department_id.choices = labels.options((str(d.id), d.name) for d in departments)


def _show_errors(form: AccountForm, error: ValidationFailed) -> None:
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + [str(message)]
    flash(str(error.message), "error")


@bp.route("")
@login_required
def index():
    """Every official account, with links to cases about them."""
    return render_template("accounts/list.html", accounts=service.all_accounts(),
                           can_manage=policy.can_manage_accounts(current_user))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """Register an official account (PR office)."""
    if not policy.can_manage_accounts(current_user):
        abort(403)
    form = AccountForm()
    _prepare(form)
    if request.method == "GET":
        form.department_id.data = str(current_user.department_id)
    if form.validate_on_submit():
        try:
            account = service.create_account(current_user, _form_data(form))
            db.session.commit()
        except ValidationFailed as exc:
            db.session.rollback()
            _show_errors(form, exc)
        else:
            flash(_("公式アカウント「%(name)s」を登録しました。", name=account.name), "success")
            return redirect(url_for("accounts.index"))
    return render_template("accounts/form.html", form=form, account=None), (422 if request.method == "POST" else 200)


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@login_required
def edit(account_id: int):
    """Edit an official account (PR office)."""
    account = service.get_account(account_id)
    if not policy.can_manage_accounts(current_user):
        abort(403)
    form = AccountForm(obj=account if request.method == "GET" else None)
    _prepare(form)
    if request.method == "GET":
        form.platform.data = account.platform.value
        form.operator_type.data = account.operator_type.value
        form.department_id.data = str(account.department_id)
    if form.validate_on_submit():
        try:
            service.update_account(current_user, account, _form_data(form))
            db.session.commit()
        except ValidationFailed as exc:
            db.session.rollback()
            _show_errors(form, exc)
        else:
            flash(_("公式アカウントを更新しました。"), "success")
            return redirect(url_for("accounts.index"))
    return render_template("accounts/form.html", form=form, account=account), (422 if request.method == "POST" else 200)
