"""Personnel reshuffles (人事異動): a CSV of who goes where is checked into a stored plan, previewed, and
applied exactly as previewed, each move through incident.auth.postings (history and audit)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from incident import policy
from incident.audit import service as audit
from incident.auth import postings
from incident.auth import reshuffle_csv as rcsv
from incident.auth.models import OPERATOR_LABELS, Department, Operator, OperatorType, Posting, Reshuffle, Role, User
from incident.auth.reshuffle_csv import Problem, ReshuffleRejected
from incident.auth.service import OPERATOR_NAME_MAX, operator_named
from incident.csvfile import write_csv
from incident.dates import TOKYO, UTC, to_tokyo, utcnow
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.extensions import db
from incident.validation import parse_id

FIRST_DAY = dt.date(2000, 1, 1)


def tokyo_today() -> dt.date:
    """Today's date in Japan."""
    return to_tokyo(utcnow()).date()


def _check_actor(actor: User | None) -> None:
    if actor is not None and not policy.can_manage_users(actor):
        raise NotFound()


def parse_effective_on(raw: Any) -> dt.date:
    """The date the moves take effect: a date or `YYYY-MM-DD`; empty means today in Japan."""
    if isinstance(raw, dt.date):
        day = raw
    elif raw is None or (isinstance(raw, str) and not raw.strip()):
        return tokyo_today()
    else:
        try:
            day = dt.date.fromisoformat(str(raw).strip())
        except ValueError:
            day = None
    if day is None or not FIRST_DAY <= day <= tokyo_today() + dt.timedelta(days=366):
        message = _l("発令日は YYYY-MM-DD の形で、2000 年以降、1 年後までの日付を入力してください。")
        raise ValidationFailed(message, fields={"effective_on": message})
    return day


def posting_of(user: User) -> dict[str, Any]:
    """Where a user is now, as a plan stores it."""
    return {"department_id": user.department_id, "department_code": user.department.code,
            "department_name": user.department.name, "role": user.role.value,
            "organisation": user.organisation, "operator_kind": user.operator.kind.value if user.operator else None}


def _same_place(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(key) == b.get(key) for key in ("department_id", "role", "organisation"))


class _Lookup:
    """Everyone, every department and every operator, loaded once for checking a whole file."""

    def __init__(self) -> None:
        self.users = {u.email.lower(): u for u in db.session.scalars(select(User))}
        departments = list(db.session.scalars(select(Department)))
        self.by_code = {d.code: d for d in departments}
        self.by_name: dict[str, list[Department]] = {}
        for department in departments:
            self.by_name.setdefault(department.name, []).append(department)
        self.operators = {o.name: o for o in db.session.scalars(select(Operator))}

    def department(self, value: str) -> Department | Any:
        if not value:
            return _l("所属がありません。")
        if value in self.by_code:
            return self.by_code[value]
        named = self.by_name.get(value, [])
        if len(named) > 1:
            return _l("所属名「%(name)s」は複数あります。所属コードで指定してください。", name=value)
        if not named:
            return _l("所属「%(name)s」はありません（所属コードか正確な名称で指定してください）。", name=value)
        return named[0]


def _organisation(lookup: _Lookup, user: User, role: Role, cells: dict[str, str],
                  problems: list[Problem], line: int) -> tuple[str | None, str | None]:
    """The organisation (name, kind) a row gives: without the column, the current one where the new role
    may hold one."""
    if "organisation" not in cells:
        keep = user.operator if policy.may_hold_operator(role) else None
        return (keep.name, keep.kind.value) if keep else (None, None)
    name = cells["organisation"]
    if not name:
        return None, None
    if not policy.may_hold_operator(role):
        problems.append(Problem(line, _l("所属長と秘書広報課の職員は、委託業者・指定管理者の所属にできません。")))
        return None, None
    if len(name) > OPERATOR_NAME_MAX:
        problems.append(Problem(line, _l("組織名は %(max)d 文字以内で入力してください。", max=OPERATOR_NAME_MAX)))
        return None, None
    existing = lookup.operators.get(name)
    raw_kind = cells.get("operator_kind", "")
    kind = rcsv.kind_of(raw_kind) if raw_kind else (existing.kind if existing else OperatorType.CONTRACTOR)
    if kind is None:
        problems.append(Problem(line, _l("組織の種類は委託業者か指定管理者を選んでください。")))
        return None, None
    if existing is not None and existing.kind != kind:
        problems.append(Problem(line, _l("「%(name)s」は%(kind)sとして登録されています。",
                                         name=name, kind=OPERATOR_LABELS[existing.kind])))
        return None, None
    return name, kind.value


def build_plan(data: bytes) -> list[dict[str, Any]]:
    """Check every row of the CSV and return the plan (every person, moving or not), or raise
    ReshuffleRejected with every problem found, by line."""
    _columns_found, rows = rcsv.read_rows(data)
    lookup = _Lookup()
    problems: list[Problem] = []
    plan: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        found = len(problems)
        email = unicodedata.normalize("NFKC", cells["email"]).lower()  # full-width typing too
        user = lookup.users.get(email)
        if not email:
            problems.append(Problem(line, _l("メールアドレスがありません。")))
        elif email in seen:
            problems.append(Problem(line, _l("%(email)s は %(line)d 行目にもあります。", email=email, line=seen[email])))
        elif user is None:
            problems.append(Problem(line, _l("%(email)s という利用者はいません。", email=cells["email"])))
        elif not user.active:
            problems.append(Problem(line, _l("%(email)s のアカウントは無効です。", email=cells["email"])))
        seen.setdefault(email, line)
        department = lookup.department(cells["department"])
        if not isinstance(department, Department):
            problems.append(Problem(line, department))
        elif cells.get("department_name") and cells["department_name"] != department.name:
            # Someone edited the name in a spreadsheet but not the code: never apply one of the two silently.
            problems.append(Problem(line, _l(
                "所属「%(code)s」（%(name)s）と所属名「%(typed)s」が一致しません。所属の列を直すか、所属名の列を空にしてください。",
                code=cells["department"], name=department.name, typed=cells["department_name"])))
        role = rcsv.role_of(cells["role"])
        if role is None:
            problems.append(Problem(line, _l("役割「%(value)s」は使えません（担当者・所属長・秘書広報課のいずれか）。",
                                             value=cells["role"])))
        if len(problems) > found or user is None or role is None or not isinstance(department, Department):
            continue
        organisation, kind = _organisation(lookup, user, role, cells, problems, line)
        if len(problems) > found:
            continue
        before = posting_of(user)
        after = {"department_id": department.id, "department_code": department.code,
                 "department_name": department.name, "role": role.value,
                 "organisation": organisation, "operator_kind": kind}
        plan.append({"line": line, "user_id": user.id, "email": user.email, "name": user.name,
                     "from": before, "to": after, "changed": not _same_place(before, after)})
    if not problems:
        _keep_a_pr_office(lookup, plan, problems)
    if problems:
        raise ReshuffleRejected(problems)
    return plan


def _keep_a_pr_office(lookup: _Lookup, plan: list[dict[str, Any]], problems: list[Problem]) -> None:
    """A reshuffle may not leave the PR office without an active member (nobody could manage users)."""
    roles = {u.id: u.role.value for u in lookup.users.values() if u.active}
    roles.update({row["user_id"]: row["to"]["role"] for row in plan})
    if Role.ADMIN.value not in roles.values():
        problems.append(Problem(None, _l("この異動では秘書広報課の職員が一人もいなくなります。")))


def counts(reshuffle: Reshuffle) -> tuple[int, int]:
    """(people moving, people unchanged) in a plan."""
    moving = sum(1 for row in reshuffle.plan if row["changed"])
    return moving, len(reshuffle.plan) - moving


def state_of(reshuffle: Reshuffle) -> str:
    """preview (may be applied or cancelled), applied or cancelled."""
    if reshuffle.applied_at is not None:
        return "applied"
    return "cancelled" if reshuffle.cancelled_at is not None else "preview"


def upload(actor: User, data: bytes, filename: str, effective_on: Any = None) -> Reshuffle:
    """Check a CSV and store its plan for preview (nothing moves yet); a file with errors is not stored."""
    _check_actor(actor)
    day = parse_effective_on(effective_on)
    plan = build_plan(data)
    name = "".join(c for c in (filename or "").replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())[:200]
    reshuffle = Reshuffle(filename=name, effective_on=day, plan=plan, uploaded_by_id=actor.id)
    db.session.add(reshuffle)
    db.session.flush()
    moving, unchanged = counts(reshuffle)
    audit.record(actor, "reshuffle.upload", "reshuffle", reshuffle.id, changes={
        "filename": (None, name), "effective_on": (None, day.isoformat()),
        "changes": (None, moving), "unchanged": (None, unchanged)})
    return reshuffle


def get_reshuffle(actor: User | None, reshuffle_id: Any) -> Reshuffle:
    """One reshuffle, for the PR office (NotFound for anyone else, and for ids that do not exist)."""
    _check_actor(actor)
    try:
        wanted = parse_id(reshuffle_id)
    except ValueError:
        wanted = None
    reshuffle = db.session.get(Reshuffle, wanted) if wanted else None
    if reshuffle is None:
        raise NotFound()
    return reshuffle


def _require_preview(reshuffle: Reshuffle) -> None:
    if reshuffle.applied_at is not None:
        raise Conflict(_l("この人事異動はすでに反映されています。"))
    if reshuffle.cancelled_at is not None:
        raise Conflict(_l("この人事異動は取り消されています。"))


def effective_start(day: dt.date) -> dt.datetime:
    """00:00 in Japan on the day, as UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=TOKYO).astimezone(UTC)


def apply(actor: User, reshuffle: Reshuffle) -> int:
    """Apply exactly the stored plan in the caller's transaction: refused (Conflict) when already applied
    or cancelled, before the effective date, or when anyone's department, role or organisation is no
    longer the plan's "from". Returns the number of people moved."""
    _check_actor(actor)
    _require_preview(reshuffle)
    if not counts(reshuffle)[0]:
        raise Conflict(_l("所属・役割が変わる人がいないため、反映するものはありません。"))
    if reshuffle.effective_on > tokyo_today():
        raise Conflict(_l("発令日（%(day)s）より前には反映できません。発令日になってから反映してください。",
                          day=reshuffle.effective_on.isoformat()))
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_([row["user_id"] for row in reshuffle.plan])))}
    stale = [row["name"] for row in reshuffle.plan if row["user_id"] not in users
             or not users[row["user_id"]].active or not _same_place(posting_of(users[row["user_id"]]), row["from"])]
    if stale:
        raise Conflict(_l("プレビューの後に所属・役割が変わった人がいます：%(names)s。CSV をもう一度アップロードしてください。",
                          names="、".join(stale)), fields={"stale": "、".join(stale)})
    claimed = db.session.execute(
        update(Reshuffle).where(Reshuffle.id == reshuffle.id, Reshuffle.applied_at.is_(None),
                                Reshuffle.cancelled_at.is_(None))
        .values(applied_at=utcnow(), applied_by_id=actor.id).execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        raise Conflict(_l("この人事異動はすでに反映されたか、取り消されています。"))
    db.session.refresh(reshuffle)
    start = effective_start(reshuffle.effective_on)
    moved = 0
    for row in reshuffle.plan:
        if not row["changed"]:
            continue
        user, to = users[row["user_id"]], row["to"]
        current = db.session.scalar(select(Posting).where(Posting.user_id == user.id, Posting.ended_at.is_(None))
                                    .order_by(Posting.started_at.desc()).limit(1))
        if current is None:  # no history yet: the old place starts when the account was made
            current = postings.open_posting(None, user, at=user.created_at)
        operator = operator_named(to["organisation"], OperatorType(to["operator_kind"])) if to["organisation"] else None
        department = db.session.get(Department, to["department_id"])
        if department is None:
            raise Conflict(_l("所属「%(name)s」がなくなっています。", name=to["department_name"]))
        postings.move_user(actor, user, department=department, role=Role(to["role"]), operator=operator,
                           at=max(start, current.started_at), reshuffle_id=reshuffle.id)
        moved += 1
    audit.record(actor, "reshuffle.apply", "reshuffle", reshuffle.id, changes={
        "moved": (None, moved), "unchanged": (None, len(reshuffle.plan) - moved)})
    return moved


def cancel(actor: User, reshuffle: Reshuffle) -> Reshuffle:
    """Discard a plan that has not been applied (it stays in the history, read-only)."""
    _check_actor(actor)
    _require_preview(reshuffle)
    reshuffle.cancelled_at = utcnow()
    db.session.flush()
    audit.record(actor, "reshuffle.cancel", "reshuffle", reshuffle.id, changes={"cancelled": (False, True)})
    return reshuffle


def reshuffles_page(actor: User, page: int, per_page: int) -> Any:
    """The history of reshuffles, newest first (NotFound for all but the PR office)."""
    _check_actor(actor)
    return db.paginate(select(Reshuffle).order_by(Reshuffle.id.desc()), page=page, per_page=per_page,
                       error_out=False)


def people(user_ids: set[int | None]) -> dict[int, User]:
    """Users by id, in one query (for names on lists)."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}


def sample_rows(actor: User) -> list[list[str]]:
    """The current staff as a CSV to edit and upload back (header first): active users by department."""
    _check_actor(actor)
    header = [rcsv.HEADERS["email"][0], rcsv.INFO_HEADERS[0], rcsv.HEADERS["department"][0], rcsv.HEADERS["department_name"][0],
              rcsv.HEADERS["role"][0], rcsv.HEADERS["organisation"][0], rcsv.HEADERS["operator_kind"][0]]
    rows = [header]
    users = db.session.scalars(select(User).join(Department, Department.id == User.department_id)
                               .where(User.active.is_(True)).order_by(Department.code, User.name, User.id))
    for user in users:
        rows.append([user.email, user.name, user.department.code, user.department.name, rcsv.ROLE_NAMES[user.role],
                     user.organisation or "", rcsv.KIND_NAMES[user.operator.kind] if user.operator else ""])
    return rows


def sample_csv(actor: User) -> bytes:
    """The sample as a CSV Excel opens safely."""
    return write_csv(sample_rows(actor))


@dataclasses.dataclass(frozen=True)
class PostingFilter:
    """Who was where when: by department, by day (in Japan) and by person; None means any."""

    department_id: int | None = None
    day: dt.date | None = None
    user_id: int | None = None


def postings_page(actor: User, filters: PostingFilter, page: int, per_page: int) -> Any:
    """Postings, newest first: those of a department, of a person, and those held on a day (NotFound for
    all but the PR office)."""
    _check_actor(actor)
    query = select(Posting).order_by(Posting.started_at.desc(), Posting.id.desc())
    if filters.department_id is not None:
        query = query.where(Posting.department_id == filters.department_id)
    if filters.user_id is not None:
        query = query.where(Posting.user_id == filters.user_id)
    if filters.day is not None:
        begins = effective_start(filters.day)
        ends = begins + dt.timedelta(days=1)
        query = query.where(Posting.started_at < ends,
                            Posting.ended_at.is_(None) | (Posting.ended_at > begins))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)
