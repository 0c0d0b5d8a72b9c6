"""The search box in Chromium: typed into the header and sent with Enter, on a 320 px phone; the results
page marks the words and nothing scrolls sideways (long URLs and unbroken words wrap)."""
from __future__ import annotations

import pytest

from incident.cases import service as cases
from incident.extensions import db

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 700}
LONG_URL = "https://twitter.com/ishinomaki_city_official_fake_account_impersonation/status/18000000000000000001"


def test_searching_from_the_header_on_a_phone(make, serve, new_page, log_in, no_sideways_scroll):
    department = make.department("bousai", "防災課")
    responder = make.user("responder", department, name="防災 担当")
    case = make.case(responder, title="鰻丼の投稿への批判が拡散")
    cases.add_offending_item(responder, case, LONG_URL, note="鰻丼の写真付きの投稿")
    cases.add_note(responder, case, "鰻丼" + "あ" * 300)
    email, case_id = responder.email, case.id
    db.session.commit()
    base = serve()
    page = new_page(viewport=NARROW, is_mobile=True, has_touch=True)
    log_in(page, base, email)
    page.get_by_role("searchbox", name="検索").first.fill("鰻丼")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/search?q=*")
    results = page.locator(".search-results")
    assert results.locator(f'a[href="/cases/{case_id}"]').count() == 1
    assert results.locator("mark").first.inner_text() == "鰻丼"
    assert "「鰻丼」を含むもの" in page.get_by_role("status").inner_text()
    no_sideways_scroll(page, NARROW["width"])
    page.goto(f"{base}/search?q=ishinomaki_city")
    assert page.locator(".search-results mark").first.inner_text() == "ishinomaki_city"
    no_sideways_scroll(page, NARROW["width"])
