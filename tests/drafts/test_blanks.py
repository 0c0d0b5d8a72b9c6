"""Unfilled placeholders (issue 12): a draft whose text still has a ［…を記入］ blank can never be submitted,
pre-approved, approved or recorded as gone out; the draft page lists and marks the blanks.

The rule itself (what counts as a blank) is in incident/drafts/blanks.py; these tests pin it down against
the shipped templates, then through the services and the pages (the API is in tests/api/test_draft_api.py).
"""
from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
from sqlalchemy import func, select

from incident.drafts import blanks, sending, service
from incident.drafts.blanks import ENGLISH_PLACEHOLDERS, LISTED_MAX, Blank, find_blanks, segments
from incident.drafts.models import Draft, DraftCheck, DraftEvent, DraftStatus, DraftType, Publication, Route
from incident.errors import CaseError, ValidationFailed
from incident.extensions import db
from incident.playbooks.loader import KINDS

CHECKS = list(service.SECTION4_CHECKS)
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/bousai/notice.html"
POST_URL = "https://x.com/ishinomaki_city/status/1234"


# --- what a blank is ------------------------------------------------------------------------------------


def test_a_template_placeholder_is_a_blank_with_its_line():
    text = "【お知らせ】\n\n［確認している事柄を記入］について、多くのご意見を\nいただいております。\n"
    assert find_blanks(text) == [Blank(3, "［確認している事柄を記入］")]
    assert find_blanks(text)[0] == (3, "［確認している事柄を記入］")  # a (line, text) pair


def test_several_blanks_on_one_line_in_order():
    text = "［開始日時を記入］から［終了日時を記入］まで"
    assert find_blanks(text) == [Blank(1, "［開始日時を記入］"), Blank(1, "［終了日時を記入］")]


def test_placeholder_with_brackets_of_other_kinds_inside():
    """Templates put examples and quotes inside a placeholder: it is still one blank."""
    text = "［「アカウントを取り戻しました」または「依頼しています」と記入］\n［目安の時期（例：○月○日ごろ）を記入］"
    assert [b.text for b in find_blanks(text)] == [
        "［「アカウントを取り戻しました」または「依頼しています」と記入］", "［目安の時期（例：○月○日ごろ）を記入］"]


@pytest.mark.parametrize("text", [
    "［PR］石巻市の観光キャンペーン",           # the city's own prose in brackets
    "［再掲］避難所の開設について",
    "[PR] #石巻市 [1] [リンク](https://www.city.ishinomaki.lg.jp/)",  # half-width brackets are plain text
    "[name of the city] [URL?]",               # not the English template's placeholders exactly
    "記入例のとおり入力してください。",          # the words alone, without brackets
    "【確認している事柄を記入】",                # lenticular brackets are headings, not placeholders
    "",
])
def test_text_that_is_not_a_blank(text):
    assert find_blanks(text) == []


@pytest.mark.parametrize(("text", "found"), [
    ("［　］月［○○］日", ["［　］", "［○○］"]),         # a slot with nothing but filler
    ("［］", ["［］"]),
    ("［パスワードを入力］", ["［パスワードを入力］"]),     # 入力 asks for input as 記入 does
])
def test_empty_or_filler_slots_and_input_requests_are_blanks(text, found):
    assert [b.text for b in find_blanks(text)] == found


def test_unclosed_or_unopened_placeholder_still_counts():
    """Half a placeholder deleted by hand is still unfilled: from the bracket to the end of its stretch."""
    assert find_blanks("前文\n［確認している事柄を記入 について、ご意見を") == [
        Blank(2, "［確認している事柄を記入 について、ご意見を")]
    assert find_blanks("　確認している事柄を記入］について") == [Blank(1, "確認している事柄を記入］")]
    assert find_blanks("［開始日時を記入 から［終了日時を記入］まで") == [
        Blank(1, "［開始日時を記入 から"), Blank(1, "［終了日時を記入］")]
    # An unmatched bracket that asks for nothing is the city's own text.
    assert find_blanks("［注 本文の続き") == [] and find_blanks("注］本文") == []


def test_nested_brackets_report_the_innermost_blank():
    assert find_blanks("［前置き［日付を記入］後書き］") == [Blank(1, "［日付を記入］")]
    # An outer placeholder whose own words ask to fill in, holding no blank, is one blank.
    assert find_blanks("［説明を記入（例：［PR］の表記）］") == [Blank(1, "［説明を記入（例：［PR］の表記）］")]


def test_half_width_only_for_the_english_templates_placeholders():
    text = "Dear [platform name] team,\n    URL: [URL]\nSee [1] and [PR]."
    assert find_blanks(text) == [Blank(1, "[platform name]"), Blank(2, "[URL]")]


def test_english_placeholder_list_covers_the_english_template(app):
    """Every half-width bracketed text the English template can print is in ENGLISH_PLACEHOLDERS."""
    for path in Path(app.config["PLAYBOOK_DIR"], "drafts").glob("*.en.txt"):
        source = path.read_text(encoding="utf-8")
        printed = set(re.findall(r"\[(?!['\"])[^\[\]\n{}]+\]", source))  # not a Jinja subscript such as x['y']
        assert printed, path
        assert printed <= ENGLISH_PLACEHOLDERS, (path.name, printed - ENGLISH_PLACEHOLDERS)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_lines_are_counted_as_the_editor_shows_them(ending):
    text = ending.join(["一行目", "二行目［日付を記入］", "", "四行目［時刻を記入］"])
    assert find_blanks(text) == [Blank(2, "［日付を記入］"), Blank(4, "［時刻を記入］")]


@pytest.mark.parametrize("text", ["", "本文だけ", "［a［b を記入］c］\r\n［　］x\n[URL] ［再掲］", "］記入［"])
def test_segments_put_back_together_are_the_text(text):
    pieces = segments(text)
    assert "".join(part for part, _blank in pieces) == text
    assert [part for part, blank in pieces if blank] == [b.text for b in find_blanks(text)]


def test_long_runs_of_brackets_give_the_right_blanks():
    """Adversarial bracket runs (their cost is measured by bench/blanks_bench.py, never by a timed test)."""
    assert [b.text for b in find_blanks("［" * 10_000 + "］" * 10_000)] == ["［" + "］"]
    assert len(find_blanks("［記入］" * 5_000)) == 5_000
    assert find_blanks("］" * 20_000) == []
    assert [b.text for b in find_blanks("［" * 20_000 + "記入")] == ["［記入"]  # unclosed still counts
    for text in ("［" * 10_000 + "］" * 10_000, "［記入］" * 5_000, "］" * 20_000):
        assert "".join(part for part, _blank in segments(text)) == text  # nothing lost or added


def test_the_refusal_lists_each_blank_with_its_line(app):
    with app.test_request_context():
        error = blanks.refusal("本文\n［確認している事柄を記入］\n［目安の時期を記入］です")
        assert isinstance(error, ValidationFailed) and error.code == "validation_failed"
        assert str(error.fields["body"]) == "未記入の箇所：2 行目：［確認している事柄を記入］、3 行目：［目安の時期を記入］"
        assert "未記入" in str(error.message)
        assert blanks.refusal("埋まった本文") is None
        many = "\n".join(f"［{n}件目を記入］" for n in range(LISTED_MAX + 3))
        listed = str(blanks.refusal(many).fields["body"])
        assert f"{LISTED_MAX} 行目：" in listed and f"{LISTED_MAX + 1} 行目" not in listed and "ほか 3 件" in listed


def test_the_refusal_is_worded_when_shown_in_the_readers_locale(app):
    """The message is lazy: it is made in the locale of whoever reads it (the lead's catalog translates it)."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        from flask_babel import refresh

        refresh()
        message = str(blanks.refusal("x\n［日付を記入］").fields["body"])
        assert "［日付を記入］" in message and "2" in message


# --- the shipped templates ------------------------------------------------------------------------------


@pytest.fixture
def staff(app, make):
    dept = make.department("bousai", "防災課")
    db.session.commit()
    return types.SimpleNamespace(
        dept=dept,
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
    )


def create(actor, case, **data) -> Draft:
    draft = service.create_draft(actor, case, data)
    db.session.commit()
    return draft


def body(draft: Draft) -> str:
    return service.latest_revision(draft).body


def fill(actor, draft: Draft, writing: str = "確認した内容") -> Draft:
    """Write in every blank, as staff do: a new revision."""
    text = body(draft)
    for blank in find_blanks(text):
        text = text.replace(blank.text, writing, 1)
    service.revise(actor, draft, text)
    db.session.commit()
    return draft


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("draft_type", [t.value for t in DraftType])
def test_every_full_width_bracket_a_template_prints_is_a_blank(staff, make, kind, draft_type):
    """For a case that holds nothing yet, each template's placeholders are all found (none slips through)."""
    case = make.case(staff.responder, kind=kind, title="情報の少ない案件")
    text = body(create(staff.responder, case, type=draft_type, link=CITY_PAGE))
    assert find_blanks(text), draft_type
    for part, blank in segments(text):
        if not blank:
            assert "［" not in part and "］" not in part, (draft_type, part)


def test_the_english_takedown_of_a_bare_case_has_its_blanks_found(staff, make):
    case = make.case(staff.responder, kind="impersonation", title="情報の少ない案件")
    text = body(create(staff.responder, case, type="takedown", lang="en", platform="other"))
    found = {b.text for b in find_blanks(text)}
    assert {"[platform name]", "[@handle, URL, display name and first-seen time of each fake account]"} <= found


# --- the services refuse a text with blanks --------------------------------------------------------------


@pytest.fixture
def notice(staff, make) -> Draft:
    """An interim notice generated for a flaming case: the template leaves what is being checked blank."""
    case = make.case(staff.responder, kind="flaming", title="イベント告知の誤り")
    draft = create(staff.responder, case, type="interim_notice")
    assert find_blanks(body(draft))
    return draft


def _nothing_happened(draft: Draft, status: DraftStatus) -> None:
    db.session.rollback()
    draft = db.session.get(Draft, draft.id)
    assert draft.status == status
    assert db.session.scalar(select(func.count()).select_from(Publication)) == 0


def test_submit_refuses_a_text_with_blanks_and_stores_nothing(staff, notice):
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, notice, CHECKS)
    message = str(info.value.fields["body"])
    for blank in find_blanks(body(notice)):
        assert f"{blank.line} 行目：{blank.text}" in message
    assert list(info.value.fields) == ["body"]
    _nothing_happened(notice, DraftStatus.EDITING)
    assert db.session.scalar(select(func.count()).select_from(DraftCheck)) == 0
    assert db.session.scalars(select(DraftEvent.action).where(DraftEvent.draft_id == notice.id)).all() == ["created"]


def test_missing_checks_and_blanks_are_refused_together(staff, notice):
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, notice, CHECKS[:2])
    assert set(info.value.fields) == {"checks", "body"}


def test_pre_approving_refuses_a_text_with_blanks(staff, notice):
    with pytest.raises(ValidationFailed) as info:
        service.mark_pre_approved(staff.responder, notice, "a", CITY_PAGE, CHECKS)
    assert "body" in info.value.fields
    _nothing_happened(notice, DraftStatus.EDITING)


def test_a_filled_text_goes_through_submit_approve_and_sending(staff, notice):
    fill(staff.responder, notice)
    service.submit(staff.responder, notice, CHECKS)
    service.approve(staff.supervisor, notice)
    publication = sending.record_sent(staff.responder, notice, {"url": POST_URL})
    db.session.commit()
    assert notice.status == DraftStatus.SENT and publication.revision_id == service.latest_revision(notice).id
    assert find_blanks(body(notice)) == []


def test_a_blank_typed_in_by_hand_is_refused_too(staff, notice):
    fill(staff.responder, notice)
    service.revise(staff.responder, notice, body(notice) + "次回は［日付を記入］にお知らせします。\n")
    db.session.commit()
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, notice, CHECKS)
    assert "［日付を記入］" in str(info.value.fields["body"])


def test_brackets_of_the_citys_own_prose_do_not_block(staff, notice):
    fill(staff.responder, notice)
    service.revise(staff.responder, notice, "［再掲］" + body(notice))
    service.submit(staff.responder, notice, CHECKS)
    assert notice.status == DraftStatus.SUBMITTED


def _as_before_the_rule(draft: Draft, status: DraftStatus) -> Draft:
    """A draft submitted (or approved) with blanks before they were refused: its stored state, set directly."""
    draft.status = status
    draft.route = Route.SUPERVISOR
    draft.approved_revision_id = service.latest_revision(draft).id
    db.session.commit()
    return draft


def test_approving_refuses_a_submitted_text_with_blanks(staff, notice):
    _as_before_the_rule(notice, DraftStatus.SUBMITTED)
    with pytest.raises(ValidationFailed) as info:
        service.approve(staff.supervisor, notice)
    assert "行目：［" in str(info.value.fields["body"])
    _nothing_happened(notice, DraftStatus.SUBMITTED)
    service.return_draft(staff.supervisor, notice, "空欄を埋めてください")  # what the approver does instead
    assert notice.status == DraftStatus.EDITING


def test_sending_refuses_an_approved_text_with_blanks(staff, notice):
    _as_before_the_rule(notice, DraftStatus.APPROVED)
    with pytest.raises(ValidationFailed) as info:
        sending.record_sent(staff.responder, notice, {"url": POST_URL})
    assert list(info.value.fields) == ["body"]
    _nothing_happened(notice, DraftStatus.APPROVED)
    fill(staff.responder, notice)  # the author fills it in: back to editing, to be approved again
    assert notice.status == DraftStatus.EDITING


def test_a_draft_in_the_wrong_state_still_gets_its_409_first(staff, notice):
    """The status check comes first: approving an unsubmitted text, or sending an unapproved one, is a 409."""
    with pytest.raises(CaseError):
        service.approve(staff.supervisor, notice)
    with pytest.raises(CaseError):
        sending.record_sent(staff.responder, notice, {"url": POST_URL})
    _as_before_the_rule(notice, DraftStatus.SUBMITTED)
    with pytest.raises(CaseError):
        service.submit(staff.responder, notice, CHECKS)


# --- the draft page ---------------------------------------------------------------------------------------


def draft_url(draft: Draft, suffix: str = "") -> str:
    return f"/cases/{draft.case_id}/drafts/{draft.id}{suffix}"


def flashes(page: str) -> list[str]:
    return re.findall(r'<div class="flash flash-error"[^>]*>(.*?)</div>', page, flags=re.S)


def test_the_page_lists_and_marks_the_blanks(staff, notice, client, login):
    login(staff.responder)
    page = client.get(draft_url(notice)).text
    found = find_blanks(body(notice))
    block = page.split('id="blanks"', 1)[1].split("</div>", 1)[0]
    opening = re.search(r'<div[^>]*\bid="blanks"[^>]*>', page).group()
    assert 'role="status"' in opening and 'aria-labelledby="h-blanks"' in opening  # announced, named
    assert f"未記入の箇所（{len(found)} 件）" in block
    for blank in found:
        assert f"{blank.line} 行目：{blank.text}" in block
        assert f'<mark class="blank">{blank.text}</mark>' in page
    assert f'href="{draft_url(notice)}?edit=1#body"' in block  # opens the editor without script
    assert 'data-blank-line="' in block
    assert "埋めるまで、承認の依頼・承認・公開の記録はできません" in page.split('id="approval"', 1)[1]
    assert '<script src="/static/blanks.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script (CSP script-src 'self')
    for asset in ("blanks.js", "blanks.css"):
        with client.get(f"/static/{asset}") as served:
            assert served.status_code == 200


def test_the_copied_text_is_the_text_without_marks(staff, notice, client, login):
    login(staff.responder)
    page = client.get(draft_url(notice)).text
    shown = re.search(r'<pre class="plain draft-body" id="draft-body"[^>]*>(.*?)</pre>', page, flags=re.S).group(1)
    assert re.sub(r"</?mark[^>]*>", "", shown) == body(notice)
    assert "<mark" not in client.get(draft_url(notice, "/export.txt")).text
    assert "<mark" not in client.get(draft_url(notice, "/print")).text


def test_a_filled_text_shows_no_blanks(staff, notice, client, login):
    fill(staff.responder, notice)
    login(staff.responder)
    page = client.get(draft_url(notice)).text
    assert 'id="blanks"' not in page and "<mark" not in page and "未記入の箇所" not in page


def test_markup_in_a_blank_is_escaped(staff, notice, client, login):
    service.revise(staff.responder, notice, body(notice) + "［<b>太字</b>を記入］\n")
    db.session.commit()
    login(staff.responder)
    page = client.get(draft_url(notice)).text
    assert "<b>太字</b>" not in page and "［&lt;b&gt;太字&lt;/b&gt;を記入］" in page


def test_submitting_through_the_page_shows_the_blanks_with_their_lines(staff, notice, client, login):
    login(staff.responder)
    response = client.post(draft_url(notice, "/submit"), data={"checks": CHECKS})
    assert response.status_code == 302 and response.headers["Location"].endswith("#approval")
    messages = flashes(client.get(draft_url(notice)).text)
    first = find_blanks(body(notice))[0]
    assert any("未記入の箇所" in m and f"{first.line} 行目：{first.text}" in m for m in messages), messages
    assert db.session.get(Draft, notice.id).status == DraftStatus.EDITING
    client.post(draft_url(notice, "/pre-approved"), data={"scope": "a", "source": CITY_PAGE, "checks": CHECKS})
    assert any("未記入の箇所" in m for m in flashes(client.get(draft_url(notice)).text))
    assert db.session.get(Draft, notice.id).status == DraftStatus.EDITING


def test_approving_and_recording_through_the_page_are_refused_too(staff, notice, client, login):
    _as_before_the_rule(notice, DraftStatus.SUBMITTED)
    login(staff.supervisor)
    client.post(draft_url(notice, "/approve"), data={})
    assert any("行目：［" in m for m in flashes(client.get(draft_url(notice)).text))
    db.session.expire_all()
    assert db.session.get(Draft, notice.id).status == DraftStatus.SUBMITTED
    _as_before_the_rule(db.session.get(Draft, notice.id), DraftStatus.APPROVED)
    login(staff.responder)
    client.post(draft_url(notice, "/sent"), data={"channel": "post", "url": POST_URL})
    assert any("行目：［" in m for m in flashes(client.get(draft_url(notice)).text))
    db.session.expire_all()
    assert db.session.get(Draft, notice.id).status == DraftStatus.APPROVED
    assert db.session.scalar(select(func.count()).select_from(Publication)) == 0


def test_filling_through_the_editor_then_submitting_works(staff, notice, client, login):
    login(staff.responder)
    text = body(notice)
    for blank in find_blanks(text):
        text = text.replace(blank.text, "5月1日の本アカウントの投稿", 1)
    assert client.post(draft_url(notice, "/revisions"), data={"body": text, "base_revision": "1"}).status_code == 302
    assert client.post(draft_url(notice, "/submit"), data={"checks": CHECKS}).status_code == 302
    assert db.session.get(Draft, notice.id).status == DraftStatus.SUBMITTED
