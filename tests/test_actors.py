"""Who acted is recorded: every action that writes an audit row or a case timeline row, done through the API,
the pages or the CLI as a known user, records that user's id as `actor_id`; what the system does on its own
(the escalation sweep, CLI administration) records None.

The names are found in the code, not listed by hand: `recorded_names()` reads incident/ and collects every
audit action (`audit.record(actor, "case.create", ...)`) and timeline event (`TimelineEvent(event=...)`),
following f-strings and parameters back to the literals passed in (`f"draft.{action}"` with `_event(...,
"submitted")`). Each must be covered by a scenario below, each scenario must write what it claims, and every
row a scenario writes must have a name found in the code and the expected actor."""
from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

import incident
from incident.audit.models import AuditLog
from incident.cases.models import TimelineEvent
from incident.dates import utcnow
from incident.drafts.blanks import find_blanks
from incident.extensions import db

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/cont/10181000/bousai/20261120.html"


# --- the names the code records -------------------------------------------------------------------


def _callee(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _argument(call: ast.Call, position: int | None, keyword: str) -> ast.AST | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    if position is not None and position < len(call.args):
        return call.args[position]
    return None


class _Source:
    """Every function and call in incident/ (migrations aside), and the two kinds of sink."""

    def __init__(self, root: Path) -> None:
        self.calls: dict[str, list[tuple[ast.Call, ast.FunctionDef | None]]] = {}
        self.sinks: list[tuple[str, ast.AST | None, ast.FunctionDef | None, str]] = []
        for path in sorted(root.rglob("*.py")):
            if "migrations" not in path.parts:
                self._walk(ast.parse(path.read_text(encoding="utf-8")), None, str(path.relative_to(root)))

    def _walk(self, node: ast.AST, function: ast.FunctionDef | None, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef):
                self._walk(child, child, where)
                continue
            if isinstance(child, ast.Call):
                name = _callee(child.func)
                if name:
                    self.calls.setdefault(name, []).append((child, function))
                if name == "record" and isinstance(child.func, ast.Attribute) and _callee(child.func.value) == "audit":
                    self.sinks.append(("audit", _argument(child, 1, "action"), function, where))
                elif name in ("TimelineEvent", "AuditLog"):
                    kind, keyword = ("timeline", "event") if name == "TimelineEvent" else ("audit", "action")
                    self.sinks.append((kind, _argument(child, None, keyword), function, where))
            self._walk(child, function, where)

    def values(self, expr: ast.AST | None, function: ast.FunctionDef | None, seen: frozenset = frozenset()) -> set[str]:
        """The strings `expr` can be: literals, both arms of `x if c else y`, f-strings over the values of
        their parts, local assignments, and for a parameter the arguments of every call of the function
        (by name: a same-named function elsewhere adds its callers' values too, which only asks for more)."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            return self.values(expr.body, function, seen) | self.values(expr.orelse, function, seen)
        if isinstance(expr, ast.JoinedStr):
            parts = [{part.value} if isinstance(part, ast.Constant) else self.values(part.value, function, seen)
                     for part in expr.values]
            return {"".join(p) for p in itertools.product(*parts)}
        if isinstance(expr, ast.Name) and function is not None and (function.name, expr.id) not in seen:
            seen = seen | {(function.name, expr.id)}
            assigned = [node.value for node in ast.walk(function) if isinstance(node, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)]
            if assigned:
                return set().union(*(self.values(value, function, seen) for value in assigned))
            positional = [a.arg for a in function.args.posonlyargs + function.args.args]
            if expr.id in positional or expr.id in [a.arg for a in function.args.kwonlyargs]:
                position = positional.index(expr.id) if expr.id in positional else None
                found: set[str] = set()
                for call, caller in self.calls.get(function.name, []):
                    found |= self.values(_argument(call, position, expr.id), caller, seen)
                return found
        return {f"<cannot follow {ast.unparse(expr) if expr is not None else 'a missing argument'}"
                f" in {function.name if function else 'module code'}>"}


def recorded_names() -> set[str]:
    """'audit:<action>' and 'timeline:<event>' for everything the code can record."""
    source = _Source(Path(incident.__file__).parent)
    names = set()
    for kind, expr, function, _where in source.sinks:
        names |= {f"{kind}:{value}" for value in source.values(expr, function)}
    return names


# --- performing actions ---------------------------------------------------------------------------


def _png(n: int = 1) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (n, n, n)).save(out, "PNG")
    return out.getvalue()


@dataclasses.dataclass
class Written:
    """A row written during an action, with the actor the test expects."""

    name: str
    actor_id: int | None
    expected: int | None
    scenario: str


class World:
    """Department A's people, ways to act as them (API, pages, CLI), and what each action wrote."""

    def __init__(self, city, api, client, login, runner) -> None:
        self.city, self._api, self.client, self._login, self.runner = city, api, client, login, runner
        self.written: list[Written] = []
        self.scenario = ""
        self._logged_in = None
        for user in (city.responder_a, city.responder_a2, city.supervisor_a, city.admin):
            self.api("GET", "/api/v1/me", user)  # each user's token is made now, not inside an action

    # -- doing things --

    def api(self, method: str, url: str, user, **kwargs: Any) -> Any:
        """An API call that must succeed; its JSON."""
        response = self._api(method, url, user, **kwargs)
        assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.get_data(as_text=True)}"
        return response.get_json()

    def page(self, user, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
        """A page request as `user` (logged in through the login form first) that must succeed."""
        if self._logged_in is not user:
            self._login(user)
            self._logged_in = user
        response = self.client.open(url, method=method, data=data or {})
        assert response.status_code < 400, f"{method} {url}: {response.status_code} {response.get_data(as_text=True)}"
        return response

    def cli(self, *args: str, input: str | None = None) -> Any:
        """A CLI command that must succeed."""
        result = self.runner.invoke(args=list(args), input=input)
        assert result.exit_code == 0, result.output
        return result

    def act(self, actor, action: Callable[[], Any]) -> Any:
        """Do `action` as `actor` (None: the system) and note every audit and timeline row it wrote."""
        audit_from = db.session.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))
        timeline_from = db.session.scalar(select(func.coalesce(func.max(TimelineEvent.id), 0)))
        result = action()
        db.session.expire_all()
        rows = [(f"audit:{r.action}", r.actor_id) for r in db.session.scalars(
            select(AuditLog).where(AuditLog.id > audit_from).order_by(AuditLog.id))]
        rows += [(f"timeline:{r.event}", r.actor_id) for r in db.session.scalars(
            select(TimelineEvent).where(TimelineEvent.id > timeline_from).order_by(TimelineEvent.id))]
        for name, actor_id in rows:
            self.written.append(Written(name, actor_id, actor.id if actor is not None else None, self.scenario))
        return result

    # -- things to act on --

    def case(self, user=None, **fields: Any) -> dict[str, Any]:
        user = user or self.city.responder_a
        return self.api("POST", "/api/v1/cases", user, json={
            "kind": "flaming", "severity": "medium", "title": "防災情報の誤り", **fields})

    def impersonation(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """An impersonation case on department A's X account, with a known fake linked to it."""
        account = self.account()
        case = self.case(kind="impersonation", severity="high", title="なりすまし", platform="x",
                         official_account_id=account["id"])
        fake = self.api("POST", "/api/v1/fake-accounts", self.city.responder_a, json={
            "platform": "x", "url": "https://x.com/ishinomaki_clty", "display_name": "石巻市防災【公式】",
            "genuine_account_id": account["id"], "case_id": case["id"]})
        return account, case, fake

    def account(self) -> dict[str, Any]:
        return self.api("POST", "/api/v1/accounts", self.city.admin, json={
            "platform": "x", "name": "石巻市防災", "url": "https://x.com/ishinomaki_city",
            "department_id": self.city.dept_a.id, "operator_type": "city"})

    def draft(self, case: dict[str, Any], **fields: Any) -> str:
        """A draft of the case (default: a citizen warning); its API path."""
        draft = self.api("POST", f"/api/v1/cases/{case['id']}/drafts", self.city.responder_a,
                         json={"type": "citizen_warning", **fields})
        return f"/api/v1/cases/{case['id']}/drafts/{draft['id']}"

    def filled(self, case: dict[str, Any], **fields: Any) -> str:
        """A draft whose ［…を記入］ blanks its author wrote in (a second revision), ready to submit."""
        base = self.draft(case, **fields)
        text = self.api("GET", base, self.city.responder_a)["body"]
        blanks = find_blanks(text)
        for blank in blanks:
            text = text.replace(blank.text, "確認した内容", 1)
        if blanks:
            self.api("POST", f"{base}/revisions", self.city.responder_a, json={"body": text})
        return base

    def approved(self, case: dict[str, Any], **fields: Any) -> str:
        base = self.filled(case, **fields)
        self.api("POST", f"{base}/submit", self.city.responder_a, json={"checks": CHECKS})
        self.api("POST", f"{base}/approve", self.city.supervisor_a, json={})
        return base

    def steps(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v1/cases/{case['id']}/steps", self.city.responder_a)["items"]

    def step(self, case: dict[str, Any], **wanted: Any) -> str:
        """The key of the first pending step with these fields."""
        return next(s["key"] for s in self.steps(case)
                    if s["state"] == "pending" and all(s[k] == v for k, v in wanted.items()))


# --- the scenarios --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One way to make the code record some names; `run` acts through `World.act`."""

    covers: tuple[str, ...]
    run: Callable[[World], None]


SCENARIOS: dict[str, Scenario] = {}


def scenario(*covers: str) -> Callable[[Callable[[World], None]], Callable[[World], None]]:
    def register(run: Callable[[World], None]) -> Callable[[World], None]:
        SCENARIOS[run.__name__] = Scenario(covers, run)
        return run
    return register


# cases


@scenario("audit:case.create", "timeline:opened")
def open_case(w: World) -> None:
    w.act(w.city.responder_a, lambda: w.case())


@scenario("audit:case.update", "timeline:edited")
def edit_case(w: World) -> None:
    case = w.case()
    w.act(w.city.responder_a2, lambda: w.api("PATCH", f"/api/v1/cases/{case['id']}", w.city.responder_a2,
                                             json={"version": case["version"], "title": "題名の訂正"}))


@scenario("audit:case.status", "timeline:acknowledged", "audit:step.complete", "timeline:step_complete")
def acknowledge_case(w: World) -> None:
    """A supervisor's acknowledgement also completes the "consult your supervisor" step, as that supervisor."""
    case = w.case()
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/acknowledge", w.city.supervisor_a))


@scenario("audit:case.status", "timeline:status_changed")
def change_status(w: World) -> None:
    case = w.case()
    w.api("POST", f"/api/v1/cases/{case['id']}/acknowledge", w.city.responder_a)
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/status", w.city.responder_a2,
                                             json={"status": "monitoring"}))


@scenario("audit:case.review", "timeline:reviewed", "audit:case.status", "timeline:status_changed",
          "audit:step.complete", "timeline:step_complete", "audit:case.retention")
def close_with_a_review(w: World) -> None:
    """The supervisor closes a case with its review (completing the review step, and giving the record its
    retention), then revises the review."""
    case = w.case()
    supervisor = w.city.supervisor_a
    w.api("POST", f"/api/v1/cases/{case['id']}/acknowledge", w.city.responder_a)
    for step in w.steps(case):
        if step["required"] and step["state"] == "pending" and step["key"] != "closing_review":
            w.api("POST", f"/api/v1/cases/{case['id']}/steps/{step['key']}/waive", supervisor, json={"reason": "演習"})
    review = {"what_happened": "誤った日付を投稿", "what_was_done": "訂正を投稿"}
    w.act(supervisor, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/status", supervisor,
                                    json={"status": "closed", "reason": "対応済み", "review": review}))
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"/cases/{case['id']}/review",
                                     {f"review-{k}": v for k, v in {**review, "cause": "確認の漏れ"}.items()}))


@scenario("audit:case.assign", "timeline:assigned")
def assign_case(w: World) -> None:
    case = w.case()
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/assignment", w.city.supervisor_a,
                                             json={"assignee_id": w.city.responder_a2.id}))


@scenario("audit:note.create", "timeline:note_added")
def add_note(w: World) -> None:
    case = w.case()
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/notes", w.city.responder_a2,
                                             json={"body": "電話で確認した"}))


@scenario("audit:note.correct", "timeline:note_corrected")
def correct_note(w: World) -> None:
    case = w.case()
    note = w.api("POST", f"/api/v1/cases/{case['id']}/notes", w.city.responder_a, json={"body": "誤記"})
    w.act(w.city.responder_a2, lambda: w.api(
        "POST", f"/api/v1/cases/{case['id']}/notes/{note['id']}/corrections", w.city.responder_a2,
        json={"body": "訂正"}))


@scenario("audit:offending_item.create", "timeline:item_added")
def add_item(w: World) -> None:
    case = w.case()
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/items", w.city.responder_a2,
                                             json={"target": "https://x.com/someone/status/1"}))


# evidence


@scenario("audit:evidence.create", "timeline:evidence_added")
def upload_evidence(w: World) -> None:
    case = w.case()
    w.act(w.city.responder_a2, lambda: w.api(
        "POST", f"/api/v1/cases/{case['id']}/evidence", w.city.responder_a2,
        data={"file": (io.BytesIO(_png()), "shot.png")}, content_type="multipart/form-data"))


@scenario("audit:evidence.withdraw", "timeline:evidence_withdrawn")
def withdraw_evidence(w: World) -> None:
    case = w.case()
    evidence = w.api("POST", f"/api/v1/cases/{case['id']}/evidence", w.city.responder_a,
                     data={"file": (io.BytesIO(_png()), "shot.png")}, content_type="multipart/form-data")
    w.act(w.city.responder_a2, lambda: w.api(
        "POST", f"/api/v1/cases/{case['id']}/evidence/{evidence['id']}/withdraw", w.city.responder_a2,
        json={"reason": "別の案件の画像"}))


# known fakes


@scenario("audit:fake_account.create", "audit:fake_account.link", "timeline:fake_linked")
def record_fake(w: World) -> None:
    case = w.case(kind="impersonation", platform="x")
    w.act(w.city.responder_a2, lambda: w.api("POST", "/api/v1/fake-accounts", w.city.responder_a2, json={
        "platform": "x", "url": "https://x.com/ishinomaki_clty", "case_id": case["id"]}))


@scenario("audit:fake_account.state")
def change_fake_state(w: World) -> None:
    _account, _case, fake = w.impersonation()
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/fake-accounts/{fake['id']}/state", w.city.responder_a2,
                                             json={"state": "reported", "note": "通報した"}))


@scenario("audit:fake_account.update", "audit:step.complete", "timeline:step_complete")
def fake_facts_from_a_step(w: World) -> None:
    _account, case, fake = w.impersonation()
    w.act(w.city.responder_a2, lambda: w.api(
        "POST", f"/api/v1/cases/{case['id']}/steps/record_fake_account/complete", w.city.responder_a2,
        json={"url": fake["url"], "platform": "x", "display_name": "石巻市防災（公式）【本物】"}))


# drafts and the ledger


@scenario("audit:draft.created", "timeline:draft_created")
def create_draft(w: World) -> None:
    case = w.case()
    w.act(w.city.responder_a, lambda: w.draft(case))


@scenario("audit:draft.revised", "timeline:draft_revised")
def revise_draft(w: World) -> None:
    base = w.draft(w.case())
    w.act(w.city.responder_a2, lambda: w.api("POST", f"{base}/revisions", w.city.responder_a2,
                                             json={"body": "書き直した本文"}))


@scenario("audit:draft.submitted", "timeline:draft_submitted")
def submit_draft(w: World) -> None:
    base = w.filled(w.case())
    w.act(w.city.responder_a, lambda: w.api("POST", f"{base}/submit", w.city.responder_a, json={"checks": CHECKS}))


@scenario("audit:draft.approved", "timeline:draft_approved")
def approve_draft(w: World) -> None:
    base = w.filled(w.case())
    w.api("POST", f"{base}/submit", w.city.responder_a, json={"checks": CHECKS})
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"{base}/approve", w.city.supervisor_a, json={}))


@scenario("audit:draft.returned", "timeline:draft_returned")
def return_draft(w: World) -> None:
    base = w.filled(w.case())
    w.api("POST", f"{base}/submit", w.city.responder_a, json={"checks": CHECKS})
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"{base}/return", w.city.supervisor_a,
                                             json={"comment": "日付を直してください"}))


@scenario("audit:draft.pre_approved", "timeline:draft_pre_approved")
def mark_pre_approved(w: World) -> None:
    base = w.filled(w.case())
    w.act(w.city.responder_a, lambda: w.api("POST", f"{base}/pre-approved", w.city.responder_a,
                                            json={"scope": "a", "source": CITY_PAGE, "checks": CHECKS}))


@scenario("audit:draft.second_checked", "timeline:draft_second_checked")
def second_check(w: World) -> None:
    base = w.filled(w.case())
    w.api("POST", f"{base}/pre-approved", w.city.responder_a,
          json={"scope": "a", "source": CITY_PAGE, "checks": CHECKS})
    w.act(w.city.responder_a2, lambda: w.api("POST", f"{base}/approve", w.city.responder_a2, json={}))


@scenario("audit:draft.sent", "timeline:draft_sent", "audit:step.complete", "timeline:step_complete",
          "audit:fake_account.state")
def send_takedown(w: World) -> None:
    """Sending a takedown also completes its playbook step and marks the live fake reported, as the sender."""
    _account, case, _fake = w.impersonation()
    base = w.approved(case, type="takedown")
    w.act(w.city.responder_a2, lambda: w.api("POST", f"{base}/sent", w.city.responder_a2, json={
        "channel": "form", "reference": "CASE-123", "sent_at": "2026-11-23T10:00:00+09:00"}))


@scenario("audit:draft.answered", "timeline:draft_answered")
def record_answer(w: World) -> None:
    _account, case, _fake = w.impersonation()
    base = w.approved(case, type="takedown")
    w.api("POST", f"{base}/sent", w.city.responder_a, json={"channel": "form", "reference": "CASE-124"})
    w.act(w.city.responder_a2, lambda: w.api("POST", f"{base}/answer", w.city.responder_a2,
                                             json={"outcome": "removed", "answer": "削除されました"}))


@scenario("audit:draft.withdrawn", "timeline:draft_withdrawn")
def withdraw_publication(w: World) -> None:
    case = w.case()
    base = w.approved(case)
    sent = w.api("POST", f"{base}/sent", w.city.responder_a, json={"url": "https://x.com/ishinomaki_city/status/3"})
    url = f"/api/v1/cases/{case['id']}/ledger/{sent['publication']['id']}/withdraw"
    w.act(w.city.supervisor_a, lambda: w.api("POST", url, w.city.supervisor_a, json={"reason": "内容に誤り"}))


# playbook steps


@scenario("audit:step.complete", "timeline:step_complete")
def complete_step(w: World) -> None:
    case = w.case()
    key = w.step(case, type="check", input="none", actor="responder")
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/complete",
                                             w.city.responder_a2, json={"note": "確認した"}))


@scenario("audit:step.decide", "timeline:step_decide")
def decide_step(w: World) -> None:
    case = w.case()
    key = w.step(case, type="decision")
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/decide",
                                             w.city.supervisor_a, json={"answer": False, "reason": "誤りはない"}))


@scenario("audit:step.skip", "timeline:step_skip")
def skip_step(w: World) -> None:
    case = w.case()
    key = w.step(case, required=False)
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/skip",
                                             w.city.responder_a2, json={"reason": "不要"}))


@scenario("audit:step.waive", "timeline:step_waive")
def waive_step(w: World) -> None:
    case = w.case()
    key = w.step(case, type="check", required=True)
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/waive",
                                             w.city.supervisor_a, json={"reason": "今回は不要"}))


@scenario("audit:step.reopen", "timeline:step_reopen")
def reopen_step(w: World) -> None:
    case = w.case()
    key = w.step(case, type="check", input="none", actor="responder")
    w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/complete", w.city.responder_a, json={})
    w.act(w.city.responder_a2, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/reopen",
                                             w.city.responder_a2, json={"reason": "誤って完了にした"}))


@scenario("audit:step.complete", "timeline:step_flagged")
def record_a_deleted_post(w: World) -> None:
    """Recording that the city's post was deleted (against 3(4)ア(イ)) is flagged, and is the supervisor's."""
    case = w.case()
    decision = w.step(case, type="decision")
    w.api("POST", f"/api/v1/cases/{case['id']}/steps/{decision}/decide", w.city.supervisor_a,
          json={"answer": True, "reason": "市の投稿に誤り"})
    key = w.step(case, input="deletion_record")
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/steps/{key}/complete",
                                             w.city.supervisor_a, json={"deleted": True, "note": "個人情報"}))


# escalations


@scenario("audit:escalation.create", "timeline:escalated")
def escalate(w: World) -> None:
    case = w.case()
    w.act(w.city.responder_a, lambda: w.api("POST", f"/api/v1/cases/{case['id']}/escalations", w.city.responder_a,
                                            json={"reason": "判断に迷う"}))


@scenario("audit:escalation.acknowledge", "timeline:escalation_acknowledged")
def acknowledge_escalation(w: World) -> None:
    case = w.case()
    escalation = w.api("POST", f"/api/v1/cases/{case['id']}/escalations", w.city.responder_a, json={"reason": "相談"})
    w.act(w.city.supervisor_a, lambda: w.api("POST", f"/api/v1/escalations/{escalation['id']}/acknowledge",
                                             w.city.supervisor_a))


@scenario("timeline:escalated", "timeline:escalation_resolved")
def sweep(w: World) -> None:
    """The sweep raises escalations on its own (actor None), and resolves those whose cause went away."""
    case = w.case()
    base = w.filled(case)
    w.api("POST", f"{base}/submit", w.city.responder_a, json={"checks": CHECKS})
    w.act(None, lambda: w.cli("escalate", "--now", "2099-01-01T09:00:00+09:00"))
    w.api("POST", f"{base}/approve", w.city.supervisor_a, json={})  # the approval no longer waits
    w.act(None, lambda: w.cli("escalate", "--now", "2099-01-01T09:01:00+09:00"))


# official accounts


@scenario("audit:account.create")
def create_account(w: World) -> None:
    w.act(w.city.admin, w.account)


@scenario("audit:account.update")
def update_account(w: World) -> None:
    account = w.account()
    w.act(w.city.admin, lambda: w.api("PATCH", f"/api/v1/accounts/{account['id']}", w.city.admin,
                                      json={"reply_policy": "回答しません。"}))


@scenario("audit:account.mfa_confirmed")
def confirm_mfa(w: World) -> None:
    account = w.account()
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", f"/accounts/{account['id']}/mfa",
                                             {"enabled": "1"}))


@scenario("audit:account.policy_reviewed")
def review_policy(w: World) -> None:
    account = w.account()
    w.act(w.city.supervisor_a, lambda: w.page(w.city.supervisor_a, "POST", f"/accounts/{account['id']}/reviewed"))


@scenario("audit:account.notice_filed")
def file_notice(w: World) -> None:
    account = w.account()
    w.act(w.city.responder_a, lambda: w.api("POST", f"/api/v1/accounts/{account['id']}/notices", w.city.responder_a,
                                            json={"kind": "change", "effective_date": "2026-04-01", "contact": "防災課",
                                                  "details": "運用時間の変更"}))


@scenario("audit:account.notice_filed", "audit:account.closed")
def close_account(w: World) -> None:
    account = w.account()
    w.act(w.city.responder_a, lambda: w.api("POST", f"/api/v1/accounts/{account['id']}/notices", w.city.responder_a,
                                            json={"kind": "closure", "effective_date": "2026-04-01",
                                                  "contact": "防災課", "details": "運用終了"}))


@scenario("audit:account.notice_received")
def receive_notice(w: World) -> None:
    account = w.account()
    notice = w.api("POST", f"/api/v1/accounts/{account['id']}/notices", w.city.responder_a, json={
        "kind": "change", "effective_date": "2026-04-01", "contact": "防災課", "details": "運用時間の変更"})
    w.act(w.city.admin, lambda: w.page(w.city.admin, "POST",
                                       f"/accounts/{account['id']}/notices/{notice['id']}/receive"))


@scenario("audit:account.closure_task")
def closure_task(w: World) -> None:
    from incident.accounts import service as accounts

    account = w.account()
    w.api("POST", f"/api/v1/accounts/{account['id']}/notices", w.city.responder_a, json={
        "kind": "closure", "effective_date": "2026-04-01", "contact": "防災課", "details": "運用終了"})
    task = next(t for t in accounts.CLOSURE_TASKS if t != "removed_from_public_list")
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", f"/accounts/{account['id']}/closure/{task}",
                                             {"note": "削除した"}))


# people, departments, tokens


@scenario("audit:auth.login")
def log_in(w: World) -> None:
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "GET", "/"))  # page() logs in first


@scenario("audit:auth.login_failed", "audit:auth.locked", "audit:auth.unlocked")
def guess_passwords(w: World) -> None:
    """Failed logins and the lock they cause are the system's doing; the PR office unlocks."""
    config = w.client.application.config
    saved = config["LOGIN_DELAY_AFTER"], config["LOGIN_LOCK_AFTER"]
    config["LOGIN_DELAY_AFTER"], config["LOGIN_LOCK_AFTER"] = 1000, 3
    w.client.post("/logout")
    w._logged_in = None
    for _ in range(3):
        w.act(None, lambda: w.client.post("/login", data={"email": w.city.responder_b.email, "password": "wrong-guess-1"}))
    config["LOGIN_DELAY_AFTER"], config["LOGIN_LOCK_AFTER"] = saved
    w.act(w.city.admin, lambda: w.page(w.city.admin, "POST", "/admin/logins/unlock",
                                       {"user_id": w.city.responder_b.id}))


@scenario("audit:user.locale")
def choose_language(w: World) -> None:
    w.page(w.city.responder_a, "GET", "/settings")
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", "/settings", {"lang-locale": "en"}))


@scenario("audit:department.contact")
def set_department_contact(w: World) -> None:
    w.page(w.city.supervisor_a, "GET", "/settings")
    w.act(w.city.supervisor_a, lambda: w.page(w.city.supervisor_a, "POST", "/settings",
                                              {"dept-contact": "0225-95-1111（防災課）"}))


@scenario("audit:token.create")
def create_token(w: World) -> None:
    w.page(w.city.responder_a, "GET", "/settings")
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", "/settings", {"token-name": "連携"}))


@scenario("audit:token.revoke")
def revoke_token(w: World) -> None:
    from incident.auth.models import ApiToken

    w.page(w.city.responder_a, "POST", "/settings", {"token-name": "連携"})
    token_id = db.session.scalar(select(func.max(ApiToken.id)).where(ApiToken.user_id == w.city.responder_a.id))
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", f"/settings/tokens/{token_id}/revoke"))
    w.page(w.city.responder_a, "POST", "/settings", {"token-name": "集計", "token-days": "30"})
    other_id = db.session.scalar(select(func.max(ApiToken.id)).where(ApiToken.user_id == w.city.responder_a.id))
    w.page(w.city.admin, "GET", "/admin/tokens")
    w.act(w.city.admin, lambda: w.page(w.city.admin, "POST", f"/admin/tokens/{other_id}/revoke"))  # the PR office


@scenario("audit:user.password_changed")
def change_own_password(w: World) -> None:
    w.page(w.city.responder_a, "GET", "/settings")
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", "/settings/password", {
        "current_password": "correct-horse-battery",  # every factory-made user's (conftest.PASSWORD)
        "new_password": "kitakami-river-walk-2026",
        "confirm_password": "kitakami-river-walk-2026"}))


@scenario("audit:user.password_reset")
def issue_temporary_password(w: World) -> None:
    """The PR office issues a temporary password on its page; the CLI's is the system's doing."""
    w.act(w.city.admin, lambda: w.page(w.city.admin, "POST", f"/admin/users/{w.city.responder_b.id}/password"))
    w.act(None, lambda: w.cli("user", "reset-password", w.city.responder_a2.email))


@scenario("audit:user.reset_link", "audit:user.password_reset_by_link", "audit:session.end")
def reset_by_link(w: World) -> None:
    """The PR office issues a reset link; whoever opens it acts as the user it names (signed out everywhere)."""
    user = w.city.responder_b
    w._login(user, w.client.application.test_client())  # a browser the reset signs out
    w.page(w.city.admin, "GET", f"/admin/users/{user.id}/password")
    page = w.act(w.city.admin, lambda: w.page(w.city.admin, "POST", f"/admin/users/{user.id}/password",
                                              {"kind": "link"}))
    path = page.get_data(as_text=True).split('id="reset-link">', 1)[1].split("</code>", 1)[0].split("://", 1)[1]
    path = path[path.index("/"):]
    anonymous = w.client.application.test_client()
    w.act(user, lambda: anonymous.post(path, data={"new_password": "oshika-peninsula-ferry-7",
                                                   "confirm_password": "oshika-peninsula-ferry-7"}))


@scenario("audit:session.end", "audit:user.deactivate")
def end_sessions(w: World) -> None:
    """Signing out (the other browsers, or this one) is the user's doing; an idle session ended when next
    used, and deactivation from the CLI, are the system's."""
    from incident.auth.models import UserSession

    app = w.client.application
    w.page(w.city.responder_a, "GET", "/settings")
    w._login(w.city.responder_a, app.test_client())  # a second browser of theirs
    w.act(w.city.responder_a, lambda: w.page(w.city.responder_a, "POST", "/settings/sessions/end-others"))
    w.act(w.city.responder_a, lambda: w.client.post("/logout"))
    w._logged_in = None
    idle = w._login(w.city.responder_a2, app.test_client())
    db.session.execute(db.update(UserSession).where(UserSession.user_id == w.city.responder_a2.id)
                       .values(last_seen_at=utcnow() - dt.timedelta(hours=1)))
    db.session.commit()
    w.act(None, lambda: idle.get("/settings"))
    w._login(w.city.responder_b, app.test_client())
    w.act(None, lambda: w.cli("user", "deactivate", w.city.responder_b.email))


@scenario("audit:department.create", "audit:department.contact", "audit:user.create")
def administration_from_the_cli(w: World) -> None:
    """Departments and people are set up from the CLI: the system acts."""
    w.act(None, lambda: w.cli("department", "create", "kikaku", "企画課", "--contact", "0225-95-1112"))
    w.act(None, lambda: w.cli("department", "contact", "kikaku", "0225-95-1113"))
    w.act(None, lambda: w.cli("user", "create", "kikaku@example.jp", "--name", "企画 担当", "--role", "responder",
                              "--department", "kikaku", "--password-stdin", input="a-long-enough-password\n"))


@scenario("audit:user.create", "audit:user.update", "audit:user.move", "audit:user.deactivate", "audit:case.assign",
          "timeline:assigned", "audit:user.reactivate", "audit:user.approve", "audit:user.reject")
def people_kept_by_the_pr_office(w: World) -> None:
    """The PR office adds, edits and moves people, deactivates one handing their case over, reactivates,
    and approves or rejects people waiting after a first single sign-on, on its pages."""
    from incident.auth.models import User

    admin, city = w.city.admin, w.city
    fields = {"organisation": "", "operator_kind": "contractor"}
    w.act(admin, lambda: w.page(admin, "POST", "/admin/users/new", {
        "name": "新人", "email": "shinjin@example.jp", "role": "responder", "department_id": city.dept_a.id, **fields}))
    mover = city.responder_a2
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/users/{mover.id}", {
        "name": "担当A2改", "email": mover.email, "role": "supervisor", "department_id": city.dept_b.id, **fields}))
    case = w.case()
    w.api("POST", f"/api/v1/cases/{case['id']}/assignment", city.supervisor_a, json={"assignee_id": city.responder_a.id})
    leaving = city.responder_a
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/users/{leaving.id}/deactivate", {
        "reassign_to": city.supervisor_a.id, "confirm": "y"}))
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/users/{leaving.id}/reactivate"))
    waiting = [User(email=f"sso{n}@example.jp", name=f"SSO{n}", role="responder", department_id=city.dept_a.id,
                    password_hash="!", active=False, pending_since=utcnow()) for n in (1, 2)]
    db.session.add_all(waiting)
    db.session.commit()
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/users/{waiting[0].id}/approve", {
        "approve-role": "responder", "approve-department_id": city.dept_b.id}))
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/users/{waiting[1].id}/reject"))


@scenario("audit:department.create", "audit:department.contact", "audit:department.rename", "audit:department.delete")
def departments_kept_by_the_pr_office(w: World) -> None:
    """The PR office adds, renames and deletes (one without history) departments, on its pages and the API;
    renaming and deleting from the CLI are the system's."""
    admin = w.city.admin
    w.act(admin, lambda: w.page(admin, "POST", "/admin/departments", {"code": "kikaku", "name": "企画課",
                                                                      "contact": "0225-95-1112"}))
    made = w.act(admin, lambda: w.api("POST", "/api/v1/departments", admin, json={"code": "tmp", "name": "一時"}))
    w.act(admin, lambda: w.api("PATCH", f"/api/v1/departments/{made['id']}", admin, json={"name": "一時的な課"}))
    w.act(admin, lambda: w.api("DELETE", f"/api/v1/departments/{made['id']}", admin))
    w.act(None, lambda: w.cli("department", "rename", "kikaku", "企画政策課"))
    w.act(None, lambda: w.cli("department", "delete", "kikaku"))


@scenario("audit:auth.mfa_enabled", "audit:auth.mfa_failed", "audit:auth.mfa_recovery_used", "audit:auth.mfa_ok",
          "audit:auth.mfa_codes_regenerated", "audit:auth.mfa_disabled", "audit:user.mfa_reset", "audit:session.end")
def multi_factor(w: World) -> None:
    """Turning MFA on, new recovery codes and turning it off are the user's doing; a code at login is checked
    before anyone is signed in (a wrong one is the system's record, a right one the user's); the PR office
    resets a user's MFA (signing them out)."""
    import pyotp

    from incident.auth import mfa

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    totp = pyotp.TOTP(secret)
    at = lambda seconds: totp.at(utcnow() + dt.timedelta(seconds=seconds))  # noqa: E731
    user, other = w.city.responder_a, w.city.responder_a2
    w._login(user, w.client.application.test_client())  # a browser the PR office's reset signs out
    codes = w.act(user, lambda: mfa.confirm_enrolment(user, secret, at(-30)))  # the previous step's code
    w.act(None, lambda: mfa.complete_login(user.id, "000000" if at(0) != "000000" else "111111", "127.0.0.1"))
    w.act(user, lambda: mfa.complete_login(user.id, codes[0], "127.0.0.1"))
    w.act(user, lambda: mfa.regenerate_recovery_codes(user, at(0)))
    w.act(user, lambda: mfa.complete_login(user.id, at(30), "127.0.0.1"))
    w.act(w.city.admin, lambda: w.page(w.city.admin, "POST", f"/admin/users/{user.id}/mfa/reset", {"confirm": "y"}))
    w.act(other, lambda: mfa.confirm_enrolment(other, secret, at(-30)))
    w.act(other, lambda: mfa.turn_off(other, "correct-horse-battery", at(0)))


@scenario("audit:user.oidc_linked", "audit:auth.login", "audit:auth.sso_refused", "audit:user.pending")
def single_sign_on(w: World) -> None:
    """A first single sign-on links the person's subject (their doing); refusals and the pending user made
    for an unknown person are the system's."""
    from incident.auth import oidc

    config = w.client.application.config
    w.act(w.city.responder_a, lambda: oidc.log_in({"sub": "entra-1", "email": w.city.responder_a.email}, None))
    saved = config.get("OIDC_UNKNOWN_USERS")
    config["OIDC_UNKNOWN_USERS"] = "refuse"
    w.act(None, lambda: oidc.log_in({"sub": "entra-2", "email": "stranger@example.jp"}, None))
    config["OIDC_UNKNOWN_USERS"], config["OIDC_PENDING_DEPARTMENT"] = "pending", w.city.dept_a.code
    w.act(None, lambda: oidc.log_in({"sub": "entra-3", "email": "newcomer@example.jp", "name": "新任"}, None))
    config["OIDC_UNKNOWN_USERS"] = saved


@scenario("audit:reshuffle.upload", "audit:reshuffle.apply", "audit:user.move", "audit:reshuffle.cancel")
def reshuffle(w: World) -> None:
    """The PR office uploads a personnel reshuffle CSV, applies one and discards another."""
    import io

    from incident.auth.models import Reshuffle

    admin, city = w.city.admin, w.city
    rows = f"メールアドレス,所属,役割\r\n{city.responder_a.email},{city.dept_b.code},担当者\r\n".encode()
    for _ in range(2):
        w.act(admin, lambda: w.page(admin, "POST", "/admin/reshuffles", {"file": (io.BytesIO(rows), "april.csv")}))
    first, second = db.session.scalars(select(Reshuffle.id).order_by(Reshuffle.id)).all()
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/reshuffles/{first}/apply", {"confirm": "y"}))
    w.act(admin, lambda: w.page(admin, "POST", f"/admin/reshuffles/{second}/cancel"))


# records: retention, disclosure requests; chat channels


def _closed(w: World) -> dict[str, Any]:
    case = w.case()
    w.api("POST", f"/api/v1/cases/{case['id']}/acknowledge", w.city.responder_a)
    w.api("POST", f"/api/v1/cases/{case['id']}/status", w.city.supervisor_a, json={
        "status": "closed", "reason": "対応済み", "waive_open_steps": True,
        "review": {"what_happened": "誤った日付を投稿", "what_was_done": "訂正を投稿"}})
    return case


@scenario("audit:case.retention")
def extend_retention(w: World) -> None:
    """The PR office keeps a closed case's record longer, with the reason."""
    case = _closed(w)
    w.act(w.city.admin, lambda: w.page(w.city.admin, "POST", f"/admin/retention/{case['id']}",
                                       {"retention_class": "permanent", "reason": "議会の調査"}))


@scenario("audit:record.export", "audit:case.redact", "timeline:redacted")
def redact_an_expired_record(w: World) -> None:
    """The PR office writes out a record whose retention ended, then removes its personal data."""
    from sqlalchemy import update

    from incident.cases.models import Case

    case = _closed(w)
    db.session.execute(update(Case).where(Case.id == case["id"]).values(retention_until=dt.date(2020, 3, 31)))
    db.session.commit()
    admin = w.city.admin
    w.act(admin, lambda: w.page(admin, "POST", f"/cases/{case['id']}/record-export"))
    w.act(admin, lambda: w.page(admin, "POST", f"/cases/{case['id']}/redaction", {"confirmation": case["number"]}))


@scenario("audit:disclosure.open", "audit:disclosure.mask", "audit:disclosure.unmask")
def prepare_a_disclosure(w: World) -> None:
    """The department's supervisor records a 情報公開 request, withholds a passage, then takes it back."""
    from incident.reports.disclosure import grounds
    from incident.reports.models import DisclosureMask

    case = w.case(title="防災情報の誤り（通報者 石巻花子）")
    supervisor = w.city.supervisor_a
    base = f"/cases/{case['id']}/disclosures"
    opened = w.act(supervisor, lambda: w.page(supervisor, "POST", base,
                                              {"reference": "R8-1", "received_on": "2026-11-25"}))
    request = opened.location.rstrip("/").split("/")[-1]
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"{base}/{request}",
                                     {"passage": "石巻花子", "ground": grounds()[0], "reason": "通報者の氏名"}))
    mask = db.session.scalars(select(DisclosureMask.id)).one()
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"{base}/{request}/masks/{mask}/withdraw",
                                     {"reason": "本人の同意"}))


@scenario("audit:chat_channel.add", "audit:chat_channel.remove")
def department_chat_channel(w: World) -> None:
    """The department's supervisor adds its Slack channel, then stops sending to it."""
    from incident.notifications.models import ChatChannel

    supervisor = w.city.supervisor_a
    w.act(supervisor, lambda: w.page(supervisor, "POST", "/notifications/chat", {
        "owner": str(w.city.dept_a.id), "service": "slack", "name": "防災課", "kinds": ["escalation"],
        "url": "https://hooks.slack.com/services/T0/B0/XYZ"}))
    channel = db.session.scalars(select(ChatChannel.id)).one()
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"/notifications/chat/{channel}/remove"))


@scenario("audit:on_call_shift.add", "audit:on_call_shift.remove", "audit:department.hours")
def department_on_call(w: World) -> None:
    """The department's supervisor puts a responder on call tonight, takes the shift off, and sets the hours."""
    from incident.dates import to_tokyo, utcnow
    from incident.escalation.models import OnCallShift

    supervisor, dept = w.city.supervisor_a, w.city.dept_a.id
    start, end = (to_tokyo(utcnow() + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in (1, 12))
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"/on-call?department={dept}", {
        "user_id": str(w.city.responder_a.id), "starts_at": start, "ends_at": end}))
    shift = db.session.scalars(select(OnCallShift.id)).one()
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"/on-call/{shift}/remove"))
    w.act(supervisor, lambda: w.page(supervisor, "POST", f"/on-call/hours?department={dept}", {
        "start": "09:00", "end": "17:00", "weekdays": ["0", "1", "2", "3", "4"], "closed_dates": ""}))


# --- the tests ------------------------------------------------------------------------------------


@pytest.fixture
def world(app, city, api, client, login, runner, tmp_path) -> World:
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    return World(city, api, client, login, runner)


def test_the_code_records_names_the_scan_can_follow():
    names = recorded_names()
    assert not [n for n in names if "<" in n], "follow these by hand or pass literals"
    assert {"audit:case.create", "audit:draft.submitted", "audit:step.waive", "timeline:draft_sent",
            "timeline:escalation_resolved", "timeline:step_flagged"} <= names
    assert len(names) > 60


def test_every_name_the_code_records_has_a_scenario():
    covered = {name for s in SCENARIOS.values() for name in s.covers}
    assert sorted(recorded_names() - covered) == [], "add a scenario that performs these"
    assert sorted(covered - recorded_names()) == [], "scenarios claim names the code does not record"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_actor_is_recorded(world, name):
    case = SCENARIOS[name]
    world.scenario = name
    case.run(world)
    written = {row.name for row in world.written}
    assert set(case.covers) <= written, f"{name} did not write {sorted(set(case.covers) - written)}"
    assert sorted(written - recorded_names()) == [], "written but not found in the code: extend recorded_names()"
    wrong = [f"{row.name}: actor_id {row.actor_id}, expected {row.expected}" for row in world.written
             if row.actor_id != row.expected]
    assert not wrong, "\n".join(wrong)
