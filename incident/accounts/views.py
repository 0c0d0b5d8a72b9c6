"""Pages for the registry of official accounts."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import boundary, labels, policy
from incident.accounts import operators, service
from incident.accounts.forms import AccountForm, ClosureTaskForm, MfaForm, NoticeForm
from incident.accounts.models import AccountStatus, NoticeKind
from incident.auth.forms import form_error
from incident.auth.service import all_departments, all_operators
from incident.cases import service as cases
from incident.cases.models import Case
from incident.dates import era_date, to_tokyo, utcnow
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.validation import parse_id

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def _form_data(form: AccountForm) -> dict:
    return {
        "platform": form.platform.data,
        "name": form.name.data,
        "url": form.url.data,
        "department_id": form.department_id.data,
        "operator_type": form.operator_type.data,
        "operator_name": form.operator_name.data,
        **{name: getattr(form, name).data for name in service.POLICY_FIELDS},
    }


def _prepare(form: AccountForm) -> None:
    departments = all_departments()
    form.department_id.choices = labels.options((str(d.id), d.name) for d in departments)


@bp.app_template_global("case_account_notices")
def case_account_notices(case: Case) -> dict:
    """What the case page shows about 様式2: the notices filed from the case, and whether to offer filing one."""
    return {"notices": service.notices_of_case(case), "may_file": service.may_file_from_case(current_user, case)}


@bp.route("")
@login_required
def index():
    """Every official account (or, with ?deletion=unconfirmed, the closed ones never confirmed deleted)."""
    only_unconfirmed = request.args.get("deletion") == "unconfirmed"
    rows = service.registry(unconfirmed_only=only_unconfirmed)
    accounts = [account for account, _unconfirmed in rows]
    unconfirmed = {account.id for account, flagged in rows if flagged}
    days = current_app.config["ACCOUNT_POLICY_REVIEW_DAYS"]
    warnings = {a.id: service.account_warnings(a, review_days=days, deletion_unconfirmed=a.id in unconfirmed)
                for a in accounts}
    return render_template("accounts/list.html", accounts=accounts, warnings=warnings, review_days=days,
                           unconfirmed=unconfirmed,
                           only_unconfirmed=only_unconfirmed, can_manage=policy.can_manage_accounts(current_user))


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
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
        else:
            flash(_("公式アカウント「%(name)s」を登録しました。", name=account.name), "success")
            return redirect(url_for("accounts.index"))
    return (render_template("accounts/form.html", form=form, account=None, operators=all_operators()),
            422 if request.method == "POST" else 200)


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
        except ValidationFailed as exc:
            boundary.refuse(exc, form)
        else:
            flash(_("公式アカウントを更新しました。"), "success")
            return redirect(url_for("accounts.detail", account_id=account.id))
    return (render_template("accounts/form.html", form=form, account=account, operators=all_operators()),
            422 if request.method == "POST" else 200)


@bp.route("/<int:account_id>")
@login_required
def detail(account_id: int):
    """The account's 様式1 fields, its 様式2 notices with receipts, and the closure checklist."""
    account = service.get_account(account_id)
    days = current_app.config["ACCOUNT_POLICY_REVIEW_DAYS"]
    notices = service.notices_of(account)
    unconfirmed = service.deletion_unconfirmed(account)
    mfa = service.mfa_source(account)  # MFA confirmed by a case's step names the case (to those who see it)
    mfa_case = _visible_cases({mfa.case_id}).get(mfa.case_id) if mfa and mfa.case_id else None
    return render_template(
        "accounts/detail.html", account=account, notices=notices, deletion_unconfirmed=unconfirmed,
        mfa=mfa, mfa_case=mfa_case, mfa_methods=service.MFA_METHODS,
        notice_cases=_visible_cases({n.case_id for n, *_ in notices if n.case_id}),
        checklist=service.closure_checklist(account) if account.status == AccountStatus.CLOSED else [],
        warnings=service.account_warnings(account, review_days=days, deletion_unconfirmed=unconfirmed),
        era_date=era_date,
        can_manage=policy.can_manage_accounts(current_user),
        can_file=policy.can_file_account_notice(current_user, account),
        can_receive=policy.can_receive_account_notices(current_user),
        can_task={t: policy.can_do_closure_task(current_user, account, t) for t in service.CLOSURE_TASKS},
        operator_people=(operators.people_of(account) if policy.can_see_operator_people(current_user, account)
                         else None),
    )


@bp.route("/operators")
@login_required
def operator_list():
    """The outside operators (委託業者・指定管理者): the accounts each runs and its people (PR office)."""
    if not policy.can_manage_accounts(current_user):
        abort(403)
    return render_template("accounts/operators.html", operators=operators.overview())


@bp.post("/<int:account_id>/mfa")
@login_required
def confirm_mfa(account_id: int):
    """Record that multi-factor authentication was checked (on, or found off)."""
    account = service.get_account(account_id)
    form = MfaForm()
    if form.validate_on_submit():
        service.confirm_mfa(current_user, account, form.enabled.data == "1")
        flash(_("多要素認証の確認を記録しました。"), "success")
    return redirect(url_for("accounts.detail", account_id=account.id))


@bp.post("/<int:account_id>/reviewed")
@login_required
def policy_reviewed(account_id: int):
    """Record that the operation policy was reviewed."""
    account = service.get_account(account_id)
    service.mark_policy_reviewed(current_user, account)
    flash(_("運用ポリシーの見直しを記録しました。"), "success")
    return redirect(url_for("accounts.detail", account_id=account.id))


def _visible_cases(case_ids: set[int]) -> dict[int, Case]:
    """The cases among `case_ids` the user may see (a notice's case link is shown only to them)."""
    found = {}
    for case_id in sorted(case_ids):
        try:
            found[case_id] = cases.get_case(current_user, case_id)
        except NotFound:
            continue
    return found


def _notice_case(account_id: int) -> Case | None:
    """The case a notice is filed from (?case_id= on the link, the hidden field on the form): one the user may
    see and that names this account, else 404; None when the notice is not filed from a case."""
    raw = request.form.get("case_id") if request.method == "POST" else request.args.get("case_id")
    try:
        case_id = parse_id(raw)
    except ValueError:
        abort(404)
    if case_id is None:
        return None
    case = cases.get_case(current_user, case_id)
    if request.method == "GET" and case.official_account_id != account_id:
        abort(404)
    return case


@bp.route("/<int:account_id>/notices/new", methods=["GET", "POST"])
@login_required
def new_notice(account_id: int):
    """File a 様式2 notice (the account's department or the PR office), from the account or from a case."""
    account = service.get_account(account_id)
    case = _notice_case(account.id)
    if not policy.can_file_account_notice(current_user, account):
        abort(403)
    form = NoticeForm()
    if request.method == "GET":
        if case is not None:  # pre-filled from the case: the kind its kind calls for, the details naming it
            defaults = service.notice_defaults(case)
            form.kind.data = defaults["kind"]
            form.details.data = defaults["details"]
            form.effective_date.data = to_tokyo(utcnow()).date()
            form.case_id.data = str(case.id)
        if request.args.get("kind") in {k.value for k in NoticeKind}:
            form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        try:
            notice = service.file_notice(current_user, account, {
                "kind": form.kind.data, "effective_date": form.effective_date.data,
                "contact": form.contact.data, "details": form.details.data, "remarks": form.remarks.data,
            }, case=case)
        except (ValidationFailed, Conflict) as exc:  # bad fields, the account already closed, the case closed
            boundary.refuse(exc, form)
        else:
            flash(_("届出を提出しました。"), "success")
            if case is not None:
                return redirect(url_for("cases.show", case_id=case.id, _anchor="account-notices"))
            return redirect(url_for("accounts.detail", account_id=account.id, _anchor=f"notice-{notice.id}"))
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/notice_form.html", form=form, account=account, case=case), status


@bp.post("/<int:account_id>/notices/<int:notice_id>/receive")
@login_required
def receive_notice(account_id: int, notice_id: int):
    """The PR office receives a notice."""
    account = service.get_account(account_id)
    notice = service.get_notice(account, notice_id)
    if not policy.can_receive_account_notices(current_user):
        abort(403)
    try:
        service.receive_notice(current_user, notice)
    except Conflict as exc:  # received already
        boundary.refuse(exc)
    else:
        flash(_("届出を受け付けました。"), "success")
    return redirect(url_for("accounts.detail", account_id=account.id, _anchor=f"notice-{notice.id}"))


@bp.post("/<int:account_id>/closure/<task>")
@login_required
def closure_task(account_id: int, task: str):
    """Record a done item of the closure checklist."""
    account = service.get_account(account_id)
    if task not in service.CLOSURE_TASKS:
        abort(404)
    if not policy.can_do_closure_task(current_user, account, task):
        abort(403)
    form = ClosureTaskForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.complete_closure_task(current_user, account, task, form.note.data or "")
    except (ValidationFailed, Conflict) as exc:  # a note too long, or the item done already / too early
        boundary.refuse(exc)
    else:
        flash(_("廃止手続の項目を記録しました。"), "success")
    return redirect(url_for("accounts.detail", account_id=account.id, _anchor="closure"))


@bp.route("/<int:account_id>/form1")
@login_required
def form1(account_id: int):
    """様式1 運用ポリシー, printable on A4."""
    account = service.get_account(account_id)
    return render_template("accounts/form1.html", account=account, era_date=era_date)


@bp.route("/<int:account_id>/notices/<int:notice_id>/form2")
@login_required
def form2(account_id: int, notice_id: int):
    """様式2 開設・変更・廃止届出書, printable on A4."""
    account = service.get_account(account_id)
    notice = service.get_notice(account, notice_id)
    return render_template("accounts/form2.html", account=account, notice=notice, era_date=era_date)
