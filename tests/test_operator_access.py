"""Issue 12: the people of an outside operator (委託業者・指定管理者) see and act only on the cases of the
accounts their organisation runs, and on the cases they opened or are assigned — not the rest of their
department's. Pages, the API, lists and their counts, filters, the work queue, notifications, the fakes
pages, opening and assigning cases, the registry and the command line.

(tests/test_authorization_map.py walks every id route for an operator's user.)"""
from __future__ import annotations

import datetime as dt
import types
from pathlib import Path

import pytest
from sqlalchemy import select

from incident import policy
from incident.auth import service as auth
from incident.auth.models import Operator, OperatorType, User
from incident.cases import queries
from incident.cases import service as cases
from incident.cases.models import Case
from incident.dates import utcnow
from incident.errors import ValidationFailed
from incident.escalation import queries as escalation_queries
from incident.escalation import service as escalation
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db
from incident.fakes import service as fakes
from incident.notifications import hooks
from incident.notifications.models import Notification

ORG_A = "株式会社いしのまき広告"
ORG_B = "公益財団法人石巻文化振興会"
#: A citizen's details in a case of a city-run account: none of a contractor's business.
CITIZEN = "市民 山田花子さん（090-0000-1234）"


@pytest.fixture
def world(make):
    """Department A with a city-run account, an account run by contractor ORG_A and one run by designated
    manager ORG_B; ORG_A also runs an account of department B. Cases of department A on each, and two that
    ORG_A's user `op_a` reported or was assigned before they were moved to the city-run account."""
    w = types.SimpleNamespace()
    w.dept_a = make.department("bousai", "防災課")
    w.dept_b = make.department("kanko", "観光課")
    w.pr = make.department("hisho-koho", "秘書広報課")
    make.operator(ORG_B, "designated_manager")
    w.responder_a = make.user("responder", w.dept_a, name="防災 担当")
    w.supervisor_a = make.user("supervisor", w.dept_a, name="防災 課長")
    w.supervisor_b = make.user("supervisor", w.dept_b, name="観光 課長")
    w.admin = make.user("admin", w.pr, name="広報 担当")
    w.op_a = make.user("responder", w.dept_a, name="委託 一郎", email="ichiro@koukoku.example", organisation=ORG_A)
    w.op_b = make.user("responder", w.dept_a, name="指定 二郎", organisation=ORG_B)
    w.account_a = make.account(w.dept_a, platform="x", name="石巻市防災X", operator_type="contractor",
                               operator_name=ORG_A)
    w.account_a_kanko = make.account(w.dept_b, platform="instagram", name="石巻観光インスタ",
                                     operator_type="contractor", operator_name=ORG_A)
    w.account_b = make.account(w.dept_a, name="防災センター", operator_type="designated_manager",
                               operator_name=ORG_B)
    w.account_city = make.account(w.dept_a, name="石巻市防災（直営）")
    w.own = make.case(w.responder_a, title="委託運用アカウントの炎上", official_account_id=w.account_a.id)
    w.city_case = make.case(w.responder_a, title="直営アカウントの件", official_account_id=w.account_city.id,
                            description=CITIZEN)
    w.b_case = make.case(w.responder_a, title="防災センターの件", official_account_id=w.account_b.id)
    w.no_account = make.case(w.responder_a, title="アカウント不明の件")
    w.reported = make.case(w.op_a, title="委託が登録した件", official_account_id=w.account_a.id)
    w.assigned = make.case(w.responder_a, title="委託が担当の件", official_account_id=w.account_a.id)
    cases.assign(w.supervisor_a, w.assigned, w.op_a.id)
    for moved in (w.reported, w.assigned):  # it turned out to be about the city-run account
        cases.update_case(w.responder_a, moved, moved.version, {"official_account_id": w.account_city.id})
    db.session.commit()
    return w


SEEN = ["own", "reported", "assigned"]
HIDDEN = ["city_case", "b_case", "no_account"]


def _ids(w, names) -> set[int]:
    return {getattr(w, name).id for name in names}


# --- the rule ------------------------------------------------------------------------------------


def test_the_policy_and_its_sql_clause_agree(world):
    w = world
    every = list(db.session.scalars(select(Case)))
    for user in (w.op_a, w.op_b, w.responder_a, w.supervisor_a, w.supervisor_b, w.admin):
        by_rule = {c.id for c in every if policy.can_view(user, c)}
        by_sql = set(db.session.scalars(select(Case.id).where(policy.visible_cases_clause(user, Case))))
        assert by_rule == by_sql, user
    assert {c.id for c in every if policy.can_view(w.op_a, c)} == _ids(w, SEEN)
    assert {c.id for c in every if policy.can_view(w.op_b, c)} == {w.b_case.id}
    # The department's own staff still see every case of the department.
    assert {c.id for c in every if policy.can_view(w.responder_a, c)} == {c.id for c in every}


def test_an_operator_sees_its_accounts_cases_in_any_department(world, make):
    """Visibility follows the organisation's accounts, not the user's department."""
    w = world
    kanko = make.case(make.user("responder", w.dept_b), title="観光インスタの件",
                      official_account_id=w.account_a_kanko.id)
    assert policy.can_view(w.op_a, kanko) and not policy.can_view(w.op_b, kanko)


# --- case pages and API --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SEEN + HIDDEN)
def test_case_pages_and_api_answer_only_for_visible_cases(world, name, client, login, api):
    w = world
    case = getattr(w, name)
    expected = 200 if name in SEEN else 404
    login(w.op_a)
    for url in (f"/cases/{case.id}", f"/cases/{case.id}/edit"):
        assert client.get(url).status_code == expected, url
    for url in (f"/api/v1/cases/{case.id}", f"/api/v1/cases/{case.id}/timeline",
                f"/api/v1/cases/{case.id}/drafts", f"/api/v1/cases/{case.id}/evidence"):
        assert api("GET", url, w.op_a).status_code == expected, url
    # Acting: a note through the page and through the API.
    page = client.post(f"/cases/{case.id}/notes", data={"body": "確認しました"})
    assert page.status_code == (302 if name in SEEN else 404)
    note = api("POST", f"/api/v1/cases/{case.id}/notes", w.op_a, json={"body": "確認しました"})
    assert note.status_code == (201 if name in SEEN else 404)
    if name not in SEEN:
        assert CITIZEN not in note.get_data(as_text=True)


def test_a_hidden_case_answers_exactly_like_a_missing_one(world, api):
    w = world
    hidden = api("GET", f"/api/v1/cases/{w.city_case.id}", w.op_a)
    missing = api("GET", "/api/v1/cases/999999", w.op_a)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()


# --- lists, counts, filters ----------------------------------------------------------------------


def test_the_case_list_page_shows_and_counts_only_visible_cases(world, client, login):
    w = world
    login(w.op_a)
    page = client.get("/cases").text
    for name in SEEN:
        assert getattr(w, name).title in page
    for name in HIDDEN:
        assert getattr(w, name).title not in page
    assert "全 3 件" in page


@pytest.mark.parametrize("args", [
    "", "q=件", "department=bousai", "status=new", "kind=flaming", "severity=medium", "assignee_id=none",
    "per_page=100", "page=2&per_page=1",
])
def test_api_list_filters_never_reveal_hidden_cases(world, api, args):
    w = world
    body = api("GET", f"/api/v1/cases?{args}", w.op_a).get_json()
    ids = {item["id"] for item in body["items"]}
    assert ids <= _ids(w, SEEN)
    # The total counts what the caller may see, never the hidden ones.
    unpaged = api("GET", "/api/v1/cases?" + "&".join(
        a for a in args.split("&") if a and not a.startswith(("page=", "per_page="))) + "&per_page=100",
        w.op_a).get_json()
    assert body["total"] == unpaged["total"] == len(unpaged["items"])
    assert {item["id"] for item in unpaged["items"]} <= _ids(w, SEEN)


def test_the_full_list_for_an_operator_and_for_the_department(world, api):
    w = world
    mine = api("GET", "/api/v1/cases?per_page=100", w.op_a).get_json()
    assert {item["id"] for item in mine["items"]} == _ids(w, SEEN) and mine["total"] == 3
    theirs = api("GET", "/api/v1/cases?per_page=100", w.op_b).get_json()
    assert {item["id"] for item in theirs["items"]} == {w.b_case.id}
    staff = api("GET", "/api/v1/cases?per_page=100", w.responder_a).get_json()
    assert staff["total"] == 6
    # Searching a hidden case's words finds nothing, not even a count.
    search = api("GET", "/api/v1/cases?q=直営", w.op_a).get_json()
    assert search["items"] == [] and search["total"] == 0
    assert api("GET", "/api/v1/cases?q=直営", w.responder_a).get_json()["total"] == 1


def test_the_list_runs_the_same_number_of_queries_for_few_and_many_cases(world, make, api, client, login,
                                                                         count_queries):
    w = world

    def add(n: int) -> None:
        # Each visible case with its own reporter and assignee; as many hidden ones beside them.
        for k in range(n):
            make.case(make.user("responder", w.dept_a), title=f"委託案件{k}", official_account_id=w.account_a.id,
                      assignee_id=None)
            make.case(w.responder_a, title=f"直営案件{k}", official_account_id=w.account_city.id)

    api("GET", "/api/v1/cases", w.op_a)  # the token's first use writes last_used_at
    login(w.op_a)

    def measure() -> tuple[int, int]:
        db.session.expire_all()
        with count_queries() as by_api:
            assert api("GET", "/api/v1/cases?per_page=100", w.op_a).status_code == 200
        with count_queries() as by_page:
            assert client.get("/cases?per_page=100").status_code == 200
        return by_api.count, by_page.count

    few = measure()
    add(12)
    assert api("GET", "/api/v1/cases?per_page=100", w.op_a).get_json()["total"] == 15
    assert measure() == few


# --- opening a case ------------------------------------------------------------------------------


def test_the_new_case_form_offers_only_the_operators_accounts(world, client, login):
    w = world
    login(w.op_a)
    page = client.get("/cases/new").text
    assert f'value="{w.account_a.id}"' in page and f'value="{w.account_a_kanko.id}"' in page
    for other in (w.account_city, w.account_b):
        assert f'value="{other.id}"' not in page
    assert "（なし）" not in page
    assert "自社が運用する公式アカウントの案件です" in page
    login(w.responder_a)  # the department's own staff are offered every account, and none
    staff = client.get("/cases/new").text
    assert f'value="{w.account_city.id}"' in staff and "（なし）" in staff


def test_an_operator_opens_a_case_only_about_its_accounts(world, client, login, api, expect_error):
    w = world
    login(w.op_a)
    # The form never offers another account: one sent anyway is not a choice of the form.
    tampered = client.post("/cases/new", data={"kind": "flaming", "severity": "medium", "title": "直営の件",
                                               "official_account_id": str(w.account_city.id)})
    assert tampered.status_code == 422
    blank = client.post("/cases/new", data={"kind": "flaming", "severity": "medium", "title": "不明の件"})
    assert blank.status_code == 422
    assert "委託業者・指定管理者の方が登録できるのは、自社が運用する公式アカウントの案件だけです。" in blank.text
    none = api("POST", "/api/v1/cases", w.op_a, json={"kind": "flaming", "severity": "medium", "title": "不明"})
    expect_error(none, 422, "validation_failed", "official_account_id")
    other = api("POST", "/api/v1/cases", w.op_a, json={
        "kind": "flaming", "severity": "medium", "title": "B", "official_account_id": w.account_b.id})
    expect_error(other, 422, "validation_failed", "official_account_id")
    assert db.session.scalar(select(db.func.count()).select_from(Case)) == 6  # nothing opened
    opened = client.post("/cases/new", data={"kind": "flaming", "severity": "medium", "title": "自社の件",
                                             "official_account_id": str(w.account_a.id)})
    assert opened.status_code == 302


def test_a_case_opened_by_an_operator_belongs_to_the_accounts_department(world, api):
    """ORG_A runs an account of department B: the case is department B's, its supervisor hears of it."""
    w = world
    response = api("POST", "/api/v1/cases", w.op_a, json={
        "kind": "false_information", "severity": "high", "title": "観光インスタの誤情報",
        "official_account_id": w.account_a_kanko.id})
    assert response.status_code == 201, response.get_json()
    case = db.session.get(Case, response.get_json()["id"])
    assert case.department_id == w.dept_b.id
    assert db.session.scalar(select(Notification).where(
        Notification.user_id == w.supervisor_b.id, Notification.case_id == case.id)) is not None
    assert db.session.scalar(select(Notification).where(
        Notification.user_id == w.supervisor_a.id, Notification.case_id == case.id)) is None


def test_an_operator_may_not_move_a_case_to_another_account(world, api, expect_error):
    w = world
    version = api("GET", f"/api/v1/cases/{w.own.id}", w.op_a).get_json()["version"]
    moved = api("PATCH", f"/api/v1/cases/{w.own.id}", w.op_a,
                json={"version": version, "official_account_id": w.account_city.id})
    expect_error(moved, 422, "validation_failed", "official_account_id")
    # Saving a case of the city-run account they reported, account unchanged, is fine.
    version = api("GET", f"/api/v1/cases/{w.reported.id}", w.op_a).get_json()["version"]
    kept = api("PATCH", f"/api/v1/cases/{w.reported.id}", w.op_a,
               json={"version": version, "official_account_id": w.account_city.id, "title": "委託が登録した件（更新）"})
    assert kept.status_code == 200, kept.get_json()


# --- assigning -----------------------------------------------------------------------------------


def test_an_operators_people_are_assignable_only_to_its_accounts_cases(world, client, login, api, expect_error):
    w = world
    assert w.op_a in queries.assignable_users(w.supervisor_a, w.own)
    assert w.op_b not in queries.assignable_users(w.supervisor_a, w.own)
    city_people = queries.assignable_users(w.supervisor_a, w.city_case)
    assert w.op_a not in city_people and w.op_b not in city_people and w.responder_a in city_people
    login(w.supervisor_a)
    page = client.get(f"/cases/{w.city_case.id}").text
    assert "委託 一郎" not in page
    refused = api("POST", f"/api/v1/cases/{w.city_case.id}/assignment", w.supervisor_a,
                  json={"assignee_id": w.op_a.id})
    expect_error(refused, 422, "validation_failed", "assignee_id")
    done = api("POST", f"/api/v1/cases/{w.own.id}/assignment", w.supervisor_a, json={"assignee_id": w.op_a.id})
    assert done.status_code == 200


# --- notifications and escalations ---------------------------------------------------------------


def _notified(user, case) -> bool:
    return db.session.scalar(select(Notification.id).where(
        Notification.user_id == user.id, Notification.case_id == case.id).limit(1)) is not None


def test_colleagues_asked_to_check_a_pre_approved_text_are_those_who_see_the_case(world):
    w = world
    for case in (w.city_case, w.own):
        hooks.approval_requested(types.SimpleNamespace(id=1), actor=w.responder_a, case=case, pre_approved=True)
    db.session.commit()
    assert not _notified(w.op_a, w.city_case) and not _notified(w.op_b, w.city_case)
    assert _notified(w.op_a, w.own) and not _notified(w.op_b, w.own)
    assert _notified(w.supervisor_a, w.city_case)


def test_an_author_who_no_longer_sees_the_case_is_not_told_of_the_decision(world):
    w = world
    draft = types.SimpleNamespace(id=1, revisions=[types.SimpleNamespace(author_id=w.op_a.id)])
    hooks.draft_decided(draft, actor=w.supervisor_a, case=w.city_case, approved=True, comment="")
    hooks.draft_decided(draft, actor=w.supervisor_a, case=w.own, approved=True, comment="")
    db.session.commit()
    assert not _notified(w.op_a, w.city_case) and _notified(w.op_a, w.own)


def test_escalation_recipients_see_the_case(world, make):
    w = world
    # A supervisor with an organisation cannot be created any more (see below); one left from older data
    # still hears of nothing it may not see.
    legacy = make.user("supervisor", w.dept_a, organisation=ORG_A)
    assert legacy not in escalation.recipients(w.city_case, "supervisors")
    assert w.supervisor_a in escalation.recipients(w.city_case, "supervisors")
    assert escalation.recipients(w.assigned, "assignee") == [w.op_a]


def test_the_queue_drops_an_escalation_once_the_operator_no_longer_sees_its_case(world, api):
    w = world
    case = w.own
    cases.assign(w.supervisor_a, case, w.op_a.id)
    db.session.commit()
    escalation.sweep(utcnow() + dt.timedelta(days=1))  # unacknowledged: the assignee is told first
    db.session.commit()
    told = {e.case_id: e.id for e in db.session.scalars(select(Escalation).join(
        EscalationNotice, EscalationNotice.escalation_id == Escalation.id).where(EscalationNotice.user_id == w.op_a.id))}
    # Told of both cases assigned to them: this one and w.assigned (on the city-run account, still theirs).
    assert set(told) == {case.id, w.assigned.id}
    assert {e.id for e in escalation_queries.queue_for(w.op_a).escalations} == set(told.values())

    def listed() -> dict[int, int]:
        """Escalation id -> case id of what the API lists to op_a (escalations of cases they see, or told)."""
        body = api("GET", "/api/v1/escalations?per_page=100", w.op_a).get_json()
        assert body["total"] == len(body["items"])
        return {item["id"]: item["case_id"] for item in body["items"]}

    assert told[case.id] in listed()
    cases.assign(w.supervisor_a, case, w.responder_a.id)
    cases.update_case(w.responder_a, case, case.version, {"official_account_id": w.account_city.id})
    db.session.commit()
    assert [e.id for e in escalation_queries.queue_for(w.op_a).escalations] == [told[w.assigned.id]]
    now_listed = listed()
    assert told[case.id] not in now_listed and told[w.assigned.id] in now_listed
    assert set(now_listed.values()) <= _ids(w, SEEN)
    assert api("POST", f"/api/v1/escalations/{told[case.id]}/acknowledge", w.op_a).status_code == 404
    # The city's own staff who were told keep seeing what they were told of (unchanged rule).
    assert escalation.get_escalation(w.supervisor_a, told[case.id]) is not None


# --- known fakes ---------------------------------------------------------------------------------


def test_fake_pages_list_and_count_only_visible_cases(world, client, login, api):
    w = world
    fake, _ = fakes.record_fake(w.responder_a, {"platform": "x", "handle": "@bousai_fake"}, w.own)
    fakes.link_case(w.responder_a, fake, w.city_case)
    db.session.commit()
    assert [c.id for c in fakes.linked_cases(w.op_a, fake)] == [w.own.id]
    assert fakes.visible_case_counts(w.op_a, [fake.id]) == {fake.id: 1}
    assert fakes.visible_case_counts(w.responder_a, [fake.id]) == {fake.id: 2}
    login(w.op_a)
    page = client.get(f"/fakes/{fake.id}").text
    assert w.own.title in page and w.city_case.title not in page and w.city_case.number not in page
    detail = api("GET", f"/api/v1/fake-accounts/{fake.id}", w.op_a).get_json()
    assert [c["id"] for c in detail["cases"]] == [w.own.id]
    listed = api("GET", "/api/v1/fake-accounts", w.op_a).get_json()["items"]
    assert [f["visible_case_count"] for f in listed if f["id"] == fake.id] == [1]
    # The case page's "other cases that met this fake" leaves the hidden one out too.
    own_page = client.get(f"/cases/{w.own.id}").text
    assert w.city_case.number not in own_page


# --- users: who may work for an operator ---------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_the_pr_office_never_work_for_an_operator(world, role):
    with pytest.raises(ValidationFailed) as refused:
        auth.create_user(None, email=f"{role}@koukoku.example", name="外部", role=role, department=world.dept_a,
                         password="x" * 12, organisation=ORG_A)
    assert "organisation" in refused.value.fields
    assert "委託業者・指定管理者の所属にできません" in str(refused.value.message)


def test_a_responder_is_created_for_an_operator_of_either_kind(world):
    w = world
    user = auth.create_user(None, email="new@koukoku.example", name="委託 三郎", role="responder",
                            department=w.dept_a, password="x" * 12, organisation=f"  {ORG_A} ")
    assert user.operator_id == w.op_a.operator_id and user.organisation == ORG_A
    manager = auth.create_user(None, email="kan@bunka.example", name="文化 四郎", role="responder",
                               department=w.dept_a, password="x" * 12, organisation="石巻市文化会館管理者",
                               operator_kind="designated_manager")
    assert manager.operator.kind == OperatorType.DESIGNATED_MANAGER
    staff = auth.create_user(None, email="staff@city.example", name="市 職員", role="supervisor",
                             department=w.dept_a, password="x" * 12, organisation="  ")
    assert staff.operator is None
    with pytest.raises(ValidationFailed) as bad_kind:
        auth.create_user(None, email="odd@x.example", name="x", role="responder", department=w.dept_a,
                         password="x" * 12, organisation="新しい会社", operator_kind="city")
    assert "operator_kind" in bad_kind.value.fields
    with pytest.raises(ValidationFailed):
        auth.create_user(None, email="long@x.example", name="x", role="responder", department=w.dept_a,
                         password="x" * 12, organisation="社" * 201)


def test_the_cli_creates_an_operators_user_and_refuses_a_supervisor(world, runner):
    result = runner.invoke(args=["user", "create", "cli@koukoku.example", "--name", "委託 五郎", "--role",
                                 "responder", "--department", "bousai", "--organisation", ORG_A,
                                 "--password-stdin"], input="x" * 12 + "\n")
    assert result.exit_code == 0, result.output
    assert ORG_A in result.output
    user = db.session.scalar(select(User).where(User.email == "cli@koukoku.example"))
    assert user.operator_id == world.op_a.operator_id
    refused = runner.invoke(args=["user", "create", "boss@koukoku.example", "--name", "x", "--role", "supervisor",
                                  "--department", "bousai", "--organisation", ORG_A, "--password-stdin"],
                            input="x" * 12 + "\n")
    assert refused.exit_code == 1 and "委託業者・指定管理者の所属にできません" in refused.output
    assert db.session.scalar(select(User).where(User.email == "boss@koukoku.example")) is None


def test_the_api_tells_the_caller_their_organisation_and_its_kind(world, api):
    w = world
    me = api("GET", "/api/v1/me", w.op_b).get_json()
    assert me["organisation"] == ORG_B and me["operator_kind"] == "designated_manager"
    staff = api("GET", "/api/v1/me", w.responder_a).get_json()
    assert staff["organisation"] is None and staff["operator_kind"] is None
    schema = api("GET", "/api/v1/openapi.json").get_json()["components"]["schemas"]["MeOut"]["properties"]
    assert "operator_kind" in schema and "organisation" in schema


# --- the registry --------------------------------------------------------------------------------


def test_the_account_page_names_the_operators_people(world, client, login, make):
    w = world
    outsider = make.user("responder", w.dept_b)
    for viewer, shown in ((w.admin, True), (w.responder_a, True), (w.op_a, True), (outsider, False),
                          (w.op_b, False)):
        login(viewer)
        page = client.get(f"/accounts/{w.account_a.id}").text
        assert ORG_A in page  # the operator itself is part of the registry everyone reads
        assert ("ichiro@koukoku.example" in page) is shown, viewer
    login(w.admin)
    city = client.get(f"/accounts/{w.account_city.id}").text
    assert 'id="operator-people"' not in city


def test_the_operators_page_lists_organisations_accounts_and_people(world, client, login):
    w = world
    login(w.admin)
    page = client.get("/accounts/operators")
    assert page.status_code == 200
    text = page.text
    for expected in (ORG_A, ORG_B, "委託業者", "指定管理者", "石巻市防災X", "石巻観光インスタ", "防災センター",
                     "委託 一郎", "ichiro@koukoku.example", "指定 二郎"):
        assert expected in text, expected
    assert "石巻市防災（直営）" not in text
    # ORG_A's row holds its two accounts and its person, not ORG_B's.
    row_a = text.split(f'id="operator-{w.op_a.operator_id}"')[1].split("</tr>")[0]
    assert "石巻観光インスタ" in row_a and "委託 一郎" in row_a and "指定 二郎" not in row_a
    for user in (w.responder_a, w.supervisor_a, w.op_a):
        login(user)
        assert client.get("/accounts/operators").status_code == 403


def test_the_account_form_offers_the_registered_operators(world, client, login):
    w = world
    login(w.admin)
    page = client.get("/accounts/new").text
    assert 'list="operator-names"' in page
    assert f'value="{ORG_A}"' in page and "（指定管理者）" in page


def _account_form(department, **overrides) -> dict[str, str]:
    return {"platform": "x", "name": "新しいアカウント", "url": "", "department_id": str(department.id),
            "operator_type": "contractor", "operator_name": "", **overrides}


def test_naming_an_existing_operator_links_it_and_a_kind_clash_is_refused(world, client, login):
    w = world
    login(w.admin)
    linked = client.post("/accounts/new", data=_account_form(w.dept_a, operator_name=ORG_A))
    assert linked.status_code == 302
    assert db.session.scalar(select(db.func.count()).select_from(Operator).where(Operator.name == ORG_A)) == 1
    clash = client.post("/accounts/new", data=_account_form(w.dept_a, name="別の", operator_type="contractor",
                                                            operator_name=ORG_B))
    assert clash.status_code == 422 and "運用者の種類を合わせてください" in clash.text
    # An organisation registered with a user and running no account takes the account's kind.
    auth.create_user(None, email="new@kanri.example", name="管理 六郎", role="responder", department=w.dept_a,
                     password="x" * 12, organisation="石巻市体育館管理者")
    db.session.commit()
    adopted = client.post("/accounts/new", data=_account_form(w.dept_a, name="体育館", operator_type="designated_manager",
                                                              operator_name="石巻市体育館管理者"))
    assert adopted.status_code == 302
    assert db.session.scalar(select(Operator.kind).where(Operator.name == "石巻市体育館管理者")) == \
        OperatorType.DESIGNATED_MANAGER


def test_an_operators_user_files_notices_only_for_its_accounts(world, client, login):
    w = world
    login(w.op_a)
    assert client.get(f"/accounts/{w.account_a.id}/notices/new").status_code == 200
    assert client.get(f"/accounts/{w.account_city.id}/notices/new").status_code == 403
    assert client.post(f"/accounts/{w.account_city.id}/reviewed").status_code == 403


# --- the demo ------------------------------------------------------------------------------------


def test_the_demo_contractor_sees_only_its_accounts_cases(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "株式会社いしのまき広告" in result.output
    assert "株式会社いしのまき広告" in (Path(app.instance_path) / "demo-logins.txt").read_text(encoding="utf-8")
    contractor = db.session.scalar(select(User).where(User.email == "itaku@ishinomaki.example"))
    colleague = db.session.scalar(select(User).where(User.email == "kanko@ishinomaki.example"))
    assert contractor.organisation == "株式会社いしのまき広告"
    seen = db.session.scalars(queries.case_list_query(contractor, queries.CaseFilters())).all()
    assert [c.title for c in seen] == ["観光課Xアカウントのなりすまし"]
    assert seen[0].official_account.operator_id == contractor.operator_id
    # Their department colleague sees 観光課's other case too.
    assert len(db.session.scalars(queries.case_list_query(colleague, queries.CaseFilters())).all()) == 2


def test_operator_user_records_mfa_only_for_their_own_organisations_account(world):
    w = world
    # op_a works the case they were assigned; the department's city-run account is not their organisation's.
    assert policy.can_confirm_mfa_by_step(w.op_a, w.own, w.account_a)
    assert not policy.can_confirm_mfa_by_step(w.op_a, w.own, w.account_city)
    assert policy.can_confirm_mfa_by_step(w.responder_a, w.own, w.account_city)  # city staff may


def test_second_checker_must_be_someone_who_may_see_the_case(make):
    from incident.drafts.service import second_person_available

    make.operator(ORG_B, "designated_manager")
    lone = make.department("lone", "単独課")
    author = make.user("responder", lone)
    contractor = make.user("responder", lone, organisation=ORG_B)  # runs no account of this department
    case = make.case(author, title="単独課の件")
    assert not second_person_available(case, author)  # the contractor may not see the case
    city_colleague = make.user("responder", lone)
    assert second_person_available(case, author)
    assert policy.can_view(city_colleague, case) and not policy.can_view(contractor, case)
