"""Authorization, generated from `app.url_map`: a route added later is checked without editing this file.

- Every API rule answers 401 without a token, for every method, except the API's public endpoints.
- Every rule with an id in its path answers 404 (not 403, 200 or 500) to a responder and to a supervisor of
  another department for objects of department A, for every method; the rules whose objects are not bound
  to a department are listed in NOT_DEPARTMENT_BOUND with their own expectation and the reason, and a new
  id rule that is in neither fails the test until someone decides which it is.
- An outside operator's user (委託業者・指定管理者, issue 12) of department A whose organisation does not run
  the case's account is an outsider too: the same answers as another department's user. Its organisation's
  user gets past every id rule's check when the organisation runs the case's account.
- Every page answers a logged-out visitor with a redirect to the login page, except PUBLIC_PAGES.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from typing import Any

import pytest
from PIL import Image
from werkzeug.routing import IntegerConverter

from incident.auth.models import UserSession
from incident.auth.sessions import start_session
from incident.auth.tokens import create_token
from incident.cases.models import Case
from incident.dates import to_tokyo, utcnow
from incident.drafts.blanks import find_blanks
from incident.escalation import on_call
from incident.extensions import db
from incident.notifications import chat
from incident.notifications.models import Notification, OutboxMail
from incident.reports import disclosure

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]
#: Methods left out of the id and login checks: OPTIONS is Flask's automatic answer (the allowed methods of
#: the path, the same for every id); it reads nothing, so it is not an access decision.
SKIPPED_METHODS = {"OPTIONS"}

#: Id parameters whose object belongs to a case, hence to the case's department.
DEPARTMENT_BOUND = {"case_id", "draft_id", "evidence_id", "publication_id", "note_id", "escalation_id"}

#: Why the PR office's people and department rules answer 404 to everyone else.
PEOPLE = "people and departments are kept by the PR office: to others the pages and API do not exist (404)"
#: Why personnel reshuffles (人事異動) answer 404 to everyone but the PR office.
RESHUFFLES = "reshuffles are the PR office's: to others the pages and API do not exist (404)"

#: Id rules whose objects are not bound to a department: path (converters removed) -> the status a
#: responder and a supervisor of another department get for department A's object, per method, and why.
#: `control` names who may use the rule (default: department A's supervisor) for the check that the ids
#: are real; `body` is valid input to send instead of an empty one (for a view that checks its input first).
CHAT = ("a chat channel is its owner's, or its department's supervisors' and the PR office's (never an outside "
        "operator's): to anyone else it does not exist")
NOT_DEPARTMENT_BOUND: dict[str, dict[str, Any]] = {
    "/accounts/<account_id>": {
        "GET": 200, "why": "the registry of official accounts is read by all staff (3(2)); the list is public"},
    "/accounts/<account_id>/form1": {"GET": 200, "why": "様式1 of a registered account, as readable as the registry"},
    "/accounts/<account_id>/edit": {
        "GET": 403, "POST": 403, "control": "admin", "why": "only the PR office keeps the registry"},
    "/accounts/<account_id>/mfa": {"POST": 403, "why": "marked by the account's department or the PR office"},
    "/accounts/<account_id>/reviewed": {"POST": 403, "why": "marked by the account's department or the PR office"},
    "/accounts/<account_id>/notices/new": {
        "GET": 403, "POST": 403, "why": "様式2 notices come from the account's department or the PR office"},
    "/accounts/<account_id>/notices/<notice_id>/form2": {
        "GET": 200, "why": "a filed 様式2 is part of the registry everyone reads"},
    "/accounts/<account_id>/notices/<notice_id>/receive": {
        "POST": 403, "control": "admin", "why": "only the PR office receives 様式2 notices"},
    "/accounts/<account_id>/closure/<task>": {
        "POST": 403, "why": "closure tasks are the account's department's (or the PR office's)"},
    "/api/v1/accounts/<account_id>": {
        "GET": 200, "PATCH": 403, "control": "admin",
        "why": "the registry is read by all staff and kept by the PR office"},
    "/api/v1/accounts/<account_id>/notices": {
        "POST": 403, "why": "様式2 notices come from the account's department or the PR office"},
    "/fakes/<fake_id>": {"GET": 200, "why": "known fake accounts are shared city-wide, so every department spots them"},
    "/fakes/<fake_id>/state": {
        "POST": 403, "body": {"state": "reported"},
        "why": "a fake's state is recorded by the departments of its cases (the page checks the form first)"},
    "/api/v1/fake-accounts/<fake_id>": {"GET": 200, "why": "known fake accounts are shared city-wide"},
    "/api/v1/fake-accounts/<fake_id>/state": {
        "POST": 403, "body": {"state": "reported"}, "why": "recorded by the departments of its cases"},
    "/notifications/<notification_id>/open": {"POST": 404, "why": "a notification is its recipient's alone"},
    "/api/v1/notifications/<notification_id>/read": {"POST": 404, "why": "a notification is its recipient's alone"},
    "/settings/tokens/<token_id>/revoke": {"POST": 404, "why": "an API token is its owner's alone"},
    "/admin/tokens/<token_id>/revoke": {
        "POST": 404, "control": "admin",
        "why": "the PR office revokes anyone's API token; to others the page does not exist, like /admin/tokens"},
    "/settings/sessions/<session_id>/end": {"POST": 404, "why": "a signed-in session is its user's alone"},
    "/admin/retention/<case_id>": {
        "POST": 404, "control": "admin",
        "why": "the records' retention is the PR office's; a case another department cannot see is 404"},
    "/cases/<case_id>/record-export": {
        "POST": 404, "control": "admin",
        "why": "writing a record out is the PR office's (403 to others who see the case); a case another "
               "department cannot see is 404"},
    "/cases/<case_id>/redaction": {
        "GET": 404, "POST": 404, "control": "admin",
        "why": "removing personal data is the PR office's (403 to others who see the case); a case another "
               "department cannot see is 404"},
    "/notifications/chat/<channel_id>/test": {"POST": 404, "why": CHAT},
    # Its own channel: the control's removal must not leave the test-message rule a removed channel.
    "/notifications/chat/<channel_id>/remove": {"POST": 404, "why": CHAT, "ids": {"channel_id": "spare_channel_id"}},
    "/admin/outbox/<mail_id>/retry": {
        "POST": 404, "control": "admin", "why": "the outbox is the PR office's: to others it does not exist, "
                                               "like the /admin/outbox page"},
    "/admin/users/<user_id>/mfa/reset": {
        "POST": 404, "control": "admin",
        "why": "the PR office resets a user's MFA: to others it does not exist, like /admin/users (issue 13)"},
    "/admin/users/<user_id>/password": {
        "GET": 404, "POST": 404, "control": "admin",
        "why": "temporary passwords are issued by the PR office only: to others the page does not exist, like "
               "the /admin/users list (issue 13)"},
    "/admin/users/<user_id>": {
        "GET": 404, "POST": 404, "control": "admin", "why": PEOPLE},
    "/admin/users/<user_id>/approve": {
        "POST": 404, "control": "admin", "why": PEOPLE},
    "/admin/users/<user_id>/reject": {
        "POST": 404, "control": "admin", "why": PEOPLE},
    "/admin/users/<user_id>/reactivate": {
        "POST": 404, "control": "admin", "why": PEOPLE},
    "/admin/users/<user_id>/deactivate": {
        "GET": 404, "POST": 404, "control": "admin", "why": PEOPLE},
    "/admin/departments/<department_id>": {
        "GET": 404, "POST": 404, "control": "admin", "why": PEOPLE},
    "/admin/departments/<department_id>/delete": {
        "POST": 404, "control": "admin", "why": PEOPLE},
    "/api/v1/users/<user_id>": {
        "GET": 404, "PATCH": 404, "control": "admin", "why": PEOPLE},
    "/api/v1/users/<user_id>/deactivate": {
        "POST": 404, "control": "admin", "why": PEOPLE},
    "/api/v1/users/<user_id>/handover": {
        "GET": 404, "control": "admin", "why": PEOPLE},
    "/api/v1/departments/<department_id>": {
        "PATCH": 404, "DELETE": 404, "control": "admin", "why": PEOPLE},
    "/admin/reshuffles/<reshuffle_id>": {"GET": 404, "control": "admin", "why": RESHUFFLES},
    "/admin/reshuffles/<reshuffle_id>/apply": {"POST": 404, "control": "admin", "why": RESHUFFLES},
    "/admin/reshuffles/<reshuffle_id>/cancel": {"POST": 404, "control": "admin", "why": RESHUFFLES},
    "/api/v1/reshuffles/<reshuffle_id>": {"GET": 404, "control": "admin", "why": RESHUFFLES},
    "/api/v1/reshuffles/<reshuffle_id>/apply": {"POST": 404, "control": "admin", "why": RESHUFFLES},
    "/on-call/<shift_id>/remove": {
        "POST": 404, "why": "an on-call shift is kept by its department's supervisors and the PR office; to those "
                            "who do not see the department's cases it does not exist (its own staff get 403)"},
}

#: Pages a logged-out visitor may open.
PUBLIC_PAGES = {"/login", "/public/accounts", "/public/accounts.csv", "/public/accounts.json", "/favicon.ico",
                "/static/<filename>"}
#: Public pages whose address carries a secret: a password-reset link (issue 13; tests/auth/test_reset_link.py
#: opens them logged out with a real link).
PUBLIC_SECRET_PAGES = {"/reset/<token>"}
#: Single sign-on's pages: open to a logged-out visitor when it is configured, 404 while it is off (as here);
#: tests/auth/test_oidc.py goes through them with a real identity provider.
SSO_PAGES = {"/login/sso", "/login/sso/callback"}

_PART = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _path(rule) -> str:
    """The rule's path with its converters removed: /cases/<case_id>."""
    return _PART.sub(lambda m: f"<{m.group(3)}>", rule.rule)


def _methods(rule) -> list[str]:
    return sorted(set(rule.methods or ()) - SKIPPED_METHODS)


def _id_names(rule) -> set[str]:
    return {name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)}


def _public_api_endpoints() -> frozenset[str]:
    """The API's declared public endpoints, wherever the API package keeps them."""
    import incident.api as api_package

    found = getattr(api_package, "PUBLIC_ENDPOINTS", None)
    if found is None:
        from incident.api import accounts

        found = accounts.PUBLIC_ENDPOINTS
    return frozenset(found)


def _url(rule, values: dict[str, Any], default: str | None = None) -> str:
    """The rule's path filled from `values` (ids and other parts, or those its NOT_DEPARTMENT_BOUND entry
    names under "ids"); `any(...)` takes its first choice, any other part `default`."""
    renamed = NOT_DEPARTMENT_BOUND.get(_path(rule), {}).get("ids", {})
    values = {**values, **{name: values[other] for name, other in renamed.items()}}

    def fill(match: re.Match) -> str:
        converter, arguments, name = match.groups()
        if name in values:
            return str(values[name])
        if converter == "any":
            return arguments.split(",")[0].strip()
        if default is not None:
            return default
        raise AssertionError(f"{rule.rule}: no value for <{name}>: add one to the `objects` fixture")

    return _PART.sub(fill, rule.rule)


def _send(client, method: str, url: str, body: dict | None = None):
    """One request; API writes carry a JSON object, page writes a form (both empty unless `body`)."""
    if method in ("GET", "HEAD"):
        sent: dict[str, Any] = {}
    else:
        sent = {"json": body or {}} if url.startswith("/api/") else {"data": body or {}}
    return client.open(url, method=method, **sent)


def _call_api(api, method: str, url: str, user, body: dict | None = None):
    """One API request with `user`'s token."""
    if method in ("GET", "HEAD"):
        return api(method, url, user)
    return api(method, url, user, json=body or {})


# --- 1. every API route needs a token -------------------------------------------------------------


def test_every_api_route_needs_a_token(app, client):
    public = _public_api_endpoints()
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert len(rules) > 40 and "api.public_accounts" in public
    failures = []
    for rule in rules:
        # Any id: the token is checked before anything is looked up.
        url = _url(rule, {name: 1 for name in _id_names(rule)}, default="x")
        for method in sorted(rule.methods or ()):
            if rule.endpoint in public and method in ("GET", "HEAD", "OPTIONS"):
                continue
            response = _send(client, method, url)
            if response.status_code != 401 or method != "HEAD" and (
                    not response.is_json or response.get_json()["error"]["code"] != "unauthorized"):
                failures.append(f"{method} {rule.rule} ({rule.endpoint}) -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_the_public_api_endpoints_answer_without_a_token(app, client):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in _public_api_endpoints() and "GET" in (rule.methods or ()) and not rule.arguments:
            assert client.get(rule.rule).status_code == 200, rule.rule


# --- 2. every id route answers 404 to another department ------------------------------------------


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, "PNG")
    return out.getvalue()


def _created(response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.get_json()


#: The contractor of the operator checks: its user works in department A.
CONTRACTOR = "株式会社防災広報"


@pytest.fixture
def people(city, make):
    """The small city, plus users of department A who work for outside operators: one for CONTRACTOR and
    one for another contractor (issue 12)."""
    city.operator_a = make.user("responder", city.dept_a, name="委託A", organisation=CONTRACTOR)
    city.other_operator_a = make.user("responder", city.dept_a, name="委託A別", organisation="株式会社べつの業者")
    return city


@pytest.fixture
def objects(app, api, people, tmp_path) -> dict[str, Any]:
    """One of everything, made by department A through the API about a city-run account."""
    return _objects(app, api, people, tmp_path)


@pytest.fixture
def contractor_objects(app, api, people, tmp_path) -> dict[str, Any]:
    """The same about an account CONTRACTOR runs for department A (opened by department A's responder)."""
    return _objects(app, api, people, tmp_path, operator_name=CONTRACTOR)


def _objects(app, api, city, tmp_path, operator_name: str | None = None) -> dict[str, Any]:
    """One of everything, made by department A through the API: an official account (run by the city, or by
    `operator_name`) with a notice, an impersonation case with a note, an offending item, evidence, a known
    fake, a sent draft (hence a publication), an escalation and its notification; an API token, and an
    undelivered mail."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    a = city
    operator = {"operator_type": "contractor", "operator_name": operator_name} if operator_name else {
        "operator_type": "city"}
    account = _created(api("POST", "/api/v1/accounts", a.admin, json={
        "platform": "x", "name": "石巻市防災", "url": "https://x.com/ishinomaki_bousai",
        "department_id": a.dept_a.id, **operator}))
    notice = _created(api("POST", f"/api/v1/accounts/{account['id']}/notices", a.responder_a, json={
        "kind": "change", "effective_date": "2026-04-01", "contact": "防災課", "details": "運用時間の変更"}))
    case = _created(api("POST", "/api/v1/cases", a.responder_a, json={
        "kind": "impersonation", "severity": "high", "title": "防災アカウントのなりすまし", "platform": "x",
        "official_account_id": account["id"]}))
    base = f"/api/v1/cases/{case['id']}"
    note = _created(api("POST", f"{base}/notes", a.responder_a, json={"body": "見つけた経緯"}))
    _created(api("POST", f"{base}/items", a.responder_a, json={"target": "https://x.com/ishinomaki_fake/status/1"}))
    evidence = _created(api("POST", f"{base}/evidence", a.responder_a,
                            data={"file": (io.BytesIO(_png()), "shot.png")}, content_type="multipart/form-data"))
    fake = _created(api("POST", "/api/v1/fake-accounts", a.responder_a, json={
        "platform": "x", "url": "https://x.com/ishinomaki_fake", "case_id": case["id"]}))
    # Posted on the city website: the template's text is longer than an X post allows.
    draft = _created(api("POST", f"{base}/drafts", a.responder_a, json={"type": "citizen_warning",
                                                                      "channel": "website"}))
    drafts = f"{base}/drafts/{draft['id']}"
    text = draft["body"]
    blanks = find_blanks(text)
    for blank in blanks:  # the author writes in what the template left blank before submitting
        text = text.replace(blank.text, "確認した内容", 1)
    if blanks:
        _created(api("POST", f"{drafts}/revisions", a.responder_a, json={"body": text}))
    _created(api("POST", f"{drafts}/submit", a.responder_a, json={"checks": CHECKS}))
    _created(api("POST", f"{drafts}/approve", a.supervisor_a, json={}))
    sent = _created(api("POST", f"{drafts}/sent", a.responder_a,
                        json={"url": "https://x.com/ishinomaki_bousai/status/9"}))
    escalation = _created(api("POST", f"{base}/escalations", a.responder_a, json={"reason": "判断に迷う"}))
    notification = db.session.scalars(db.select(Notification).where(
        Notification.user_id == a.supervisor_a.id).order_by(Notification.id.desc())).first()
    assert notification is not None, "escalating should notify department A's supervisor"
    reshuffle = _created(api("POST", "/api/v1/reshuffles", a.admin, content_type="text/csv",
                             data=f"email,department,role\r\n{a.responder_b.email},{a.dept_b.code},responder\r\n"))
    token, _plain = create_token(a.supervisor_a, "probe")
    mail = OutboxMail(to_addr=a.admin.email, subject="件名", body="本文", kind="escalation",
                      attempts=10, failed_at=utcnow() - dt.timedelta(minutes=1), last_error="refused")
    db.session.add(mail)
    channel, spare = (chat.add_channel(a.supervisor_a, service="slack", name=name, kinds=["escalation"],
                                       url="https://hooks.slack.com/services/T0/B0/secret", department=a.dept_a)
                      for name in ("防災課 Slack", "予備"))
    shift = on_call.add_shift(a.supervisor_a, a.dept_a, user_id=a.responder_a.id,
                              starts=to_tokyo(utcnow() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                              ends=to_tokyo(utcnow() + dt.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"))
    request = disclosure.open_request(a.supervisor_a, case["id"], "R8-1", dt.date(2026, 11, 1))
    case_row = db.session.get(Case, case["id"])
    mask = disclosure.add_mask(a.supervisor_a, case_row, request, "なりすまし", disclosure.grounds()[0], "個人情報",
                               case_row.title)
    db.session.commit()
    steps = _created(api("GET", f"{base}/steps", a.responder_a))["items"]
    from incident.accounts import service as accounts

    return {
        "account_id": account["id"], "notice_id": notice["id"], "case_id": case["id"], "note_id": note["id"],
        "evidence_id": evidence["id"], "fake_id": fake["id"], "draft_id": draft["id"],
        "publication_id": sent["publication"]["id"], "escalation_id": escalation["id"],
        "notification_id": notification.id, "token_id": token.id, "mail_id": mail.id,
        "channel_id": channel.id, "spare_channel_id": spare.id, "shift_id": shift.id, "request_id": request.id, "mask_id": mask.id,
        "key": steps[0]["key"], "task": next(iter(accounts.CLOSURE_TASKS)),
        # Department B's responder: the control (the PR office) issues them a temporary password.
        "user_id": a.responder_b.id,
        # Department B: the PR office renames it (and is refused deleting it: it has people).
        "department_id": a.dept_b.id,
        # A signed-in browser of department A's supervisor (the control), which only they may sign out.
        "session_id": _session_of(a.supervisor_a),
        # A previewed reshuffle (PR office only); the control cancels it.
        "reshuffle_id": reshuffle["id"],
    }


def _session_of(user) -> int:
    """The id of a new signed-in session of `user` (issue 13)."""
    login_id = start_session(user, "pytest", "127.0.0.1")
    db.session.commit()
    token_hash = hashlib.sha256(login_id.split(":", 1)[1].encode()).hexdigest()
    return db.session.scalars(db.select(UserSession.id).where(UserSession.token_hash == token_hash)).one()


def _id_rules(app) -> list:
    return sorted((rule for rule in app.url_map.iter_rules() if _id_names(rule)), key=lambda r: r.rule)


def test_every_id_rule_is_classified(app):
    """A new id rule must be department-bound (its ids name a case's objects) or listed with its reason."""
    paths = {_path(rule) for rule in _id_rules(app)}
    unclassified = sorted(path for path in paths if not _bound(path) and path not in NOT_DEPARTMENT_BOUND)
    assert unclassified == [], "add these to DEPARTMENT_BOUND (by id name) or NOT_DEPARTMENT_BOUND"
    assert sorted(set(NOT_DEPARTMENT_BOUND) - paths) == [], "rules that no longer exist"
    for path, expectation in NOT_DEPARTMENT_BOUND.items():
        assert expectation.get("why"), path
    assert len(paths) > 40


def _bound(path: str) -> bool:
    return any(f"<{name}>" in path for name in DEPARTMENT_BOUND)


def _expected(rule, method: str) -> int:
    if _bound(_path(rule)):
        return 404
    expectation = NOT_DEPARTMENT_BOUND[_path(rule)]
    return expectation["GET" if method == "HEAD" else method]


@pytest.mark.parametrize("role", ["responder_b", "supervisor_b", "operator_a"])
def test_another_departments_user_gets_404_on_every_id_rule(app, client, people, login, api, objects, role):
    """Another department's responder and supervisor, and a contractor's user of department A itself (the
    case's account is run by the city: issue 12)."""
    outsider = getattr(people, role)
    login(outsider)
    failures = []
    for rule in _id_rules(app):
        url = _url(rule, objects)
        for method in _methods(rule):
            expected = _expected(rule, method)
            body = NOT_DEPARTMENT_BOUND.get(_path(rule), {}).get("body")
            if url.startswith("/api/"):
                response = _call_api(api, method, url, outsider, body)
                ok = response.status_code == expected and (expected < 300 or response.is_json)
            else:
                response = _send(client, method, url, body)
                ok = response.status_code == expected
            if not ok:
                failures.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code}, expected {expected}")
    assert not failures, "\n".join(failures)


def test_the_ids_are_real_for_those_who_may_use_them(app, client, city, login, api, objects):
    """The control: the same requests are not 404 for department A's supervisor (the PR office for its own
    rules), so the 404s above come from the department check, not from wrong ids."""
    failures = []
    for rule in _id_rules(app):
        url = _url(rule, objects)
        control = NOT_DEPARTMENT_BOUND.get(_path(rule), {}).get("control", "supervisor_a")
        user = getattr(city, control)
        for method in _methods(rule):
            if url.startswith("/api/"):
                response = _call_api(api, method, url, user)
            else:
                login(user)
                response = _send(client, method, url)
            if response.status_code in (401, 403, 404, 405) or response.status_code >= 500:
                failures.append(f"{method} {url} ({rule.endpoint}) as {control} -> {response.status_code}")
    assert not failures, "\n".join(failures)


#: Id rules an outside operator's user may use on its own accounts' objects besides the case-bound ones:
#: the 様式2 notices, MFA and policy-review marks and closure tasks of the accounts its organisation runs.
OPERATOR_ACCOUNT_RULES = {"/accounts/<account_id>/mfa", "/accounts/<account_id>/reviewed",
                          "/accounts/<account_id>/notices/new", "/accounts/<account_id>/closure/<task>",
                          "/api/v1/accounts/<account_id>/notices"}


@pytest.mark.parametrize("who, expect_seen", [("operator_a", True), ("other_operator_a", False)])
def test_a_contractors_user_gets_past_every_id_rule_of_its_accounts_cases(
        app, client, people, login, api, contractor_objects, who, expect_seen):
    """Issue 12: the contractor's user is never refused as an outsider (401, 403, 404) on the objects of a
    case about an account its organisation runs, though department A's responder opened it; the user of
    another contractor of the same department gets 404 on all of them (and 403 on the account's rules)."""
    user = getattr(people, who)
    login(user)
    failures = []
    checked = 0
    for rule in _id_rules(app):
        path = _path(rule)
        if not _bound(path) and path not in OPERATOR_ACCOUNT_RULES:
            continue
        url = _url(rule, contractor_objects)
        for method in _methods(rule):
            api_call = url.startswith("/api/")
            response = _call_api(api, method, url, user) if api_call else _send(client, method, url)
            checked += 1
            status = response.status_code
            if expect_seen:
                bad = status in (401, 403, 404, 405) or status >= 500
                # Supervisor-only actions (approving, waiving, closing) may answer 403 to any responder.
                if status == 403 and _bound(path):
                    bad = _forbidden_to_department_responders(app, rule, method, url, people, api, client, login)
                    login(user)
            else:
                bad = status != (404 if _bound(path) else 403)
            if bad:
                failures.append(f"{method} {url} ({rule.endpoint}) as {who} -> {status}")
    assert checked > 60
    assert not failures, "\n".join(failures)


def _forbidden_to_department_responders(app, rule, method, url, people, api, client, login) -> bool:
    """Whether the request answers 403 to the contractor's user but not to department A's own responder
    (True: a wrong refusal)."""
    if url.startswith("/api/"):
        response = _call_api(api, method, url, people.responder_a2)
    else:
        login(people.responder_a2)
        response = _send(client, method, url)
    return response.status_code != 403


# --- 3. every page needs a login ------------------------------------------------------------------


def test_every_page_redirects_a_logged_out_visitor_to_the_login_page(app, client, objects):
    failures = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        path = _path(rule)
        if rule.rule.startswith("/api/") or path in PUBLIC_PAGES | PUBLIC_SECRET_PAGES | SSO_PAGES:
            continue
        url = _url(rule, objects)
        for method in _methods(rule):
            response = _send(client, method, url)
            location = response.headers.get("Location", "")
            if response.status_code != 302 or not location.split("?")[0].endswith("/login"):
                failures.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code} {location}")
    assert not failures, "\n".join(failures)


def test_the_public_pages_answer_a_logged_out_visitor(app, client):
    for path in sorted(PUBLIC_PAGES - {"/static/<filename>"}) + ["/static/favicon.ico"]:
        response = client.get(path)
        response.close()  # a file response holds its file open until closed
        assert response.status_code == 200, path
