"""The outside operators (委託業者・指定管理者) of the registry: which accounts each runs and whose people work
for it — the people who see those accounts' cases (incident.policy.is_operator_user)."""
from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from incident.accounts.models import OfficialAccount
from incident.auth.models import Department, Operator, User
from incident.auth.service import all_operators, people_of_operators
from incident.extensions import db


@dataclasses.dataclass(frozen=True)
class OperatorOverview:
    """One outside operator with the accounts it runs and its active people, for the registry."""

    operator: Operator
    accounts: list[OfficialAccount]
    people: list[User]


def overview() -> list[OperatorOverview]:
    """Every outside operator by name, with its accounts and active people (three queries in all)."""
    operators = all_operators()
    ids = [operator.id for operator in operators]
    accounts: dict[int, list[OfficialAccount]] = {operator_id: [] for operator_id in ids}
    if ids:
        for account in db.session.scalars(
                select(OfficialAccount).join(OfficialAccount.department)
                .where(OfficialAccount.operator_id.in_(ids))
                .options(joinedload(OfficialAccount.department))
                .order_by(Department.name, OfficialAccount.platform, OfficialAccount.name, OfficialAccount.id)):
            accounts[account.operator_id or 0].append(account)
    people = people_of_operators(ids)
    return [OperatorOverview(operator, accounts[operator.id], people[operator.id]) for operator in operators]


def people_of(account: OfficialAccount) -> list[User]:
    """The active people of the outside operator running the account (none when the city runs it)."""
    if account.operator_id is None:
        return []
    return people_of_operators([account.operator_id])[account.operator_id]
