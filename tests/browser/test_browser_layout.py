"""The case list and the case page on a phone: no sideways scrolling, the actions at hand."""
from __future__ import annotations

import pytest

from incident.cases import service
from incident.extensions import db

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
LONG_URL = "https://www.facebook.com/ishinomaki.kankou.official/posts/pfbid0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"


def _seed(make) -> tuple[str, int]:
    """A busy case as a supervisor sees it: long title, long URLs, notes, a table, a code block."""
    department = make.department(name="観光課")
    supervisor = make.user("supervisor", department, name="課長 一郎")
    responder = make.user("responder", department, name="石巻 花子")
    make.user("responder", department, name="渡波 次郎")
    for n in range(3):
        make.case(actor=responder, title=f"過去の案件 {n}", severity="low")
    case = make.case(
        actor=responder,
        kind="impersonation",
        severity="high",
        title="観光課の公式アカウントを名乗るなりすましアカウントが偽のキャンペーン情報を投稿している件について",
        description=(
            "偽アカウントが**当選案内**を送っている。\n\n"
            f"参考：{LONG_URL}\n\n"
            "| 日時 | 内容 |\n|---|---|\n| 10:00 | 最初の投稿を確認 |\n\n"
            f"```\n{'x' * 120}\n```"
        ),
        source="市民からの電話（観光案内所経由）",
        urls=f"{LONG_URL}\n@ishinomaki_kankou_official_fake_account_2026",
        assignee_id=None,
    )
    service.add_note(responder, case, f"削除依頼を送信。{LONG_URL}")
    service.add_note(responder, case, "Facebook の運営に報告済み。**返信待ち**。")
    db.session.commit()
    return supervisor.email, case.id


def test_case_list_and_case_page_fit_a_phone(make, serve, new_page, log_in, artifacts, no_sideways_scroll):
    email, case_id = _seed(make)
    base = serve()
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(page, base, email)

    # The list: rows become cards, nothing sticks out, opening a case is at hand.
    no_sideways_scroll(page)
    assert page.locator("table.list.cases thead").is_hidden()
    assert page.locator("table.list.cases tbody tr").count() == 4
    register = page.locator(".head-row").get_by_role("link", name="案件を登録")
    assert register.is_visible() and register.bounding_box()["y"] < PHONE["height"]
    page.screenshot(path=artifacts / "case-list-phone.png", full_page=True)

    # The case page: what to do now first, then the record; nothing wider than the phone.
    page.locator("table.list.cases").get_by_role("link", name="観光課の公式アカウント").click()
    page.wait_for_url(f"{base}/cases/{case_id}")
    no_sideways_scroll(page)
    acknowledge = page.get_by_role("region", name="いま行うこと").get_by_role("button", name="受け付けて対応を始める")
    actions = page.get_by_role("complementary", name="状態・担当")
    assert acknowledge.is_visible()
    assert acknowledge.bounding_box()["y"] + acknowledge.bounding_box()["height"] <= PHONE["height"], \
        "the first action is on the first screen"
    for name in ("状態を変更", "担当者を割り当てる"):
        assert actions.get_by_role("button", name=name).is_visible()
    assert page.get_by_role("button", name="メモを追加").is_visible()
    assert page.get_by_role("link", name="編集", exact=True).is_visible()
    # Touch targets: the buttons are at least 44 px high.
    for button in (acknowledge, page.get_by_role("button", name="メモを追加")):
        assert button.bounding_box()["height"] >= 44
    page.screenshot(path=artifacts / "case-page-phone.png", full_page=True)

    # The same page on a desktop keeps the actions in a side column.
    desktop = new_page(viewport=DESKTOP)
    log_in(desktop, base, email)
    desktop.goto(f"{base}/cases/{case_id}")
    no_sideways_scroll(desktop, DESKTOP["width"])
    side = desktop.locator("aside.case-side").bounding_box()
    main = desktop.locator(".case-main").bounding_box()
    assert side["x"] >= main["x"] + main["width"], "actions beside the record, not under it"
    desktop.screenshot(path=artifacts / "case-page-desktop.png", full_page=True)
