"""Who may change a known fake's state: the PR office, or people who may edit a case linked to it."""
from __future__ import annotations

import types

import pytest
from sqlalchemy import select

from incident import policy
from incident.accounts.models import FakeAccountEvent, FakeAccountState
from incident.audit.models import AuditLog
from incident.cases import service as cases
from incident.errors import PermissionDenied
from incident.extensions import db
from incident.fakes import service

STATE_FORM = 'name="state"'
READ_ONLY = "状態の記録は、この偽アカウントに関連する案件の所属と秘書広報課が行います。"


@pytest.fixture
def city(make):
    """A fake linked to a case of department A about an account its contractor runs; department B has no
    linked case. An outside operator's people see only their operator's accounts' cases (issue 12): the
    contractor running the account may change the fake's state, another contractor of department A not."""
    a, b, pr = make.department(), make.department(), make.department()
    people = types.SimpleNamespace(
        responder_a=make.user("responder", a), supervisor_a=make.user("supervisor", a),
        contractor_a=make.user("responder", a, organisation="株式会社いしのまき広告"),
        other_contractor_a=make.user("responder", a, organisation="株式会社べつの広告"),
        responder_b=make.user("responder", b), supervisor_b=make.user("supervisor", b),
        contractor_b=make.user("responder", b, organisation="株式会社べつの広告"),
        admin=make.user("admin", pr),
    )
    account = make.account(a, platform="x", operator_type="contractor", operator_name="株式会社いしのまき広告")
    people.case = make.case(people.responder_a, kind="impersonation", severity="high", title="なりすまし",
                            platform="x", urls=["@fake_city"], official_account_id=account.id)
    people.fake, _ = service.record_fake(people.responder_a, {"platform": "x", "handle": "@fake_city"}, people.case)
    db.session.commit()
    return people


def _events(fake) -> int:
    return db.session.scalar(select(db.func.count()).select_from(FakeAccountEvent)
                             .where(FakeAccountEvent.fake_account_id == fake.id))


def _state_audits() -> int:
    return db.session.scalar(select(db.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "fake_account.state"))


ALLOWED = ["responder_a", "supervisor_a", "contractor_a", "admin"]
DENIED = ["responder_b", "supervisor_b", "contractor_b", "other_contractor_a"]


@pytest.mark.parametrize("who", ALLOWED)
def test_pr_office_and_linked_department_may_change_state(city, who, login, client, token_for):
    user = getattr(city, who)
    login(user)
    page = client.get(f"/fakes/{city.fake.id}").text
    assert STATE_FORM in page and READ_ONLY not in page
    assert client.post(f"/fakes/{city.fake.id}/state", data={"state": "reported", "note": "通報"}).status_code == 302
    api = client.post(f"/api/v1/fake-accounts/{city.fake.id}/state", headers=token_for(user),
                      json={"state": "removed"})
    assert api.status_code == 200, api.json
    assert api.json["state"] == "removed" and api.json["can_change_state"] is True
    assert [h["state"] for h in api.json["history"]] == ["live", "reported", "removed"]


@pytest.mark.parametrize("who", DENIED)
def test_other_departments_see_the_fake_but_get_403(city, who, login, client, token_for):
    user = getattr(city, who)
    before_events, before_audits = _events(city.fake), _state_audits()
    login(user)
    page = client.get(f"/fakes/{city.fake.id}")
    assert page.status_code == 200  # the register is visible to every signed-in user
    assert STATE_FORM not in page.text and READ_ONLY in page.text
    web = client.post(f"/fakes/{city.fake.id}/state", data={"state": "removed"})
    assert web.status_code == 403
    headers = token_for(user)
    shown = client.get(f"/api/v1/fake-accounts/{city.fake.id}", headers=headers)
    assert shown.status_code == 200 and shown.json["can_change_state"] is False
    api = client.post(f"/api/v1/fake-accounts/{city.fake.id}/state", headers=headers, json={"state": "removed"})
    assert api.status_code == 403
    assert api.json["error"]["code"] == "forbidden"
    assert "秘書広報課" in api.json["error"]["message"]
    # A bad body is still refused for the permission first (nothing about the fake is changed).
    assert client.post(f"/api/v1/fake-accounts/{city.fake.id}/state", headers=headers,
                       json={"state": "bogus"}).status_code == 403
    db.session.expire_all()
    assert city.fake.state == FakeAccountState.LIVE
    assert (_events(city.fake), _state_audits()) == (before_events, before_audits)


def test_service_refuses_directly(city):
    with pytest.raises(PermissionDenied):
        service.change_state(city.contractor_b, city.fake, "removed")
    db.session.rollback()
    service.change_state(city.supervisor_a, city.fake, "removed")
    assert city.fake.state == FakeAccountState.REMOVED


def test_unlinked_fake_only_pr_office(make, city):
    lone, _ = service.record_fake(city.responder_a, {"platform": "x", "handle": "@lonely_fake"})
    db.session.commit()
    assert not service.may_change_state(city.responder_a, lone)  # recording it is not enough
    assert service.may_change_state(city.admin, lone)


def test_linking_a_case_of_another_department_lets_it_in(make, city):
    assert not service.may_change_state(city.responder_b, city.fake)
    theirs = make.case(city.responder_b, kind="impersonation", severity="high", title="二件目",
                       platform="x", urls=["@fake_city"])  # linked automatically
    assert service.may_change_state(city.responder_b, city.fake)
    assert theirs.id in {c.id for c in service.linked_cases(city.responder_b, city.fake)}


def test_assignee_from_another_department_may_change_state(city):
    """The PR office may assign a case outside its department; the assignee works the case."""
    cases.assign(city.admin, city.case, city.responder_b.id)
    db.session.commit()
    assert service.may_change_state(city.responder_b, city.fake)
    assert not service.may_change_state(city.supervisor_b, city.fake)


def test_policy_rule():
    admin = types.SimpleNamespace(role=policy.Role.ADMIN, department_id=1, id=1, operator_id=None)
    responder = types.SimpleNamespace(role=policy.Role.RESPONDER, department_id=2, id=2, operator_id=None)
    linked = [types.SimpleNamespace(department_id=2, assignee_id=None)]
    other = [types.SimpleNamespace(department_id=3, assignee_id=None)]
    assigned = [types.SimpleNamespace(department_id=3, assignee_id=2)]
    assert policy.can_change_fake_state(admin, []) and policy.can_change_fake_state(admin, other)
    assert policy.can_change_fake_state(responder, linked)
    assert policy.can_change_fake_state(responder, other + linked)
    assert policy.can_change_fake_state(responder, assigned)
    assert not policy.can_change_fake_state(responder, other)
    assert not policy.can_change_fake_state(responder, [])


def test_fake_page_queries_fixed_with_more_linked_cases(make, city, login, client, count_queries):
    login(city.responder_b)
    fake_id = city.fake.id

    def measure() -> int:
        db.session.expire_all()  # as in a fresh request
        with count_queries() as counter:
            assert client.get(f"/fakes/{fake_id}").status_code == 200
        return counter.count

    few = measure()
    for n in range(8):
        make.case(city.responder_a if n % 2 else city.responder_b, kind="impersonation", severity="high",
                  title=f"案件{n}", platform="x", urls=["@fake_city"])
    assert len(service.linked_cases(city.admin, city.fake)) == 9
    assert measure() == few
