"""How long a closed case's record is kept (公文書の保存期間): its class on closing, the last day it is kept,
the PR office's list of what ends in a fiscal year, and extensions with a reason (append-only history)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, select

from incident import policy, signals
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases.models import Case, CaseStatus, RetentionEvent
from incident.dates import to_tokyo
from incident.errors import NotFound, ValidationFailed
from incident.extensions import db

PERMANENT = "permanent"
REASON_MAX = 500


def classes() -> list[str]:
    """The retention classes offered (RETENTION_CLASSES), shortest first, "permanent" last."""
    return [str(c) for c in current_app.config["RETENTION_CLASSES"]]


def fiscal_year(day: dt.date) -> int:
    """The Japanese fiscal year (年度) a day falls in: April to March."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_bounds(year: int) -> tuple[dt.date, dt.date]:
    """The first and last day of a fiscal year."""
    return dt.date(year, 4, 1), dt.date(year + 1, 3, 31)


def kept_until(closed_on: dt.date, retention_class: str) -> dt.date | None:
    """The last day a record closed on `closed_on` is kept: counted from 1 April of the next fiscal year, so
    N years end on 31 March N years later (None: permanent)."""
    if retention_class == PERMANENT:
        return None
    return dt.date(fiscal_year(closed_on) + 1 + int(retention_class), 3, 31)


def _give(case: Case, actor: User | None, retention_class: str, reason: str) -> None:
    assert case.closed_at is not None
    until = kept_until(to_tokyo(case.closed_at).date(), retention_class)
    old = (case.retention_class, case.retention_until)
    case.retention_class, case.retention_until = retention_class, until
    db.session.add(RetentionEvent(case_id=case.id, retention_class=retention_class, retention_until=until,
                                  reason=reason, actor_id=actor.id if actor else None))
    audit.record(actor, "case.retention", "case", case.id, case_id=case.id,
                 changes={"retention_class": (old[0], retention_class), "retention_until": (old[1], until),
                          **({"reason": (None, reason)} if reason else {})})


@signals.case_closed.connect
def _on_closing(case: Case, *, actor: User, **_: Any) -> None:
    """A closing gives the record its kind's class (RETENTION_DEFAULTS); closing again after a reopening
    never shortens what it was given."""
    default = str(current_app.config["RETENTION_DEFAULTS"].get(case.kind.value, classes()[-1]))
    if case.retention_class is None:
        _give(case, actor, default, "")
        return
    new_until = kept_until(to_tokyo(case.closed_at).date(), case.retention_class) if case.closed_at else None
    if case.retention_until is not None and (new_until is None or new_until > case.retention_until):
        _give(case, actor, case.retention_class, str(_l("再度の終了により保存期間の起算日が変わりました。")))


def ending_in(actor: User, year: int) -> Select[tuple[Case]]:
    """The closed cases whose retention ends in fiscal year `year`, soonest first (PR office only)."""
    if not policy.can_manage_retention(actor):
        raise NotFound()
    first, last = fiscal_bounds(year)
    return (select(Case).where(Case.status == CaseStatus.CLOSED, Case.retention_until >= first,
                               Case.retention_until <= last)
            .order_by(Case.retention_until, Case.id))


def extend(actor: User, case: Case, retention_class: str, reason: str) -> None:
    """Give the record a longer class (never a shorter one), with the reason; the PR office only."""
    if not policy.can_manage_retention(actor):
        raise NotFound()
    reason = (reason or "").strip()
    errors: dict[str, Any] = {}
    if case.status != CaseStatus.CLOSED or case.closed_at is None or case.retention_class is None:
        raise ValidationFailed(_l("保存期間は終了した案件にだけ設定されます。"))
    if retention_class not in classes():
        errors["retention_class"] = _l("保存期間を選んでください。")
    else:
        new_until = kept_until(to_tokyo(case.closed_at).date(), retention_class)
        if case.retention_until is None or (new_until is not None and new_until <= case.retention_until):
            errors["retention_class"] = _l("今より長い保存期間を選んでください（短くすることはできません）。")
    if not reason or len(reason) > REASON_MAX:
        errors["reason"] = _l("延長の理由を %(max)d 文字以内で入力してください。", max=REASON_MAX)
    if errors:
        raise ValidationFailed(fields=errors)
    _give(case, actor, retention_class, reason)


def expired_and_held(today: dt.date) -> Any:
    """SQL: a closed case whose retention ended before `today` and whose personal data is still held (to be
    written out and redacted: incident.reports.records)."""
    return and_(Case.status == CaseStatus.CLOSED, Case.retention_until < today, Case.redacted_at.is_(None))


def history(case: Case) -> list[RetentionEvent]:
    """Each retention the record was given, oldest first."""
    return list(db.session.scalars(select(RetentionEvent).where(RetentionEvent.case_id == case.id)
                                   .order_by(RetentionEvent.id)))
