"""An interim notice with unfilled ［…を記入］ blanks, in a real browser (issue 12): the page lists and marks
them, submitting is refused with each blank and its line, and once they are written in the notice is
submitted, approved by the supervisor and recorded as published."""
from __future__ import annotations

import pytest

from incident.drafts.blanks import find_blanks
from incident.extensions import db

pytestmark = pytest.mark.browser

#: The case has no platform, so the notice is for the city website (issue 12: a draft knows its channel).
PAGE_URL = "https://www.city.ishinomaki.lg.jp/cont/10181000/kanko/20261120.html"


def test_interim_notice_is_published_only_after_its_blanks_are_filled(make, serve, new_page, log_in, traffic, generate_draft):
    department = make.department(name="観光課")  # no contact on record: the template leaves it blank too
    responder = make.user("responder", department, name="観光 次郎")
    supervisor = make.user("supervisor", department, name="観光 課長")
    db.session.commit()
    case = make.case(responder, kind="flaming", severity="high", title="イベント告知の誤りへの批判")
    case_id, responder_email, supervisor_email = case.id, responder.email, supervisor.email
    base = serve()

    page = new_page()
    log_in(page, base, responder_email)
    draft_url = generate_draft(page, base, case_id, "中間の周知（対応中のお知らせ）")
    text = page.locator("#draft-body").inner_text()
    blanks = find_blanks(text)
    assert len(blanks) >= 3 and blanks[0].text.startswith("［確認している事柄")

    # The blanks are listed in an announced region named by its heading, and marked in the text.
    region = page.get_by_role("status", name=f"未記入の箇所（{len(blanks)} 件）")
    assert region.is_visible()
    for blank in blanks:
        assert f"{blank.line} 行目：{blank.text}" in region.inner_text()
    marks = page.locator("#draft-body mark.blank")
    assert marks.count() == len(blanks) and marks.first.is_visible()
    assert "埋めるまで" in page.locator("#approval").inner_text()

    # Submitting is refused: the message names each blank with its line; the draft stays in editing.
    approval = page.locator("#approval")
    for box in approval.locator("form").first.get_by_role("checkbox").all():
        box.check()
    approval.get_by_role("button", name="所属長に承認を依頼").click()
    page.wait_for_url(draft_url + "#approval")
    refusal = page.locator(".flash-error")
    assert refusal.is_visible() and refusal.get_attribute("role") == "alert"
    assert "未記入の箇所" in refusal.inner_text()
    assert f"{blanks[0].line} 行目：{blanks[0].text}" in refusal.inner_text()
    assert "作成中" in page.locator(".head-row .badge").inner_text()

    # Choosing a blank in the list opens the editor with it selected: typing replaces it.
    page.get_by_role("status").get_by_role("link").first.click()
    editor = page.get_by_role("textbox", name="本文")
    assert editor.is_visible()
    assert editor.evaluate("a => a.value.substring(a.selectionStart, a.selectionEnd)") == blanks[0].text
    page.keyboard.type("11月20日の本アカウントの投稿")
    typed = editor.input_value()
    assert "［確認している事柄（例" not in typed and "11月20日の本アカウントの投稿について" in typed
    # The rest are written in as staff would.
    for blank in find_blanks(typed):
        typed = typed.replace(blank.text, "12月1日ごろ" if "時期" in blank.text else "0225-95-1111", 1)
    editor.fill(typed)
    page.get_by_role("button", name="新しい版として保存").click()
    page.wait_for_url(draft_url)
    assert "第 2 版" in page.locator(".head-row").inner_text()
    assert page.locator("#blanks").count() == 0 and page.locator("#draft-body mark").count() == 0

    approval = page.locator("#approval")
    for box in approval.locator("form").first.get_by_role("checkbox").all():
        box.check()
    approval.get_by_role("button", name="所属長に承認を依頼").click()
    page.wait_for_url(draft_url + "#approval")
    assert "承認待ち" in page.locator(".head-row .badge").inner_text()

    boss = new_page()
    log_in(boss, base, supervisor_email)
    boss.goto(draft_url)
    boss.locator("#approval").get_by_role("button", name="承認する").click()
    boss.wait_for_url(draft_url + "#approval")
    assert "承認済み" in boss.locator(".head-row .badge").inner_text()

    page.goto(draft_url)
    sending = page.locator("#sending")
    sending.get_by_label("市ホームページ の URL").fill(PAGE_URL)  # a place with its URL filled in is recorded
    sending.get_by_role("button", name="公開を記録").click()
    page.wait_for_url(draft_url + "#sending")
    assert "公開・提出済み" in page.locator(".head-row .badge").inner_text()
    assert PAGE_URL in page.locator("#sending").inner_text()
    published = page.locator("#draft-body").inner_text()
    assert find_blanks(published) == [] and "11月20日の本アカウントの投稿について" in published

    page.goto(f"{base}/cases/{case_id}")
    ledger = page.locator("#ledger")
    assert "中間の周知（対応中のお知らせ）" in ledger.inner_text() and PAGE_URL in ledger.inner_text()
    assert "（市ホームページ）" in ledger.inner_text()
    assert traffic.foreign() == []
