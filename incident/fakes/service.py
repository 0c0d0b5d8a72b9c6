"""Known fake accounts: normalising handles and URLs, state history, links to cases."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, func, or_, select

from incident import policy, signals
from incident.accounts.models import (
    CaseFakeAccount,
    FakeAccount,
    FakeAccountEvent,
    FakeAccountState,
    OfficialAccount,
    Platform,
)
from incident.audit import service as audit
from incident.auth.models import User
from incident.cases.models import Case, CaseKind, TimelineEvent
from incident.cases.service import require_open
from incident.database import MAX_ID
from incident.dates import utcnow
from incident.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.extensions import db
from incident.validation import normalise_url

_HANDLE = re.compile(r"^[a-z0-9_.\-]{1,100}$")
DISPLAY_NAME_MAX = 200
NOTE_MAX = 1000


def _invalid(name: str, message: Any) -> ValidationFailed:
    return ValidationFailed(fields={name: message})


def normalise_handle(raw: Any) -> str | None:
    """A handle lower-cased without its @, or None when blank; raise ValueError if malformed."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(_l("@ハンドルを文字列で入力してください。"))
    text = raw.strip().lstrip("@").lower()
    if not text:
        return None
    if not _HANDLE.match(text):
        raise ValueError(_l("@ハンドルに使えるのは英数字・_・.・- だけです。"))
    return text


def normalise_fake_url(raw: Any) -> str | None:
    """A URL with scheme and host lower-cased, no fragment, no trailing slash; None when blank."""
    text = normalise_url(raw)
    if text is None:
        return None
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host, parts.path.rstrip("/"), parts.query, ""))


def handle_from_url(url: str | None) -> str | None:
    """The account handle a profile URL names (one path segment, e.g. https://x.com/Name), if any."""
    if not url:
        return None
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if len(segments) != 1:
        return None
    try:
        return normalise_handle(segments[0])
    except ValueError:
        return None


#: Hosts that name a platform (x.com → X), so a URL says where the account or post lives.
PLATFORM_HOSTS = {"x.com": Platform.X, "twitter.com": Platform.X, "facebook.com": Platform.FACEBOOK,
                  "fb.com": Platform.FACEBOOK, "instagram.com": Platform.INSTAGRAM, "line.me": Platform.LINE,
                  "youtube.com": Platform.YOUTUBE, "youtu.be": Platform.YOUTUBE, "tiktok.com": Platform.TIKTOK}


def platform_of(target: str | None) -> Platform | None:
    """The platform a URL's host names (x.com, www.twitter.com → X), if any; None for @handles and other hosts."""
    if not target or not target.startswith(("http://", "https://")):
        return None
    host = (urlsplit(target).hostname or "").lower()
    return next((p for domain, p in PLATFORM_HOSTS.items() if host == domain or host.endswith("." + domain)), None)


def _match_keys(targets: list[str]) -> tuple[set[str], set[str]]:
    """(urls, handles) to look up for a list of offending URLs / @handles."""
    urls: set[str] = set()
    handles: set[str] = set()
    for target in targets:
        try:
            if target.startswith("@"):
                handle = normalise_handle(target)
                if handle:
                    handles.add(handle)
            else:
                url = normalise_fake_url(target)
                if url:
                    urls.add(url)
                    derived = handle_from_url(url)
                    if derived:
                        handles.add(derived)
        except ValueError:
            continue
    return urls, handles


def find_known(targets: list[str], platform: Platform | None = None) -> list[FakeAccount]:
    """Known fakes whose URL or handle matches one of the targets (handles within the platform, if known)."""
    urls, handles = _match_keys(targets)
    conditions: list[ColumnElement[bool]] = []
    if urls:
        conditions.append(FakeAccount.url.in_(urls))
    if handles:
        handle_match: ColumnElement[bool] = FakeAccount.handle.in_(handles)
        if platform is not None:
            handle_match = handle_match & (FakeAccount.platform == platform)
        conditions.append(handle_match)
    if not conditions:
        return []
    return list(db.session.scalars(select(FakeAccount).where(or_(*conditions)).order_by(FakeAccount.id)))


def clean_fake_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the fields of a new fake account; raise ValidationFailed naming each bad field."""
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned["platform"] = Platform(data.get("platform") or "")
    except (ValueError, TypeError):
        errors["platform"] = _l("媒体を選んでください。")
    for name, func_ in (("handle", normalise_handle), ("url", normalise_fake_url)):
        try:
            cleaned[name] = func_(data.get(name))
        except ValueError as exc:
            errors[name] = exc.args[0]
    if not errors and not cleaned.get("handle") and not cleaned.get("url"):
        errors["handle"] = _l("@ハンドルか URL のどちらかを入力してください。")
    if cleaned.get("url") and not cleaned.get("handle"):
        cleaned["handle"] = handle_from_url(cleaned["url"])
    display_name = data.get("display_name") or ""
    if not isinstance(display_name, str) or len(display_name.strip()) > DISPLAY_NAME_MAX:
        errors["display_name"] = _l("%(max)d 文字以内で入力してください。", max=DISPLAY_NAME_MAX)
    else:
        cleaned["display_name"] = display_name.strip()
    genuine = data.get("genuine_account_id")
    if genuine in (None, ""):
        cleaned["genuine_account_id"] = None
    else:
        try:
            genuine_id = int(genuine)
            if isinstance(genuine, bool) or not 0 < genuine_id <= MAX_ID:
                raise ValueError
        except (TypeError, ValueError):
            genuine_id = None
        if genuine_id is None or db.session.get(OfficialAccount, genuine_id) is None:
            errors["genuine_account_id"] = _l("その公式アカウントは登録されていません。")
        else:
            cleaned["genuine_account_id"] = genuine_id
    if "\x00" in str(data.get("display_name") or ""):
        errors["display_name"] = _l("使用できない文字が含まれています。")
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def _existing(fields: dict[str, Any]) -> FakeAccount | None:
    conditions = []
    if fields.get("url"):
        conditions.append(FakeAccount.url == fields["url"])
    if fields.get("handle"):
        conditions.append((FakeAccount.handle == fields["handle"]) & (FakeAccount.platform == fields["platform"]))
    return db.session.scalar(select(FakeAccount).where(or_(*conditions)).order_by(FakeAccount.id).limit(1))


def record_fake(actor: User, data: dict[str, Any], case: Case | None = None) -> tuple[FakeAccount, bool]:
    """Record a fake account once; (fake, created). With a case, link it (an existing fake is reused)."""
    if case is not None:
        if not policy.can_edit(actor, case):
            raise NotFound()
        require_open(case)  # linking a fake from a closed case would change it
    fields = clean_fake_fields(data)
    existing = _existing(fields)
    if existing is not None:
        if case is None:
            raise Conflict(_l("この偽アカウントはすでに登録されています（#%(id)d）。", id=existing.id),
                           fields={"id": str(existing.id)}, current=existing)
        link_case(actor, existing, case)
        return existing, False
    now = utcnow()
    fake = FakeAccount(**fields, first_seen_at=now, last_seen_at=now, state=FakeAccountState.LIVE,
                       created_by_id=actor.id, created_at=now)
    db.session.add(fake)
    db.session.flush()
    db.session.add(FakeAccountEvent(fake_account_id=fake.id, state=FakeAccountState.LIVE,
                                    note=str(_l("登録")), actor_id=actor.id, created_at=now))
    audit.record(actor, "fake_account.create", "fake_account", fake.id,
                 changes={k: (None, v) for k, v in fields.items()}, case_id=case.id if case else None)
    if case is not None:
        link_case(actor, fake, case)
    return fake, True


def link_case(actor: User | None, fake: FakeAccount, case: Case) -> bool:
    """Link a case to a fake it met (once); the fake's last-seen time moves on. True if newly linked.

    The case saw the fake when it was detected: a first-seen time later than the case's detection (e.g. the
    moment the fake was typed in) moves back to it, so "first seen" is when the city observed it."""
    already = db.session.scalar(select(CaseFakeAccount.id).where(
        CaseFakeAccount.case_id == case.id, CaseFakeAccount.fake_account_id == fake.id))
    if already is not None:
        return False
    now = utcnow()
    db.session.add(CaseFakeAccount(case_id=case.id, fake_account_id=fake.id,
                                   linked_by_id=actor.id if actor else None, linked_at=now))
    fake.last_seen_at = now
    changes: dict[str, tuple[Any, Any]] = {"case_id": (None, case.id)}
    if case.detected_at is not None and case.detected_at < fake.first_seen_at:
        changes["first_seen_at"] = (fake.first_seen_at, case.detected_at)
        fake.first_seen_at = case.detected_at
    db.session.flush()
    db.session.add(TimelineEvent(case_id=case.id, actor_id=actor.id if actor else None, event="fake_linked",
                                 data={"fake_account_id": fake.id, "label": fake_label(fake)}))
    audit.record(actor, "fake_account.link", "fake_account", fake.id, case_id=case.id, changes=changes)
    return True


def link_known_fakes(actor: User, case: Case, targets: list[str]) -> list[FakeAccount]:
    """On an impersonation case, link every known fake whose URL or handle is among the targets."""
    if case.kind != CaseKind.IMPERSONATION or not targets:
        return []
    found = find_known(targets, case.platform)
    for fake in found:
        link_case(actor, fake, case)
    return found


@signals.case_opened.connect
def _link_on_opening(case: Case, *, actor: User, targets: list[str], **_: Any) -> None:
    """A new impersonation case meets the known fakes among its offending URLs / @handles."""
    link_known_fakes(actor, case, targets)


#: Allowed states; any state may follow any other (a removed account can come back).
STATES = tuple(FakeAccountState)


def may_change_state(actor: User, fake: FakeAccount) -> bool:
    """Whether the actor may record the fake's state (policy.can_change_fake_state; one query)."""
    linked = db.session.scalars(
        select(Case).join(CaseFakeAccount, CaseFakeAccount.case_id == Case.id)
        .where(CaseFakeAccount.fake_account_id == fake.id)
    ).all()
    return policy.can_change_fake_state(actor, linked)


def change_state(actor: User, fake: FakeAccount, state: Any, note: Any = "") -> FakeAccountEvent:
    """Record a state change (reported, removed, still live) in the append-only history."""
    if not may_change_state(actor, fake):
        raise PermissionDenied(_l("この偽アカウントの状態は、関連する案件の所属か秘書広報課が記録します。"))
    try:
        target = FakeAccountState(state)
    except (ValueError, TypeError):
        raise _invalid("state", _l("状態を選んでください。")) from None
    text = note.strip() if isinstance(note, str) else ""
    if len(text) > NOTE_MAX or "\x00" in text:
        raise _invalid("note", _l("%(max)d 文字以内で入力してください。", max=NOTE_MAX))
    now = utcnow()
    old = fake.state
    fake.state = target
    if target == FakeAccountState.LIVE:
        fake.last_seen_at = now  # seen still live
    event = FakeAccountEvent(fake_account_id=fake.id, state=target, note=text, actor_id=actor.id, created_at=now)
    db.session.add(event)
    db.session.flush()
    audit.record(actor, "fake_account.state", "fake_account", fake.id,
                 changes={"state": (old, target), **({"note": (None, text)} if text else {})})
    return event


def note_sighting(actor: User, fake: FakeAccount, case: Case, *, display_name: str = "",
                  first_seen_at: dt.datetime | None = None) -> dict[str, tuple[Any, Any]]:
    """What a case's step learned about a fake (linked to the case if it was not) updates the known-fake record: its display name
    (when it was empty or differs; the change goes into its history) and its first sighting (only ever
    earlier). Whoever may edit the open case may do this. Returns the changes."""
    if not policy.can_edit(actor, case):
        raise NotFound()
    require_open(case)
    link_case(actor, fake, case)  # a no-op when the step's fake was just recorded from the case
    changes: dict[str, tuple[Any, Any]] = {}
    name = display_name.strip() if isinstance(display_name, str) else ""
    if len(name) > DISPLAY_NAME_MAX or "\x00" in name:
        raise _invalid("display_name", _l("%(max)d 文字以内で入力してください。", max=DISPLAY_NAME_MAX))
    if name and name != fake.display_name:
        old_name = fake.display_name
        changes["display_name"] = (old_name, name)
        fake.display_name = name
        note = (_l("表示名を「%(old)s」から「%(new)s」に変更（案件 %(case)s）", old=old_name, new=name, case=case.number)
                if old_name else _l("表示名「%(new)s」を記録（案件 %(case)s）", new=name, case=case.number))
        db.session.add(FakeAccountEvent(fake_account_id=fake.id, state=fake.state, note=str(note)[:NOTE_MAX],
                                        actor_id=actor.id, created_at=utcnow()))
    if first_seen_at is not None and first_seen_at < fake.first_seen_at:
        changes["first_seen_at"] = (fake.first_seen_at, first_seen_at)
        fake.first_seen_at = first_seen_at
    if changes:
        db.session.flush()
        audit.record(actor, "fake_account.update", "fake_account", fake.id, changes=changes, case_id=case.id)
    return changes


def fake_label(fake: FakeAccount) -> str:
    """A short text naming a fake account: @handle or URL."""
    return f"@{fake.handle}" if fake.handle else (fake.url or f"#{fake.id}")


def get_fake(fake_id: int) -> FakeAccount:
    """A fake account (every signed-in user may see the register), or NotFound."""
    fake = db.session.get(FakeAccount, fake_id)
    if fake is None:
        raise NotFound()
    return fake


def fakes_query(q: str | None = None, state: FakeAccountState | None = None) -> Select[tuple[FakeAccount]]:
    """Known fakes, most recently seen first, filtered by text and state."""
    query = select(FakeAccount).order_by(FakeAccount.last_seen_at.desc(), FakeAccount.id.desc())
    if state is not None:
        query = query.where(FakeAccount.state == state)
    if q:
        pattern = "%" + q.lower().lstrip("@").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(
            func.lower(FakeAccount.handle).like(pattern, escape="\\"),
            func.lower(FakeAccount.url).like(pattern, escape="\\"),
            func.lower(FakeAccount.display_name).like(pattern, escape="\\"),
        ))
    return query


def filters_from_args(args: Any) -> tuple[str | None, FakeAccountState | None]:
    """(q, state) from a page's query arguments; an unknown state is ignored (the API checks its own)."""
    q = (args.get("q") or "").strip()[:100] or None
    raw = args.get("state") or ""
    state = None
    if raw:
        with contextlib.suppress(ValueError):
            state = FakeAccountState(raw)
    return q, state


def visible_case_counts(actor: User, fake_ids: list[int]) -> dict[int, int]:
    """How many cases the actor may see are linked to each fake (one query)."""
    if not fake_ids:
        return {}
    rows = db.session.execute(
        select(CaseFakeAccount.fake_account_id, func.count())
        .join(Case, Case.id == CaseFakeAccount.case_id)
        .where(CaseFakeAccount.fake_account_id.in_(fake_ids), policy.visible_cases_clause(actor, Case))
        .group_by(CaseFakeAccount.fake_account_id)
    )
    return {fake_id: count for fake_id, count in rows}


def linked_cases(actor: User, fake: FakeAccount) -> list[Case]:
    """The cases linked to a fake that the actor may see, newest first."""
    return list(db.session.scalars(
        select(Case).join(CaseFakeAccount, CaseFakeAccount.case_id == Case.id)
        .where(CaseFakeAccount.fake_account_id == fake.id, policy.visible_cases_clause(actor, Case))
        .order_by(Case.created_at.desc(), Case.id.desc())
    ))


def history(fake: FakeAccount) -> list[FakeAccountEvent]:
    """The fake's state history, oldest first."""
    return list(db.session.scalars(
        select(FakeAccountEvent).where(FakeAccountEvent.fake_account_id == fake.id)
        .order_by(FakeAccountEvent.created_at, FakeAccountEvent.id)
    ))


@dataclasses.dataclass(frozen=True)
class CaseFake:
    """A fake account linked to a case, with the other cases (visible to the viewer) that met it."""

    fake: FakeAccount
    other_cases: list[Case]


def fakes_of_case(case: Case) -> list[FakeAccount]:
    """The fake accounts linked to a case, in the order they were recorded."""
    return list(db.session.scalars(
        select(FakeAccount).join(CaseFakeAccount, CaseFakeAccount.fake_account_id == FakeAccount.id)
        .where(CaseFakeAccount.case_id == case.id).order_by(FakeAccount.id)
    ))


def case_fakes(actor: User, case: Case) -> list[CaseFake]:
    """The fakes a case met, each with the other visible cases that met it (two queries)."""
    fakes = fakes_of_case(case)
    if not fakes:
        return []
    others: dict[int, list[Case]] = {f.id: [] for f in fakes}
    rows = db.session.execute(
        select(CaseFakeAccount.fake_account_id, Case)
        .join(Case, Case.id == CaseFakeAccount.case_id)
        .where(CaseFakeAccount.fake_account_id.in_(list(others)), Case.id != case.id,
               policy.visible_cases_clause(actor, Case))
        .order_by(Case.created_at, Case.id)
    )
    for fake_id, other in rows:
        others[fake_id].append(other)
    return [CaseFake(f, others[f.id]) for f in fakes]


def fakes_for_account(account: OfficialAccount) -> list[FakeAccount]:
    """The known fakes imitating a genuine official account, most recently seen first."""
    return list(db.session.scalars(
        select(FakeAccount).where(FakeAccount.genuine_account_id == account.id)
        .order_by(FakeAccount.last_seen_at.desc(), FakeAccount.id.desc())
    ))
