"""The editor's live character counter in a real browser (issue 12): it counts as the server does (X's
weighted count: CJK 2, any URL 23; other channels characters), follows the chosen channel, turns into the
error style and announces the limit politely when the text goes over, and the website rendition counts
against the website's limit."""
from __future__ import annotations

import pytest

from incident.drafts import length
from incident.extensions import db

pytestmark = pytest.mark.browser

CITY_PAGE = "https://www.city.ishinomaki.lg.jp/cont/10181000/bousai/20261120.html"
#: Texts whose count the browser must agree on with incident/drafts/length.py.
SAMPLES = [
    "Hello, world!",
    "偽アカウントにご注意ください。",
    "詳しくは " + CITY_PAGE + " をご覧ください。",
    "詳しくはcity.ishinomaki.lg.jpへ。tanto@city.ishinomaki.lg.jp",
    "お知らせ📢 👍🏽 👨\u200d👩\u200d👧 🇯🇵 ❤️ 1️⃣ ©",
    "“引用”— ｱｲｳ café\n\n  ",
    "https://x.com/a. (https://x.com/b) x.com",
]


def test_the_counter_counts_as_the_server_follows_the_channel_and_announces_going_over(
        make, serve, new_page, log_in, traffic, generate_draft):
    department = make.department(name="防災課")
    responder = make.user("responder", department, name="防災 太郎")
    account = make.account(department, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")
    db.session.commit()
    case = make.case(responder, kind="impersonation", severity="high", title="防災アカウントのなりすまし",
                     platform="x", official_account_id=account.id)
    case_id, email = case.id, responder.email
    base = serve()

    page = new_page()
    log_in(page, base, email)
    draft_url = generate_draft(page, base, case_id, "注意喚起（偽アカウント）")
    # The generated notice is a short X post, within the limit, with the long text for the city website.
    shown = page.locator("#draft-body-count")
    assert "over" not in shown.get_attribute("class") and "を超えています" not in shown.inner_text()
    assert 0 < int(shown.get_attribute("data-count")) <= 280 and shown.get_attribute("data-limit") == "280"

    page.locator("#editor summary").click()
    editor = page.get_by_role("textbox", name="本文")
    counter = page.locator("#body-count")
    alert = page.locator("[data-length-alert]")
    assert editor.get_attribute("aria-describedby") == "body-count"
    assert alert.get_attribute("aria-live") == "polite"
    assert page.get_by_label("投稿先").input_value() == "x"  # from the case's official account

    for text in SAMPLES:  # the browser's count is the server's
        editor.fill(text)
        assert counter.inner_text() == f"X（旧Twitter）：{length.weighted_length(text)} / 280", text

    editor.fill("あ" * 140)
    assert counter.inner_text() == "X（旧Twitter）：280 / 280"
    assert "over" not in counter.get_attribute("class") and editor.get_attribute("aria-invalid") is None
    editor.press("End")
    page.keyboard.type("い")  # one more kana, typed: over the limit
    assert counter.inner_text() == "X（旧Twitter）：282 / 280"
    assert "over" in counter.get_attribute("class") and editor.get_attribute("aria-invalid") == "true"
    assert alert.inner_text() == "X（旧Twitter） の上限 280 を超えています（現在 282）。"
    page.keyboard.press("Backspace")
    assert counter.inner_text() == "X（旧Twitter）：280 / 280" and "over" not in counter.get_attribute("class")
    assert alert.inner_text() == "X（旧Twitter） の上限 280 以内です（現在 280）。"

    # Another channel, another way of counting and another limit.
    editor.fill("あ" * 141)
    page.get_by_label("投稿先").select_option("line")
    assert counter.inner_text() == "LINE：141 / 500" and "over" not in counter.get_attribute("class")
    assert alert.inner_text() == "LINE の上限 500 以内です（現在 141）。"
    page.get_by_label("投稿先").select_option("x")
    assert counter.inner_text() == "X（旧Twitter）：282 / 280" and "over" in counter.get_attribute("class")

    # The website rendition counts characters against the website's limit.
    web = page.get_by_role("textbox", name="市ホームページ用（長文）")
    web_counter = page.locator("#web_body-count")
    assert web.input_value().strip() and web_counter.inner_text().startswith("市ホームページ：")  # generated
    web.fill("偽アカウントにご注意ください。\n" + CITY_PAGE)
    assert web_counter.inner_text() == f"市ホームページ：{16 + len(CITY_PAGE)} / 20000"

    # Saved, the page shows the same counts from the server; the over-long body cannot be submitted.
    short = "【注意】偽アカウントにご注意ください。詳しくは " + CITY_PAGE
    editor.fill(short)
    page.get_by_role("button", name="新しい版として保存").click()
    page.wait_for_url(draft_url)
    assert page.locator("#draft-body-count").inner_text() == f"X（旧Twitter）：{length.weighted_length(short)} / 280"
    assert "over" not in page.locator("#draft-body-count").get_attribute("class")
    assert page.locator("#draft-web-body").is_visible()
    assert traffic.foreign() == []
