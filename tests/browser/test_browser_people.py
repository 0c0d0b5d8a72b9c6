"""The PR office's people pages and the MFA set-up page in Chromium: on a 320 px phone nothing scrolls
sideways (long addresses, department names and file names wrap), and the QR code the app draws is shown
under the Content Security Policy."""
from __future__ import annotations

import pytest

from incident.auth import reshuffle, tokens
from incident.extensions import db

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 700}
LONG_EMAIL = "kyouikuiinkaihakubutsukangakugeiinrenrakutantou@ishinomakicitymuseum.example.jp"  # no hyphen to break at


def _seed(make) -> tuple[str, dict[str, int]]:
    """The PR office, a department with a long name, a person with a long address, their token, and a
    reshuffle plan moving them."""
    office = make.department("hisho-koho", "総務部 秘書広報課")
    museum = make.department("hakubutsukan", "教育委員会事務局 生涯学習課 石巻市博物館（マルホンまきあーとテラス）")
    admin = make.user("admin", office, name="広報 花子")
    person = make.user("responder", museum, name="博物 学芸員", email=LONG_EMAIL)
    tokens.create_token(person, "展示案内の集計用（毎朝の件数を取り込む）", read_only=True)
    data = ("メールアドレス,所属,役割\r\n"
            f"{LONG_EMAIL},hisho-koho,担当者\r\n").encode()
    plan = reshuffle.upload(admin, data, "2027年4月1日付_人事異動_教育委員会_最終版_確定.csv")
    db.session.commit()
    return admin.email, {"person": person.id, "museum": museum.id, "plan": plan.id}


def test_the_people_pages_fit_a_320px_phone(make, serve, new_page, log_in, no_sideways_scroll):
    email, ids = _seed(make)
    base = serve()
    page = new_page(viewport=NARROW, is_mobile=True, has_touch=True)
    log_in(page, base, email)
    person = ids["person"]
    for path in ("/admin/users", f"/admin/users/{person}", f"/admin/users/{person}/deactivate",
                 f"/admin/users/{person}/password", "/admin/departments", f"/admin/departments/{ids['museum']}",
                 "/admin/tokens", "/admin/reshuffles", f"/admin/reshuffles/{ids['plan']}", "/admin/postings",
                 "/admin/logins", "/admin/users/new", "/settings"):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        no_sideways_scroll(page, NARROW["width"])
    # The long address is on the pages that name the person, wrapped rather than cut.
    page.goto(f"{base}/admin/tokens")
    assert LONG_EMAIL in page.locator("main").inner_text()


def test_the_qr_code_is_drawn_under_the_content_security_policy(make, serve, new_page, log_in, no_sideways_scroll):
    email = make.user("responder", make.department(), name="石巻 花子").email
    db.session.commit()
    base = serve()
    page = new_page(viewport=NARROW, is_mobile=True)
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
            else None)
    log_in(page, base, email)
    page.goto(f"{base}/settings/mfa")
    qr = page.locator("img[src^='data:image/svg+xml']")
    assert qr.count() == 1 and qr.get_attribute("alt")
    size = qr.evaluate("img => img.complete ? [img.naturalWidth, img.getBoundingClientRect().width] : null")
    assert size is not None and size[0] > 0 and size[1] >= 120, size  # decoded and big enough to scan
    assert blocked == []
    no_sideways_scroll(page, NARROW["width"])
