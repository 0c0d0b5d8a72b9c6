"""Outgoing texts at the service level (issue 5): generation from the case, approval (3(1)イ(ウ)),
the section-4 checks, sending, takedown follow-ups, the published ledger and append-only storage."""
from __future__ import annotations

import datetime as dt
import io
import types

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from incident.accounts.models import FakeAccountEvent, FakeAccountState
from incident.cases.models import TimelineEvent
from incident.database import APPEND_ONLY_TABLES
from incident.dates import era_date, format_datetime, utcnow
from incident.drafts import sending, service
from incident.drafts.blanks import find_blanks
from incident.drafts.models import (
    Draft,
    DraftCheck,
    DraftEvent,
    DraftRevision,
    DraftStatus,
    DraftType,
    Outcome,
    Publication,
    Route,
)
from incident.errors import CaseError, Conflict, NotFound, PermissionDenied, ValidationFailed
from incident.evidence import service as evidence
from incident.extensions import db
from incident.fakes import service as fakes
from incident.playbooks import service as playbooks
from incident.playbooks.loader import KINDS

CHECKS = list(service.SECTION4_CHECKS)
JST = dt.timezone(dt.timedelta(hours=9))
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/bousai/notice.html"


@pytest.fixture
def staff(app, make, tmp_path):
    """The disaster-prevention department (two responders and their supervisor), another department,
    and the PR office."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    dept = make.department("bousai", "防災課")
    dept.contact = "0225-95-1111（防災課 直通）"
    other = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    db.session.commit()
    return types.SimpleNamespace(
        dept=dept, other=other,
        responder=make.user("responder", dept, name="担当 一郎"),
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        other_responder=make.user("responder", other, name="観光 担当"),
        other_supervisor=make.user("supervisor", other, name="観光 所属長"),
        admin=make.user("admin", pr, name="広報 担当"),
    )


def _png(n: int) -> io.BytesIO:
    """A real small PNG, different for each n."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (n, n, n)).save(out, "PNG")
    return io.BytesIO(out.getvalue())


def _pdf() -> io.BytesIO:
    """A real one-page PDF."""
    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    writer.write(out)
    return io.BytesIO(out.getvalue())


@pytest.fixture
def impersonation(staff, make):
    """A realistic impersonation case: the genuine X account, a fake of it, two screenshots, one
    screenshot withdrawn as a mistake, and a proof-of-authority file."""
    account = make.account(staff.dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_city")
    case = make.case(staff.responder, kind="impersonation", severity="high", title="防災アカウントのなりすまし",
                     platform="x", official_account_id=account.id)
    fake, _ = fakes.record_fake(staff.responder, {
        "platform": "x", "url": "https://x.com/ishinomaki_clty", "display_name": "石巻市防災【公式】"}, case)
    profile = evidence.add_evidence(staff.responder, case, _png(1), "fake_profile.png", note="プロフィール",
                                    captured_at=dt.datetime(2025, 11, 20, 9, 5, tzinfo=JST))
    post = evidence.add_evidence(staff.responder, case, _png(2), "fake_post.png", note="偽の投稿",
                                 captured_at=dt.datetime(2025, 11, 21, 18, 30, tzinfo=JST))
    wrong = evidence.add_evidence(staff.responder, case, _png(3), "unrelated.png",
                                  captured_at=dt.datetime(2025, 11, 21, 19, 0, tzinfo=JST))
    evidence.withdraw(staff.responder, wrong, "別の案件の画像だった")
    proof = evidence.add_evidence(staff.responder, case, _pdf(), "list.pdf",
                                  purpose="authority_proof")
    db.session.commit()
    return types.SimpleNamespace(case=case, account=account, fake=fake, profile=profile, post=post,
                                 wrong=wrong, proof=proof)


@pytest.fixture
def flaming(staff, make):
    """A flaming case about one of the city's own posts."""
    return make.case(staff.responder, kind="flaming", title="イベント告知の誤り",
                     urls=["https://x.com/ishinomaki_city/status/1234567890"])


def create(actor, case, **data) -> Draft:
    draft = service.create_draft(actor, case, data)
    db.session.commit()
    return draft


def body(draft: Draft) -> str:
    return service.latest_revision(draft).body


def _filled(text: str) -> str:
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    return text


def fill(actor, draft: Draft) -> Draft:
    """Write in every ［…を記入］ blank the template left, in the body and in the website rendition (a notice
    generated for X has both: the short post and the long text), as staff do before submitting: a new
    revision."""
    revision = service.latest_revision(draft)
    text, web = _filled(revision.body), _filled(revision.web_body)
    if (text, web) != (revision.body, revision.web_body):
        service.revise(actor, draft, text, web_body=web)
        db.session.commit()
    return draft


def create_filled(actor, case, **data) -> Draft:
    """A draft generated from the case with its blanks filled in by its author, ready to submit."""
    return fill(actor, create(actor, case, **data))


def approve(staff, draft: Draft) -> Draft:
    fill(staff.responder, draft)
    service.submit(staff.responder, draft, CHECKS)
    service.approve(staff.supervisor, draft)
    db.session.commit()
    return draft


def send(staff, draft: Draft, **data) -> Publication:
    publication = sending.record_sent(staff.responder, draft, data)
    db.session.commit()
    return publication


def published(staff, case, send_data: dict, **create_data) -> tuple[Draft, Publication]:
    draft = approve(staff, create(staff.responder, case, **create_data))
    return draft, send(staff, draft, **send_data)


def timeline(case) -> list[TimelineEvent]:
    return list(db.session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == case.id)
                                   .order_by(TimelineEvent.id)))


# --- each type contains the facts it must -------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_takedown_names_fake_genuine_account_and_evidence(staff, impersonation, lang):
    """A takedown request cites the fake, the genuine account and each capture with time and hash."""
    draft = create(staff.responder, impersonation.case, type="takedown", lang=lang)
    assert draft.platform == "x" and draft.lang == lang and draft.status == DraftStatus.EDITING
    text = body(draft)
    assert "https://x.com/ishinomaki_clty" in text and "@ishinomaki_clty" in text
    assert "https://x.com/ishinomaki_city" in text
    for shot, shown_at in ((impersonation.profile, "2025-11-20 09:05"), (impersonation.post, "2025-11-21 18:30")):
        assert shot.original_name in text and shot.sha256 in text and shown_at in text
    assert impersonation.wrong.original_name not in text and impersonation.wrong.sha256 not in text
    # The proof of authority is attached to the form, not listed as evidence of the impersonation.
    assert impersonation.proof.sha256 not in text
    assert staff.dept.name in text and impersonation.case.number in text


def test_takedown_revision_one_is_the_generated_text(staff, impersonation):
    """Revision 1 is the template's output, authored by the creator and marked generated."""
    draft = create(staff.responder, impersonation.case, type="takedown")
    [revision] = draft.revisions
    assert revision.number == 1 and revision.origin == "generated" and revision.author_id == staff.responder.id


def test_takedown_platform_defaults_and_english_only_for_takedowns(staff, impersonation):
    """The platform comes from the case; other types have no English template and say so."""
    assert create(staff.responder, impersonation.case, type="takedown", platform="facebook").platform == "facebook"
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, impersonation.case, {"type": "press", "lang": "en"})
    assert "lang" in info.value.fields
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, impersonation.case, {"type": "takedown", "platform": "myspace"})
    assert "platform" in info.value.fields
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, impersonation.case, {"type": "letter"})
    assert "type" in info.value.fields


def test_press_has_reiwa_date_department_and_contact(staff, impersonation):
    """報道機関への情報提供: dated by era (令和), from the department, with its contact."""
    text = body(create(staff.responder, impersonation.case, type="press"))
    assert era_date(utcnow()) in text and era_date(utcnow()).startswith("令和")
    assert "報道機関各位" in text
    assert staff.dept.name in text and staff.dept.contact in text
    assert "https://x.com/ishinomaki_clty" in text and "https://x.com/ishinomaki_city" in text


def test_interim_notice_has_date_and_contact(staff, flaming):
    """An interim notice is dated and tells readers whom to ask."""
    text = body(create(staff.responder, flaming, type="interim_notice"))
    now = utcnow().astimezone(JST)
    assert f"{now.year}年{now.month}月{now.day}日" in text
    assert staff.dept.name in text and staff.dept.contact in text


def test_final_notice_cites_the_interim_notice_and_is_linked_to_it(staff, flaming):
    """A final notice names the interim notice's date and URL; its ledger entry supersedes it."""
    interim_url = "https://www.city.ishinomaki.lg.jp/news/interim.html"
    _interim, interim_pub = published(staff, flaming, {"url": interim_url, "sent_at": "2025-11-21T10:00:00+09:00"},
                                      type="interim_notice")
    final = create(staff.responder, flaming, type="final_notice")
    text = body(final)
    assert "2025年11月21日" in text and interim_url in text
    assert final.supersedes_id == interim_pub.id
    final_pub = send(staff, approve(staff, final), url="https://www.city.ishinomaki.lg.jp/news/final.html")
    assert final_pub.supersedes_id == interim_pub.id and final_pub.supersedes.kind == "interim_notice"


def test_final_notice_may_only_follow_an_interim_notice(staff, flaming):
    """Pointing a final notice at something that is not an interim notice is refused."""
    _d, other_pub = published(staff, flaming, {"url": CITY_PAGE}, type="correct_info", link=CITY_PAGE)
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, flaming, {"type": "final_notice", "supersedes_id": str(other_pub.id)})
    assert "supersedes_id" in info.value.fields


def test_correction_cites_the_corrected_post(staff, flaming):
    """A correction names the post it corrects; the ledger entry keeps that link (the post stays up)."""
    item = flaming.offending_items[0]
    draft = create(staff.responder, flaming, type="correction", corrects_item_id=str(item.id))
    assert item.target in body(draft) and draft.corrects_item_id == item.id
    publication = send(staff, approve(staff, draft), url="https://x.com/ishinomaki_city/status/2")
    assert publication.corrects_item_id == item.id and publication.kind == "correction"


def test_correction_of_another_cases_post_is_refused(staff, flaming, make):
    """A correction can only point at a post recorded on its own case."""
    elsewhere = make.case(staff.responder, urls=["https://x.com/ishinomaki_city/status/999"])
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, flaming, {"type": "correction",
                                                       "corrects_item_id": elsewhere.offending_items[0].id})
    assert "corrects_item_id" in info.value.fields


def test_correction_of_a_publication_supersedes_it(staff, flaming):
    """Correcting the city's own earlier notice: the correction cites it and supersedes it in the ledger."""
    _d, first = published(staff, flaming, {"url": "https://x.com/ishinomaki_city/status/55",
                                          "sent_at": "2025-10-01T12:00:00+09:00"}, type="interim_notice")
    draft = create(staff.responder, flaming, type="correction", supersedes_id=str(first.id))
    assert "https://x.com/ishinomaki_city/status/55" in body(draft) and "2025年10月1日" in body(draft)
    assert send(staff, approve(staff, draft), url=CITY_PAGE).supersedes_id == first.id


def test_correct_info_contains_the_city_link(staff, make):
    """The correct information always carries the link to the city's page (3(4)ウ(ア))."""
    case = make.case(staff.responder, kind="false_information", title="受付期間のデマ")
    draft = create(staff.responder, case, type="correct_info", link=CITY_PAGE)
    assert CITY_PAGE in body(draft) and draft.link == CITY_PAGE


@pytest.mark.parametrize("link", ["", "https://evil.example.com/ishinomaki", "javascript:alert(1)",
                                  "https://city.ishinomaki.lg.jp.evil.example/"])
def test_correct_info_refuses_a_non_city_link(staff, make, link):
    """Only a page on the city's own domain may be given as the correct information."""
    case = make.case(staff.responder, kind="false_information")
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, case, {"type": "correct_info", "link": link})
    assert "link" in info.value.fields
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_citizen_warning_has_fake_and_genuine_accounts(staff, impersonation):
    """A warning names the fake (its URL written so it is not a link) and the genuine account's URL: in the
    long text, the website rendition of a warning posted on X (tests/drafts/test_channels.py)."""
    text = service.latest_revision(create(staff.responder, impersonation.case, type="citizen_warning")).web_body
    assert "@ishinomaki_clty" in text and "x．com/ishinomaki_clty" in text
    assert "https://x.com/ishinomaki_clty" not in text
    assert "https://x.com/ishinomaki_city" in text and "石巻市防災【公式】" in text
    assert staff.dept.contact in text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("draft_type", [t.value for t in DraftType])
def test_every_type_renders_for_every_kind_of_case(staff, make, kind, draft_type):
    """Templates branch on the case's kind: each type generates for each kind without error."""
    case = make.case(staff.responder, kind=kind, title="種別ごとの確認")
    draft = create(staff.responder, case, type=draft_type, link=CITY_PAGE)
    text = body(draft)
    assert staff.dept.name in text and "{{" not in text and "{%" not in text
    if kind == "account_takeover" and draft_type == "citizen_warning":
        assert "不正アクセス" in text  # the takeover wording, not the fake-account warning


def test_closed_case_gets_no_new_drafts(staff, make):
    """A closed case must be reopened before writing."""
    case = make.case(staff.responder)
    from incident.cases.models import CaseStatus

    case.status = CaseStatus.CLOSED
    db.session.commit()
    with pytest.raises(CaseError):
        service.create_draft(staff.responder, case, {"type": "interim_notice"})


def test_other_department_cannot_create(staff, impersonation):
    """A responder of another department does not even learn the case exists."""
    with pytest.raises(NotFound):
        service.create_draft(staff.other_responder, impersonation.case, {"type": "press"})


def test_takedown_checklist_names_what_the_platform_form_still_needs(staff, impersonation, make):
    """The platform's form asks (platforms.toml) are checked against the case; missing ones are named."""
    case = impersonation.case
    draft = create(staff.responder, case, type="takedown")
    requirements = sending.platform_checklist(staff.responder, case, draft)
    assert [r.key for r in requirements] == list(service.wording().platforms["x"].asks)
    assert all(r.ok for r in requirements)
    evidence.withdraw(staff.responder, impersonation.proof, "古い一覧だった")
    db.session.commit()
    withdrawn = {r.key: r.ok for r in sending.platform_checklist(staff.responder, case, draft)}
    assert withdrawn["authority_proof"] is False  # a withdrawn file proves nothing
    bare = make.case(staff.responder, kind="impersonation", platform="instagram", title="情報の少ない案件")
    missing = {r.key: str(r.missing) for r in sending.platform_checklist(
        staff.responder, bare, create(staff.responder, bare, type="takedown")) if not r.ok}
    assert set(missing) == {"genuine_url", "fake_url", "id_document"}
    assert "正規アカウントの URL" in missing["genuine_url"] and "身分証明書" in missing["id_document"]


def test_final_notice_does_not_default_to_a_withdrawn_interim_notice(staff, flaming):
    """An interim notice taken back is no longer what the final notice follows."""
    _d, standing = published(staff, flaming, {"url": "https://www.city.ishinomaki.lg.jp/news/1.html",
                                             "sent_at": "2025-11-01T10:00:00+09:00"}, type="interim_notice")
    _d, wrong = published(staff, flaming, {"url": "https://www.city.ishinomaki.lg.jp/news/2.html",
                                          "sent_at": "2025-11-02T10:00:00+09:00"}, type="interim_notice")
    sending.withdraw(staff.supervisor, wrong, "日付に誤りがあったため取り下げ")
    db.session.commit()
    final = create(staff.responder, flaming, type="final_notice")
    assert final.supersedes_id == standing.id
    assert "https://www.city.ishinomaki.lg.jp/news/1.html" in body(final)
    # Naming the withdrawn one explicitly is refused too.
    with pytest.raises(ValidationFailed) as info:
        service.create_draft(staff.responder, flaming, {"type": "final_notice", "supersedes_id": wrong.id})
    assert "supersedes_id" in info.value.fields


def test_follow_up_dates_cannot_lie_before_the_request(staff, impersonation):
    """A follow-up before the submission day, or an answer's next check in the past, is a typing mistake."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    with pytest.raises(ValidationFailed) as info:
        sending.record_sent(staff.responder, draft, {"sent_at": "2026-11-20T10:00:00+09:00",
                                                     "follow_up_on": "2026-11-19"})
    assert "follow_up_on" in info.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Publication)) == 0
    send(staff, draft, sent_at="2026-11-20T10:00:00+09:00")
    with pytest.raises(ValidationFailed) as info:
        sending.record_answer(staff.responder, draft, {"follow_up_on": "2020-01-01"})
    assert "follow_up_on" in info.value.fields


# --- approval rules (3(1)イ(ウ), section 4) ------------------------------------------------------------


def test_author_cannot_approve_own_draft(staff, impersonation):
    """No self-approval, even for a supervisor who wrote the text."""
    draft = create_filled(staff.supervisor, impersonation.case, type="press")
    service.submit(staff.supervisor, draft, CHECKS)
    db.session.commit()
    with pytest.raises(PermissionDenied):
        service.approve(staff.supervisor, draft)
    service.approve(staff.admin, draft)  # the PR office may approve instead
    assert draft.status == DraftStatus.APPROVED


def test_submitter_of_a_colleagues_text_cannot_approve_it(staff, impersonation):
    """A supervisor who submits a responder's text is not also its approver."""
    draft = create_filled(staff.responder, impersonation.case, type="press")
    service.submit(staff.supervisor, draft, CHECKS)
    with pytest.raises(PermissionDenied):
        service.approve(staff.supervisor, draft)


def test_responder_cannot_approve_on_the_supervisor_route(staff, impersonation):
    """Only the department's supervisor (or the PR office) approves a submitted text."""
    draft = create_filled(staff.responder, impersonation.case, type="press")
    service.submit(staff.responder, draft, CHECKS)
    db.session.commit()
    with pytest.raises(PermissionDenied):
        service.approve(staff.colleague, draft)
    assert draft.status == DraftStatus.SUBMITTED


def test_other_departments_supervisor_gets_not_found(staff, impersonation):
    """Another department's supervisor cannot see, let alone approve or return, the draft."""
    draft = create_filled(staff.responder, impersonation.case, type="press")
    service.submit(staff.responder, draft, CHECKS)
    db.session.commit()
    with pytest.raises(NotFound):
        service.approve(staff.other_supervisor, draft)
    with pytest.raises(NotFound):
        service.return_draft(staff.other_supervisor, draft, "だめ")
    with pytest.raises(NotFound):
        service.get_draft(staff.other_supervisor, impersonation.case.id, draft.id)


def test_approving_an_unsubmitted_draft_is_a_case_error(staff, impersonation):
    """Approval needs a submitted text (409 in the API)."""
    draft = create(staff.responder, impersonation.case, type="press")
    with pytest.raises(CaseError):
        service.approve(staff.supervisor, draft)
    assert draft.status == DraftStatus.EDITING


@pytest.mark.parametrize("ticked", [[], CHECKS[:-1], CHECKS[1:], "public_info", None])
def test_submit_needs_all_five_section4_checks(staff, impersonation, ticked):
    """Submitting without every section-4 check is refused and stores nothing."""
    draft = create(staff.responder, impersonation.case, type="press")
    with pytest.raises(ValidationFailed) as info:
        service.submit(staff.responder, draft, ticked)
    db.session.rollback()
    assert "checks" in info.value.fields
    assert db.session.scalar(select(func.count()).select_from(DraftCheck)) == 0
    assert db.session.get(Draft, draft.id).status == DraftStatus.EDITING
    assert not db.session.scalars(select(DraftEvent).where(DraftEvent.action == "submitted")).all()


def test_checks_are_stored_per_revision_with_their_actor(staff, impersonation):
    """Each of the five checks is a row for the submitted revision, by whoever ticked it."""
    draft = create_filled(staff.responder, impersonation.case, type="press")
    service.submit(staff.responder, draft, CHECKS)
    db.session.commit()
    first = service.latest_revision(draft)
    rows = service.checks_of(first)
    assert sorted(r.check_key for r in rows) == sorted(CHECKS)
    assert {r.actor_id for r in rows} == {staff.responder.id}
    second = service.revise(staff.colleague, draft, body(draft) + "追記\n")
    db.session.commit()
    assert service.checks_of(second) == []  # a new wording must be checked again
    service.submit(staff.colleague, draft, CHECKS)
    db.session.commit()
    assert {r.actor_id for r in service.checks_of(second)} == {staff.colleague.id}
    assert len(service.checks_of(first)) == 5


@pytest.mark.parametrize("stage", ["submitted", "approved"])
def test_new_revision_sends_the_draft_back_to_editing(staff, impersonation, stage):
    """Approval is of one wording: changing the text clears it."""
    draft = create_filled(staff.responder, impersonation.case, type="press")
    service.submit(staff.responder, draft, CHECKS)
    if stage == "approved":
        service.approve(staff.supervisor, draft)
    db.session.commit()
    submitted = service.latest_revision(draft)
    revision = service.revise(staff.responder, draft, body(draft) + "一文を追加しました。\n")
    db.session.commit()
    assert revision.number == submitted.number + 1 and revision.origin == "edited"
    assert draft.status == DraftStatus.EDITING
    assert draft.approved_revision_id is None and draft.route is None
    event = service.history(draft)[-1]
    assert event.action == "revised" and event.data.get("approval_cleared") is True
    with pytest.raises(CaseError):
        service.approve(staff.supervisor, draft)


def test_revision_keeps_earlier_wordings(staff, impersonation):
    """Revisions are added, never replaced; an unchanged text is refused; a stale base conflicts."""
    draft = create(staff.responder, impersonation.case, type="press")
    original = body(draft)
    service.revise(staff.responder, draft, "新しい本文", base_revision="1")
    db.session.commit()
    assert [r.number for r in draft.revisions] == [1, 2]
    assert draft.revisions[0].body == original
    with pytest.raises(CaseError):
        service.revise(staff.responder, draft, "新しい本文")
    with pytest.raises(Conflict):
        service.revise(staff.colleague, draft, "古い版からの書き換え", base_revision="1")
    with pytest.raises(ValidationFailed):
        service.revise(staff.responder, draft, "   ")


def test_return_needs_a_comment_and_reopens_editing(staff, impersonation):
    """A supervisor sends the text back with a comment, kept on the draft's history and the timeline."""
    case = impersonation.case
    draft = create_filled(staff.responder, case, type="press")
    service.submit(staff.responder, draft, CHECKS)
    db.session.commit()
    with pytest.raises(ValidationFailed) as info:
        service.return_draft(staff.supervisor, draft, "  ")
    assert "comment" in info.value.fields
    with pytest.raises(PermissionDenied):
        service.return_draft(staff.colleague, draft, "私も気になる")
    event = service.return_draft(staff.supervisor, draft, "被害の有無を確認中と書いてください")
    db.session.commit()
    assert draft.status == DraftStatus.EDITING and draft.approved_revision_id is None
    assert event.action == "returned" and event.comment == "被害の有無を確認中と書いてください"
    assert event.actor_id == staff.supervisor.id
    returned = [e for e in timeline(case) if e.event == "draft_returned"]
    assert returned and returned[0].data["comment"] == "被害の有無を確認中と書いてください"
    with pytest.raises(CaseError):
        service.return_draft(staff.supervisor, draft, "もう一度")


@pytest.mark.parametrize(("scope", "source", "field"), [
    ("d", CITY_PAGE, "scope"), ("", CITY_PAGE, "scope"), (None, CITY_PAGE, "scope"),
    ("a", "", "source"), ("a", "   ", "source"), ("b", None, "source"),
])
def test_pre_approved_scope_needs_a_scope_and_a_source(staff, impersonation, scope, source, field):
    """Marking a text as within a pre-approved scope names (a)(b)(c) and where it was published."""
    draft = create(staff.responder, impersonation.case, type="citizen_warning")
    with pytest.raises(ValidationFailed) as info:
        service.mark_pre_approved(staff.responder, draft, scope, source, CHECKS)
    assert field in info.value.fields
    assert draft.status == DraftStatus.EDITING


def test_pre_approved_with_a_colleague_waits_for_the_second_check(staff, impersonation):
    """With a second person in the department, their check is recorded before the text goes out (c)."""
    draft = create_filled(staff.responder, impersonation.case, type="citizen_warning")
    event = service.mark_pre_approved(staff.responder, draft, "a", CITY_PAGE, CHECKS)
    db.session.commit()
    assert draft.status == DraftStatus.SUBMITTED and draft.route == Route.PRE_APPROVED
    assert draft.scope == "a" and draft.scope_source == CITY_PAGE
    assert event.action == "pre_approved" and event.data["second_check"] == "pending"
    assert event.data["scope"] == "a" and event.data["source"] == CITY_PAGE
    assert len(service.checks_of(service.latest_revision(draft))) == 5
    with pytest.raises(PermissionDenied):
        service.approve(staff.responder, draft)
    with pytest.raises(NotFound):
        service.approve(staff.other_responder, draft)
    with pytest.raises(CaseError):
        sending.record_sent(staff.responder, draft, {"url": "https://x.com/ishinomaki_city/status/1"})
    check = service.approve(staff.colleague, draft, "公表済みのページと一致")
    db.session.commit()
    assert check.action == "second_checked" and check.actor_id == staff.colleague.id
    assert draft.status == DraftStatus.APPROVED


def test_pre_approved_alone_is_approved_with_no_second_check(staff, make):
    """Alone in the department (others inactive), the text is approved at once and says why."""
    lone = make.department("shisho", "北上総合支所")
    author = make.user("responder", lone)
    make.user("responder", lone, active=False)
    case = make.case(author, kind="false_information")
    draft = create_filled(author, case, type="correct_info", link=CITY_PAGE)
    event = service.mark_pre_approved(author, draft, "c", "災害対策基本法", CHECKS)
    db.session.commit()
    assert draft.status == DraftStatus.APPROVED and draft.route == Route.PRE_APPROVED
    assert event.data["second_check"] == "unavailable"
    assert [e.event for e in timeline(case)][-1] == "draft_pre_approved"


def test_every_decision_is_on_the_case_timeline(staff, impersonation):
    """Created, submitted, returned, approved, pre-approved, second-checked and sent all show on the timeline."""
    case = impersonation.case
    press = create_filled(staff.responder, case, type="press")
    service.submit(staff.responder, press, CHECKS)
    service.return_draft(staff.supervisor, press, "日付を直して")
    service.revise(staff.responder, press, body(press) + "（修正）\n")
    service.submit(staff.responder, press, CHECKS)
    service.approve(staff.supervisor, press)
    sending.record_sent(staff.responder, press, {"channel": "press"})
    warning = create_filled(staff.responder, case, type="citizen_warning")
    service.mark_pre_approved(staff.responder, warning, "a", CITY_PAGE, CHECKS)
    service.approve(staff.colleague, warning)
    db.session.commit()
    events = [(e.event, e.data.get("draft_id"), e.actor_id) for e in timeline(case) if e.event.startswith("draft_")]
    names = [name for name, _d, _a in events]
    for name in ("draft_created", "draft_submitted", "draft_returned", "draft_revised", "draft_approved",
                 "draft_sent", "draft_pre_approved", "draft_second_checked"):
        assert name in names, name
    assert ("draft_approved", press.id, staff.supervisor.id) in events
    assert ("draft_second_checked", warning.id, staff.colleague.id) in events
    assert [e.action for e in service.history(press)] == [
        "created", "revised", "submitted", "returned", "revised", "submitted", "approved", "sent"]  # blanks filled first


# --- sending, follow-ups and the ledger ----------------------------------------------------------------


@pytest.mark.parametrize("stage", ["editing", "submitted"])
def test_only_an_approved_text_can_be_sent(staff, impersonation, stage):
    """Nothing leaves the city without approval (3(1)イ(ウ))."""
    draft = create_filled(staff.responder, impersonation.case, type="takedown")
    if stage == "submitted":
        service.submit(staff.responder, draft, CHECKS)
    with pytest.raises(CaseError):
        sending.record_sent(staff.responder, draft, {"channel": "form"})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Publication)) == 0


@pytest.mark.parametrize("channel", ["post", "website"])
def test_a_posted_notice_needs_its_url(staff, impersonation, channel):
    """A notice posted on social media or the website records where it is."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="citizen_warning"))
    with pytest.raises(ValidationFailed) as info:
        sending.record_sent(staff.responder, draft, {"channel": channel})
    assert "url" in info.value.fields
    with pytest.raises(ValidationFailed) as info:
        sending.record_sent(staff.responder, draft, {"channel": channel, "url": "javascript:alert(1)"})
    assert "url" in info.value.fields
    publication = sending.record_sent(staff.responder, draft, {"channel": channel, "url": CITY_PAGE})
    assert publication.url == CITY_PAGE and draft.status == DraftStatus.SENT


@pytest.mark.parametrize(("data", "field"), [
    ({"channel": "fax"}, "channel"),
    ({"channel": "post", "url": CITY_PAGE}, "channel"),  # "post" is not how a takedown goes
    ({"sent_at": "yesterday"}, "sent_at"),
    ({"sent_at": (utcnow() + dt.timedelta(days=2)).isoformat()}, "sent_at"),
    ({"follow_up_on": "2025-13-45"}, "follow_up_on"),
])
def test_bad_sending_details_are_refused(staff, impersonation, data, field):
    """Channel, time and follow-up date are checked."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    with pytest.raises(ValidationFailed) as info:
        sending.record_sent(staff.responder, draft, data)
    assert field in info.value.fields


def test_takedown_follow_up_defaults_to_seven_days_in_tokyo(staff, impersonation):
    """Sent at 00:30 in Japan (15:30 UTC the day before): the follow-up is 7 Japanese days later."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    publication = send(staff, draft, channel="form", reference="X-123",
                       sent_at="2025-06-10T15:30:00+00:00")
    assert draft.follow_up_on == dt.date(2025, 6, 18)
    assert publication.reference == "X-123" and publication.channel == "form" and publication.kind == "takedown"
    assert publication.revision_id == draft.approved_revision_id
    sent_event = service.history(draft)[-1]
    assert sent_event.action == "sent" and sent_event.data["follow_up_on"] == "2025-06-18"


def test_takedown_follow_up_for_a_platform_without_answer_days(staff, impersonation):
    """platforms.toml gives "other" no answer time: the default of 7 days applies."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown", platform="other"))
    send(staff, draft, channel="email", sent_at="2025-06-10T10:00:00+09:00")
    assert draft.follow_up_on == dt.date(2025, 6, 17)


def test_takedown_follow_up_can_be_given(staff, impersonation):
    """TikTok answers can take weeks: the responder may set a later date."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    send(staff, draft, channel="in_app", follow_up_on="2025-07-31", sent_at="2025-06-10T10:00:00+09:00")
    assert draft.follow_up_on == dt.date(2025, 7, 31)


def test_sending_a_takedown_marks_live_fakes_on_that_platform_reported(staff, impersonation):
    """Linked fakes still live on the request's platform become "reported"; others are left alone."""
    case = impersonation.case
    on_facebook, _ = fakes.record_fake(staff.responder, {"platform": "facebook",
                                                        "url": "https://www.facebook.com/ishinomaki.fake"}, case)
    removed, _ = fakes.record_fake(staff.responder, {"platform": "x", "handle": "@ishinomaki_old"}, case)
    fakes.change_state(staff.responder, removed, "removed", "削除済み")
    db.session.commit()
    draft = approve(staff, create(staff.responder, case, type="takedown"))
    send(staff, draft, channel="form")
    assert impersonation.fake.state == FakeAccountState.REPORTED
    assert on_facebook.state == FakeAccountState.LIVE
    assert removed.state == FakeAccountState.REMOVED
    last = db.session.scalars(select(FakeAccountEvent).where(FakeAccountEvent.fake_account_id == impersonation.fake.id)
                              .order_by(FakeAccountEvent.id.desc())).first()
    assert last.state == FakeAccountState.REPORTED and f"#{draft.id}" in last.note


def test_platform_answer_with_outcome_closes_the_request(staff, impersonation):
    """The platform's answer and outcome are recorded once."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    send(staff, draft, sent_at="2025-06-10T10:00:00+09:00")
    with pytest.raises(ValidationFailed) as info:
        sending.record_answer(staff.responder, draft, {"outcome": "maybe"})
    assert "outcome" in info.value.fields
    sending.record_answer(staff.responder, draft, {"outcome": "removed", "answer": "削除されました"})
    db.session.commit()
    assert draft.outcome == Outcome.REMOVED
    event = service.history(draft)[-1]
    assert event.action == "answered" and event.comment == "削除されました"
    assert sending.follow_ups_due([impersonation.case.id], on=dt.date(2030, 1, 1)) == {}
    with pytest.raises(CaseError):
        sending.record_answer(staff.responder, draft, {"outcome": "refused"})


def test_platform_answer_without_outcome_needs_the_next_follow_up(staff, impersonation):
    """Still waiting: the responder sets when to check again."""
    draft = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    send(staff, draft, sent_at="2025-06-10T10:00:00+09:00")
    with pytest.raises(ValidationFailed) as info:
        sending.record_answer(staff.responder, draft, {"answer": "受付済みとの返信"})
    assert "follow_up_on" in info.value.fields
    next_check = sending.today() + dt.timedelta(days=14)
    sending.record_answer(staff.responder, draft, {"answer": "受付済みとの返信", "follow_up_on": next_check.isoformat()})
    db.session.commit()
    assert draft.outcome is None and draft.follow_up_on == next_check


def test_answers_only_for_sent_takedowns(staff, impersonation):
    """A press notice, or an unsent takedown, has no platform answer."""
    press, _ = published(staff, impersonation.case, {"channel": "press"}, type="press")
    with pytest.raises(CaseError):
        sending.record_answer(staff.responder, press, {"outcome": "removed"})
    takedown = approve(staff, create(staff.responder, impersonation.case, type="takedown"))
    with pytest.raises(CaseError):
        sending.record_answer(staff.responder, takedown, {"outcome": "removed"})


def test_follow_ups_due_lists_only_due_unanswered_takedowns(staff, make):
    """The case list's badge: only takedowns whose date has come and that have no outcome."""
    def case_with_takedown(follow_up: str | None, outcome: str | None = None, sent: bool = True):
        case = make.case(staff.responder, kind="impersonation", platform="x")
        draft = approve(staff, create(staff.responder, case, type="takedown"))
        if sent:
            send(staff, draft, sent_at="2025-06-01T10:00:00+09:00", follow_up_on=follow_up)
        if outcome:
            sending.record_answer(staff.responder, draft, {"outcome": outcome})
            db.session.commit()
        return case

    due = case_with_takedown("2025-06-08")
    today = case_with_takedown("2025-06-10")
    later = case_with_takedown("2025-06-11")
    answered = case_with_takedown("2025-06-05", outcome="refused")
    unsent = case_with_takedown(None, sent=False)
    press_case = make.case(staff.responder)
    published(staff, press_case, {"channel": "press"}, type="press")
    not_asked = case_with_takedown("2025-06-01")
    ids = [due.id, today.id, later.id, answered.id, unsent.id, press_case.id]
    assert sending.follow_ups_due(ids, on=dt.date(2025, 6, 10)) == {
        due.id: dt.date(2025, 6, 8), today.id: dt.date(2025, 6, 10)}
    assert not_asked.id not in sending.follow_ups_due(ids, on=dt.date(2025, 6, 10))
    assert sending.follow_ups_due([], on=dt.date(2025, 6, 10)) == {}


def test_earliest_follow_up_of_a_case_is_reported(staff, impersonation):
    """Two requests on one case: the earliest due date is what the list shows."""
    for platform, day in (("x", "2025-06-09"), ("facebook", "2025-06-03")):
        draft = approve(staff, create(staff.responder, impersonation.case, type="takedown", platform=platform))
        send(staff, draft, sent_at="2025-06-01T10:00:00+09:00", follow_up_on=day)
    assert sending.follow_ups_due([impersonation.case.id], on=dt.date(2025, 6, 10)) == {
        impersonation.case.id: dt.date(2025, 6, 3)}


def test_withdrawal_is_a_new_ledger_entry(staff, impersonation):
    """Withdrawing a published text adds an entry superseding it; the original entry is untouched."""
    _draft, original = published(staff, impersonation.case, {"url": "https://x.com/ishinomaki_city/status/77"},
                                 type="citizen_warning")
    before = (original.kind, original.url, original.note, original.published_at, original.supersedes_id)
    with pytest.raises(PermissionDenied):
        sending.withdraw(staff.responder, original, "誤りがあった")
    with pytest.raises(NotFound):
        sending.withdraw(staff.other_supervisor, original, "誤りがあった")
    with pytest.raises(ValidationFailed):
        sending.withdraw(staff.supervisor, original, "")
    entry = sending.withdraw(staff.supervisor, original, "偽アカウントの URL に誤り")
    db.session.commit()
    db.session.expire_all()
    original = db.session.get(Publication, original.id)
    assert (original.kind, original.url, original.note, original.published_at, original.supersedes_id) == before
    assert entry.kind == "withdrawal" and entry.supersedes_id == original.id and entry.note == "偽アカウントの URL に誤り"
    assert [p.id for p in sending.ledger(impersonation.case)] == [original.id, entry.id]
    assert service.withdrawn_ids(impersonation.case) == {original.id}
    with pytest.raises(CaseError):
        sending.withdraw(staff.supervisor, original, "もう一度")
    with pytest.raises(CaseError):
        sending.withdraw(staff.admin, entry, "取り下げの取り下げ")
    assert any(e.event == "draft_withdrawn" for e in timeline(impersonation.case))


def test_a_sent_draft_cannot_be_revised_or_sent_again(staff, impersonation):
    """Published wording is final; a correction is a new draft."""
    draft, _ = published(staff, impersonation.case, {"channel": "press"}, type="press")
    sent = len(draft.revisions)
    with pytest.raises(CaseError):
        service.revise(staff.responder, draft, "公開後の書き換え")
    with pytest.raises(CaseError):
        sending.record_sent(staff.responder, draft, {"channel": "press"})
    assert len(draft.revisions) == sent


def test_draft_step_completes_only_through_a_sent_draft(staff, impersonation):
    """The playbook's takedown step cannot be ticked by hand; recording the submission completes it."""
    case = impersonation.case

    def takedown_step():
        return next(s for s in playbooks.checklist(case) if s.step.key == "takedown_request")

    with pytest.raises(CaseError):
        playbooks.complete_step(staff.responder, case, "takedown_request")
    draft = approve(staff, create(staff.responder, case, type="takedown"))
    with pytest.raises(CaseError):  # approved is not enough: it must have gone out
        playbooks.complete_step(staff.responder, case, "takedown_request")
    db.session.rollback()
    assert takedown_step().state == playbooks.PENDING
    publication = send(staff, draft, channel="form", reference="REF-1")
    state = takedown_step()
    assert state.state == playbooks.DONE
    assert state.event.data["draft_id"] == draft.id and state.event.data["publication_id"] == publication.id
    # After a correction (reopen), completing by hand now finds the sent draft.
    playbooks.reopen_step(staff.responder, case, "takedown_request", "記録を見直す")
    event = playbooks.complete_step(staff.responder, case, "takedown_request")
    assert event.data["draft_id"] == draft.id and event.data["where"] == "REF-1"


def test_correct_info_step_records_the_drafts_link(staff, make):
    """Sending the correct information completes its step with the city page it linked."""
    case = make.case(staff.responder, kind="false_information")
    draft, _ = published(staff, case, {"url": "https://x.com/ishinomaki_city/status/3"},
                         type="correct_info", link=CITY_PAGE)
    step = next(s for s in playbooks.checklist(case) if s.step.key == "correct_info")
    assert step.state == playbooks.DONE and step.event.data["url"] == CITY_PAGE


# --- append-only storage -------------------------------------------------------------------------------


DRAFT_TABLES = ["draft_revision", "draft_check", "draft_event", "publication"]


def test_draft_tables_are_declared_append_only():
    """Revisions, checks, events and the ledger are in the list the migrations protect."""
    assert set(DRAFT_TABLES) <= set(APPEND_ONLY_TABLES)


@pytest.fixture
def written(staff, impersonation):
    """A sent press notice: one row at least in each draft table."""
    published(staff, impersonation.case, {"channel": "press"}, type="press")
    return impersonation.case


@pytest.mark.parametrize("table", DRAFT_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
def test_direct_sql_on_draft_tables_is_refused(written, refuses_sql, table, statement):
    """The database itself refuses to change or remove what was written, wherever the SQL comes from."""
    refuses_sql(table, statement)


def test_orm_edit_of_a_revision_is_refused(written):
    """Rewriting an old revision through the ORM fails too; the wording stays as approved."""
    revision = db.session.scalars(select(DraftRevision)).first()
    original = revision.body
    revision.body = "改ざん"
    with pytest.raises(DatabaseError):
        db.session.commit()
    db.session.rollback()
    assert db.session.execute(text("SELECT body FROM draft_revision WHERE id = :id"),
                              {"id": revision.id}).scalar_one() == original


def test_sent_at_is_shown_in_tokyo_time(staff, impersonation):
    """The ledger entry's time is the given moment (stored in UTC, shown in Japan time)."""
    _d, publication = published(staff, impersonation.case, {"channel": "press", "sent_at": "2025-06-10T09:00"},
                                type="press")
    assert format_datetime(publication.published_at) == "2025-06-10 09:00"
