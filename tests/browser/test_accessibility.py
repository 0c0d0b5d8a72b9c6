"""JIS X 8341-3 level AA, checked by tools on every main page: the HTML a browser parses, and axe-core in the
system Chromium.

The HTML check (no browser) parses each page with html5lib, as a browser does, and fails on any parse error
and on what a validator would refuse: a repeated id, a <time> a browser cannot read, a required <select>
without an empty first option, aria-label on an element without a role, a label for nothing, an empty
table header, an unknown element (a translation whose text was taken as markup), a page without a title or
an h1. axe-core comes bundled in the axe-playwright-python package (never fetched at run time). Each page is checked
in Japanese and English at 1280 and 390 px, and in Japanese at 320 px, with a case that has everything a page can show (a long URL,
evidence with its SHA-256, notes, a draft, an escalation, a fake account). A serious or critical violation
fails the test, and so does a page that scrolls sideways on the phone.
"""
from __future__ import annotations

import datetime as dt
import io
import re

import flask_babel
import html5lib
import pytest
from PIL import Image

from incident.cases import retention
from incident.cases import service as cases
from incident.cases.models import CaseStatus
from incident.drafts import service as drafts
from incident.escalation import on_call
from incident.escalation import service as escalation
from incident.evidence.service import add_evidence
from incident.extensions import db
from incident.fakes import service as fakes
from incident.notifications import chat
from incident.reports import disclosure

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 900}
LONG_URL = ("https://www.instagram.com/ishinomaki_city_official_tourism_and_sightseeing_information_account"
            "/p/C0mpletelyUnbrokenPostIdentifierThatNeverEnds1234567890/")
#: What a page may not have (axe-core's impact levels).
BLOCKING = ("serious", "critical")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def city(make, password):
    """The PR office's person and a case with something in every part of its page."""
    pr = make.department("hisho-koho", "秘書広報課")
    kanko = make.department("kanko", "観光課")
    admin = make.user("admin", pr, name="広報 担当")
    responder = make.user("responder", kanko, name="観光 担当")
    supervisor = make.user("supervisor", kanko, name="観光 課長")
    account = make.account(kanko, platform="instagram", name="石巻市観光課（Instagram）", url=LONG_URL)
    case = make.case(responder, kind="impersonation", platform="instagram", title="観光課のなりすましアカウント",
                     description=f"偽アカウントが観光情報を装っています。{LONG_URL}", urls=[LONG_URL],
                     official_account_id=account.id)
    cases.assign(admin, case, responder.id)
    cases.add_note(responder, case, "**確認済み**：プロフィール画像が市のロゴと同じです。\n\n- 投稿 3 件\n- フォロワー 120")
    add_evidence(responder, case, io.BytesIO(_png()), "profile.png", note="偽アカウントのプロフィール")
    draft = drafts.create_draft(responder, case, {"type": "takedown"})
    escalation.escalate(responder, case, "対応方針の相談")
    fake, _created = fakes.record_fake(responder, {"platform": "instagram", "url": "https://www.instagram.com/ishinomaki_kanko_fake"},
                                       case)
    chat.add_channel(supervisor, service="teams", name="観光課 Teams", kinds=["case_opened", "escalation"],
                     url="https://prod-01.japaneast.logic.azure.com/workflows/abc/triggers/manual/paths/invoke",
                     department=kanko)
    on_call.add_shift(supervisor, kanko, user_id=responder.id, starts="2099-12-01T17:15", ends="2099-12-02T08:30")
    ended = make.case(supervisor, kind="flaming", title="終了した炎上の案件")
    cases.change_status(supervisor, ended, CaseStatus.CLOSED, "対応終了", waive_open_steps=True)
    ended.retention_until = dt.date(2020, 3, 31)  # its retention ended: listed for export and redaction
    request = disclosure.open_request(admin, case.id, "R8-情公-0012", dt.date(2026, 11, 25))
    disclosure.add_mask(admin, case, request, "なりすまし", disclosure.grounds()[0], "説明のための例", case.title)
    db.session.commit()
    return {"responder": responder.email, "disclosure": request.id,
            "retention_year": retention.fiscal_year(ended.retention_until), "admin": admin.email, "supervisor": supervisor.email,
            "password": password, "case": case.id, "ended": ended.id,
            "draft": draft.id, "fake": fake.id, "account": account.id, "kanko": kanko.id}


def _pages(city) -> dict[str, list[str]]:
    """The pages each person opens: the responder works the case (every form on its pages), the PR office
    also has the registry and the administration pages."""
    case, draft = city["case"], city["draft"]
    return {
        "responder": [
            "/", "/cases", "/cases/new", f"/cases/{case}", f"/cases/{case}/drafts/{draft}",
            f"/cases/{case}/drafts/{draft}/print", f"/cases/{case}/report", "/queue", "/search?q=偽", "/fakes",
            f"/fakes/{city['fake']}", "/accounts", f"/accounts/{city['account']}", "/metrics", "/notifications",
            "/settings",
        ],
        "admin": ["/", f"/cases/{case}", "/public/accounts", "/admin/users", "/audit", "/admin/outbox",
                  "/notifications/chat", f"/cases/{case}/disclosures", f"/cases/{case}/disclosures/{city['disclosure']}",
                  f"/cases/{case}/disclosures/{city['disclosure']}/print", f"/admin/retention?year={city['retention_year']}",
                  f"/on-call?department={city['kanko']}", "/admin/retention/expired", f"/cases/{city['ended']}/redaction",
                  "/no-such-page"],
    }


def _violations(axe, page) -> list[str]:
    # target-size (WCAG 2.5.8, tap targets of 24 px) is off in axe by default; JIS X 8341-3 users on phones need it.
    found = axe.run(page, options={"rules": {"target-size": {"enabled": True}}}).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} — {node['html'][:160]}"
            for v in found if v["impact"] in BLOCKING for node in v["nodes"]]


@pytest.mark.browser
@pytest.mark.parametrize(("lang", "viewport"), [
    ("ja", DESKTOP), ("ja", PHONE), ("ja", SMALL_PHONE), ("en", DESKTOP), ("en", PHONE),
], ids=["ja-1280px", "ja-390px", "ja-320px", "en-1280px", "en-390px"])
def test_every_main_page_passes_axe_and_fits_the_screen(city, serve, new_page, password, lang, viewport,
                                                         no_sideways_scroll):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    base = serve()
    phone = viewport is not DESKTOP
    problems: dict[str, list[str]] = {}
    for who, paths in _pages(city).items():
        page = new_page(viewport=viewport, is_mobile=phone)  # a context (cookies) of its own
        page.goto(f"{base}/login?lang={lang}")
        found = _violations(axe, page)
        if found:
            problems["/login"] = found
        page.locator("input[name=email]").fill(city[who])
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("input[name=password]").press("Enter")
        for path in paths:
            page.goto(base + path)
            assert page.locator("html").get_attribute("lang") == lang, path
            found = _violations(axe, page)
            if phone:
                try:
                    no_sideways_scroll(page, viewport["width"])
                except AssertionError as failure:
                    found.append(f"scrolls sideways: {failure}")
            if found:
                problems[f"{path} [{who}]"] = found
    assert problems == {}, "\n".join(f"{path}: {line}" for path, lines in problems.items() for line in lines)


# ---- the HTML, as a browser parses it -------------------------------------------------------------------

HTML = "{http://www.w3.org/1999/xhtml}"
KNOWN = frozenset("""html head body title meta link script style noscript base header footer main nav section article aside h1 h2
    h3 h4 h5 h6 hgroup p div span a em strong small s cite q dfn abbr ruby rt rp data time code var samp kbd sub
    sup i b u mark bdi bdo br wbr ins del picture source img iframe embed object video audio track map area
    table caption colgroup col tbody thead tfoot tr td th form label input button select datalist optgroup
    option textarea output progress meter fieldset legend details summary dialog template slot canvas svg math
    ul ol li dl dt dd figure figcaption blockquote pre hr address search""".split())  # noqa: SIM905  (a list of 120 names reads better as words)
#: A valid date, or date and time with at most milliseconds and an optional offset (HTML's <time datetime>).
TIME = re.compile(r"\d{4}-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?)?")
LABELABLE = {"input", "select", "textarea", "button", "meter", "output", "progress"}


def _text(element) -> str:
    return "".join(element.itertext()).strip()


def html_problems(markup: str) -> list[str]:
    """What a validator would refuse in a page (a subset: the mistakes this app can make)."""
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"))
    root = parser.parse(markup)
    problems = [f"parse error {code} {data} at {position}" for position, code, data in parser.errors]
    elements = [e for e in root.iter() if isinstance(e.tag, str) and e.tag.startswith(HTML)]
    tag = {id(e): e.tag[len(HTML):] for e in elements}
    ids: dict[str, str] = {}
    for e in elements:
        name = tag[id(e)]
        if name not in KNOWN:
            problems.append(f"unknown element <{name}> (markup in a text?): {_text(e)[:60]!r}")
        if (ident := e.get("id")) is not None:
            if ident in ids:
                problems.append(f"id {ident!r} repeated (<{ids[ident]}> and <{name}>)")
            ids[ident] = name
        if name == "time" and e.get("datetime") is not None and not TIME.fullmatch(e.get("datetime")):
            problems.append(f"<time datetime={e.get('datetime')!r}> is not a valid date or time")
        if name in ("span", "div") and e.get("aria-label") is not None and e.get("role") is None:
            problems.append(f"aria-label on a <{name}> without a role: {e.get('aria-label')!r}")
        if name == "th" and not _text(e) and not e.get("aria-label"):
            problems.append("an empty table header <th>")
        if name == "select" and e.get("required") is not None and e.get("multiple") is None:
            options = [o for o in e.iter() if o.tag == f"{HTML}option"]
            if not options or options[0].get("value", _text(options[0])) != "":
                problems.append(f"required <select name={e.get('name')!r}> does not start with an empty option")
    for e in elements:
        if tag[id(e)] == "label" and e.get("for") is not None and ids.get(e.get("for")) not in LABELABLE:
            problems.append(f"<label for={e.get('for')!r}> labels no form field")
    for needed in ("title", "h1"):
        if not any(tag[id(e)] == needed and _text(e) for e in elements):
            problems.append(f"no {needed}")
    return problems


def test_the_checker_finds_what_it_looks_for():
    """The checks themselves: each mistake on a small page is named."""
    page = """<!doctype html><html lang="ja"><head><title>t</title></head><body><h1>h</h1>
      <p id="a">x</p><p id="a">y</p><time datetime="2026-11-30T09:00:00.123456+00:00">x</time>
      <select name="kind" required><option value="flaming">炎上</option></select>
      <span aria-label="件数">3</span><table><tr><th></th></tr></table><label for="nothing">x</label>
      <p>Bearer <token>.</p></body></html>"""
    found = "\n".join(html_problems(page))
    for expected in ("id 'a' repeated", "<time datetime=", "required <select name='kind'>",
                     "aria-label on a <span>", "empty table header", "<label for='nothing'>", "unknown element <token>"):
        assert expected in found
    good = """<!doctype html><html lang="ja"><head><title>t</title></head><body><h1>h</h1>
      <time datetime="2026-11-30T09:00:00+09:00">x</time><label for="k">種別</label>
      <select id="k" name="kind" required><option value="">選んでください</option></select></body></html>"""
    assert html_problems(good) == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_main_page_is_valid_html(city, client, lang):
    def get(path: str):
        flask_babel.refresh()  # the test's app context keeps the language it first chose otherwise
        return client.get(path)

    problems = {"/login": html_problems(get(f"/login?lang={lang}").text)}
    for who, paths in _pages(city).items():
        client.post("/logout")
        get(f"/login?lang={lang}")
        response = client.post("/login", data={"email": city[who], "password": city["password"]})
        assert response.status_code == 302
        for path in paths:
            response = get(path)
            assert response.status_code == (404 if path == "/no-such-page" else 200), path
            assert f'<html lang="{lang}">' in response.text, path
            problems[f"{path} [{who}]"] = html_problems(response.text)
    problems = {path: found for path, found in problems.items() if found}
    assert problems == {}, "\n".join(f"{path}: {line}" for path, lines in problems.items() for line in lines)


def test_an_error_page_says_what_went_wrong_in_its_title(client, make, login):
    """A screen reader announces the title first: "404" alone says nothing to most people."""
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert re.search(r"<title>ページが見つかりません（404）", missing.text)
    assert re.search(r"<h1>ページが見つかりません", missing.text)
    flask_babel.refresh()  # the test's app context keeps the first request's language otherwise
    english = client.get("/no-such-page?lang=en")
    assert re.search(r"<title>Page not found \(404\)", english.text)


FOCUS_RING = """() => {
  const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const behind = (el) => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const el = document.activeElement, style = getComputedStyle(el);
  return {what: `${el.tagName.toLowerCase()} ${(el.textContent || el.name || el.id || "").trim().slice(0, 30)}`,
          style: style.outlineStyle, width: parseFloat(style.outlineWidth),
          ratio: contrast(rgb(style.outlineColor), behind(el))};
}"""


@pytest.mark.browser
def test_the_focus_ring_stands_out_from_every_background(city, serve, new_page, log_in):
    """Tabbing through home and a case page, every focused control shows an outline at least 2 px wide whose
    colour has 3:1 against what is behind it (the dark header included)."""
    base = serve()
    page = new_page()
    log_in(page, base, city["responder"])
    weak = []
    for path in ("/", f"/cases/{city['case']}"):
        page.goto(base + path)
        seen = 0
        for _ in range(60):
            page.keyboard.press("Tab")
            ring = page.evaluate(FOCUS_RING)
            if ring["what"].startswith("body"):
                break
            seen += 1
            if ring["style"] == "none" or ring["width"] < 2 or ring["ratio"] < 3:
                weak.append(f"{path} {ring}")
        assert seen >= 20, path
    assert weak == []


# ---- messages where the user acts ------------------------------------------------------------------------


def test_a_refused_form_puts_an_error_summary_first_and_says_so_in_the_title(city, client, make):
    """A note or a new case that cannot be saved: the page title starts 「入力エラー：」 and an alert at the top
    links to each field in error (by the id the field really has)."""
    responder = client.post("/login", data={"email": city["responder"], "password": city["password"]})
    assert responder.status_code == 302
    refused = client.post(f"/cases/{city['case']}/notes", data={"body": "   "})
    assert refused.status_code == 422
    assert re.search(r"<title>入力エラー：", refused.text)
    summary = re.search(r'<div class="error-summary" id="error-summary" role="alert" tabindex="-1".*?</div>',
                        refused.text, re.S)
    assert summary is not None
    links = re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', summary.group(0))
    assert [target for target, _text in links] == ["body"] and "入力してください" in links[0][1]
    [field] = [tag for tag in re.findall(r"<textarea[^>]*>", refused.text) if 'id="body"' in tag]
    assert 'aria-invalid="true"' in field
    assert refused.text.index("error-summary") < refused.text.index('id="h-notes"')
    new_case = client.post("/cases/new", data={"title": "", "kind": ""})
    assert new_case.status_code == 422 and re.search(r"<title>入力エラー：", new_case.text)
    targets = re.findall(r'<li><a href="#([\w-]+)">', new_case.text)
    assert {"title", "kind"} <= set(targets)
    for target in targets:
        assert f'id="{target}"' in new_case.text
    # A page without errors has neither.
    fine = client.get(f"/cases/{city['case']}")
    assert "入力エラー" not in fine.text and "error-summary" not in fine.text


@pytest.mark.browser
def test_the_user_is_taken_to_the_error_and_to_the_note_they_added(city, serve, new_page, log_in):
    base = serve()
    page = new_page(viewport=PHONE, is_mobile=True)
    log_in(page, base, city["responder"])
    page.goto(f"{base}/cases/{city['case']}")
    page.locator("form.add-note button[type=submit]").click()
    page.wait_for_load_state()
    focused = page.evaluate("document.activeElement.id")
    assert focused == "error-summary"
    assert page.locator("#error-summary").is_visible() and page.title().startswith("入力エラー：")
    page.locator("#error-summary a").first.click()
    assert page.evaluate("document.activeElement.id") == "body"
    page.locator("#body").fill("電話で確認した。")
    page.locator("form.add-note button[type=submit]").click()
    page.wait_for_load_state()
    added = page.locator("[data-just-added]")
    assert added.evaluate("node => node === document.activeElement")
    status = added.get_by_role("status")
    assert status.inner_text() == "メモを追加しました。" and status.is_visible()
    assert "電話で確認した。" in added.inner_text()
    top = added.evaluate("node => node.getBoundingClientRect().top")
    assert 0 <= top < PHONE["height"]  # on screen, where the user is looking


def test_a_draft_step_offers_no_button_that_would_always_fail(city, client):
    """A step only its draft completes (the takedown request) links to the drafts instead; a step a person
    completes keeps its form. Repeated controls are told apart by the step they belong to."""
    client.post("/login", data={"email": city["responder"], "password": city["password"]})
    page = client.get(f"/cases/{city['case']}").text
    steps = f"/cases/{city['case']}/steps"
    assert f'action="{steps}/takedown_request/complete"' not in page
    assert f'action="{steps}/record_fake_account/complete"' in page
    takedown = page[page.index('id="step-takedown_request"'):]
    assert "自動で完了します" in takedown[:3000] and 'href="#drafts"' in takedown[:3000]
    names = re.findall(r'<summary>記録する<span class="visually-hidden">：([^<]+)</span></summary>', page)
    assert len(names) == len(set(names)) >= 3


# ---- the keyboard alone ------------------------------------------------------------------------------------


def _tab_to(page, test: str, limit: int) -> int:
    """Press Tab until the focused element passes `test` (JavaScript taking the element); how many presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {test})(document.activeElement)"):
            return presses
    raise AssertionError(f"{test} not reached in {limit} presses of Tab")


@pytest.mark.browser
def test_a_responder_works_a_case_with_the_keyboard_alone(city, serve, new_page, password):
    """Log in, open the case from home, add a note and complete a step, pressing keys only."""
    base = serve()
    page = new_page()
    page.goto(f"{base}/login")
    _tab_to(page, "el.name === 'email'", 10)
    page.keyboard.type(city["responder"])
    _tab_to(page, "el.name === 'password'", 3)
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/"
    _tab_to(page, "el.tagName === 'A' && el.textContent.includes('観光課のなりすましアカウント')", 80)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/cases/{city['case']}"
    # The note field in a few keys from the top of the page: the second skip link (it was 46 Tab presses).
    presses = _tab_to(page, "el.getAttribute('href') === '#body'", 9)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "body" and presses + 1 < 10
    page.keyboard.type("キーボードだけで記録した。")
    _tab_to(page, "el.type === 'submit'", 3)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    added = page.locator("[data-just-added]")
    assert added.evaluate("node => node === document.activeElement")
    assert "キーボードだけで記録した。" in added.inner_text()
    # The genuine account's step, with the official account's URL.
    _tab_to(page, "el.tagName === 'SUMMARY' && el.textContent.includes('記録する') "
                  "&& el.closest('#step-link_genuine_account') !== null", 200)
    page.keyboard.press("Enter")  # opens the step's form
    _tab_to(page, "el.id === 'url-link_genuine_account'", 3)
    page.keyboard.press("Control+A")
    page.keyboard.type(LONG_URL)
    _tab_to(page, "el.type === 'submit'", 3)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    step = page.locator("#step-link_genuine_account")
    assert "state-done" in step.get_attribute("class")
    # The result is said at the step, which has the focus, not at the top of the page.
    result = step.locator("[data-just-added]")
    assert result.evaluate("node => node === document.activeElement") and "記録しました" in result.inner_text()
    assert result.evaluate("node => { const r = node.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")


@pytest.mark.browser
def test_the_phone_header_folds_its_menu_and_keeps_the_unread_count(city, serve, new_page, log_in):
    """At 390 px the navigation folds behind one button; the unread count (the escalation told the supervisor)
    stays in sight; the button opens the menu and Escape closes it again, back on the button."""
    base = serve()
    page = new_page(viewport=PHONE, is_mobile=True)
    log_in(page, base, city["supervisor"])
    header = page.locator("header.top")
    assert header.bounding_box()["height"] < 140  # it took four lines with every link showing
    assert page.locator("#main-nav").is_hidden()
    unread = page.locator(".menu-bar .count")
    assert unread.is_visible() and re.fullmatch(r"[1-9]\d*\s+未読 [1-9]\d* 件", unread.inner_text().strip())
    toggle = page.get_by_role("button", name="メニュー")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true" and page.locator("#main-nav").is_visible()
    assert page.evaluate("document.activeElement.textContent.trim()") == "ホーム"
    page.keyboard.press("Escape")
    assert page.locator("#main-nav").is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('menu-toggle')")
    # On a wide screen there is no button: every link shows.
    wide = new_page()
    log_in(wide, base, city["supervisor"])
    assert wide.locator(".menu-toggle").is_hidden() and wide.locator("#main-nav").is_visible()
