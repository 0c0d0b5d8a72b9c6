"""Who hears about what: the notifications sent when something happens to a case or a draft.

Each function here is a receiver of an incident.signals signal, connected when this module is imported
(the app factory imports it); the case and draft domains send the signals and know nothing of this."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from incident import policy, signals
from incident.auth.models import User
from incident.auth.service import pr_office, supervisors_of
from incident.extensions import db
from incident.notifications.service import notify

if TYPE_CHECKING:
    from incident.cases.models import Case
    from incident.drafts.models import Draft


def _seeing(people: list[User], case: Case) -> list[User]:
    """Those of `people` who may see the case: nobody hears of a case they cannot open (an outside
    operator's user sees only their operator's accounts' cases, policy.can_view)."""
    return [u for u in people if policy.can_view(u, case)]


def _deciders(actor: User, case: Case) -> list[User]:
    """The case department's supervisors other than the actor; the PR office when there are none."""
    return (_seeing([u for u in supervisors_of(case.department_id) if u.id != actor.id], case)
            or _seeing([u for u in pr_office() if u.id != actor.id], case))


@signals.case_opened.connect
def case_opened(case: Case, *, actor: User, **_: Any) -> None:
    """A new case reaches the department's supervisors at once (3(4)※: nobody handles it alone)."""
    notify(_deciders(actor, case), "case_opened",
           _l("【新しい案件】%(number)s %(title)s", number=case.number, title=case.title),
           _l("%(who)s さんが案件を登録しました。受付（対応開始）してください。", who=actor.name),
           case_id=case.id, department_id=case.department_id, link=f"/cases/{case.id}")


@signals.case_assigned.connect
def assigned(case: Case, *, actor: User, assignee: User | None, **_: Any) -> None:
    """The new assignee hears they have the case."""
    if assignee is not None and assignee.id != actor.id and policy.can_view(assignee, case):
        notify([assignee], "assigned",
               _l("【担当】%(number)s %(title)s", number=case.number, title=case.title),
               _l("%(who)s さんがあなたをこの案件の担当者にしました。", who=actor.name),
               case_id=case.id, department_id=case.department_id, link=f"/cases/{case.id}")


@signals.draft_submitted.connect
def approval_requested(draft: Draft, *, actor: User, case: Case, pre_approved: bool, **_: Any) -> None:
    """A submitted draft reaches those who may approve it (or, pre-approved, the colleagues who may check it)."""
    if pre_approved:
        people = _seeing(list(db.session.scalars(select(User).where(
            User.department_id == case.department_id, User.active.is_(True), User.id != actor.id))), case)
    else:
        people = _deciders(actor, case)
    notify(people, "approval_requested",
           _l("【承認依頼】%(number)s 文案 #%(id)d", number=case.number, id=draft.id),
           _l("%(who)s さんが文案の確認を求めています。", who=actor.name),
           case_id=case.id, department_id=case.department_id, link=f"/cases/{case.id}/drafts/{draft.id}")


@signals.draft_decided.connect
def draft_decided(draft: Draft, *, actor: User, case: Case, approved: bool, comment: str, **_: Any) -> None:
    """The author hears whether their draft was approved or returned."""
    author = db.session.get(User, draft.revisions[-1].author_id)
    if author is None or author.id == actor.id or not policy.can_view(author, case):
        return
    title = (_l("【承認】%(number)s 文案 #%(id)d", number=case.number, id=draft.id) if approved
             else _l("【差し戻し】%(number)s 文案 #%(id)d", number=case.number, id=draft.id))
    notify([author], "draft_decided", title, comment or "", case_id=case.id, department_id=case.department_id,
           link=f"/cases/{case.id}/drafts/{draft.id}")
