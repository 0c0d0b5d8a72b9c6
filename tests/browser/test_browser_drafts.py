"""A takedown request written, checked, approved by another person and recorded, in a real browser."""
from __future__ import annotations

import pytest

from incident.drafts.blanks import find_blanks
from incident.extensions import db

pytestmark = pytest.mark.browser


def test_takedown_draft_from_case_to_ledger(make, serve, new_page, log_in, traffic, generate_draft):
    department = make.department(name="観光課")
    responder = make.user("responder", department, name="観光 次郎")
    supervisor = make.user("supervisor", department, name="観光 課長")
    account = make.account(department, name="石巻市観光", platform="x", url="https://x.com/ishinomaki_kanko")
    db.session.commit()
    case = make.case(responder, kind="impersonation", severity="high", title="観光課のなりすまし",
                     platform="x", official_account_id=account.id)
    case_id, responder_email, supervisor_email = case.id, responder.email, supervisor.email
    base = serve()

    page = new_page()
    log_in(page, base, responder_email)
    draft_url = generate_draft(page, base, case_id, "削除依頼（運営会社あて）")
    body = page.locator("#draft-body")
    assert "https://x.com/ishinomaki_kanko" in body.inner_text()
    # The platform checklist names what is missing before the request can go out.
    assert "権限の証明" in page.locator("#platform .missing").first.inner_text()

    # Edit: a new revision, with the difference shown; the template's ［…を記入］ blanks are written in.
    page.locator("#editor summary").click()
    text = body.inner_text()
    for blank in find_blanks(text):
        text = text.replace(blank.text, "本市の投稿の無断転載", 1)
    page.get_by_role("textbox", name="本文").fill(text + "\n追記：至急の対応をお願いします。")
    page.get_by_role("button", name="新しい版として保存").click()
    page.wait_for_url(draft_url)
    assert "第 2 版" in page.locator(".head-row").inner_text()
    assert "追記：至急の対応をお願いします。" in page.locator("pre.diff ins").last.inner_text()

    # Submitting needs every section-4 check; the browser refuses before the server does.
    approval = page.locator("#approval")
    for box in approval.locator("form").first.get_by_role("checkbox").all():
        box.check()
    approval.get_by_role("button", name="所属長に承認を依頼").click()
    page.wait_for_url(draft_url + "#approval")
    assert "承認待ち" in page.locator(".head-row .badge").inner_text()
    assert page.locator("#approval").get_by_role("button", name="承認する").count() == 0  # not the author's to approve

    other = new_page()
    log_in(other, base, supervisor_email)
    other.goto(draft_url)
    other.locator("#approval").get_by_role("button", name="承認する").click()
    other.wait_for_url(draft_url + "#approval")
    assert "承認済み" in other.locator(".head-row .badge").inner_text()

    page.goto(draft_url)
    sending = page.locator("#sending")
    sending.get_by_label("運営会社の受付番号（あれば）").fill("X-12345")
    sending.get_by_role("button", name="提出を記録").click()
    page.wait_for_url(draft_url + "#sending")
    assert "X-12345" in page.locator("#sending").inner_text()

    page.goto(f"{base}/cases/{case_id}")
    ledger = page.locator("#ledger")
    assert "削除依頼（運営会社あて）" in ledger.inner_text() and "X-12345" in ledger.inner_text()
    # The playbook's takedown step completed by itself, linking the draft.
    assert page.locator("#step-takedown_request .badge").inner_text() == "完了"
    assert traffic.foreign() == []
