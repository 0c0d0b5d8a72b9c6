"""Outgoing texts right by construction (issue 12): a text holds exactly the words that go out (no staff memo
lines: the platform's route and notes are a side panel of the draft page), its facts come from the case
(every offending account the case holds, first seen when the city first observed it), its dates are
written the way its type needs (令和 for letters, the Western calendar for posts), the print page says
「未承認」 on paper until approval, and the city's own former account gets its own takedown wording."""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import types
from pathlib import Path

import pytest
from sqlalchemy import select

from incident.accounts.models import AccountStatus, FakeAccount
from incident.audit.models import AuditLog
from incident.cases import service as cases
from incident.dates import era_date, utcnow
from incident.drafts import sending, service
from incident.drafts.blanks import find_blanks
from incident.drafts.context import english_date, first_seen, japanese_date
from incident.drafts.models import Draft, DraftType, Publication
from incident.extensions import db
from incident.fakes import service as fakes
from incident.playbooks.loader import KINDS

CHECKS = list(service.SECTION4_CHECKS)
JST = dt.timezone(dt.timedelta(hours=9))
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/bousai/notice.html"
FAKE_URL = "https://x.com/ishinomaki_fake"
FAKE_BLANK = "［偽アカウントの"
#: Types that are letters or forms: they go out on paper or through a form, with no posting channel.
LETTERS = ("takedown", "press")


@pytest.fixture
def staff(make):
    """防災課 (two responders and their supervisor, with a contact number) and another department."""
    dept = make.department("bousai", "防災課")
    dept.contact = "0225-95-1111"
    other = make.department("kanko", "観光課")
    db.session.commit()
    return types.SimpleNamespace(
        dept=dept,
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        outsider=make.user("responder", other, name="観光 担当"),
    )


def create(actor, case, **data) -> Draft:
    draft = service.create_draft(actor, case, data)
    db.session.commit()
    return draft


def body(draft: Draft) -> str:
    return service.latest_revision(draft).body


def approved(staff, draft: Draft) -> Draft:
    """Fill every blank (a new revision), submit and approve, as staff do."""
    text = body(draft)
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    if text != body(draft):
        service.revise(staff.responder, draft, text)
    service.submit(staff.responder, draft, CHECKS)
    service.approve(staff.supervisor, draft)
    db.session.commit()
    return draft


def ago(**delta) -> dt.datetime:
    return (utcnow() - dt.timedelta(**delta)).replace(microsecond=0)


def full_case(staff, make, kind: str):
    """A case of `kind` holding everything a template may name: the genuine account, a known fake, an
    offending post, another platform's account and a @handle."""
    account = make.account(staff.dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_city")
    case = make.case(staff.responder, kind=kind, severity="high", title="事実の確認", platform="x",
                     official_account_id=account.id, detected_at=ago(days=2).isoformat(),
                     urls=["https://x.com/ishinomaki_clty/status/1", "https://www.facebook.com/ishinomaki.fake",
                           "@ishinomaki_bot"])
    if kind != "account_takeover":
        fakes.record_fake(staff.responder, {"platform": "x", "url": "https://x.com/ishinomaki_clty",
                                            "display_name": "石巻市防災【公式】"}, case)
        db.session.commit()
    return case


# --- no staff memo lines: the text is exactly what goes out ------------------------------------------------


def test_no_template_has_a_staff_memo_line(app):
    """No template writes a ※ line: the guidance lives in the draft page's side panel."""
    wording = app.extensions["wording"]
    for (draft_type, platform, lang), template in wording.templates.items():
        source = Path(template.filename).read_text(encoding="utf-8")
        assert not re.search(r"^[ \u3000]*※", source, flags=re.M), (draft_type, platform, lang)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("draft_type", [t.value for t in DraftType])
def test_every_generated_text_is_free_of_memo_lines(staff, make, kind, draft_type):
    """Every type, for every kind of case, full of facts: no line of the generated text is a ※ memo, and the
    takedown's route and notes from platforms.toml are not in it."""
    case = full_case(staff, make, kind)
    for lang in service.wording().languages(draft_type):
        text = body(create(staff.responder, case, type=draft_type, lang=lang, link=CITY_PAGE))
        memo = [line for line in text.splitlines() if line.lstrip(" \u3000").startswith("※")]
        assert memo == [], (draft_type, lang, memo)
        assert "{{" not in text and "{%" not in text
        facts = service.wording().platforms["x"]
        for guidance in (facts.route_ja, facts.route_en, facts.notes_ja, facts.notes_en):
            assert guidance not in text


@pytest.mark.parametrize(("draft_type", "lang"), [("takedown", "ja"), ("takedown", "en"), ("press", "ja")])
def test_what_is_copied_saved_printed_and_recorded_is_the_approved_text(staff, make, client, login, draft_type,
                                                                       lang):
    """The clipboard's source on the page, the .txt, the print page and the ledger's revision all hold exactly
    the approved revision's words."""
    case = full_case(staff, make, "impersonation")
    draft = approved(staff, create(staff.responder, case, type=draft_type, lang=lang))
    approved_text = next(r.body for r in draft.revisions if r.id == draft.approved_revision_id)
    login(staff.responder)
    base = f"/cases/{case.id}/drafts/{draft.id}"
    page = client.get(base).text
    copied = re.search(r'<pre class="plain draft-body" id="draft-body"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert html.unescape(re.sub(r"</?mark[^>]*>", "", copied)) == approved_text
    assert 'data-copy="#draft-body"' in page
    assert client.get(f"{base}/export.txt").text == approved_text
    printed = re.findall(r'<pre class="plain draft-body">(.*?)</pre>', client.get(f"{base}/print").text, re.S)
    assert [html.unescape(p) for p in printed] == [approved_text]
    publication = sending.record_sent(staff.responder, draft, {"channel": "form" if draft_type == "takedown"
                                                               else "press"})
    db.session.commit()
    assert db.session.get(type(draft.revisions[0]), publication.revision_id).body == approved_text
    assert not any(line.startswith("※") for line in approved_text.splitlines())


def test_the_side_panel_carries_the_platform_guidance(staff, make, client, login, app):
    """The takedown page shows where to send it (route, form link, notes, the form's asks) beside the text,
    marked as staff guidance; the text itself has none of it."""
    words = service.wording()
    words.platforms["x"] = dataclasses.replace(words.platforms["x"], form_url="https://help.x.com/forms/impersonation")
    case = full_case(staff, make, "impersonation")
    draft = create(staff.responder, case, type="takedown")
    login(staff.responder)
    page = client.get(f"/cases/{case.id}/drafts/{draft.id}").text
    aside = re.search(r'<aside class="card guidance" id="platform".*?</aside>', page, re.S).group(0)
    facts = words.platforms["x"]
    assert html.escape(facts.route_ja, quote=False) in html.unescape(aside) or facts.route_ja in html.unescape(aside)
    assert facts.notes_ja in html.unescape(aside)
    assert 'href="https://help.x.com/forms/impersonation"' in aside
    assert "本文（コピー・保存・印刷・公開の記録）には含まれません" in aside
    assert "requirements" in aside  # the form's checklist against the case
    assert page.index('id="platform"') < page.index('id="draft-body"')
    assert facts.route_ja not in body(draft) and "help.x.com" not in body(draft)


def test_notices_have_no_platform_panel(staff, make, client, login):
    """A notice is posted by the city itself: no takedown route is shown beside it."""
    case = full_case(staff, make, "impersonation")
    draft = create(staff.responder, case, type="citizen_warning")
    login(staff.responder)
    page = client.get(f"/cases/{case.id}/drafts/{draft.id}").text
    assert 'id="platform"' not in page and service.wording().platforms["x"].route_ja not in page


# --- the facts come from the case ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_case_opened_with_a_fake_url_names_it_in_the_takedown(staff, make, lang):
    """urls=["https://x.com/…_fake"] at opening: the takedown names the URL and the @handle, with no blank
    asking for the fake, and no blank for a display name nobody knows."""
    case = make.case(staff.responder, kind="impersonation", platform="x", title="偽アカウント",
                     urls=[FAKE_URL])
    text = body(create(staff.responder, case, type="takedown", lang=lang))
    assert FAKE_URL in text and "@ishinomaki_fake" in text
    assert FAKE_BLANK not in text and "[@handle" not in text
    assert "表示名" not in text and "display name" not in text
    assert not [b for b in find_blanks(text) if "偽アカウント" in b.text or "handle" in b.text]


def test_press_and_warning_name_the_case_url_too(staff, make):
    """The press notice and the citizens' warning list the same account, not a blank."""
    case = make.case(staff.responder, kind="impersonation", platform="x", urls=[FAKE_URL])
    press = body(create(staff.responder, case, type="press"))
    # Posted on X, the warning's long text is its website rendition (the post is the short one).
    warning = service.latest_revision(create(staff.responder, case, type="citizen_warning")).web_body
    assert "@ishinomaki_fake" in press and FAKE_URL in press and FAKE_BLANK not in press
    assert "@ishinomaki_fake" in warning and "x．com/ishinomaki_fake" in warning and FAKE_URL not in warning
    assert "［サービス名・@ハンドル・表示名を記入］" not in warning


def test_only_a_case_holding_nothing_keeps_the_blank(staff, make):
    """With no fake, no URL and no handle, the takedown asks staff to write the account in (and the blank
    stops it from being submitted)."""
    case = make.case(staff.responder, kind="impersonation", platform="x")
    draft = create(staff.responder, case, type="takedown")
    assert any(b.text.startswith(FAKE_BLANK) for b in find_blanks(body(draft)))


def test_takedown_targets_are_the_platforms_accounts_once_each(staff, make):
    """A request to X names the X fake (with its display name) once even when the case also holds its URL,
    the X post and the case's @handle; the Facebook account goes to Facebook's request; "other" takes all.
    The city's own account is never named as an offender."""
    case = full_case(staff, make, "impersonation")
    cases.add_offending_item(staff.responder, case, "https://x.com/ishinomaki_clty")  # the fake's own URL
    cases.add_offending_item(staff.responder, case, "https://x.com/ishinomaki_city")  # the genuine account
    db.session.commit()
    to_x = body(create(staff.responder, case, type="takedown", platform="x"))
    listed = to_x[to_x.index("1　なりすまし"):to_x.index("2　本市の正規")]
    assert listed.count("https://x.com/ishinomaki_clty\n") == 1 and "石巻市防災【公式】" in listed
    assert "https://x.com/ishinomaki_clty/status/1" in listed and "@ishinomaki_bot" in listed
    assert "facebook.com" not in listed and "ishinomaki_city" not in listed
    assert "なりすましアカウント・投稿" in listed  # a post is named as a post, not only accounts
    to_facebook = body(create(staff.responder, case, type="takedown", platform="facebook"))
    listed = to_facebook[to_facebook.index("1　なりすまし"):to_facebook.index("2　本市の正規")]
    assert "https://www.facebook.com/ishinomaki.fake" in listed and "x.com" not in listed
    to_other = body(create(staff.responder, case, type="takedown", platform="other"))
    listed = to_other[to_other.index("1　なりすまし"):to_other.index("2　本市の正規")]
    assert "facebook.com/ishinomaki.fake" in listed and "x.com/ishinomaki_clty" in listed


def test_twitter_com_and_youtu_be_belong_to_their_platforms(staff, make):
    """Hosts are read as the platform they are (twitter.com is X, youtu.be is YouTube)."""
    case = make.case(staff.responder, kind="impersonation", platform="youtube",
                     urls=["https://twitter.com/old_fake", "https://youtu.be/abc123", "https://m.youtube.com/@fakech"])
    to_x = body(create(staff.responder, case, type="takedown", platform="x"))
    to_youtube = body(create(staff.responder, case, type="takedown", platform="youtube"))
    assert "twitter.com/old_fake" in to_x and "youtu" not in to_x.split("2　本市の正規")[0]
    assert "youtu.be/abc123" in to_youtube and "@fakech" in to_youtube and "old_fake" not in to_youtube


# --- first seen: when the city observed it ----------------------------------------------------------------


def test_first_seen_is_the_earliest_observation():
    """The one definition: the earliest of the times given; nothing observed is None."""
    early, late = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert first_seen(late, None, early) == early
    assert first_seen(None) is None


def test_items_given_at_opening_were_captured_at_detection(staff, make):
    """URLs typed in when opening a case were seen when it was detected, not when they were typed."""
    detected = ago(days=3)
    case = make.case(staff.responder, kind="impersonation", detected_at=detected.isoformat(), urls=[FAKE_URL])
    assert [i.captured_at for i in case.offending_items] == [detected]


def test_linking_moves_a_fakes_first_seen_back_to_the_detection(staff, make):
    """A fake typed in today for a case detected three days ago was first seen three days ago; a fake seen
    before the case keeps its earlier time. The change is in the audit log."""
    detected = ago(days=3)
    case = make.case(staff.responder, kind="impersonation", detected_at=detected.isoformat())
    fake, _ = fakes.record_fake(staff.responder, {"platform": "x", "url": FAKE_URL}, case)
    db.session.commit()
    assert fake.first_seen_at == detected
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "fake_account.link")).one()
    assert "first_seen_at" in row.changes
    older = make.case(staff.responder, kind="impersonation", detected_at=ago(days=1).isoformat())
    fakes.link_case(staff.responder, fake, older)
    db.session.commit()
    assert db.session.get(FakeAccount, fake.id).first_seen_at == detected  # never moves later


def test_press_and_takedown_give_the_same_first_seen_date(staff, make):
    """A case detected 3 days before it was opened, with one fake URL: both texts date the sighting to the
    detection, in 令和, and neither dates it to today."""
    detected = ago(days=3)
    case = make.case(staff.responder, kind="impersonation", platform="x", detected_at=detected.isoformat(),
                     urls=[FAKE_URL])
    takedown = body(create(staff.responder, case, type="takedown"))
    press = body(create(staff.responder, case, type="press"))
    day = era_date(detected)
    assert day in takedown and day in press
    sighting = takedown[takedown.index("本市が最初に確認した日時"):].splitlines()[0]
    assert day in sighting and era_date(utcnow()) not in sighting
    assert f"{day}に確認しました" in press


def test_a_fakes_first_seen_is_its_earliest_item(staff, make):
    """An item naming the fake that was captured before the fake was recorded dates its first sighting."""
    case = make.case(staff.responder, kind="impersonation", platform="x")
    fake, _ = fakes.record_fake(staff.responder, {"platform": "x", "url": FAKE_URL}, case)
    captured = ago(days=5)
    cases.add_offending_item(staff.responder, case, "@ishinomaki_fake", captured_at=captured)
    db.session.commit()
    text = body(create(staff.responder, case, type="takedown"))
    assert fake.first_seen_at > captured
    assert era_date(captured) in text and text.count("本市が最初に確認した日時") == 1


# --- dates written the way the type needs ---------------------------------------------------------------


def test_letters_use_reiwa_and_posts_the_western_calendar(staff, make):
    """types.toml: takedowns and press notices are dated 令和8年…; notices posted on SNS 2026年…; an English
    takedown in English."""
    case = full_case(staff, make, "impersonation")
    now = utcnow()
    western, reiwa = japanese_date(now), era_date(now)
    for draft_type in LETTERS:
        text = body(create(staff.responder, case, type=draft_type))
        assert reiwa in text and western not in text, draft_type
    for draft_type in ("interim_notice", "citizen_warning", "correct_info"):
        text = body(create(staff.responder, case, type=draft_type, link=CITY_PAGE, channel="website"))
        assert western in text and "令和" not in text, draft_type
    english = body(create(staff.responder, case, type="takedown", lang="en"))
    assert english_date(now) in english and "令和" not in english and "年" not in english.split("4. Evidence")[0]


def test_a_changed_date_style_applies_to_new_drafts(app, staff, make, tmp_path):
    """The PR office switches the press notice to the Western calendar in types.toml: the next one uses it."""
    import shutil

    from incident.drafts.wording import load_wording

    folder = tmp_path / "playbooks"
    shutil.copytree(app.config["PLAYBOOK_DIR"], folder)
    path = folder / "drafts" / "types.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('[press]           # 報道機関への情報提供\n'
                                                             'date_style = "reiwa"',
                                                             '[press]\ndate_style = "western"'), encoding="utf-8")
    app.extensions["wording"] = load_wording(folder)
    case = full_case(staff, make, "impersonation")
    text = body(create(staff.responder, case, type="press"))
    assert japanese_date(utcnow()) in text and "令和" not in text


# --- the city's own former account ----------------------------------------------------------------------


@pytest.fixture
def dormant(staff, make):
    """A closed former account of the city still online, and a case about it."""
    account = make.account(staff.dept, platform="x", name="石巻市観光（旧）", url="https://x.com/ishinomaki_old")
    account.status = AccountStatus.CLOSED
    account.closed_at = dt.datetime(2025, 3, 31, 3, 0, tzinfo=dt.UTC)
    db.session.commit()
    case = make.case(staff.responder, kind="dormant_account", platform="x", official_account_id=account.id,
                     title="旧アカウントが使われている", urls=["https://x.com/ishinomaki_old"])
    return types.SimpleNamespace(account=account, case=case)


def test_dormant_takedown_asks_to_delete_the_citys_former_account(staff, dormant):
    """The request names the registry's account (name, URL, handle, the day it was closed in 令和), says the
    city no longer operates it and cannot log in, and never calls it impersonation."""
    text = body(create(staff.responder, dormant.case, type="takedown"))
    assert "石巻市観光（旧）" in text and "https://x.com/ishinomaki_old" in text and "@ishinomaki_old" in text
    assert "令和7年3月31日" in text and "運用しておらず" in text and "ログイン" in text
    assert "なりすまし" not in text and "正規の公式アカウント" not in text
    assert "削除（利用停止）をお願いいたします" in text
    assert text.count("https://x.com/ishinomaki_old") == 1  # the account is not listed again as an offender


def test_dormant_takedown_in_english(staff, dormant):
    english = body(create(staff.responder, dormant.case, type="takedown", lang="en"))
    assert "former official account" in english and "no longer operates" in english
    assert "31 March 2025" in english and "impersonat" not in english.lower()


def test_a_dormant_account_not_yet_closed_asks_for_its_status(staff, make):
    """Without a closure date in the registry the text asks staff to say how it lies dormant."""
    account = make.account(staff.dept, platform="x", name="石巻市イベント", url="https://x.com/ishinomaki_event")
    case = make.case(staff.responder, kind="dormant_account", official_account_id=account.id)
    blanks = [b.text for b in find_blanks(body(create(staff.responder, case, type="takedown")))]
    assert "［運用を終えた日、または休止している状況を記入］" in blanks


def test_dormant_warning_is_not_about_impersonation(staff, dormant):
    """The citizens' warning about a former account says the city no longer runs it."""
    draft = create(staff.responder, dormant.case, type="citizen_warning")
    post, text = body(draft), service.latest_revision(draft).web_body  # on X: the short post, the long text
    assert "運用を終えた" in post and "なりす" not in post and "偽" not in post and "ishinomaki_old" in post
    assert "運用を終えた" in text and "なりすました" not in text and "x．com/ishinomaki_old" in text


# --- the print page -----------------------------------------------------------------------------------------


def _print(client, draft: Draft) -> str:
    response = client.get(f"/cases/{draft.case_id}/drafts/{draft.id}/print")
    assert response.status_code == 200
    return response.text


def test_print_page_marks_an_unapproved_text_on_paper(staff, make, client, login):
    """Until approval the page has a 未承認 stamp and a 未承認 line at the head of every printed page (a table
    head, which repeats on each page), none of them hidden in print; it has its own title and an h1."""
    case = full_case(staff, make, "impersonation")
    draft = create(staff.responder, case, type="press")
    login(staff.responder)
    page = _print(client, draft)
    assert re.search(r'<p class="unapproved-stamp"[^>]*>未承認</p>', page)
    head = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
    assert "未承認" in head and "no-print" not in head
    assert "print-draft.css" in page
    assert re.search(r"<title>印刷用：報道機関への情報提供（[0-9-]+）", page)
    assert re.search(r"<h1[^>]*>報道機関への情報提供", page)


def test_print_css_keeps_the_mark_on_paper(app):
    """The print style never hides the 未承認 marks (a regression would print a clean-looking draft)."""
    css = Path(app.static_folder, "print-draft.css").read_text(encoding="utf-8")
    for rule in re.findall(r"([^{}]*)\{([^{}]*)\}", css):
        if "unapproved" in rule[0]:
            assert "display: none" not in rule[1] and "visibility: hidden" not in rule[1], rule


def test_approved_print_has_no_mark_and_dates_and_signs_once(staff, make, client, login):
    """After approval: no 未承認; the date and the sender come from the text alone (the page adds none)."""
    case = full_case(staff, make, "impersonation")
    draft = approved(staff, create(staff.responder, case, type="press"))
    login(staff.responder)
    page = _print(client, draft)
    assert "未承認" not in page
    today = era_date(utcnow())
    assert page.count(today) == body(draft).count(today) >= 1
    assert page.count("0225-95-1111") == body(draft).count("0225-95-1111") == 1
    assert 'class="form-date"' not in page and 'class="sender"' not in page


def test_print_page_of_another_department_is_404(staff, make, client, login):
    case = full_case(staff, make, "impersonation")
    draft = create(staff.responder, case, type="press")
    login(staff.outsider)
    assert client.get(f"/cases/{case.id}/drafts/{draft.id}/print").status_code == 404


# --- the API lists the blanks ---------------------------------------------------------------------------


def test_api_draft_lists_its_blanks(staff, make, api):
    """GET a draft: `blanks` names each unfilled placeholder with its line; filled in, the list is empty."""
    case = make.case(staff.responder, kind="impersonation", platform="x")
    draft = create(staff.responder, case, type="takedown")
    url = f"/api/v1/cases/{case.id}/drafts/{draft.id}"
    got = api("GET", url, staff.responder).get_json()
    assert got["blanks"] == [{"line": b.line, "text": b.text} for b in find_blanks(got["body"])]
    assert any(b["text"].startswith(FAKE_BLANK) for b in got["blanks"])
    text = got["body"]
    for blank in got["blanks"]:
        text = text.replace(blank["text"], "確認した内容", 1)
    revised = api("POST", f"{url}/revisions", staff.responder, json={"body": text})
    assert revised.status_code == 201 and revised.get_json()["blanks"] == []
    listed = api("GET", f"/api/v1/cases/{case.id}/drafts", staff.responder).get_json()
    assert listed["items"][0]["blanks"] == []
    assert api("GET", url, staff.outsider).status_code == 404


def test_openapi_documents_the_blanks(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    blanks = schemas["Draft"]["properties"]["blanks"] if "Draft" in schemas else next(
        s["properties"]["blanks"] for name, s in schemas.items() if "blanks" in s.get("properties", {}))
    assert blanks["type"] == "array"
    item = blanks["items"]
    if "$ref" in item:
        item = schemas[item["$ref"].rsplit("/", 1)[-1]]
    assert set(item["properties"]) == {"line", "text"}
    assert item["properties"]["line"]["type"] == "integer"


def test_sent_ledger_keeps_the_published_words(staff, make):
    """The ledger's entry points at the approved revision, whose words have no memo line."""
    case = full_case(staff, make, "impersonation")
    draft = approved(staff, create(staff.responder, case, type="takedown"))
    publication = sending.record_sent(staff.responder, draft, {"channel": "form"})
    db.session.commit()
    stored = db.session.get(Publication, publication.id)
    assert stored.revision_id == draft.approved_revision_id
    assert "送信先" not in body(draft) and "職員用のメモ" not in body(draft)
