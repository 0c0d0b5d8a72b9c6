"""Escalation and notification pages: the case banner, escalating and acknowledging by hand, the
queue, the notification list with its unread count, and the PR office's outbox page."""
from __future__ import annotations

import re
import types

import pytest
from sqlalchemy import select

from incident.cases.models import Case
from incident.drafts import service as drafts
from incident.drafts.blanks import find_blanks
from incident.escalation import service as escalation
from incident.escalation.models import Escalation
from incident.extensions import db
from incident.notifications import service as notifications
from incident.notifications.models import Notification

CHECKS = ["public_info", "accurate", "rights", "not_prohibited", "calm"]


def submitted_press(author, case):
    """A press notice its author filled in (no ［…を記入］ blank left) and submitted for approval."""
    draft = drafts.create_draft(author, case, {"type": "press"})
    text = drafts.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    if text != drafts.latest_revision(draft).body:
        drafts.revise(author, draft, text)
    drafts.submit(author, draft, CHECKS)
    return draft


@pytest.fixture
def town(make):
    dept = make.department("bosai", "防災課")
    other = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        dept=dept, other=other,
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        deputy=make.user("supervisor", dept, name="副所属長 四郎"),
        other_responder=make.user("responder", other, name="観光 担当"),
        other_supervisor=make.user("supervisor", other, name="観光 所属長"),
        admin=make.user("admin", pr, name="広報 担当"),
    )


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def section(page: str, section_id: str) -> str:
    """The HTML of one <section id=...> of a page ("" when absent)."""
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', page, re.S)
    return match.group(0) if match else ""


def open_escalations() -> list[Escalation]:
    db.session.expire_all()
    return list(db.session.scalars(select(Escalation).where(
        Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None))))


# ---- the case page -----------------------------------------------------------------------------


def test_case_page_shows_the_escalation_banner_and_form(town, make, client, login):
    case = make.case(town.responder, title="バナー")
    login(town.supervisor)
    page = html(client.get(f"/cases/{case.id}"))
    banner = section(page, "escalations")
    assert "未対応のエスカレーションはありません" in banner
    assert f'action="/cases/{case.id}/escalations"' in banner and 'name="reason"' in banner
    assert "/acknowledge" not in banner

    made = escalation.escalate(town.responder, case, "返信が止まりません")
    db.session.commit()
    page = html(client.get(f"/cases/{case.id}"))
    # The open escalation heads いま行うこと, the first part of the page, with its 受ける button.
    banner = section(page, "next")
    assert page.index('id="next"') < page.index('id="checklist"') < page.index('id="escalations"')
    assert "alert-card" in banner
    assert "返信が止まりません" in banner and "手動のエスカレーション" in banner and "所属長" in banner
    assert f'action="/escalations/{made.id}/acknowledge"' in banner and "受ける" in banner
    assert "未対応のエスカレーション 1 件" in section(page, "escalations")
    assert "未対応のエスカレーションはありません" not in page


def test_escalating_through_the_page(town, make, client, login):
    case = make.case(town.responder, title="ページから")
    login(town.responder)
    response = client.post(f"/cases/{case.id}/escalations", data={"reason": "判断できません"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/cases/{case.id}#escalations")
    page = html(client.get(response.headers["Location"]))
    assert 'role="status" tabindex="-1" data-just-added>エスカレーションしました。' in section(page, "escalations")
    [made] = open_escalations()
    assert made.case_id == case.id and made.raised_by_id == town.responder.id and made.reason == "判断できません"
    assert f'action="/escalations/{made.id}/acknowledge"' in section(page, "next")
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "escalation")).all()
    assert sorted(told) == sorted([town.supervisor.id, town.deputy.id])


def test_escalating_without_a_reason_flashes_an_error(town, make, client, login):
    case = make.case(town.responder)
    login(town.responder)
    response = client.post(f"/cases/{case.id}/escalations", data={"reason": "  "}, follow_redirects=True)
    page = html(response)
    assert "理由を" in page and "flash-error" in page
    assert open_escalations() == []


def test_escalating_another_departments_case_is_not_found(town, make, client, login):
    case = make.case(town.responder)
    login(town.other_responder)
    assert client.post(f"/cases/{case.id}/escalations", data={"reason": "x"}).status_code == 404
    assert open_escalations() == []


def test_acknowledging_through_the_page_removes_the_banner(town, make, client, login):
    case = make.case(town.responder, title="受ける")
    made = escalation.escalate(town.responder, case, "助けて")
    db.session.commit()
    login(town.supervisor)
    response = client.post(f"/escalations/{made.id}/acknowledge")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/cases/{case.id}#next")
    page = html(client.get(response.headers["Location"]))
    banner = section(page, "next")  # where the button was, the message now is
    assert 'data-just-added>エスカレーションを受けました。' in banner
    assert f"/escalations/{made.id}/acknowledge" not in page and "助けて" not in banner
    assert "未対応のエスカレーションはありません" in section(page, "escalations")
    assert "エスカレーションを受けた" in page  # on the timeline, with who and when
    assert open_escalations() == []
    db.session.expire_all()
    assert db.session.get(Escalation, made.id).acknowledged_by_id == town.supervisor.id
    # Twice: an error message, nothing changes.
    again = html(client.post(f"/escalations/{made.id}/acknowledge", follow_redirects=True))
    assert "すでに受けられているか" in again


# ---- the queue ---------------------------------------------------------------------------------


def test_queue_lists_my_escalations_unassigned_cases_and_approvals(town, make, client, login):
    mine = make.case(town.responder, title="エスカレーション済み")
    escalation.escalate(town.responder, mine, "見てください")
    unassigned = make.case(town.colleague, title="担当なし")
    assigned = make.case(town.supervisor, title="担当あり", assignee_id=town.colleague.id)
    elsewhere = make.case(town.other_responder, title="観光の担当なし")
    waiting = submitted_press(town.responder, unassigned)
    own = submitted_press(town.supervisor, assigned)
    db.session.commit()

    login(town.supervisor)
    page = html(client.get("/queue"))
    escalations = section(page, "my-escalations")
    assert "エスカレーション済み" in escalations and "見てください" in escalations
    assert 'name="next" value="queue"' in escalations
    open_list = section(page, "unassigned")
    assert "担当なし" in open_list and "エスカレーション済み" in open_list
    assert "担当あり" not in open_list and "観光の担当なし" not in open_list
    assert f'action="/cases/{unassigned.id}/assign"' in open_list
    assert f'action="/cases/{elsewhere.id}/assign"' not in open_list
    approvals = section(page, "approvals")
    assert f"/cases/{unassigned.id}/drafts/{waiting.id}" in approvals
    assert f"/drafts/{own.id}" not in approvals  # my own draft does not wait for my approval

    # The deputy may approve the supervisor's draft: it is on their queue.
    login(town.deputy)
    approvals = section(html(client.get("/queue")), "approvals")
    assert f"/drafts/{own.id}" in approvals and f"/drafts/{waiting.id}" in approvals

    # The other department's supervisor sees neither.
    login(town.other_supervisor)
    page = html(client.get("/queue"))
    open_list = section(page, "unassigned")
    assert f'action="/cases/{elsewhere.id}/assign"' in open_list
    assert f'action="/cases/{unassigned.id}/assign"' not in open_list and f"/cases/{mine.id}" not in open_list
    assert "エスカレーション済み" not in page and f"/drafts/{waiting.id}" not in page

    # The PR office sees every department's unassigned cases and approvals.
    login(town.admin)
    page = html(client.get("/queue"))
    open_list = section(page, "unassigned")
    for title in ("担当なし", "観光の担当なし", "エスカレーション済み"):
        assert title in open_list
    assert f'action="/cases/{elsewhere.id}/assign"' in open_list
    assert f"/drafts/{waiting.id}" in section(page, "approvals")


def test_assigning_from_the_queue(town, make, client, login):
    case = make.case(town.colleague, title="割り当てる")
    login(town.supervisor)
    form = section(html(client.get("/queue")), "unassigned")
    assert f'<option value="{town.responder.id}">' in form
    assert f'<option value="{town.other_responder.id}">' not in form  # only people of the case's department
    response = client.post(f"/cases/{case.id}/assign", data={"assignee_id": str(town.responder.id)})
    assert response.status_code == 302
    assert "担当者を更新しました。" in html(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(Case, case.id).assignee_id == town.responder.id
    assert "割り当てる</a>" not in section(html(client.get("/queue")), "unassigned")
    # The new assignee hears about it.
    assert db.session.scalars(select(Notification.kind).where(Notification.user_id == town.responder.id)).all() \
        == ["assigned"]


def test_acknowledging_from_the_queue_returns_to_the_queue(town, make, client, login):
    case = make.case(town.responder, title="キューから受ける")
    made = escalation.escalate(town.responder, case, "急ぎ")
    db.session.commit()
    login(town.deputy)
    response = client.post(f"/escalations/{made.id}/acknowledge", data={"next": "queue"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/queue")
    page = html(client.get("/queue"))
    assert "キューから受ける" not in section(page, "my-escalations")
    assert open_escalations() == []


def test_a_responder_reaches_the_queue_without_supervisor_sections(town, make, client, login):
    case = make.case(town.colleague, title="担当なし")
    waiting = submitted_press(town.colleague, case)
    db.session.commit()
    login(town.responder)
    page = html(client.get("/queue"))
    assert 'id="my-escalations"' in page
    assert 'id="unassigned"' not in page and 'id="approvals"' not in page
    assert "/assign" not in page and f"/drafts/{waiting.id}" not in page


def test_a_responder_told_at_the_assignee_level_sees_it_on_the_queue(town, make, client, login):
    import datetime as dt

    case = make.case(town.supervisor, title="担当者へ", severity="high", assignee_id=town.responder.id)
    escalation.sweep(case.created_at + dt.timedelta(minutes=16))
    db.session.commit()
    login(town.responder)
    assert "担当者へ" in section(html(client.get("/queue")), "my-escalations")
    login(town.colleague)
    assert "担当者へ" not in section(html(client.get("/queue")), "my-escalations")


# ---- notifications -----------------------------------------------------------------------------


def unread_badge(page: str) -> str | None:
    match = re.search(r'<span class="count"><span aria-hidden="true">(\d+)</span>'
                      r'<span class="visually-hidden">未読 (\d+) 件</span></span>', page)
    if match is None:
        return None
    assert match.group(1) == match.group(2)  # what is seen is what is read out
    return match.group(1)


def test_header_count_list_open_and_read_all(town, make, client, login):
    first = make.case(town.responder, title="一件目")
    second = make.case(town.responder, title="二件目")
    made = escalation.escalate(town.responder, second, "至急")
    db.session.commit()
    login(town.supervisor)
    page = html(client.get("/queue"))
    assert unread_badge(page) == "3"
    listing = html(client.get("/notifications"))
    assert unread_badge(listing) == "3"
    for title in ("一件目", "二件目", "至急"):
        assert title in listing
    assert listing.count('class="unread"') == 3 and "すべて既読にする" in listing

    escalated = db.session.scalars(select(Notification).where(
        Notification.user_id == town.supervisor.id, Notification.kind == "escalation")).one()
    response = client.post(f"/notifications/{escalated.id}/open")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/cases/{second.id}#escalations")
    db.session.expire_all()
    assert db.session.get(Notification, escalated.id).read_at is not None
    listing = html(client.get("/notifications"))
    assert unread_badge(listing) == "2" and listing.count('class="unread"') == 2
    assert f'/escalations/{made.id}/acknowledge' in html(client.get(f"/cases/{second.id}"))

    opened = db.session.scalars(select(Notification).where(
        Notification.user_id == town.supervisor.id, Notification.case_id == first.id)).one()
    assert client.post(f"/notifications/{opened.id}/open").headers["Location"].endswith(f"/cases/{first.id}")

    response = client.post("/notifications/read-all")
    assert response.status_code == 302
    listing = html(client.get(response.headers["Location"]))
    assert "1 件を既読にしました。" in listing
    assert unread_badge(listing) is None and 'class="unread"' not in listing
    assert "すべて既読にする" not in listing
    db.session.expire_all()
    assert db.session.scalars(select(Notification).where(
        Notification.user_id == town.supervisor.id, Notification.read_at.is_(None))).all() == []


def test_someone_elses_notification_cannot_be_opened(town, make, client, login):
    make.case(town.responder, title="他人の通知")
    theirs = db.session.scalars(select(Notification).where(Notification.user_id == town.supervisor.id)).first()
    login(town.deputy)
    client.post("/notifications/read-all")  # marks only the deputy's own
    assert client.post(f"/notifications/{theirs.id}/open").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None
    login(town.supervisor)
    assert unread_badge(html(client.get("/notifications"))) == "1"


def test_a_foreign_link_is_not_followed(town, client, login):
    """An open redirect would be a phishing aid: only in-app paths are followed."""
    [note] = notifications.notify([town.supervisor], "assigned", "外部", "", link="//evil.example/x")
    db.session.commit()
    login(town.supervisor)
    response = client.post(f"/notifications/{note.id}/open")
    assert response.status_code == 302 and response.headers["Location"].endswith("/notifications")


def test_admin_outbox_is_for_the_pr_office_only(town, client, login):
    for user in (town.responder, town.supervisor):
        login(user)
        assert client.get("/admin/outbox").status_code == 404
        assert "/admin/outbox" not in html(client.get("/queue"))
    login(town.admin)
    assert "メール送信状況" in html(client.get("/admin/outbox"))
    assert "/admin/outbox" in html(client.get("/queue"))


def test_notification_list_runs_the_same_queries_for_3_and_30(town, client, login, count_queries):
    def add(n: int) -> None:
        for i in range(n):
            notifications.notify([town.supervisor], "assigned", f"通知 {i}", "本文", link="/queue")
        db.session.commit()

    add(3)
    login(town.supervisor)
    client.get("/notifications")  # warm-up
    db.session.commit()
    with count_queries() as few:
        page = html(client.get("/notifications"))
    assert page.count('class="unread"') == 3
    add(27)
    with count_queries() as many:
        page = html(client.get("/notifications"))
    assert page.count('class="unread"') == 25  # one page
    assert many.count == few.count, many.statements


def test_case_list_flags_cases_with_open_escalations(make, client, login):
    """Supervisors see at a glance in the case list which cases were escalated and not yet taken on."""
    department = make.department("list-esc", "防災課")
    responder = make.user("responder", department)
    make.user("supervisor", department)
    escalated = make.case(responder, title="上げた案件")
    make.case(responder, title="静かな案件")
    escalation.escalate(responder, escalated, "一人では判断できない")
    db.session.commit()
    login(responder)
    html = client.get("/cases").get_data(as_text=True)
    rows = {title: html.split(title, 1)[1].split("</tr>", 1)[0] for title in ("上げた案件", "静かな案件")}
    assert "エスカレーション 1 件" in rows["上げた案件"]
    assert "エスカレーション" not in rows["静かな案件"]
