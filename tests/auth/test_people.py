"""People and departments kept by the PR office (秘書広報課): pages, services and the CLI."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from incident.audit.models import AuditLog
from incident.auth import people, postings
from incident.auth.models import ApiToken, Department, Posting, Role, User
from incident.cases.models import Note, TimelineEvent
from incident.dates import utcnow
from incident.drafts.models import Draft
from incident.errors import Conflict, NotFound, ValidationFailed
from incident.escalation import handover
from incident.escalation import service as escalation
from incident.extensions import db


def _audit(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _temporary(response) -> str:
    return response.text.split('id="temporary-password">', 1)[1].split("<", 1)[0]


def _fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


# --- adding people ---------------------------------------------------------------------------------


def test_a_new_user_gets_a_temporary_password_to_change_at_first_login(city, client, login, app):
    login(city.admin)
    form = client.get("/admin/users/new").text
    assert '<option value="">' in form and 'name="organisation"' in form
    response = client.post("/admin/users/new", data={
        "name": "新人 太郎", "email": "Shinjin@City.Example.JP", "role": "responder",
        "department_id": str(city.dept_a.id), "organisation": "", "operator_kind": "contractor"})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    temporary = _temporary(response)
    user = db.session.scalar(select(User).where(User.email == "shinjin@city.example.jp"))
    assert user is not None and user.must_change_password and user.check_password(temporary)
    assert user.department_id == city.dept_a.id and user.role == Role.RESPONDER and user.operator_id is None
    assert [p.department_id for p in db.session.scalars(select(Posting).where(Posting.user_id == user.id))] == [
        city.dept_a.id]
    assert _audit("user.create")[-1].actor_id == city.admin.id
    assert temporary not in client.get(f"/admin/users/{user.id}").text  # shown once
    newcomer = app.test_client()
    signed_in = newcomer.post("/login", data={"email": "shinjin@city.example.jp", "password": temporary})
    assert signed_in.status_code == 302
    assert newcomer.get("/cases").headers["Location"].endswith("/settings/password")


def test_a_contractor_user_is_created_with_its_organisation(city, client, login):
    login(city.admin)
    response = client.post("/admin/users/new", data={
        "name": "委託 花子", "email": "itaku@example.jp", "role": "responder", "department_id": str(city.dept_a.id),
        "organisation": "株式会社みなと", "operator_kind": "designated_manager"})
    assert response.status_code == 200
    user = db.session.scalar(select(User).where(User.email == "itaku@example.jp"))
    assert user.organisation == "株式会社みなと" and user.operator.kind.value == "designated_manager"


@pytest.mark.parametrize("data, field", [
    ({"email": "not-an-address"}, "email"),
    ({"name": ""}, "name"),
    ({"department_id": ""}, "department_id"),
    ({"department_id": "999999"}, "department_id"),
    ({"role": "emperor"}, "role"),
    ({"role": "supervisor", "organisation": "株式会社みなと"}, "organisation"),
    ({"email": "RESPONDER-B@EXAMPLE.JP"}, "email"),  # taken, whatever its case
])
def test_bad_input_on_the_new_user_form_is_shown_by_the_field(city, client, login, data, field):
    db.session.get(User, city.responder_b.id).email = "responder-b@example.jp"
    db.session.commit()
    login(city.admin)
    before = db.session.scalar(select(func.count(User.id)))
    sent = {"name": "名前", "email": "new@example.jp", "role": "responder", "department_id": str(city.dept_a.id),
            "organisation": "", "operator_kind": "contractor", **data}
    response = client.post("/admin/users/new", data=sent)
    assert response.status_code == 200
    page = response.text
    assert f'id="{field}-error"' in page, page
    assert 'id="temporary-password"' not in page
    assert db.session.scalar(select(func.count(User.id))) == before


def test_email_uniqueness_is_case_insensitive_in_the_service(city):
    with pytest.raises(Conflict):
        people.add_user(city.admin, email=city.responder_a.email.upper(), name="x", role="responder",
                        department=city.dept_a)
    with pytest.raises(Conflict):
        people.update_user(city.admin, city.responder_b, email=city.responder_a.email.upper())


# --- editing and moving ----------------------------------------------------------------------------


def test_editing_moves_the_person_with_a_posting_and_audit_rows(city, client, login):
    login(city.admin)
    user = city.responder_a
    page = client.get(f"/admin/users/{user.id}").text
    assert "パスワード・多要素認証" in page and f"/admin/users/{user.id}/password" in page
    response = client.post(f"/admin/users/{user.id}", data={
        "name": "担当A（改）", "email": user.email, "role": "supervisor", "department_id": str(city.dept_b.id),
        "organisation": "", "operator_kind": "contractor"})
    assert response.status_code == 302, response.text
    user = _fresh(User, user.id)
    assert (user.name, user.role, user.department_id) == ("担当A（改）", Role.SUPERVISOR, city.dept_b.id)
    rows = list(db.session.scalars(select(Posting).where(Posting.user_id == user.id).order_by(Posting.id)))
    assert rows[-1].department_id == city.dept_b.id and rows[-1].ended_at is None
    assert rows[-1].changed_by_id == city.admin.id
    move = _audit("user.move")[-1]
    assert move.changes["department"] == ["dept-a", "dept-b"] and move.changes["role"] == ["responder", "supervisor"]
    assert _audit("user.update")[-1].changes == {"name": ["担当A", "担当A（改）"]}
    history = client.get(f"/admin/users/{user.id}").text
    assert "観光課" in history and "所属・役割の履歴" in history


def test_nothing_changed_writes_nothing(city):
    before = db.session.scalar(select(func.count(AuditLog.id)))
    people.update_user(city.admin, city.responder_a, name="担当A", department=city.dept_a, role="responder")
    assert db.session.scalar(select(func.count(AuditLog.id))) == before


def test_the_pr_office_cannot_change_its_own_role(city, client, login):
    login(city.admin)
    response = client.post(f"/admin/users/{city.admin.id}", data={
        "name": city.admin.name, "email": city.admin.email, "role": "responder",
        "department_id": str(city.pr.id), "organisation": "", "operator_kind": "contractor"})
    assert response.status_code == 200 and 'id="role-error"' in response.text
    assert _fresh(User, city.admin.id).role == Role.ADMIN


# --- deactivation and handover --------------------------------------------------------------------


def test_deactivation_shows_the_handover_and_reassigns_in_one_step(city, make, app, client, login, token_for,
                                                                    password):
    leaving = city.responder_a
    case = make.case(actor=city.supervisor_a, assignee_id=leaving.id, department_id=city.dept_a.id)
    closed_elsewhere = make.case(actor=city.supervisor_a, department_id=city.dept_a.id)
    note = Note(case_id=case.id, author_id=leaving.id, body="経過メモ")
    db.session.add(note)
    draft = Draft(case_id=case.id, type="interim_notice", created_by_id=leaving.id)
    db.session.add(draft)
    db.session.commit()
    esc = escalation.escalate(leaving, case, "判断に迷う")
    db.session.commit()
    headers = token_for(leaving)
    browser = app.test_client()
    assert browser.post("/login", data={"email": leaving.email, "password": password}).status_code == 302

    login(city.admin)
    confirm = client.get(f"/admin/users/{leaving.id}/deactivate").text
    assert case.number in confirm and f"/cases/{case.id}" in confirm
    assert f"/cases/{case.id}/drafts/{draft.id}" in confirm
    assert 'id="handover-escalations"' in confirm and closed_elsewhere.number not in confirm
    # Those who may take the cases over: the leaving person's department first.
    offered = re.findall(r'<option value="(\d+)"', confirm)
    same = {str(u.id) for u in (city.responder_a2, city.supervisor_a)}
    assert set(offered[:2]) == same and str(leaving.id) not in offered and str(city.responder_b.id) in offered
    # Without the confirmation nothing happens.
    refused = client.post(f"/admin/users/{leaving.id}/deactivate", data={"reassign_to": str(city.responder_a2.id)})
    assert refused.status_code == 200 and 'id="confirm-error"' in refused.text
    assert _fresh(User, leaving.id).active
    response = client.post(f"/admin/users/{leaving.id}/deactivate", data={
        "reassign_to": str(city.responder_a2.id), "confirm": "y"})
    assert response.status_code == 302, response.text
    user = _fresh(User, leaving.id)
    assert not user.active
    assert _fresh(type(case), case.id).assignee_id == city.responder_a2.id
    event = db.session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == case.id,
                                                           TimelineEvent.event == "assigned")
                               .order_by(TimelineEvent.id.desc())).first()
    assert event is not None and event.data["new_id"] == city.responder_a2.id and event.actor_id == city.admin.id
    assert _audit("user.deactivate")[-1].object_id == leaving.id
    # Sessions and tokens end at once; every record stays.
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert browser.get("/settings").status_code == 302
    assert all(t.revoked_at for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == leaving.id)))
    assert db.session.get(Note, note.id).author_id == leaving.id
    assert _fresh(Draft, draft.id).created_by_id == leaving.id
    assert handover.handover_of(city.admin, user).escalations[0][0].id == esc.id  # still listed, not lost


def test_reassigning_refuses_a_receiver_who_may_not_take_a_case_and_changes_nothing(city, make):
    case = make.case(actor=city.supervisor_a, assignee_id=city.responder_a.id, department_id=city.dept_a.id)
    contractor = make.user("responder", city.dept_a, organisation="株式会社よそ")
    with pytest.raises(ValidationFailed) as info:
        handover.deactivate_with_handover(city.admin, city.responder_a, contractor)
    assert "reassign_to" in info.value.fields
    db.session.rollback()
    assert _fresh(type(case), case.id).assignee_id == city.responder_a.id
    with pytest.raises(ValidationFailed):
        handover.receiver(city.responder_a.id, city.responder_a)
    with pytest.raises(ValidationFailed):
        handover.receiver("abc", city.responder_a)


def test_deactivating_oneself_is_refused(city, client, login):
    login(city.admin)
    page = client.get(f"/admin/users/{city.admin.id}/deactivate").text
    assert "自分自身は無効にできません。" in page and 'name="confirm"' not in page
    client.post(f"/admin/users/{city.admin.id}/deactivate", data={"confirm": "y"})
    assert _fresh(User, city.admin.id).active


def test_reactivation(city, client, login, password):
    people_user = city.responder_b
    handover.deactivate_with_handover(city.admin, people_user, None)
    db.session.commit()
    login(city.admin)
    assert client.post(f"/admin/users/{people_user.id}/reactivate").status_code == 302
    assert _fresh(User, people_user.id).active
    assert _audit("user.reactivate")[-1].object_id == people_user.id
    with pytest.raises(Conflict):
        people.reactivate_user(city.admin, _fresh(User, people_user.id))


# --- pending users (single sign-on) ---------------------------------------------------------------


def test_a_pending_user_is_approved_with_a_role_and_department(city, make, client, login):
    pending = make.user("responder", city.dept_a, active=False, pending_since=utcnow())
    login(city.admin)
    assert "承認待ち" in client.get("/admin/users?state=pending").text
    assert city.responder_b.email not in client.get("/admin/users?state=pending").text
    page = client.get(f"/admin/users/{pending.id}").text
    assert "承認" in page and "却下" in page
    bad = client.post(f"/admin/users/{pending.id}/approve",
                      data={"approve-role": "responder", "approve-department_id": ""})
    assert bad.status_code == 200 and 'id="approve-department_id-error"' in bad.text
    assert _fresh(User, pending.id).pending_since is not None
    response = client.post(f"/admin/users/{pending.id}/approve", data={
        "approve-role": "supervisor", "approve-department_id": str(city.dept_b.id)})
    assert response.status_code == 302
    user = _fresh(User, pending.id)
    assert user.active and user.pending_since is None
    assert (user.role, user.department_id) == (Role.SUPERVISOR, city.dept_b.id)
    assert _audit("user.approve")[-1].object_id == user.id
    # Their history starts at the approval, where they were placed.
    assert [(p.department_id, p.role, p.ended_at) for p in postings.history_of(user.id)] == [
        (city.dept_b.id, Role.SUPERVISOR, None)]


def test_a_pending_user_approved_where_they_waited_gets_a_posting(city, make, client, login):
    pending = make.user("responder", city.dept_a, active=False, pending_since=utcnow())
    login(city.admin)
    assert client.post(f"/admin/users/{pending.id}/approve", data={
        "approve-role": "responder", "approve-department_id": str(city.dept_a.id)}).status_code == 302
    assert [(p.department_id, p.role) for p in postings.history_of(pending.id)] == [(city.dept_a.id, Role.RESPONDER)]


def test_a_pending_user_is_rejected(city, make, client, login):
    pending = make.user("responder", city.dept_a, active=False, pending_since=utcnow())
    login(city.admin)
    assert client.post(f"/admin/users/{pending.id}/reject").status_code == 302
    user = _fresh(User, pending.id)
    assert not user.active and user.pending_since is None
    assert _audit("user.reject")[-1].object_id == user.id


# --- the list ---------------------------------------------------------------------------------------


def test_the_list_searches_filters_and_pages(city, client, login, app):
    login(city.admin)
    found = client.get("/admin/users?q=担当B").text
    assert city.responder_b.email in found and city.responder_a.email not in found
    by_department = client.get(f"/admin/users?department={city.dept_b.id}").text
    assert city.supervisor_b.email in by_department and city.supervisor_a.email not in by_department
    assert client.get("/admin/users?q=%25").status_code == 200  # a LIKE wildcard is text
    assert client.get("/admin/users?department=abc&state=nonsense&page=-3").status_code == 200
    app.config["PER_PAGE"] = 2
    first = client.get("/admin/users").text
    assert 'rel="next"' in first


# --- departments ------------------------------------------------------------------------------------


def test_departments_are_created_renamed_and_given_a_contact(city, client, login):
    login(city.admin)
    listing = client.get("/admin/departments").text
    assert "防災課" in listing
    response = client.post("/admin/departments", data={"code": "kikaku", "name": "企画課", "contact": "0225-00-0000"})
    assert response.status_code == 302
    department = db.session.scalar(select(Department).where(Department.code == "kikaku"))
    assert department.contact == "0225-00-0000"
    duplicate = client.post("/admin/departments", data={"code": "KIKAKU", "name": "別", "contact": ""})
    assert duplicate.status_code == 200 and 'id="code-error"' in duplicate.text
    response = client.post(f"/admin/departments/{department.id}", data={"name": "企画政策課", "contact": "内線 123"})
    assert response.status_code == 302
    department = _fresh(Department, department.id)
    assert (department.name, department.contact) == ("企画政策課", "内線 123")
    assert _audit("department.rename")[-1].changes == {"name": ["企画課", "企画政策課"]}
    blank = client.post(f"/admin/departments/{department.id}", data={"name": "", "contact": ""})
    assert blank.status_code == 200 and 'id="name-error"' in blank.text


def test_a_department_without_history_is_deleted_one_with_history_never(city, client, login):
    login(city.admin)
    empty = people.add_department(city.admin, "typo", "誤って作った課")
    db.session.commit()
    page = client.get(f"/admin/departments/{empty.id}").text
    assert f"/admin/departments/{empty.id}/delete" in page
    used = client.get(f"/admin/departments/{city.dept_a.id}").text
    assert f"/admin/departments/{city.dept_a.id}/delete" not in used
    refused = client.post(f"/admin/departments/{city.dept_a.id}/delete", follow_redirects=True)
    assert "削除できません" in refused.text
    assert _fresh(Department, city.dept_a.id) is not None
    assert client.post(f"/admin/departments/{empty.id}/delete").status_code == 302
    assert _fresh(Department, empty.id) is None
    assert _audit("department.delete")[-1].changes["code"] == ["typo", None]


def test_history_counts_every_kind_of_record(city, make):
    account_only = people.add_department(city.admin, "acc", "アカウントだけの課")
    make.account(department=account_only)
    assert "official_account" in people.department_history(account_only)
    with pytest.raises(Conflict):
        people.delete_department(city.admin, account_only)
    moved_away = people.add_department(city.admin, "was", "昔いた課")
    people.update_user(city.admin, city.responder_b, department=moved_away)
    people.update_user(city.admin, city.responder_b, department=city.dept_b)
    assert people.department_history(moved_away) == ["posting"]  # nobody there now, but someone was


# --- only the PR office ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["responder_a", "supervisor_a", "supervisor_b"])
def test_every_page_is_404_to_all_but_the_pr_office(city, client, login, role):
    login(getattr(city, role))
    target, department = city.responder_b, city.dept_b
    for url in ("/admin/users", "/admin/users/new", f"/admin/users/{target.id}",
                f"/admin/users/{target.id}/deactivate", "/admin/departments", f"/admin/departments/{department.id}"):
        assert client.get(url).status_code == 404, url
    for url, data in ((f"/admin/users/{target.id}", {"name": "x", "email": "x@example.jp", "role": "admin",
                                                     "department_id": str(department.id)}),
                      (f"/admin/users/{target.id}/deactivate", {"confirm": "y"}),
                      (f"/admin/users/{target.id}/reactivate", {}), (f"/admin/users/{target.id}/approve", {}),
                      (f"/admin/users/{target.id}/reject", {}), ("/admin/users/new", {"name": "x"}),
                      ("/admin/departments", {"code": "x", "name": "x"}),
                      (f"/admin/departments/{department.id}", {"name": "x"}),
                      (f"/admin/departments/{department.id}/delete", {})):
        assert client.post(url, data=data).status_code == 404, url
    user = _fresh(User, target.id)
    assert user.active and user.role == Role.RESPONDER and _fresh(Department, department.id).name == "観光課"
    with pytest.raises(NotFound):
        people.people_query(getattr(city, role), people.PeopleFilters())
    with pytest.raises(NotFound):
        handover.handover_of(getattr(city, role), target)


def test_the_nav_links_are_the_pr_offices(city, client, login):
    login(city.admin)
    page = client.get("/settings").text
    assert 'href="/admin/users"' in page and 'href="/admin/departments"' in page
    login(city.supervisor_a)
    assert 'href="/admin/departments"' not in client.get("/settings").text


# --- CLI --------------------------------------------------------------------------------------------


def test_the_cli_lists_updates_renames_and_deletes(city, app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "update", city.responder_a.email.upper(), "--name", "担当A改",
                                 "--role", "supervisor", "--department", "dept-b"])
    assert result.exit_code == 0, result.output
    user = _fresh(User, city.responder_a.id)
    assert (user.name, user.role, user.department_id) == ("担当A改", Role.SUPERVISOR, city.dept_b.id)
    assert _audit("user.move")[-1].actor_id is None
    listing = runner.invoke(args=["user", "list"])
    assert listing.exit_code == 0 and city.responder_b.email in listing.output and "dept-b" in listing.output
    assert runner.invoke(args=["department", "rename", "dept-b", "観光物産課"]).exit_code == 0
    assert _fresh(Department, city.dept_b.id).name == "観光物産課"
    refused = runner.invoke(args=["department", "delete", "dept-b"])
    assert refused.exit_code == 1 and "削除できません" in refused.output
    people.add_department(None, "tmp", "一時")
    db.session.commit()
    assert runner.invoke(args=["department", "delete", "tmp"]).exit_code == 0
    assert db.session.scalar(select(Department).where(Department.code == "tmp")) is None
    bad = runner.invoke(args=["user", "update", "nobody@example.jp", "--name", "x"])
    assert bad.exit_code == 1
