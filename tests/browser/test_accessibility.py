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

import io
import re

import flask_babel
import html5lib
import pytest
from PIL import Image

from incident.cases import service as cases
from incident.drafts import service as drafts
from incident.escalation import service as escalation
from incident.evidence.service import add_evidence
from incident.extensions import db
from incident.fakes import service as fakes

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
    make.user("supervisor", kanko, name="観光 課長")
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
    db.session.commit()
    return {"email": admin.email, "password": password, "case": case.id, "draft": draft.id, "fake": fake.id, "account": account.id}


def _pages(city) -> list[str]:
    case, draft = city["case"], city["draft"]
    return [
        "/", "/cases", "/cases/new", f"/cases/{case}", f"/cases/{case}/drafts/{draft}",
        f"/cases/{case}/drafts/{draft}/print", f"/cases/{case}/report", "/queue", "/search?q=偽",
        "/fakes", f"/fakes/{city['fake']}", "/accounts", f"/accounts/{city['account']}", "/public/accounts",
        "/metrics", "/notifications", "/settings", "/admin/users", "/audit", "/admin/outbox", "/no-such-page",
    ]


def _violations(axe, page) -> list[str]:
    found = axe.run(page).response["violations"]
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
    page = new_page(viewport=viewport, is_mobile=phone)
    page.goto(f"{base}/login?lang={lang}")
    problems: dict[str, list[str]] = {}
    found = _violations(axe, page)
    if found:
        problems["/login"] = found
    page.locator("input[name=email]").fill(city["email"])
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("input[name=password]").press("Enter")
    for path in _pages(city):
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == lang, path
        found = _violations(axe, page)
        if phone:
            try:
                no_sideways_scroll(page, viewport["width"])
            except AssertionError as failure:
                found.append(f"scrolls sideways: {failure}")
        if found:
            problems[path] = found
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
    response = client.post("/login", data={"email": city["email"], "password": city["password"]})
    assert response.status_code == 302
    for path in _pages(city):
        response = get(path)
        assert response.status_code == (404 if path == "/no-such-page" else 200), path
        assert f'<html lang="{lang}">' in response.text, path
        problems[path] = html_problems(response.text)
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
