"""Where a draft may go next: the one table of allowed status changes, each with the actions that make it,
and the check every status change in incident.drafts goes through (as cases.service.TRANSITIONS for cases)."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from incident.drafts.models import Draft, DraftStatus
from incident.errors import CaseError

EDITING, SUBMITTED, APPROVED, SENT = (DraftStatus.EDITING, DraftStatus.SUBMITTED, DraftStatus.APPROVED,
                                      DraftStatus.SENT)

#: Every allowed status change of a draft, with the actions that make it. Anything not listed is refused.
#: Any new revision sends a draft back to editing: an approval is of one revision.
TRANSITIONS: dict[tuple[DraftStatus, DraftStatus], frozenset[str]] = {
    (EDITING, EDITING): frozenset({"revise"}),
    (SUBMITTED, EDITING): frozenset({"revise", "return"}),
    (APPROVED, EDITING): frozenset({"revise"}),
    # Pre-approved (3(1)イ(ウ)b): submitted for a colleague's second check, or approved at once when the
    # department has nobody else to check it (3(1)イ(ウ)c).
    (EDITING, SUBMITTED): frozenset({"submit", "pre_approve"}),
    (EDITING, APPROVED): frozenset({"pre_approve"}),
    (SUBMITTED, APPROVED): frozenset({"approve"}),
    (APPROVED, SENT): frozenset({"send"}),
    # One approval, published in several places: a notice already out may be recorded in more places
    # (incident.drafts.sending; letters are recorded once).
    (SENT, SENT): frozenset({"add_place"}),
}

#: What refusing an action says, whatever status the draft is in...
_REFUSED: dict[str, Any] = {
    "revise": _l("公開・提出済みの文案は変えられません。訂正は新しい文案で行います。"),
    "submit": _l("この文案は編集中ではありません（承認待ち・承認済み・公開済み）。"),
    "pre_approve": _l("この文案は編集中ではありません（承認待ち・承認済み・公開済み）。"),
    "approve": _l("承認を求められていない文案です（先に「承認を依頼」してください）。"),
    "return": _l("承認待ちの文案ではありません。"),
    "send": _l("承認されていない文案は公開・提出できません（3(1)イ(ウ)）。"),
    "add_place": _l("公開した場所を追加できるのは、公開済みの周知・訂正などの文案だけです。"),
}
#: ...unless a status has a message of its own.
_REFUSED_FROM: dict[tuple[str, DraftStatus], Any] = {
    ("send", SENT): _l("この文案はすでに公開・提出済みとして記録されています。"),
}


def allowed_actions(draft: Draft) -> set[str]:
    """The actions the table allows on the draft in its current status."""
    return {action for (source, _target), actions in TRANSITIONS.items() if source == draft.status
            for action in actions}


def check(draft: Draft, action: str) -> None:
    """Raise CaseError, saying why, unless `action` may be taken on the draft in its current status."""
    if action not in allowed_actions(draft):
        raise CaseError(_REFUSED_FROM.get((action, draft.status), _REFUSED[action]))


def move(draft: Draft, action: str, target: DraftStatus) -> None:
    """Change the draft's status by `action` as the table allows; CaseError (as `check`) otherwise."""
    if action not in TRANSITIONS.get((draft.status, target), frozenset()):
        check(draft, action)
        raise CaseError(_REFUSED[action])  # the action exists from here, but not to `target`
    draft.status = target
