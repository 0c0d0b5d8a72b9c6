"""What a user types never runs as script, and no page reaches outside the intranet."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss=1</script>"
IMAGE = '<img src=x onerror="window.__xss=1">'
PAYLOAD = f"{SCRIPT}{IMAGE}"


def _assert_inert(page) -> None:
    """Nothing ran, and the payload is plain text rather than elements."""
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    scripts = page.evaluate("() => [...document.scripts].map(s => s.getAttribute('src'))")
    assert scripts == ["/static/app.js"]
    assert page.locator("img").count() == 0
    assert page.locator("[onerror]").count() == 0


def test_script_in_a_title_and_a_note_does_not_run(make, serve, new_page, log_in):
    responder = make.user("responder")
    email = responder.email
    base = serve()
    page = new_page()
    log_in(page, base, email)

    page.goto(f"{base}/cases/new")
    page.get_by_label("種別").select_option(label="炎上")
    page.get_by_label("件名").fill(PAYLOAD)
    page.get_by_label("概要（Markdown）").fill(f"{PAYLOAD}\n\n[詳細](javascript:window.__xss=1)")
    page.get_by_role("button", name="登録する").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/cases/\d+$"))
    case_url = page.url
    _assert_inert(page)
    assert page.get_by_role("heading", level=1).inner_text() == PAYLOAD  # shown as text
    assert PAYLOAD in page.locator("#timeline li.event-opened").inner_text()
    description = page.locator("section[aria-labelledby=h-details] .markdown")
    assert SCRIPT in description.inner_text()
    link = description.get_by_role("link", name="詳細")
    assert link.count() == 0 or not (link.get_attribute("href") or "").startswith("javascript:")

    page.get_by_label("メモ（Markdown）").fill(f"**注意** {PAYLOAD}\n\n{IMAGE}")
    page.get_by_role("button", name="メモを追加").click()
    page.wait_for_url(re.compile(r"#note-\d+$"))
    _assert_inert(page)
    note = page.locator("article.note").first
    assert note.locator(".markdown strong").inner_text() == "注意"  # Markdown still works
    assert SCRIPT in note.inner_text() and IMAGE in note.inner_text()

    # The correction form, the edit form and the list show the same text, inert.
    note.get_by_role("link", name="訂正する").click()
    _assert_inert(page)
    assert IMAGE in note.locator("form.correction textarea").input_value()
    page.goto(f"{case_url}/edit")
    _assert_inert(page)
    assert page.get_by_label("件名").input_value() == PAYLOAD
    page.goto(f"{base}/cases")
    _assert_inert(page)
    assert page.locator("table.list.cases").get_by_role("link", name=PAYLOAD).count() == 1
    # The page title (the tab name) is escaped too.
    page.goto(case_url)
    assert page.title().endswith("| SNSトラブル対応")
    assert PAYLOAD in page.title()
    _assert_inert(page)


def test_pages_load_nothing_from_outside_the_intranet(make, serve, new_page, log_in, traffic):
    """The city intranet has no internet: no CDN, web font, analytics or preloaded link."""
    department = make.department(name="観光課")
    admin = make.user("admin", department, name="秘書広報課 職員")
    account = make.account(department, name="石巻市観光課", url="https://www.facebook.com/ishinomaki.kankou/")
    case = make.case(actor=admin, title="外部リンクを含む案件", official_account_id=account.id,
                     description="参考：https://x.com/someone/status/1 と ![画像](https://example.com/a.png)",
                     urls="https://x.com/someone/status/1\nhttps://www.youtube.com/watch?v=abc")
    email, case_id = admin.email, case.id
    base = serve()
    page = new_page()
    log_in(page, base, email)

    for path in (f"/cases/{case_id}", f"/cases/{case_id}/edit", "/cases/new", "/cases?q=外部",
                 "/accounts", "/audit", "/settings"):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
    page.context.clear_cookies()
    page.goto(f"{base}/login?lang=en")
    page.wait_for_load_state("load")

    assert traffic.foreign() == []
    # The listener saw the page's own requests, so an empty list above means something.
    assert f"{base}/static/app.css" in traffic.urls
    assert f"{base}/static/app.js" in traffic.urls
    assert len({u for u in traffic.urls if "/cases/" in u}) >= 3
