"""The PR office's pages for people and departments (/admin/users, /admin/departments): to everyone else
they do not exist (404, on POST too). Registered on the `auth` blueprint (imported by incident.auth.views)."""
from __future__ import annotations

from typing import Any

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired

from incident import boundary, labels, policy
from incident.auth import people, postings
from incident.auth.forms import REQUIRED, EmptyForm, at_most, stripped
from incident.auth.models import Operator, OperatorType, User
from incident.auth.service import active_people, all_departments
from incident.auth.views import bp
from incident.errors import DomainError, NotFound
from incident.escalation import handover
from incident.extensions import db
from incident.pagination import page_args
from incident.validation import parse_id

_ROLE_CHOICES = labels.choices(labels.ROLE_LABELS)
_KIND_CHOICES = labels.options([(OperatorType.CONTRACTOR.value, labels.OPERATOR_LABELS[OperatorType.CONTRACTOR]),
                                (OperatorType.DESIGNATED_MANAGER.value,
                                 labels.OPERATOR_LABELS[OperatorType.DESIGNATED_MANAGER])])


class UserForm(FlaskForm):
    """A person's name, e-mail, role, department and (for a responder) outside organisation."""

    name = StringField(_l("氏名"), filters=[stripped], validators=[DataRequired(REQUIRED), at_most(people.NAME_MAX)])
    email = EmailField(_l("メールアドレス"), filters=[stripped], validators=[DataRequired(REQUIRED), at_most(254)])
    role = SelectField(_l("役割"), choices=_ROLE_CHOICES, validate_choice=False)
    department_id = SelectField(_l("所属"), choices=[], validate_choice=False,
                                validators=[DataRequired(_l("所属を選んでください。"))])
    organisation = StringField(_l("委託業者・指定管理者の組織名（担当者のみ。市の職員は空欄）"), filters=[stripped],
                               validators=[at_most(200)])
    operator_kind = SelectField(_l("組織の種類"), choices=_KIND_CHOICES, validate_choice=False)


class ApproveForm(FlaskForm):
    """The role and department a pending user gets."""

    role = SelectField(_l("役割"), choices=_ROLE_CHOICES, validate_choice=False)
    department_id = SelectField(_l("所属"), choices=[], validate_choice=False,
                                validators=[DataRequired(_l("所属を選んでください。"))])


class DeactivateForm(FlaskForm):
    """The confirmation of a deactivation, and who receives the open cases."""

    reassign_to = SelectField(_l("未完了の案件を引き継ぐ人"), choices=[], validate_choice=False)
    confirm = BooleanField(_l("ログインとAPIトークンが直ちに使えなくなることを確認しました"),
                           validators=[DataRequired(_l("確認のチェックを入れてください。"))])


class DepartmentForm(FlaskForm):
    """A department's name and contact (and its code when new)."""

    code = StringField(_l("コード（英数字。CLI と API で使います）"), filters=[stripped],
                       validators=[DataRequired(REQUIRED), at_most(people.CODE_MAX)])
    name = StringField(_l("名称"), filters=[stripped], validators=[DataRequired(REQUIRED), at_most(people.NAME_MAX)])
    contact = StringField(_l("連絡先（電話・メール。報道発表や周知文に載ります）"), filters=[stripped],
                          validators=[at_most(300)])


class DepartmentEditForm(DepartmentForm):
    """Renaming a department and setting its contact (the code stays)."""

    code = None  # type: ignore[assignment]


def _require_pr_office() -> None:
    if not policy.can_manage_users(current_user):
        raise NotFound()


def _department_options(blank: Any = "") -> list[tuple[str, str]]:
    return [("", str(blank))] + [(str(d.id), f"{d.name}（{d.code}）") for d in all_departments()]


def _refused(error: DomainError, form: Any = None) -> None:
    boundary.refuse(error, form)


def _no_store(body: str) -> Any:
    response = make_response(body)
    response.headers["Cache-Control"] = "no-store"  # a temporary password must not stay in a cache
    return response


@bp.route("/admin/users")
@login_required
def users():
    """The PR office's list of people: search by name or e-mail, filter by department and state, paged."""
    _require_pr_office()
    page, per_page = page_args(request.args)
    q = (request.args.get("q") or "").strip()[: people.NAME_MAX] or None
    try:
        department_id = parse_id(request.args.get("department") or None) or None
    except ValueError:
        department_id = None
    state = request.args.get("state") if request.args.get("state") in people.STATES else None
    filters = people.PeopleFilters(q=q, department_id=department_id, state=state)
    pagination = db.paginate(people.people_query(current_user, filters), page=page, per_page=per_page,
                             error_out=False)
    args = {k: v for k, v in {"q": q, "department": department_id, "state": state}.items() if v}
    return render_template("auth/users.html", pagination=pagination, users=pagination.items, args=args,
                           departments=all_departments(), filters=filters)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def new_user():
    """Add a person; the temporary password is shown once on the result page."""
    _require_pr_office()
    form = UserForm()
    form.department_id.choices = _department_options(_("選んでください"))
    if form.validate_on_submit():
        try:
            department = people.department_choice(form.department_id.data)
            user, temporary = people.add_user(
                current_user, email=form.email.data, name=form.name.data, role=form.role.data,
                department=department, organisation=form.organisation.data, operator_kind=form.operator_kind.data)
        except DomainError as exc:
            _refused(exc, form)
        else:
            return _no_store(render_template("admin/user_created.html", user=user, temporary=temporary))
    return render_template("admin/user_form.html", form=form, user=None)


def _posting_rows(user: User) -> list[dict[str, Any]]:
    """The user's postings, newest first, with the names a table shows."""
    rows = postings.history_of(user.id)
    operator_ids = {p.operator_id for p in rows if p.operator_id}
    changer_ids = {p.changed_by_id for p in rows if p.changed_by_id}
    operators = ({o.id: o.name for o in db.session.scalars(select(Operator).where(Operator.id.in_(operator_ids)))}
                 if operator_ids else {})
    changers = ({u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(changer_ids)))}
                if changer_ids else {})
    return [{"posting": p, "organisation": operators.get(p.operator_id or 0, ""),
             "changed_by": changers.get(p.changed_by_id or 0)} for p in rows]


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def user_detail(user_id: int):
    """Edit a person (a move of role, department or organisation starts a new posting), with their posting
    history and the approve, deactivate and reactivate actions."""
    user = people.managed_user(current_user, user_id)
    form = UserForm(obj=None if request.method == "POST" else user)
    form.department_id.choices = _department_options(_("選んでください"))
    if request.method == "GET":
        form.department_id.data = str(user.department_id)
        form.role.data = user.role.value
        form.organisation.data = user.organisation or ""
        form.operator_kind.data = user.operator.kind.value if user.operator else OperatorType.CONTRACTOR.value
    if form.validate_on_submit():
        try:
            people.update_user(current_user, user, name=form.name.data, email=form.email.data, role=form.role.data,
                               department=people.department_choice(form.department_id.data),
                               organisation=form.organisation.data, operator_kind=form.operator_kind.data)
        except DomainError as exc:
            _refused(exc, form)
        else:
            flash(_("%(name)s さんの情報を保存しました。", name=user.name), "success")
            return redirect(url_for("auth.user_detail", user_id=user.id))
    return _user_page(user, form, ApproveForm(formdata=None, prefix="approve"))


def _user_page(user: User, form: UserForm, approve_form: ApproveForm) -> str:
    approve_form.department_id.choices = _department_options(_("選んでください"))
    if approve_form.department_id.data is None:
        approve_form.department_id.data = str(user.department_id)
        approve_form.role.data = user.role.value
    return render_template("admin/user_form.html", user=user, form=form, approve_form=approve_form,
                           postings=_posting_rows(user), action_form=EmptyForm(),
                           may_deactivate=policy.can_deactivate_user(current_user, user))


@bp.route("/admin/users/<int:user_id>/approve", methods=["POST"])
@login_required
def approve_user(user_id: int):
    """Approve a person waiting after a first single sign-on, with a role and department."""
    user = people.managed_user(current_user, user_id)
    form = ApproveForm(prefix="approve")
    form.department_id.choices = _department_options(_("選んでください"))
    if form.validate_on_submit():
        try:
            people.approve_pending_user(current_user, user, role=form.role.data,
                                        department=people.department_choice(form.department_id.data))
        except DomainError as exc:
            _refused(exc, form)
        else:
            flash(_("%(name)s さんを承認しました。", name=user.name), "success")
            return redirect(url_for("auth.user_detail", user_id=user.id))
    return _user_page(user, UserForm(obj=user, formdata=None), form)


@bp.route("/admin/users/<int:user_id>/reject", methods=["POST"])
@login_required
def reject_user(user_id: int):
    """Refuse a person waiting after a first single sign-on (they stay unable to log in)."""
    user = people.managed_user(current_user, user_id)
    if EmptyForm().validate_on_submit():
        try:
            people.reject_pending_user(current_user, user)
        except DomainError as exc:
            _refused(exc)
        else:
            flash(_("%(name)s さんの利用申請を却下しました。", name=user.name), "success")
    return redirect(url_for("auth.user_detail", user_id=user.id))


@bp.route("/admin/users/<int:user_id>/reactivate", methods=["POST"])
@login_required
def reactivate_user(user_id: int):
    """Let a deactivated person log in again."""
    user = people.managed_user(current_user, user_id)
    if EmptyForm().validate_on_submit():
        try:
            people.reactivate_user(current_user, user)
        except DomainError as exc:
            _refused(exc)
        else:
            flash(_("%(name)s さんのアカウントを有効に戻しました。", name=user.name), "success")
    return redirect(url_for("auth.user_detail", user_id=user.id))


@bp.route("/admin/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@login_required
def deactivate_user(user_id: int):
    """The confirmation step: the person's open cases, drafts and escalations first, who receives the open
    cases, then deactivation (sessions and tokens end at once; every record they made stays)."""
    user = people.managed_user(current_user, user_id)
    work = handover.handover_of(current_user, user)
    form = DeactivateForm()
    # The leaving person's own department first: their cases usually stay there.
    others = sorted((p for p in active_people() if p.id != user.id), key=lambda p: p.department_id != user.department_id)
    form.reassign_to.choices = [("", _("引き継がない（後で割り当てる）"))] + [
        (str(p.id), f"{p.name}（{p.department.name}）") for p in others]
    if user.active and policy.can_deactivate_user(current_user, user) and form.validate_on_submit():
        try:
            to_user = handover.receiver(form.reassign_to.data, user) if form.reassign_to.data else None
            moved = handover.deactivate_with_handover(current_user, user, to_user)
        except DomainError as exc:
            _refused(exc, form)
        else:
            flash(_("%(name)s さんのアカウントを無効にしました。", name=user.name), "success")
            if moved and to_user is not None:
                flash(_("未完了の案件 %(n)d 件を %(name)s さんに引き継ぎました。", n=len(moved), name=to_user.name),
                      "success")
            return redirect(url_for("auth.user_detail", user_id=user.id))
    return render_template("admin/user_deactivate.html", user=user, work=work, form=form,
                           may_deactivate=policy.can_deactivate_user(current_user, user))


@bp.route("/admin/departments", methods=["GET", "POST"])
@login_required
def departments():
    """The departments with their number of active people, and a form to add one."""
    _require_pr_office()
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            department = people.add_department(current_user, form.code.data, form.name.data, form.contact.data)
        except DomainError as exc:
            _refused(exc, form)
        else:
            flash(_("所属「%(name)s」を追加しました。", name=department.name), "success")
            return redirect(url_for("auth.departments"))
    return render_template("admin/departments.html", rows=people.department_rows(current_user), form=form)


@bp.route("/admin/departments/<int:department_id>", methods=["GET", "POST"])
@login_required
def department_detail(department_id: int):
    """Rename a department and set its contact; delete it only when it has no history."""
    department = people.managed_department(current_user, department_id)
    form = DepartmentEditForm(obj=department)
    if form.validate_on_submit():
        try:
            people.update_department(current_user, department, name=form.name.data, contact=form.contact.data)
        except DomainError as exc:
            _refused(exc, form)
        else:
            flash(_("所属「%(name)s」を保存しました。", name=department.name), "success")
            return redirect(url_for("auth.department_detail", department_id=department.id))
    return render_template("admin/department_form.html", department=department, form=form,
                           history=people.department_history(department), delete_form=EmptyForm())


@bp.route("/admin/departments/<int:department_id>/delete", methods=["POST"])
@login_required
def delete_department(department_id: int):
    """Delete a department that has no history (one with any is refused with the reason)."""
    department = people.managed_department(current_user, department_id)
    if EmptyForm().validate_on_submit():
        try:
            name = department.name
            people.delete_department(current_user, department)
        except DomainError as exc:
            _refused(exc)
        else:
            flash(_("所属「%(name)s」を削除しました。", name=name), "success")
            return redirect(url_for("auth.departments"))
    return redirect(url_for("auth.department_detail", department_id=department_id))

