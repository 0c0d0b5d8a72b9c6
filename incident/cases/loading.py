"""Loading what belongs to a case in one call: fetch it, check that it is the case's and that the actor may
see it, else NotFound (404) — never telling whether it exists. Every per-kind loader (get_case, get_note,
get_draft, get_evidence, get_publication, get_escalation) is one of these calls."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from incident import policy
from incident.cases.models import Case
from incident.errors import NotFound
from incident.extensions import db

if TYPE_CHECKING:
    from incident.auth.models import User



class OfCase(Protocol):
    """Anything stored for one case."""

    @property
    def case_id(self) -> int: ...


Row = TypeVar("Row", bound=OfCase)


def _sees_case(actor: User, case: Case, row: Any) -> bool:
    return policy.can_view(actor, case)


def visible(actor: User, case: Case | None) -> Case:
    """The case, if there is one and the actor may see it; NotFound otherwise."""
    if case is None or not policy.can_view(actor, case):
        raise NotFound()
    return case


def of_case(model: type[Row], row_id: int, case_id: int) -> Row:
    """The row of `model` with this id if it belongs to case `case_id`; NotFound otherwise."""
    row = db.session.get(model, row_id)
    if row is None or row.case_id != case_id:
        raise NotFound()
    return row


def load(actor: User, model: type[Row], row_id: int, *, case_id: int | None = None,
         may_see: Callable[[User, Case, Row], bool] = _sees_case) -> Row:
    """A row of a kind that belongs to a case: it exists, is case `case_id`'s (when given), and the actor
    may see it — by default, when they may see its case (`may_see` names another incident.policy rule)."""
    row = db.session.get(model, row_id)
    if row is None or (case_id is not None and row.case_id != case_id):
        raise NotFound()
    case = db.session.get(Case, row.case_id)
    if case is None or not may_see(actor, case, row):
        raise NotFound()
    return row
