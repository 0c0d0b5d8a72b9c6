"""Per-channel length, the website rendition and one approval published in several places (issue 12).

A notice knows where it will be posted (Draft.channel, a [channels.*] table of platforms.toml): X counts
weighted characters (twitter-text v3: CJK 2, any URL 23, limit 280), LINE, Instagram, Facebook and the city
website count characters against their own limits. Submitting, approving or recording an SNS text over its
limit is refused with the count. A notice may carry a long rendition for the city website (web_body),
approved with the body; one approved text may be recorded in several places, one ledger row each."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import types
from pathlib import Path

import pytest
from sqlalchemy import func, select

from incident.drafts import length, sending, service
from incident.drafts.blanks import find_blanks
from incident.drafts.models import Draft, DraftEvent, DraftRevision, DraftStatus, Publication
from incident.drafts.wording import CHANNELS, WordingError, load_channels, load_wording
from incident.errors import CaseError, NotFound, ValidationFailed
from incident.extensions import db
from incident.fakes import service as fakes
from incident.playbooks import service as playbooks
from incident.playbooks.models import StepEvent

CHECKS = list(service.SECTION4_CHECKS)
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/bousai/fake-account.html"
X_POST = "https://x.com/ishinomaki_bousai/status/1861234567890"
FB_POST = "https://www.facebook.com/ishinomaki.city/posts/1234567890"
#: A short post for X: 47 kanji, kana and full-width signs (94), "DM" (2) and a URL (23): 119 of 280.
SHORT = "【注意】本市をかたる偽アカウントが確認されています。本市がDMで個人情報を求めることはありません。" + CITY_PAGE


# --- counting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Hello, world!", 13),  # ASCII: 1 each
    ("a" * 280, 280),
    ("あ" * 140, 280),  # kana: 2 each, so 140 fit
    ("あ" * 141, 282),
    ("石巻市", 6),  # kanji: 2 each
    ("ｱｲｳ", 6),  # half-width kana are outside the weight-100 ranges too
    ("café", 4),  # Latin with an accent: 1
    ("cafe\u0301", 4),  # the same after NFC normalisation
    ("“引用”—", 7),  # curly quotes and the dash are in the weight-100 punctuation range: 1 + 4 + 1 + 1
    ("x\r\ny", 3),  # CR LF is one line end, as the browser's textarea gives it
    ("  本文\n\n", 4),  # blanks at either end are not counted
])
def test_weighted_count_of_plain_text(text, expected):
    """twitter-text v3: code points in 0-4351 and the general punctuation ranges weigh 1, all others 2."""
    assert length.weighted_length(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    (CITY_PAGE, 23),  # a URL counts 23 whatever its length
    ("https://x.com", 23),
    ("詳しくは " + CITY_PAGE + " をご覧ください。", 8 + 1 + 23 + 1 + 16),
    ("詳しくは" + CITY_PAGE + "をご覧ください。", 8 + 23 + 16),  # Japanese around it ends the URL
    ("city.ishinomaki.lg.jp", 23),  # without http:// too (for .jp, .com and the like)
    ("https://x.com/a.", 24),  # the full stop after it is not part of the URL
    ("tanto@city.ishinomaki.lg.jp", 27),  # an email address is not a URL
    (SHORT, 119),
])
def test_weighted_count_of_urls(text, expected):
    assert length.weighted_length(text) == expected


@pytest.mark.parametrize(("text", "weighted", "chars"), [
    ("😀", 2, 1),
    ("👍🏽", 2, 2),  # with a skin tone: one emoji
    ("👨\u200d👩\u200d👧", 2, 5),  # a zero-width-joined family: one emoji
    ("🇯🇵", 2, 2),  # a flag: two regional indicators
    ("❤️", 2, 2),  # a pictograph with its variation selector
    ("1️⃣", 2, 3),  # a keycap
    ("©", 1, 1),  # © alone is an ordinary Latin-1 character
    ("お知らせ📢", 10, 5),
])
def test_emoji_count_as_one_weighted_character_each(text, weighted, chars):
    """An emoji sequence weighs 2 on X however many code points it has; other channels count code points."""
    assert length.weighted_length(text) == weighted
    assert length.char_length(text) == chars


def test_measure_against_a_channel(app):
    with app.app_context():
        x = service.wording().channels["x"]
        line = service.wording().channels["line"]
    assert length.measure("あ" * 141, x) == length.Measure(channel="x", count=282, limit=280)
    assert length.measure("あ" * 141, x).over
    assert not length.measure("あ" * 141, line).over  # LINE counts 141 characters of its 500


# --- platforms.toml -------------------------------------------------------------------------------------


def test_shipped_channels_and_their_limits(app):
    """X 280 weighted; Facebook 63,206, Instagram 2,200, LINE 500 (one message bubble), website 20,000."""
    channels = load_channels(Path(app.config["PLAYBOOK_DIR"]) / "platforms.toml")
    assert tuple(channels) == CHANNELS
    assert (channels["x"].limit, channels["x"].counting) == (280, "weighted")
    assert {key: (c.limit, c.counting) for key, c in channels.items() if key != "x"} == {
        "facebook": (63206, "chars"), "instagram": (2200, "chars"), "line": (500, "chars"),
        "website": (20000, "chars")}
    assert not channels["line"].needs_url and channels["x"].needs_url and channels["website"].needs_url


@pytest.fixture
def folder(app, tmp_path: Path) -> Path:
    target = tmp_path / "playbooks-copy"
    shutil.copytree(app.config["PLAYBOOK_DIR"], target)
    return target


def _break(folder: Path, old: str, new: str) -> str:
    path = folder / "platforms.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(WordingError) as info:
        load_wording(folder)
    return str(info.value)


@pytest.mark.parametrize(("old", "new", "named"), [
    ("\n[channels.line]\n", "\n[channels.lime]\n", "lime"),  # an unknown channel (and LINE missing)
    ('counting = "weighted"', 'counting = "bytes"', "counting"),
    ("limit = 280", "limit = 0", "limit"),
    ("limit = 280", 'limit = "280"', "limit"),
    ("limit = 280", "limit = true", "limit"),
    ("needs_url = false", 'needs_url = "no"', "needs_url"),
    ("limit = 280", "limit = 280\nlimt = 300", "limt"),
])
def test_broken_channel_tables_stop_the_app(folder, old, new, named):
    """A mistake in [channels.*] names platforms.toml and the key, at start-up, never later as a 500."""
    message = _break(folder, old, new)
    assert "platforms.toml" in message and named in message


def test_missing_channel_section_stops_the_app(folder):
    path = folder / "platforms.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("[channels.x]")], encoding="utf-8")
    with pytest.raises(WordingError, match="channels"):
        load_wording(folder)


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def staff(app, make):
    dept = make.department("bousai", "防災課")
    dept.contact = "0225-95-1111"
    other = make.department("kanko", "観光課")
    db.session.commit()
    return types.SimpleNamespace(
        dept=dept, other=other,
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        outsider=make.user("responder", other, name="観光 担当"),
        outside_supervisor=make.user("supervisor", other, name="観光 所属長"),
    )


@pytest.fixture
def case(staff, make):
    """An impersonation of the department's X account (its notices go to X by default)."""
    account = make.account(staff.dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")
    return make.case(staff.responder, kind="impersonation", severity="high", title="防災アカウントのなりすまし",
                     platform="instagram", official_account_id=account.id)


def create(actor, case, **data) -> Draft:
    draft = service.create_draft(actor, case, data)
    db.session.commit()
    return draft


def revise(actor, draft: Draft, body: str, **more) -> DraftRevision:
    revision = service.revise(actor, draft, body, **more)
    db.session.commit()
    return revision


def filled(text: str) -> str:
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    return text


def latest(draft: Draft) -> DraftRevision:
    return service.latest_revision(draft)


def warning(staff, case, body: str = SHORT, web: bool = True) -> Draft:
    """A citizen warning for X with a short body written by staff and, by default, the generated long notice
    (filled in) as its website text."""
    draft = create(staff.responder, case, type="citizen_warning")
    revise(staff.responder, draft, body, web_body=filled(latest(draft).web_body) if web else "")
    return draft


def approved(staff, draft: Draft) -> Draft:
    service.submit(staff.responder, draft, CHECKS)
    service.approve(staff.supervisor, draft)
    db.session.commit()
    return draft


def rows(draft: Draft) -> list[Publication]:
    return list(db.session.scalars(select(Publication).where(Publication.draft_id == draft.id)
                                   .order_by(Publication.id)))


# --- the channel of a draft -------------------------------------------------------------------------------


def test_a_notice_is_posted_where_the_city_s_account_is_letters_nowhere(staff, case, make):
    """The default channel: the official account's platform, else the case's, else the city website."""
    assert create(staff.responder, case, type="citizen_warning").channel == "x"
    assert create(staff.responder, case, type="citizen_warning", channel="line").channel == "line"
    for letter in ("takedown", "press"):
        assert create(staff.responder, case, type=letter).channel is None
    on_facebook = make.case(staff.responder, kind="flaming", platform="facebook")
    assert create(staff.responder, on_facebook, type="interim_notice").channel == "facebook"
    on_youtube = make.case(staff.responder, kind="flaming", platform="youtube")  # not a channel: the website
    assert create(staff.responder, on_youtube, type="interim_notice").channel == "website"
    assert create(staff.responder, make.case(staff.responder), type="interim_notice").channel == "website"


@pytest.mark.parametrize(("data", "field"), [
    ({"type": "citizen_warning", "channel": "myspace"}, "channel"),
    ({"type": "citizen_warning", "channel": 7}, "channel"),
    ({"type": "takedown", "channel": "x"}, "channel"),  # a letter is not posted anywhere
    ({"type": "press", "web_body": "長文"}, "web_body"),  # nor has it a website rendition
    ({"type": "citizen_warning", "web_body": 5}, "web_body"),
    ({"type": "citizen_warning", "web_body": "あ" * (service.BODY_MAX + 1)}, "web_body"),
])
def test_bad_channel_or_website_text_is_refused_at_creation(staff, case, data, field):
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, case, data)
    assert field in info.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_changing_the_channel_while_editing_sends_an_approval_back(staff, case):
    """Another channel is another limit: the approval no longer applies, but the wording is the same revision."""
    draft = approved(staff, warning(staff, case))
    before = latest(draft).number
    revise(staff.responder, draft, latest(draft).body, channel="facebook")
    assert draft.channel == "facebook" and draft.status == DraftStatus.EDITING
    assert draft.approved_revision_id is None and latest(draft).number == before
    event = service.history(draft)[-1]
    assert event.action == "revised" and event.data == {"channel": "facebook", "approval_cleared": True}
    with pytest.raises(CaseError):  # nothing changed at all
        service.revise(staff.responder, draft, latest(draft).body, channel="facebook")
    with pytest.raises(ValidationFailed):
        service.revise(staff.responder, draft, latest(draft).body, channel="fax")


# --- generated notices fit their channel: a short post, the long text for the website ------------------------

NOTICE_TYPES = ("interim_notice", "final_notice", "correction", "correct_info", "citizen_warning")
KINDS = ("flaming", "impersonation", "false_information", "account_takeover", "dormant_account")
CITY_POST = "https://x.com/ishinomaki_bousai/status/1861000000001"


def realistic(text: str) -> str:
    """Fill each blank with the kind of fact staff write there, at a realistic length."""
    for blank in find_blanks(text):
        if "日時" in blank.text:
            fact = "2026年11月20日 9時00分"
        elif "結果" in blank.text:
            fact = "講座の日程に誤りがあり、正しくは12月5日（金）です。申込者には個別に連絡しました。"
        elif "誤って" in blank.text:
            fact = "防災講座は12月6日（土）に開催"
        elif "正しい内容" in blank.text:
            fact = "防災講座は12月5日（金）に開催"
        elif "正しい情報" in blank.text:
            fact = "防災講座の申込みは12月1日（月）から、防災課の窓口と電話で受け付けます"
        else:
            fact = "11月20日の防災講座のお知らせ"
        text = text.replace(blank.text, fact, 1)
    return text


@pytest.fixture
def on_x(staff, make):
    """A case of a kind about the department's X account, holding what a real one does: the city's post it is
    about and, unless the account itself was taken over, a known fake of it."""
    account = make.account(staff.dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_bousai")

    def open_case(kind: str):
        case = make.case(staff.responder, kind=kind, severity="high", title="防災講座の告知", platform="x",
                         official_account_id=account.id, urls=[CITY_POST])
        if kind != "account_takeover":
            fakes.record_fake(staff.responder, {"platform": "x", "url": "https://x.com/ishinomaki_bousal",
                                                "display_name": "石巻市防災【公式】"}, case)
            db.session.commit()
        return case
    return open_case


def notice(staff, case, draft_type: str, **data) -> Draft:
    """A notice as staff start it from the case page: a correction names the city's post it corrects; a final
    notice follows a published interim notice."""
    if draft_type == "correction":
        data["corrects_item_id"] = case.offending_items[0].id
    if draft_type == "final_notice":
        interim = create(staff.responder, case, type="interim_notice", channel="website")
        revise(staff.responder, interim, filled(latest(interim).body))
        approved(staff, interim)
        sending.publish(staff.responder, interim, {"places": [{"place": "website", "url": CITY_PAGE}]})
        db.session.commit()
    return create(staff.responder, case, type=draft_type, **data)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("draft_type", NOTICE_TYPES)
def test_a_notice_generated_for_x_is_a_short_post_with_the_long_text_for_the_website(staff, on_x, draft_type,
                                                                                      kind):
    """On X (280 weighted) the post is the short template, within the limit as generated and once its blanks
    hold realistic facts, carrying the draft's link; the long text, unchanged, is the website rendition."""
    case = on_x(kind)
    draft = notice(staff, case, draft_type, link=CITY_PAGE)
    revision = latest(draft)
    assert draft.channel == "x" and revision.origin == "generated"
    assert length.weighted_length(revision.body) <= 280, revision.body
    assert length.weighted_length(realistic(revision.body)) <= 280, realistic(revision.body)
    assert CITY_PAGE in revision.body
    assert not [line for line in revision.body.splitlines() if line.lstrip(" \u3000").startswith("※")]
    # The details are on the website: the long text is exactly what the website channel gets as its body.
    website = create(staff.responder, case, type=draft_type, link=CITY_PAGE, channel="website",
                     **({"corrects_item_id": case.offending_items[0].id} if draft_type == "correction" else {}))
    assert revision.web_body == latest(website).body and latest(website).web_body == ""
    assert length.weighted_length(revision.web_body) > 280
    # Both texts go through the usual checks once filled in.
    if find_blanks(revision.body + revision.web_body):
        revise(staff.responder, draft, realistic(revision.body), web_body=realistic(revision.web_body))
    service.submit(staff.responder, draft, CHECKS)
    assert draft.status == DraftStatus.SUBMITTED


@pytest.mark.parametrize("draft_type", [t for t in NOTICE_TYPES if t != "correct_info"])
def test_without_a_link_the_short_post_points_to_the_city_website_without_a_blank(staff, on_x, draft_type):
    """The page's URL is not known yet: the post names the city website instead, and no blank asks for a URL
    (a blank would block approval)."""
    draft = notice(staff, on_x("flaming"), draft_type)
    post = latest(draft).body
    assert draft.link == "" and "https://www.city.ishinomaki.lg.jp/" in post
    assert not [b for b in find_blanks(post) if "URL" in b.text]
    assert length.weighted_length(realistic(post)) <= 280


def test_the_short_warning_says_what_the_kind_needs(staff, on_x):
    """Impersonation: the fake, written so that it is not a mention (no @, so the post does not link it), and
    the genuine @handle; a takeover: the period and an apology; a former account: not impersonation."""
    fake = latest(create(staff.responder, on_x("impersonation"), type="citizen_warning")).body
    assert "偽アカウント" in fake and "ishinomaki_bousal" in fake and "@ishinomaki_bousal" not in fake
    assert "@ishinomaki_bousai" in fake and "削除を依頼" in fake
    taken = latest(create(staff.responder, on_x("account_takeover"), type="citizen_warning")).body
    assert "乗っ取" in taken and "お詫び" in taken and "偽アカウント" not in taken
    assert [b.text for b in find_blanks(taken)] == ["［開始日時を記入］", "［終了日時を記入］"]
    dormant = latest(create(staff.responder, on_x("dormant_account"), type="citizen_warning")).body
    assert "旧公式アカウント" in dormant and "なりす" not in dormant and "偽" not in dormant


@pytest.mark.parametrize("channel", ["website", "facebook", "instagram"])
def test_where_the_long_text_fits_it_is_the_body_alone(staff, on_x, channel):
    """The website, Facebook (63,206) and Instagram (2,200) take the long text whole: no website rendition."""
    case = on_x("impersonation")
    long_text = latest(create(staff.responder, case, type="citizen_warning")).web_body
    revision = latest(create(staff.responder, case, type="citizen_warning", channel=channel))
    assert revision.body == long_text and revision.web_body == ""


def test_line_gets_the_long_text_only_when_it_fits_its_500_characters(staff, on_x):
    """The rule is the channel's limit, not the channel: an interim notice fits LINE, a warning does not."""
    case = on_x("impersonation")
    interim = latest(create(staff.responder, case, type="interim_notice", channel="line"))
    assert interim.web_body == "" and length.char_length(interim.body) <= 500
    warning_text = latest(create(staff.responder, case, type="citizen_warning", channel="line"))
    assert length.char_length(warning_text.web_body) > 500 and length.char_length(warning_text.body) <= 500
    assert warning_text.body == latest(create(staff.responder, case, type="citizen_warning")).body


def test_letters_have_no_short_rendition(staff, on_x):
    case = on_x("impersonation")
    for letter in ("takedown", "press"):
        revision = latest(create(staff.responder, case, type=letter))
        assert revision.web_body == "" and len(revision.body) > 280


def test_a_website_text_given_at_creation_is_kept(staff, on_x):
    """The author's own website text wins over the generated one; the post is still the short one."""
    draft = create(staff.responder, on_x("impersonation"), type="citizen_warning", web_body="市ホームページ用に書いた文")
    assert latest(draft).web_body == "市ホームページ用に書いた文\n"
    assert length.weighted_length(latest(draft).body) <= 280


def test_changing_the_channel_keeps_what_the_author_wrote(staff, on_x):
    """Moving a generated X notice to the website does not rewrite either text: the counter shows the rest."""
    draft = create(staff.responder, on_x("flaming"), type="interim_notice")
    before = latest(draft)
    revise(staff.responder, draft, "本市で確認中です。" + before.body, channel="website")
    revise(staff.responder, draft, latest(draft).body, channel="facebook")
    assert draft.channel == "facebook" and latest(draft).number == 2
    assert latest(draft).body == "本市で確認中です。" + before.body and latest(draft).web_body == before.web_body


def test_a_notice_without_a_short_template_keeps_the_long_text(app, staff, on_x, folder):
    """The PR office may remove a short template: the notice is generated as before, the counter showing the
    overrun."""
    (folder / "drafts" / "citizen_warning.short.ja.txt").unlink()
    app.extensions["wording"] = load_wording(folder)
    revision = latest(create(staff.responder, on_x("impersonation"), type="citizen_warning"))
    assert revision.web_body == "" and length.weighted_length(revision.body) > 280
    short = latest(create(staff.responder, on_x("impersonation"), type="interim_notice"))
    assert length.weighted_length(short.body) <= 280 and short.web_body


def test_another_department_cannot_generate_a_notice_on_the_case(staff, on_x):
    with pytest.raises(NotFound):
        service.create_draft(staff.outsider, on_x("impersonation"), {"type": "citizen_warning"})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


# --- refused over the limit ---------------------------------------------------------------------------------


def test_submit_over_the_limit_is_refused_with_the_count(staff, case):
    """The long notice is far too long for X: submitting it as the post says so with its count; a short post
    passes."""
    draft = create(staff.responder, case, type="citizen_warning")
    text = filled(latest(draft).web_body)
    revise(staff.responder, draft, text, web_body="")
    count = length.weighted_length(text)
    assert count > 280
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, draft, CHECKS)
    assert str(info.value.message) == f"X（旧Twitter） の上限 280 を超えています（現在 {count}）。"
    assert draft.status == DraftStatus.EDITING
    with pytest.raises(ValidationFailed, match="現在"):
        service.mark_pre_approved(staff.responder, draft, "a", CITY_PAGE, CHECKS)
    db.session.rollback()
    revise(staff.responder, draft, SHORT, web_body=text)  # the long text goes to the website
    service.submit(staff.responder, draft, CHECKS)
    assert draft.status == DraftStatus.SUBMITTED


def test_the_limit_is_the_channel_s(staff, case):
    """The same 300 kana are too long for X (600) but fit LINE (300 of 500)."""
    draft = create(staff.responder, case, type="citizen_warning", channel="line")
    revise(staff.responder, draft, "あ" * 300, web_body="")
    service.submit(staff.responder, draft, CHECKS)
    assert draft.status == DraftStatus.SUBMITTED
    other = create(staff.responder, case, type="citizen_warning")
    revise(staff.responder, other, "あ" * 300, web_body="")
    with pytest.raises(ValidationFailed, match="上限 280.*現在 600"):
        service.submit(staff.responder, other, CHECKS)


def test_approve_is_refused_when_the_limit_fell_after_submitting(staff, case, app, monkeypatch):
    """The PR office may lower a limit (platforms.toml); a text submitted before is refused at approval."""
    draft = warning(staff, case)
    service.submit(staff.responder, draft, CHECKS)
    db.session.commit()
    words = app.extensions["wording"]
    monkeypatch.setitem(words.channels, "x", dataclasses.replace(words.channels["x"], limit=50))
    with pytest.raises(ValidationFailed, match="上限 50 を超えています（現在 119）"):
        service.approve(staff.supervisor, draft)
    assert draft.status == DraftStatus.SUBMITTED


def test_the_website_rendition_counts_against_the_website_limit(staff, case, app, monkeypatch):
    words = app.extensions["wording"]
    monkeypatch.setitem(words.channels, "website", dataclasses.replace(words.channels["website"], limit=100))
    draft = warning(staff, case)
    count = length.char_length(latest(draft).web_body)
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, draft, CHECKS)
    assert str(info.value.message) == f"市ホームページ の上限 100 を超えています（現在 {count}）。"


# --- the website rendition ---------------------------------------------------------------------------------


def test_both_texts_are_one_revision_approved_together(staff, case):
    draft = approved(staff, warning(staff, case))
    revision = latest(draft)
    assert draft.approved_revision_id == revision.id
    assert revision.body == SHORT + "\n" and "偽アカウント" in revision.web_body and len(revision.web_body) > 280
    # Changing either text is a new revision, and the draft goes back to editing.
    revise(staff.responder, draft, SHORT, web_body=revision.web_body + "追記")
    assert draft.status == DraftStatus.EDITING and latest(draft).number == revision.number + 1
    assert latest(draft).body == revision.body and latest(draft).web_body.endswith("追記\n")
    # Left out, the website text is kept; "" removes it.
    revise(staff.responder, draft, SHORT + "！")
    assert latest(draft).web_body.endswith("追記\n")
    revise(staff.responder, draft, SHORT + "！", web_body="")
    assert latest(draft).web_body == ""


def test_blanks_in_either_text_are_refused_naming_the_text(staff, case):
    """Each field lists its own blanks, labelled by the text they are in."""
    draft = create(staff.responder, case, type="citizen_warning")
    revise(staff.responder, draft, SHORT + "\n［日時を記入］", web_body="お知らせ\n［本市の対応を記入］")
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, draft, CHECKS)
    assert str(info.value.fields["body"]) == "本文の未記入の箇所：2 行目：［日時を記入］"
    assert str(info.value.fields["web_body"]) == "市ホームページ用（長文）の未記入の箇所：2 行目：［本市の対応を記入］"
    assert "文案に未記入の箇所" in str(info.value.message)
    revise(staff.responder, draft, SHORT, web_body="お知らせ\n［本市の対応を記入］")
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, draft, CHECKS)
    assert set(info.value.fields) == {"web_body"}
    assert draft.status == DraftStatus.EDITING


def test_a_website_text_with_blanks_approved_earlier_cannot_go_out(staff, case, monkeypatch):
    """Blanks are checked again at approval and at sending (a text submitted before the rule)."""
    draft = create(staff.responder, case, type="citizen_warning")
    revise(staff.responder, draft, SHORT, web_body="お知らせ\n［本市の対応を記入］")
    monkeypatch.setattr(service.blanks, "refusal_in", lambda texts: None)  # as before blanks were refused
    service.submit(staff.responder, draft, CHECKS)
    monkeypatch.undo()
    with pytest.raises(ValidationFailed) as info:
        service.approve(staff.supervisor, draft)
    assert "web_body" in info.value.fields


# --- publishing in several places --------------------------------------------------------------------------


def step_events(case) -> list[StepEvent]:
    return list(db.session.scalars(select(StepEvent).where(StepEvent.case_id == case.id,
                                                            StepEvent.step_key == "citizen_warning")))


def test_one_approval_published_in_three_places_is_three_ledger_rows(staff, case):
    draft = approved(staff, warning(staff, case))
    revision_id = draft.approved_revision_id
    publications = sending.publish(staff.responder, draft, {"places": [
        {"place": "x", "url": X_POST}, {"place": "line"}, {"place": "website", "url": CITY_PAGE}]})
    db.session.commit()
    assert [(p.place, p.url, p.channel) for p in rows(draft)] == [
        ("x", X_POST, "post"), ("line", "", "post"), ("website", CITY_PAGE, "website")]
    assert all(p.revision_id == revision_id and p.kind == "citizen_warning" for p in publications)
    assert draft.status == DraftStatus.SENT
    actions = [e.action for e in service.history(draft)]
    assert actions.count("approved") == 1 and actions.count("sent") == 1
    assert service.history(draft)[-1].data["places"] == ["x", "line", "website"]
    # The playbook step is completed once, by the first place.
    done = [e for e in step_events(case) if e.action == "complete"]
    assert len(done) == 1 and done[0].data["publication_id"] == publications[0].id


def test_a_place_added_later_needs_no_new_approval_and_completes_nothing_again(staff, case):
    draft = approved(staff, warning(staff, case))
    sending.publish(staff.responder, draft, {"places": [{"place": "x", "url": X_POST}]})
    db.session.commit()
    playbooks.reopen_step(staff.responder, case, "citizen_warning", "記録を見直す")
    db.session.commit()
    events_before = len(step_events(case))
    added = sending.publish(staff.colleague, draft, {"places": [{"place": "facebook", "url": FB_POST}]})
    db.session.commit()
    assert [p.place for p in rows(draft)] == ["x", "facebook"]
    assert added[0].revision_id == rows(draft)[0].revision_id and added[0].recorded_by_id == staff.colleague.id
    assert draft.status == DraftStatus.SENT
    assert [e.action for e in service.history(draft)].count("approved") == 1
    assert service.history(draft)[-1].data["added"] is True
    assert len(step_events(case)) == events_before  # the step stays as the reopening left it
    with pytest.raises(CaseError, match="すでに記録されています"):  # a place is recorded once
        sending.publish(staff.responder, draft, {"places": [{"place": "x", "url": X_POST + "0"}]})
    db.session.rollback()
    with pytest.raises(ValidationFailed):  # adding needs a place
        sending.publish(staff.responder, draft, {"channel": "press"})
    db.session.rollback()
    assert len(rows(draft)) == 2


def test_the_old_single_recording_still_works_and_knows_its_place(staff, case):
    draft = approved(staff, warning(staff, case))
    publication = sending.record_sent(staff.responder, draft, {"channel": "post", "url": X_POST})
    assert (publication.place, publication.channel) == ("x", "post")


def test_letters_are_recorded_once_without_a_place(staff, case):
    press = create(staff.responder, case, type="press")
    revise(staff.responder, press, filled(latest(press).body))
    approved(staff, press)
    with pytest.raises(ValidationFailed) as info:
        sending.publish(staff.responder, press, {"places": [{"place": "x", "url": X_POST}]})
    assert "places" in info.value.fields
    publication = sending.record_sent(staff.responder, press, {"channel": "press"})
    db.session.commit()
    assert publication.place == ""
    with pytest.raises(CaseError):  # sent once
        sending.publish(staff.responder, press, {"channel": "press"})


def test_each_place_gets_its_own_text_and_its_own_limit(staff, case):
    """The website publishes the long rendition; a place too small for the body is refused with the count."""
    draft = create(staff.responder, case, type="interim_notice", channel="website")
    long_text = filled(latest(draft).body)
    revise(staff.responder, draft, long_text)
    approved(staff, draft)
    count = length.weighted_length(long_text)
    with pytest.raises(ValidationFailed) as info:
        sending.publish(staff.responder, draft, {"places": [{"place": "website", "url": CITY_PAGE},
                                                            {"place": "x", "url": X_POST}]})
    assert str(info.value.message) == f"X（旧Twitter） の上限 280 を超えています（現在 {count}）。"
    db.session.rollback()
    assert rows(draft) == [] and draft.status == DraftStatus.APPROVED
    sending.publish(staff.responder, draft, {"places": [{"place": "website", "url": CITY_PAGE},
                                                        {"place": "facebook", "url": FB_POST}]})
    assert [p.place for p in rows(draft)] == ["website", "facebook"]
    assert service.text_for(latest(draft), "website") == latest(draft).body  # no website rendition: the body


BAD_PLACES = [
    ("x", "places"),  # not a list
    ([1], "places.0.place"),
    ([{"place": "myspace", "url": X_POST}], "places.0.place"),
    ([{"url": X_POST}], "places.0.place"),
    ([{"place": "x"}], "places.0.url"),  # X posts have URLs
    ([{"place": "x", "url": "javascript:alert(1)"}], "places.0.url"),
    ([{"place": "x", "url": 5}], "places.0.url"),
    ([{"place": "x", "url": "https://x.com/" + "a" * 500}], "places.0.url"),
    ([{"place": "website", "url": "https://example.com/notice"}], "places.0.url"),  # not the city's site
    ([{"place": "x", "url": X_POST}, {"place": "x", "url": X_POST}], "places.1.place"),
    ([{"place": "line"}] * 6, "places"),
]


@pytest.mark.parametrize(("places", "field"), BAD_PLACES)
def test_bad_places_are_refused_naming_the_place(staff, case, places, field):
    draft = approved(staff, warning(staff, case))
    with pytest.raises(ValidationFailed) as info:
        sending.publish(staff.responder, draft, {"places": places})
    assert field in info.value.fields
    db.session.rollback()
    assert rows(draft) == [] and draft.status == DraftStatus.APPROVED


def test_another_department_cannot_publish_or_edit(staff, case):
    draft = approved(staff, warning(staff, case))
    with pytest.raises(NotFound):
        sending.publish(staff.outsider, draft, {"places": [{"place": "x", "url": X_POST}]})
    with pytest.raises(NotFound):
        service.revise(staff.outsider, draft, SHORT, channel="line")
    with pytest.raises(NotFound):
        service.get_draft(staff.outsider, case.id, draft.id)


def test_withdrawing_one_place_keeps_the_others(staff, case):
    draft = approved(staff, warning(staff, case))
    x, website = sending.publish(staff.responder, draft, {"places": [{"place": "x", "url": X_POST},
                                                                      {"place": "website", "url": CITY_PAGE}]})
    entry = sending.withdraw(staff.supervisor, x, "誤字があった")
    db.session.commit()
    assert entry.place == "x" and entry.supersedes_id == x.id
    assert service.withdrawn_ids(service.case_of(draft)) == {x.id}


# --- the pages --------------------------------------------------------------------------------------------


def draft_url(draft: Draft, suffix: str = "") -> str:
    return f"/cases/{draft.case_id}/drafts/{draft.id}{suffix}"


def flashes(page: str) -> list[str]:
    return re.findall(r'<div class="flash flash-error"[^>]*>(.*?)</div>', page, flags=re.S)


def test_the_editor_carries_the_counting_rules_and_the_counts(staff, case, client, login):
    """The counter's rules come from the server (data-length-rules); the page shows each text's count."""
    draft = create(staff.responder, case, type="citizen_warning")
    revise(staff.responder, draft, latest(draft).web_body)  # the long notice as the X post: over the limit
    count = length.weighted_length(latest(draft).body)
    login(staff.responder)
    page = client.get(draft_url(draft)).text
    rules = json.loads(re.search(r"data-length-rules='([^']*)'", page).group(1))
    assert rules["weighted"]["url_length"] == 23 and rules["weighted"]["scale"] == 100
    assert rules["weighted"]["ranges"][0] == [0, 4351, 100]
    assert rules["channels"]["x"] == {"name": "X（旧Twitter）", "limit": 280, "counting": "weighted"}
    assert rules["channels"]["line"]["limit"] == 500
    assert rules["over"] == "{name} の上限 {limit} を超えています（現在 {count}）。"
    assert re.search(r'<option value="x" selected>', page)  # the channel select, on the draft's channel
    assert f"X（旧Twitter）：{count} / 280" in page
    assert f"X（旧Twitter） の上限 280 を超えています（現在 {count}）。" in page  # beside the text and the approval
    assert 'aria-live="polite" data-length-alert' in page and 'name="web_body"' in page
    assert "draft-length.js" in page
    takedown = create(staff.responder, case, type="takedown")
    page = client.get(draft_url(takedown)).text
    assert "data-length-rules" not in page and 'name="web_body"' not in page and 'name="channel"' not in page.split(
        'id="editor"')[1].split("</section>")[0]


def test_editing_both_texts_and_the_channel_through_the_form(staff, case, client, login):
    draft = create(staff.responder, case, type="citizen_warning")
    long_text = filled(latest(draft).body)
    login(staff.responder)
    response = client.post(draft_url(draft, "/revisions"), data={
        "body": SHORT, "web_body": long_text, "channel": "x", "base_revision": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert latest(draft).web_body.strip() == long_text.strip() and latest(draft).body.strip() == SHORT
    page = client.get(draft_url(draft)).text
    assert 'id="draft-web-body"' in page and "市ホームページ用（長文）" in page and "市ホームページ用をコピー" in page
    assert "X（旧Twitter）：119 / 280" in page
    # A form without the website field (an old page) keeps the website text.
    client.post(draft_url(draft, "/revisions"), data={"body": SHORT + "！", "base_revision": "2"})
    db.session.expire_all()
    assert latest(draft).number == 3 and latest(draft).web_body.strip() == long_text.strip()
    client.post(draft_url(draft, "/revisions"), data={"body": SHORT + "！", "channel": "myspace", "base_revision": "3"})
    assert any("投稿先を選んでください" in f for f in flashes(client.get(draft_url(draft)).text))


def test_submitting_over_the_limit_through_the_form_shows_the_count(staff, case, client, login):
    draft = create(staff.responder, case, type="citizen_warning")
    revise(staff.responder, draft, filled(latest(draft).web_body), web_body="")
    count = length.weighted_length(latest(draft).body)
    login(staff.responder)
    client.post(draft_url(draft, "/submit"), data={"checks": CHECKS})
    messages = flashes(client.get(draft_url(draft)).text)
    assert any(f"X（旧Twitter） の上限 280 を超えています（現在 {count}）。" in m for m in messages)
    db.session.expire_all()
    assert db.session.get(Draft, draft.id).status == DraftStatus.EDITING


def test_export_and_print_show_both_texts_under_their_headings(staff, case, client, login):
    draft = warning(staff, case)
    login(staff.responder)
    text = client.get(draft_url(draft, "/export.txt")).text
    assert text.startswith("【本文（X（旧Twitter））】\n" + SHORT)
    assert "\n【市ホームページ用（長文）】\n" in text and latest(draft).web_body in text
    markdown = client.get(draft_url(draft, "/export.md")).text
    assert "\n## 本文（X（旧Twitter））\n\n" in markdown and "\n## 市ホームページ用（長文）\n\n" in markdown
    printed = client.get(draft_url(draft, "/print")).text
    assert printed.index("本文（X（旧Twitter））") < printed.index(SHORT) < printed.index("市ホームページ用（長文）")
    # Without a website text, the export is the body alone, as before.
    plain = create(staff.responder, case, type="citizen_warning", channel="website")
    assert client.get(draft_url(plain, "/export.txt")).text == latest(plain).body


def test_recording_places_through_the_form_and_the_ledger(staff, case, client, login):
    """Ticked places, or places whose URL is filled in, each get a ledger row; more can be added later."""
    draft = approved(staff, warning(staff, case))
    login(staff.responder)
    page = client.get(draft_url(draft)).text
    assert 'name="places" value="x"' in page and 'name="url_x"' in page and "LINE の URL（任意）" in page
    assert "X（旧Twitter） の URL" in page
    client.post(draft_url(draft, "/sent"), data={"places": ["x"], "url_x": ""})
    assert any("X（旧Twitter）：公開した投稿・ページの URL を入力してください。" in f
               for f in flashes(client.get(draft_url(draft)).text))
    response = client.post(draft_url(draft, "/sent"), data={
        "places": ["line"], "url_x": X_POST, "url_website": CITY_PAGE})  # URLs filled in count as chosen
    assert response.status_code == 302
    assert [p.place for p in rows(draft)] == ["x", "line", "website"]
    page = client.get(draft_url(draft)).text
    assert "公開した場所を追加" in page and 'name="places" value="x"' not in page  # only places not yet recorded
    client.post(draft_url(draft, "/sent"), data={"url_facebook": FB_POST})
    assert [p.place for p in rows(draft)] == ["x", "line", "website", "facebook"]
    ledger = client.get(f"/cases/{case.id}").text.split('id="ledger"', 1)[1]
    for name in ("（X（旧Twitter））", "（LINE）", "（市ホームページ）", "（Facebook）"):
        assert name in ledger
    assert X_POST in ledger and FB_POST in ledger


def test_another_department_gets_404_on_the_forms(staff, case, client, login):
    draft = approved(staff, warning(staff, case))
    login(staff.outsider)
    assert client.get(draft_url(draft)).status_code == 404
    assert client.post(draft_url(draft, "/sent"), data={"url_x": X_POST}).status_code == 404
    assert client.post(draft_url(draft, "/revisions"), data={"body": "x", "channel": "line"}).status_code == 404
    assert rows(draft) == []


def test_the_case_page_offers_the_channel_when_creating(staff, case, client, login):
    login(staff.responder)
    page = client.get(f"/cases/{case.id}").text
    assert 'name="channel"' in page and '<option value="line">LINE</option>' in page
    client.post(f"/cases/{case.id}/drafts", data={"type": "correct_info", "channel": "facebook",
                                                  "link": CITY_PAGE})
    assert db.session.scalars(select(Draft)).one().channel == "facebook"
    assert db.session.scalar(select(func.count()).select_from(DraftEvent)) == 1
