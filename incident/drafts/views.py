"""Draft pages: create from the case, edit (new revision), checks, approval, export, sending and the ledger."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from incident import boundary, labels, policy
from incident.auth.forms import form_error
from incident.cases import service as cases
from incident.drafts import blanks, sending, service
from incident.drafts.disclosure import check_with_config
from incident.drafts.forms import (
    AnswerForm,
    ApproveForm,
    NewDraftForm,
    PreApprovedForm,
    ReturnForm,
    ReviseForm,
    SentForm,
    SubmitForm,
    WithdrawForm,
)
from incident.drafts.models import FOLLOWED_UP_TYPES, OUTCOMES, Draft, DraftStatus, DraftType
from incident.errors import CaseError, Conflict, ValidationFailed
from incident.messages import flash_at

bp = Blueprint("drafts", __name__)


@bp.app_context_processor
def draft_globals() -> dict[str, Any]:
    return {"draft_type_labels": labels.DRAFT_TYPE_LABELS, "draft_status_labels": labels.DRAFT_STATUS_LABELS,
            "draft_channel_labels": labels.SENDING_CHANNEL_LABELS, "draft_outcome_labels": labels.TAKEDOWN_OUTCOME_LABELS,
            "draft_place_labels": service.channel_labels()}


@bp.app_template_global("case_drafts")
def case_drafts(case: Any) -> dict[str, Any]:
    """What the case page shows about drafts: the drafts, the ledger and what is withdrawn."""
    ledger = sending.ledger(case)
    withdrawn = service.withdrawn_ids(case)
    return {"drafts": service.drafts_of(case), "ledger": ledger, "withdrawn": withdrawn, "today": sending.today(),
            "interims": [p for p in ledger if p.kind == DraftType.INTERIM_NOTICE.value and p.id not in withdrawn]}


def _to_draft(draft: Draft, anchor: str | None = None):
    return redirect(url_for("drafts.show", case_id=draft.case_id, draft_id=draft.id, _anchor=anchor))


@bp.route("/cases/<int:case_id>/drafts", methods=["POST"])
@login_required
def create(case_id: int):
    """Generate a draft of the chosen type from the case and open it."""
    case = cases.get_case(current_user, case_id)
    form = NewDraftForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        draft = service.create_draft(current_user, case, form.data)
    except (ValidationFailed, CaseError) as exc:  # bad choices, or a closed case: back to the case page
        boundary.refuse(exc)
        return redirect(url_for("cases.show", case_id=case.id, _anchor="drafts"))
    flash(_("ひな形から文案を作りました。内容を確かめ、必要なら書き換えてください。"), "success")
    return _to_draft(draft)


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>")
@login_required
def show(case_id: int, draft_id: int):
    """The draft: current text, editor, checks, approval, revisions with differences, sending."""
    draft = service.get_draft(current_user, case_id, draft_id)
    case = service.case_of(draft)
    revisions = draft.revisions
    by_number = {r.number: r for r in revisions}
    compare_to = request.args.get("compare", type=int)
    latest = revisions[-1]
    base = by_number.get(compare_to) if compare_to else (revisions[-2] if len(revisions) > 1 else None)
    if base is latest:
        base = None
    pr_problems = check_with_config(latest.body) if request.args.get("pr_check") else None
    publications = sending.publications_of(draft)
    return render_template(
        "drafts/show.html", case=case, draft=draft, latest=latest, revisions=revisions, base=base,
        diff=service.diff(base.body, latest.body) if base else None,
        history=service.history(draft), checks=service.checks_of(latest),
        check_labels=labels.SECTION4_CHECK_LABELS, scope_labels=labels.PRE_APPROVED_SCOPE_LABELS, event_labels=labels.DRAFT_EVENT_LABELS,
        can_approve=service.can_approve(current_user, draft, case),
        can_supervise=policy.can_act_as_supervisor(current_user, case),
        own=service.is_own(current_user, draft),
        requirements=sending.platform_checklist(current_user, case, draft) if draft.type == DraftType.TAKEDOWN else [],
        ask_labels=labels.TAKEDOWN_ASK_LABELS, facts=service.wording().platforms.get(draft.platform or ""),
        publication=publications[0] if publications else None, publications=publications,
        recorded_places={p.place for p in publications if p.place}, letter=service.is_letter(draft.type),
        channels=service.wording().channels, channel=service.channel_facts(draft.channel),
        editor_channel=draft.channel or service.default_channel(case, draft.type),
        measures=service.measures(draft, latest), counter_rules=service.counter_rules(),
        place_measures=service.place_measures(latest),
        web_diff=service.diff(base.web_body, latest.web_body) if base and (base.web_body or latest.web_body) else None,
        web_blanks=blanks.find_blanks(latest.web_body), web_segments=blanks.segments(latest.web_body),
        pr_problems=pr_problems, takedown_channels=sending.TAKEDOWN_CHANNELS, notice_channels=sending.NOTICE_CHANNELS,
        follow_up_days=sending.follow_up_days(draft), today=sending.today(),
        followed_up=draft.type in FOLLOWED_UP_TYPES, outcomes=[o.value for o in OUTCOMES.get(draft.type, ())],
        blanks=blanks.find_blanks(latest.body), segments=blanks.segments(latest.body),
    )


@bp.app_template_global("takedown_follow_ups")
def takedown_follow_ups(case_ids: list[int]) -> dict[int, dt.date]:
    """For the case list: each case's takedown answer that is due and not in yet (one query for the page)."""
    return sending.follow_ups_due(case_ids)


def _act(case_id: int, draft_id: int, form: FlaskForm, action: Callable[[Draft], Any], message: Any,
         anchor: str | None = None):
    """Check the form, run `action` on the draft and go back to it; a refused action comes back as a message."""
    draft = service.get_draft(current_user, case_id, draft_id)
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        action(draft)
    except (ValidationFailed, CaseError) as exc:
        boundary.refuse(exc)
        return _to_draft(draft, anchor)
    flash(message, "success")
    return _to_draft(draft, anchor)


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/revisions", methods=["POST"])
@login_required
def revise(case_id: int, draft_id: int):
    """Save the edited text as a new revision (the earlier ones stay)."""
    draft = service.get_draft(current_user, case_id, draft_id)
    form = ReviseForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        service.revise(current_user, draft, form.body.data, base_revision=form.base_revision.data,
                       web_body=form.sent("web_body"), channel=form.sent("channel"))
    except (ValidationFailed, CaseError) as exc:  # bad text, "same text" or "already sent": not someone else's edit
        boundary.refuse(exc)
        return _to_draft(draft, "editor")
    except Conflict as exc:
        boundary.refuse(exc)
        # Keep what the user typed: show it beside the current text instead of throwing it away.
        draft = service.get_draft(current_user, case_id, draft_id)
        return render_template("drafts/conflict.html", case=service.case_of(draft), draft=draft,
                               latest=service.latest_revision(draft), typed=form.body.data or ""), 409
    flash(_("新しい版として保存しました。"), "success")
    return _to_draft(draft)


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/submit", methods=["POST"])
@login_required
def submit(case_id: int, draft_id: int):
    """Tick the section-4 checks and ask the supervisor to approve."""
    form = SubmitForm()
    return _act(case_id, draft_id, form, lambda d: service.submit(current_user, d, form.checks.data),
                _("承認を依頼しました。所属長の確認を待ちます。"), "approval")


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/pre-approved", methods=["POST"])
@login_required
def pre_approved(case_id: int, draft_id: int):
    """Mark the text as within a scope approved in advance (3(1)イ(ウ)b)."""
    form = PreApprovedForm()
    return _act(case_id, draft_id, form,
                lambda d: service.mark_pre_approved(current_user, d, form.scope.data, form.source.data,
                                                    form.checks.data),
                _("事前承認の範囲として記録しました。"), "approval")


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/approve", methods=["POST"])
@login_required
def approve(case_id: int, draft_id: int):
    """Approve (or, for a pre-approved text, record the second person's check)."""
    form = ApproveForm()
    return _act(case_id, draft_id, form, lambda d: service.approve(current_user, d, form.comment.data),
                _("承認を記録しました。"), "approval")


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/return", methods=["POST"])
@login_required
def return_(case_id: int, draft_id: int):
    """Send the draft back with a comment."""
    form = ReturnForm()
    return _act(case_id, draft_id, form, lambda d: service.return_draft(current_user, d, form.comment.data),
                _("差し戻しました。"), "approval")


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/sent", methods=["POST"])
@login_required
def sent(case_id: int, draft_id: int):
    """Record where and when the approved text went out."""
    form = SentForm()
    return _act(case_id, draft_id, form, lambda d: sending.publish(current_user, d, form.payload()),
                _("公開・提出を記録しました。"), "sending")


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/answer", methods=["POST"])
@login_required
def answer(case_id: int, draft_id: int):
    """Record the platform's answer to a takedown request."""
    form = AnswerForm()
    return _act(case_id, draft_id, form, lambda d: sending.record_answer(current_user, d, form.data),
                _("運営会社の回答を記録しました。"), "sending")


@bp.route("/cases/<int:case_id>/ledger/<int:publication_id>/withdraw", methods=["POST"])
@login_required
def withdraw(case_id: int, publication_id: int):
    """Record that a published text was withdrawn (a new ledger entry; the original stays)."""
    publication = sending.get_publication(current_user, case_id, publication_id)
    form = WithdrawForm()
    try:
        if not form.validate_on_submit():
            raise form_error(form)
        sending.withdraw(current_user, publication, form.reason.data)
    except (ValidationFailed, CaseError) as exc:
        boundary.refuse(exc, at=f"publication-{publication_id}")
    else:
        flash_at(f"publication-{publication_id}", _("取り下げを記録しました。元の記録は残ります。"))
    return redirect(url_for("cases.show", case_id=case_id, _anchor=f"publication-{publication_id}"))


def _file_name(draft: Draft, extension: str) -> str:
    case = service.case_of(draft)
    return f"{case.number}-{draft.type.value}-{draft.id}-v{service.latest_revision(draft).number}.{extension}"


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/export.<any(txt, md):extension>")
@login_required
def export(case_id: int, draft_id: int, extension: str):
    """Download the current text as plain text or Markdown (UTF-8)."""
    draft = service.get_draft(current_user, case_id, draft_id)
    # Both texts, each under its heading, when the notice has a website rendition.
    texts = service.headed_texts(draft, service.latest_revision(draft))
    if extension == "md":
        label = str(labels.DRAFT_TYPE_LABELS[draft.type])
        parts = [f"## {heading}\n\n{text}" if heading else text for heading, text in texts]
        body = f"# {label}（{service.case_of(draft).number}）\n\n" + "\n".join(parts)
    else:
        body = "\n".join(f"【{heading}】\n{text}" if heading else text for heading, text in texts)
    name = _file_name(draft, extension)
    # Werkzeug adds "; charset=utf-8" to every text/* mimetype.
    response = Response(body, mimetype="text/markdown" if extension == "md" else "text/plain")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/cases/<int:case_id>/drafts/<int:draft_id>/print")
@login_required
def print_page(case_id: int, draft_id: int):
    """A printable A4 page of the text as written (its own date and sender), marked 未承認 until approved."""
    draft = service.get_draft(current_user, case_id, draft_id)
    case = service.case_of(draft)
    latest = service.latest_revision(draft)
    return render_template("drafts/print.html", case=case, draft=draft, latest=latest,
                           texts=service.headed_texts(draft, latest),
                           approved=draft.status in (DraftStatus.APPROVED, DraftStatus.SENT))
