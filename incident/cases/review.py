"""The closing review of a case (what happened, what was done, the cause, what to change); append-only:
a revised review is a new row and the newest one is the case's review."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from incident import policy
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases.models import Case, CaseReview, CaseStatus, TimelineEvent
from incident.errors import CaseError, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.validation import bounded_text

#: The review's fields, in the order forms, pages and the report show them.
REVIEW_FIELDS = ("what_happened", "what_was_done", "cause", "changes")
#: A review says at least what happened and what was done; the cause and what to change may follow later.
REQUIRED_FIELDS = ("what_happened", "what_was_done")
#: Each field's length limit (characters).
REVIEW_MAX = 4000
NOT_CLOSED = _l("振り返りは終了した案件にだけ記録できます。")
#: How pages, the report and its Markdown name each field.
REVIEW_LABELS = {
    "what_happened": _l("何が起きたか"),
    "what_was_done": _l("何をしたか"),
    "cause": _l("原因"),
    "changes": _l("今後変えること"),
}


def clean_review(raw: Any) -> dict[str, str]:
    """The four fields checked: "what happened" and "what was done" required, each at most REVIEW_MAX."""
    if not isinstance(raw, dict):
        raise ValidationFailed(fields={"review": _l("振り返りの内容を指定してください。")})
    cleaned: dict[str, str] = {}
    errors: dict[str, Any] = {}
    for name in REVIEW_FIELDS:
        try:
            cleaned[name] = bounded_text(raw.get(name), REVIEW_MAX, required=name in REQUIRED_FIELDS)
        except ValueError as exc:
            errors[name] = exc.args[0]
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def latest_review(case: Case) -> CaseReview | None:
    """The case's current review (the newest row), with its author; None before any."""
    return db.session.scalar(
        select(CaseReview).where(CaseReview.case_id == case.id)
        .options(joinedload(CaseReview.author)).order_by(CaseReview.id.desc()).limit(1)
    )


def reviews_of(case: Case) -> list[CaseReview]:
    """Every review of the case, newest (current) first, with authors."""
    return list(db.session.scalars(
        select(CaseReview).where(CaseReview.case_id == case.id)
        .options(joinedload(CaseReview.author)).order_by(CaseReview.id.desc())
    ))


def write_review(actor: User, case: Case, fields: Any) -> CaseReview:
    """Record the review of a closed case (a revision is a new row), with an audit row and a timeline entry."""
    if not policy.can_view(actor, case):
        raise NotFound()
    if not policy.can_act_as_supervisor(actor, case):
        raise PermissionDenied(_l("振り返りは所属長または秘書広報課が記録します。"))
    if case.status != CaseStatus.CLOSED:
        raise CaseError(NOT_CLOSED)
    cleaned = clean_review(fields)
    previous = latest_review(case)
    revision = 1 + (db.session.scalar(
        select(func.count()).select_from(CaseReview).where(CaseReview.case_id == case.id)) or 0)
    review = CaseReview(case_id=case.id, author_id=actor.id, **cleaned)
    db.session.add(review)
    db.session.flush()
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id, event="reviewed",
                                 data={"review_id": review.id, "revision": revision,
                                       "replaces_id": previous.id if previous else None}))
    audit.record(actor, "case.review", "case_review", review.id, case_id=case.id,
                 changes={name: (getattr(previous, name) if previous else None, value)
                          for name, value in cleaned.items()})
    return review
