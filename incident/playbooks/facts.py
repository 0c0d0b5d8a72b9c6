"""Facts a playbook step records flow to the records that hold them (issue 12): a takeover's MFA step sets the
account's MFA in the registry, a fake-account step updates the register of known fakes, and a step that asks
for a URL is offered the ones the case already holds — nobody types a thing twice."""
from __future__ import annotations

import dataclasses
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import literal, select, union_all

from incident.accounts import service as accounts
from incident.accounts.models import AccountStatus, OfficialAccount, Platform
from incident.auth.models import User
from incident.cases.models import Case
from incident.dates import isoformat, parse_iso
from incident.drafts.models import Draft, Publication
from incident.errors import ValidationFailed
from incident.extensions import db
from incident.fakes import service as fakes
from incident.playbooks.loader import Step
from incident.validation import is_city_url, normalise_target, parse_id, past_time

#: What a checkbox or JSON sends for "yes".
YES = (True, "1", "true", "yes", "on")
#: The inputs that are offered the URLs (and @handles) the case already holds.
URL_INPUTS = ("url", "city_url", "fake_account")
#: Where a held URL comes from, as the suggestion list names it.
SOURCE_LABELS = {
    "account": _l("公式アカウント"),
    "item": _l("問題の投稿・アカウント"),
    "fake": _l("偽アカウント"),
    "draft": _l("文案のリンク"),
    "ledger": _l("公開・提出の記録"),
}
# ---- checking what a step sends ----------------------------------------------------------------------


def mfa_input(raw: dict[str, Any], case: Case) -> dict[str, Any]:
    """The MFA step: the box saying MFA is on, the method, and the account (the case's, or one the responder
    picks among the case department's accounts when the case names none)."""
    errors: dict[str, Any] = {}
    if raw.get("mfa_enabled") not in YES:
        errors["mfa_enabled"] = _l("多要素認証を有効にしたことを確かめて、チェックを入れてください。")
    method = raw.get("mfa_method")
    if not isinstance(method, str) or method not in accounts.MFA_METHODS:
        errors["mfa_method"] = _l("多要素認証の方式を選んでください。")
    account = case.official_account
    if account is None:
        account = _department_account(raw.get("account_id"), case)
        if account is None:
            errors["account_id"] = _l("多要素認証を設定した公式アカウントを、案件の所属のアカウントから選んでください。")
    if errors:
        raise ValidationFailed(fields=errors)
    assert account is not None
    return {"account_id": account.id, "account_name": account.name, "mfa_method": method}


def _department_account(raw: Any, case: Case) -> OfficialAccount | None:
    try:
        account_id = parse_id(raw)
    except ValueError:
        return None
    account = db.session.get(OfficialAccount, account_id) if account_id else None
    if account is None or account.department_id != case.department_id or account.status != AccountStatus.ACTIVE:
        return None
    return account


def fake_input(raw: dict[str, Any], case: Case) -> dict[str, Any]:
    """The fake-account step: its URL or @handle, platform (as given, else the case's, else the URL's host),
    display name and first sighting (a time in Japan, not in the future), checked as the register checks them."""
    try:
        target = normalise_target(raw.get("url") or raw.get("handle"))
    except ValueError as exc:
        raise ValidationFailed(fields={"url": exc.args[0]}) from None
    errors: dict[str, Any] = {}
    data: dict[str, Any] = {"target": target}
    platform = raw.get("platform") or (case.platform.value if case.platform else None) or fakes.platform_of(target)
    data["platform"] = platform.value if isinstance(platform, Platform) else platform
    display_name = raw.get("display_name")
    if display_name not in (None, ""):
        data["display_name"] = display_name.strip() if isinstance(display_name, str) else display_name
    first_seen = raw.get("first_seen")
    if first_seen not in (None, ""):
        try:
            data["first_seen"] = isoformat(past_time(first_seen))
        except ValueError as exc:
            errors["first_seen"] = exc.args[0]
    try:
        fakes.clean_fake_fields(_register_fields(data, case))
    except ValidationFailed as exc:  # the register's words, on the step's own fields
        for name, message in exc.fields.items():
            errors.setdefault("url" if name in ("handle", "url") else name, message)
    if errors:
        raise ValidationFailed(fields=errors)
    return data


def _register_fields(data: dict[str, Any], case: Case) -> dict[str, Any]:
    target = data["target"]
    return {"platform": data.get("platform"), "display_name": data.get("display_name", ""),
            ("handle" if target.startswith("@") else "url"): target,
            "genuine_account_id": case.official_account_id}


# ---- what completing the step changes elsewhere -------------------------------------------------------


def apply(actor: User, case: Case, step: Step, data: dict[str, Any]) -> None:
    """Write what the completed step found into the record that holds it; `data` gains the record's id."""
    if step.input == "mfa":
        account = db.session.get_one(OfficialAccount, data["account_id"])
        accounts.confirm_mfa_from_step(actor, account, case, data["mfa_method"])
    elif step.input == "fake_account":
        fake, created = fakes.record_fake(actor, _register_fields(data, case), case)
        first_seen = parse_iso(data["first_seen"]) if data.get("first_seen") else None
        fakes.note_sighting(actor, fake, case, display_name=data.get("display_name", ""), first_seen_at=first_seen)
        data["fake_account_id"] = fake.id
        data["fake_created"] = created


# ---- URLs the case already holds, offered to the steps that ask for one ----------------------------------


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """A URL or @handle the case holds, and where it comes from (a key of SOURCE_LABELS)."""

    value: str
    source: str

    @property
    def label(self) -> Any:
        return SOURCE_LABELS[self.source]


@dataclasses.dataclass
class StepFacts:
    """What the checklist offers its open steps: URLs per step key, the one to pre-fill where exactly one
    fits, and the accounts an MFA step may name when the case names none."""

    suggestions: dict[str, list[Suggestion]]
    prefill: dict[str, str]
    accounts: list[OfficialAccount]


def held_urls(case: Case) -> list[Suggestion]:
    """Every URL and @handle the case holds, each once: its official account's, offending items, linked
    fakes, draft links and the ledger (at most three queries, however many steps ask)."""
    found: list[Suggestion] = []
    if case.official_account is not None and case.official_account.url:
        found.append(Suggestion(case.official_account.url, "account"))
    found += [Suggestion(item.target, "item") for item in case.offending_items]
    found += [Suggestion(f.url or f"@{f.handle}", "fake") for f in fakes.fakes_of_case(case) if f.url or f.handle]
    rows = db.session.execute(union_all(
        select(literal("draft"), Draft.link).where(Draft.case_id == case.id, Draft.link != ""),
        select(literal("ledger"), Publication.url).where(Publication.case_id == case.id, Publication.url != ""),
    ))
    found += [Suggestion(value, source) for source, value in rows]
    seen: set[str] = set()
    unique = []
    for suggestion in found:
        if suggestion.value not in seen:
            seen.add(suggestion.value)
            unique.append(suggestion)
    return unique


def fitting(step_input: str, held: list[Suggestion], case: Case) -> list[Suggestion]:
    """The held URLs that fit an input: a city page for city_url; a fake's address (offending items and
    linked fakes, not the city's own) for fake_account; any URL or @handle for url."""
    if step_input == "city_url":
        return [s for s in held if is_city_url(s.value)]
    if step_input == "fake_account":
        genuine = case.official_account.url if case.official_account is not None else None
        return [s for s in held if s.source in ("item", "fake") and s.value != genuine and not is_city_url(s.value)]
    if step_input == "url":
        return list(held)
    return []


def for_steps(case: Case, states: list[Any]) -> StepFacts:
    """What the checklist's open steps are offered, computed once for the page (no query per step)."""
    open_steps = [s.step for s in states if s.state == "pending" and s.step.type in ("check", "approval")]
    facts = StepFacts({}, {}, [])
    if any(step.input in URL_INPUTS for step in open_steps):
        held = held_urls(case)
        for step in open_steps:
            if step.input in URL_INPUTS:
                fit = fitting(step.input, held, case)
                facts.suggestions[step.key] = fit
                if len(fit) == 1:
                    facts.prefill[step.key] = fit[0].value
    if case.official_account is None and any(step.input == "mfa" for step in open_steps):
        facts.accounts = accounts.department_accounts(case.department_id)
    return facts
