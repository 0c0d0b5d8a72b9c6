"""The home page on a 320 px phone: no sideways scrolling, every block's heading and count readable, in the
system Chromium (the browser fixtures live in tests/browser, so this test serves the app itself)."""
from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from incident.drafts.models import Draft, DraftStatus, DraftType, Publication, Route
from incident.escalation.models import Escalation, EscalationNotice
from incident.extensions import db

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
WIDTH = 320
LONG_TITLE = "観光課の公式アカウントを名乗るなりすましアカウントが偽のキャンペーン情報を投稿している件について" * 2


def _seed(make) -> str:
    """A supervisor with something in every block, and the PR office's table; the PR office's e-mail."""
    dept = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    supervisor = make.user("supervisor", dept)
    responder = make.user("responder", dept)
    admin = make.user("admin", pr)
    case = make.case(supervisor, title=LONG_TITLE, detected_at="2025-04-01T09:00", assignee_id=responder.id)
    db.session.add_all([
        Draft(case_id=case.id, type=DraftType.PRESS, status=DraftStatus.SUBMITTED, route=Route.SUPERVISOR,
              created_by_id=responder.id),
        Draft(case_id=case.id, type=DraftType.TAKEDOWN, status=DraftStatus.SENT, platform="x",
              follow_up_on=dt.date(2025, 4, 2), created_by_id=responder.id),
        Publication(case_id=case.id, kind=DraftType.INTERIM_NOTICE.value, recorded_by_id=responder.id),
    ])
    escalation = Escalation(case_id=case.id, trigger="manual", level=0)
    db.session.add(escalation)
    db.session.flush()
    db.session.add(EscalationNotice(escalation_id=escalation.id, level=0, level_name="pr_office", user_id=admin.id))
    db.session.commit()
    return admin.email


def test_the_home_page_fits_a_320px_phone(app, make, password):
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no system Chromium")
    email = _seed(make)
    app.config["WTF_CSRF_ENABLED"] = True
    db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": WIDTH, "height": 640}, is_mobile=True, has_touch=True)
                page.goto(f"{base}/login")
                page.get_by_label("メールアドレス").fill(email)
                page.get_by_label("パスワード").fill(password)
                page.get_by_role("button", name="ログイン").click()
                page.wait_for_url(f"{base}/")
                assert page.get_by_role("heading", level=1, name="ホーム").is_visible()
                for name in ("自分へのエスカレーション", "期限を過ぎた・今日が期限の手順", "自分の承認を待っている文案",
                             "運営会社の回答を確認する日が来た依頼", "最終の周知がまだの案件", "所属ごとの状況"):
                    assert page.get_by_role("heading", level=2, name=name).count() == 1, name
                assert "（1 件）" in page.locator("#h-escalations").inner_text()
                widths = page.evaluate("() => ({doc: document.documentElement.scrollWidth,"
                                       " body: document.body.scrollWidth, inner: window.innerWidth})")
                assert widths["inner"] == WIDTH and widths["doc"] <= WIDTH and widths["body"] <= WIDTH, widths
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
