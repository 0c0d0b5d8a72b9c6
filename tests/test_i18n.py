"""The English catalog: complete, consistent with the source, and actually used by the pages.

The msgids are the Japanese UI text; English is chosen per user (User.locale) or, on the login
page, with ?lang=en. A string added to the source without an English translation fails here;
`make extract-messages` merges it into the catalog, ready to translate.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from incident.extensions import db

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "incident" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}

# A %-style placeholder: %(name)d, %s, %%, ...
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
GUIDELINE_SECTION = re.compile(r"\d+\(\d+\)[\u30a2-\u30f3]?(?:\([\u30a2-\u30f3]\))?")


def _read_catalog() -> Catalog:
    with PO.open("rb") as fh:
        return read_po(fh, locale="en")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return _read_catalog()


@pytest.fixture(scope="session")
def compiled_catalog() -> Path:
    """The .mo the app loads: compiled here when missing or older than the .po (`make test` runs
    `make translations` first; this keeps a bare `pytest` run honest too)."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        catalog = _read_catalog()
        tmp = MO.with_name(MO.name + ".tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(MO)
        # Flask-Babel caches loaded catalogs on the (process-wide) Babel object; an earlier test
        # may have cached the English catalog from before it was compiled.
        from incident.extensions import babel

        domain = vars(babel).get("domain_instance")  # a cached_property: absent until first used
        if domain is not None:
            domain.cache.clear()
    return MO


def _messages(catalog: Catalog):
    return [message for message in catalog if message.id]


def _strings(message) -> tuple[str, ...]:
    """A message's translation(s): a tuple for plural messages."""
    return message.string if isinstance(message.string, tuple) else (message.string or "",)


# -- the catalog file ------------------------------------------------------------------------------

def test_every_message_is_translated_and_not_fuzzy(catalog):
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    untranslated = [m.id for m in _messages(catalog) if not all(_strings(m))]
    fuzzy = [m.id for m in _messages(catalog) if m.fuzzy]
    assert untranslated == [], f"untranslated: {untranslated}"
    assert fuzzy == [], f"fuzzy: {fuzzy}"


def test_translations_are_english(catalog):
    # Guideline sections such as 3(1)ウ or 3(4)ア(イ) are kept as is, to be looked up in the document.
    still_japanese = [(m.id, string) for m in _messages(catalog) for string in _strings(m)
                      if JAPANESE.search(GUIDELINE_SECTION.sub("", string))]
    assert still_japanese == []


def test_placeholders_match(catalog):
    mismatched = []
    for m in _messages(catalog):
        for string in _strings(m):
            if sorted(PLACEHOLDER.findall(m.id)) != sorted(PLACEHOLDER.findall(string)):
                mismatched.append((m.id, string))
    assert mismatched == []
    # Babel's own checks (python-format placeholders and types).
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == []


def test_python_format_flag_follows_placeholders(catalog):
    for m in _messages(catalog):
        if re.search(r"%\(\w+\)", m.id):
            assert m.python_format, m.id


def test_catalog_has_every_string_in_the_source(catalog):
    """Re-extract from incident/**.py and templates/**.html: every msgid must be in the catalog."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    extracted: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            extracted.setdefault(msgid, f"{filename}:{lineno}")
    files = {where.split(":")[0] for where in extracted.values()}
    # The extraction itself works: Python (including _l("...%(max)d...", max=...)) and templates.
    assert any(f.startswith("incident/") and f.endswith(".py") for f in files)
    assert any(f.startswith("templates/") and f.endswith(".html") for f in files)
    assert "炎上" in extracted and "%(max)d 文字以内で入力してください。" in extracted
    assert "案件一覧" in extracted

    known = {m.id[0] if isinstance(m.id, tuple) else m.id for m in _messages(catalog)}
    missing = sorted(f"{where}: {msgid}" for msgid, where in extracted.items() if msgid not in known)
    assert missing == [], "not in the English catalog (run `make extract-messages` and translate):\n" + \
        "\n".join(missing)


# -- the pages -------------------------------------------------------------------------------------

@pytest.fixture
def browse(compiled_catalog, app, client):
    """Send a test-client request in its own app context, as a server does. The `app` fixture keeps
    one context pushed for the whole test, so without this `g` (where Flask-Babel caches the
    request's locale) would carry over from one request, or a factory call, to the next."""

    def request(method: str, url: str, **kwargs):
        # End the test's own transaction first: outside a request it is BEGIN IMMEDIATE on SQLite
        # (incident.database), and would hold the write lock against the request's session.
        db.session.commit()
        with app.app_context():
            return client.open(url, method=method, **kwargs)

    return request


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_user_with_english_sees_english(browse, make, login):
    user = make.user(locale="en")
    make.case(actor=user, title="Broken link")
    login(user)
    html = _html(browse("GET", "/cases"))
    assert '<html lang="en">' in html
    for text in ("Cases", "New case", "Official accounts", "Log out", "Flaming", "Medium", "Responder",
                 "Social Media Incident Response", "Filter"):
        assert text in html, text
    for text in ("案件一覧", "案件を登録", "ログアウト", "炎上", "絞り込む", "担当者"):
        assert text not in html, text

    case_page = _html(browse("GET", "/cases/1"))
    for text in ("Summary", "Detected at", "Notes", "Timeline", "New case"):
        assert text in case_page, text
    assert "覚知日時" not in case_page and "メモ" not in case_page


def test_default_user_sees_japanese(browse, make, login):
    user = make.user()
    make.case(actor=user)
    login(user)
    html = _html(browse("GET", "/cases"))
    assert '<html lang="ja">' in html
    assert "案件一覧" in html and "炎上" in html and "ログアウト" in html
    assert ">Cases<" not in html and "Flaming" not in html


def test_login_page_in_english_with_lang_parameter(browse):
    english_page = _html(browse("GET", "/login?lang=en"))
    assert '<html lang="en">' in english_page
    for text in ("Log in", "Email address", "Password", "Keep me logged in"):
        assert text in english_page, text
    assert "メールアドレス" not in english_page and "ログイン" not in english_page

    # The choice stays with this browser until it signs in (the pages before: the MFA code, a reset link)...
    assert '<html lang="en">' in _html(browse("GET", "/login"))
    # ...until Japanese is chosen.
    japanese_page = _html(browse("GET", "/login?lang=ja"))
    assert '<html lang="ja">' in japanese_page
    assert "メールアドレス" in japanese_page and "Email address" not in japanese_page
    assert '<html lang="ja">' in _html(browse("GET", "/login"))


def test_failed_login_message_in_english(browse, make):
    user = make.user()
    html = _html(browse("POST", "/login?lang=en", data={"email": user.email, "password": "wrong-password"}))
    assert "Incorrect email address or password." in html


def test_changing_language_in_settings_switches_the_ui(browse, make, login):
    user = make.user()
    login(user)
    assert "案件一覧" in _html(browse("GET", "/cases"))

    response = browse("POST", "/settings", data={"lang-locale": "en"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.locale == "en"
    settings_page = _html(browse("GET", response.headers["Location"]))
    assert "Display language changed." in settings_page
    assert "Settings" in settings_page and "設定" not in settings_page
    cases_page = _html(browse("GET", "/cases"))
    assert ">Cases<" in cases_page and "案件一覧" not in cases_page

    response = browse("POST", "/settings", data={"lang-locale": "ja"})
    assert response.status_code == 302
    settings_page = _html(browse("GET", response.headers["Location"]))
    assert "表示言語を変更しました。" in settings_page and "Settings" not in settings_page
    assert "案件一覧" in _html(browse("GET", "/cases"))


def test_validation_messages_in_english(browse, make, login):
    user = make.user(locale="en")
    login(user)
    response = browse("POST", "/cases/new", data={"kind": "flaming", "severity": "medium", "title": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html
    assert "入力してください。" not in html
