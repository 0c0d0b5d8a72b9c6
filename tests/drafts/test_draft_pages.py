"""Draft pages through the browser's forms (issue 5): creating from the case page, editing with
differences, the approval forms, exports and the print page, access, and the case list's
follow-up badge."""
from __future__ import annotations

import datetime as dt
import re
import types

import pytest
from sqlalchemy import func, select

from incident.dates import era_date, utcnow
from incident.drafts import sending, service
from incident.drafts.blanks import find_blanks
from incident.drafts.models import Draft, DraftRevision, DraftStatus
from incident.extensions import db
from incident.fakes import service as fakes

CHECKS = list(service.SECTION4_CHECKS)
XSS = "<script>alert(1)</script>"
CITY_PAGE = "https://www.city.ishinomaki.lg.jp/bousai/notice.html"


@pytest.fixture
def world(make):
    """Department 防災課 (responder, colleague, supervisor), another department's responder, and an
    impersonation case whose fake account calls itself <script>alert(1)</script>."""
    dept = make.department("bousai", "防災課")
    dept.contact = "0225-95-1111"
    other = make.department("kanko", "観光課")
    db.session.commit()
    responder = make.user("responder", dept, name="担当 一郎")
    account = make.account(dept, platform="x", name="石巻市防災", url="https://x.com/ishinomaki_city")
    case = make.case(responder, kind="impersonation", severity="high", title="なりすまし対応",
                     platform="x", official_account_id=account.id)
    fakes.record_fake(responder, {"platform": "x", "url": "https://x.com/ishinomaki_clty", "display_name": XSS}, case)
    db.session.commit()
    return types.SimpleNamespace(
        dept=dept, case=case, responder=responder,
        colleague=make.user("responder", dept, name="同僚 二郎"),
        supervisor=make.user("supervisor", dept, name="所属長 三郎"),
        outsider=make.user("responder", other, name="観光 担当"),
    )


def new_draft(world, **data) -> Draft:
    draft = service.create_draft(world.responder, world.case, data)
    db.session.commit()
    return draft


def draft_url(draft: Draft, suffix: str = "") -> str:
    return f"/cases/{draft.case_id}/drafts/{draft.id}{suffix}"


def filled(world, draft: Draft) -> Draft:
    """The author writes in every ［…を記入］ blank the template left (a new revision), as before submitting."""
    text = service.latest_revision(draft).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    if text != service.latest_revision(draft).body:
        service.revise(world.responder, draft, text)
        db.session.commit()
    return draft


def approved(world, **data) -> Draft:
    draft = filled(world, new_draft(world, **data))
    service.submit(world.responder, draft, CHECKS)
    service.approve(world.supervisor, draft)
    db.session.commit()
    return draft


def reload(draft: Draft) -> Draft:
    db.session.expire_all()
    return db.session.get(Draft, draft.id)


def flashes(page: str) -> list[str]:
    return re.findall(r'<div class="flash flash-error"[^>]*>(.*?)</div>', page, flags=re.S)


# --- the case page and creating a draft -----------------------------------------------------------------


def test_case_page_offers_the_create_form_and_lists_drafts_and_ledger(world, client, login):
    """The case page has the draft section, the create form, the drafts and the published ledger."""
    login(world.responder)
    page = client.get(f"/cases/{world.case.id}").text
    assert f'action="/cases/{world.case.id}/drafts"' in page
    assert 'name="type"' in page and 'value="takedown"' in page and 'value="citizen_warning"' in page
    assert "文案はまだありません" in page and "まだ公開・提出したものはありません" in page
    press = approved(world, type="press")
    sending.record_sent(world.responder, press, {"channel": "press", "note": "記者クラブへ配布"})
    warning = approved(world, type="citizen_warning", channel="website")  # the generated notice is too long for X
    sending.record_sent(world.responder, warning, {"channel": "post", "url": "https://x.com/ishinomaki_city/status/42"})
    draft = new_draft(world, type="takedown")
    db.session.commit()
    page = client.get(f"/cases/{world.case.id}").text
    for d in (press, warning, draft):
        assert f'href="{draft_url(d)}"' in page
    assert "報道機関への情報提供" in page and "公開・提出済み" in page and "作成中" in page
    ledger = page.split('id="ledger"', 1)[1]
    assert "https://x.com/ishinomaki_city/status/42" in ledger and "記者クラブへ配布" in ledger


def test_posting_the_create_form_opens_the_new_draft(world, client, login):
    """Choosing a type on the case page generates the text and shows it."""
    login(world.responder)
    response = client.post(f"/cases/{world.case.id}/drafts", data={"type": "takedown", "platform": "", "lang": "ja"})
    assert response.status_code == 302
    draft = db.session.scalars(select(Draft)).one()
    assert response.headers["Location"].endswith(draft_url(draft))
    assert draft.type.value == "takedown" and draft.platform == "x" and draft.created_by_id == world.responder.id
    page = client.get(response.headers["Location"]).text
    assert "https://x.com/ishinomaki_clty" in page and "https://x.com/ishinomaki_city" in page
    assert "ひな形から文案を作りました" in page
    # The takedown page checks the platform's form against the case and names what is missing.
    assert "権限の証明" in page and "✘" in page


@pytest.mark.parametrize(("data", "message"), [
    ({"type": "letter"}, "文案の種類を選んでください"),
    ({"type": "correct_info", "link": "https://evil.example.com/"}, "市のホームページ"),
    ({"type": "press", "lang": "en"}, "日本語だけです"),
    ({"type": "final_notice", "supersedes_id": "abc"}, "この案件の公開記録ではありません"),
    ({"type": "correction", "corrects_item_id": "99999999999999999999"}, "この案件の投稿"),
])
def test_bad_create_input_shows_a_japanese_message(world, client, login, data, message):
    """Bad choices come back to the case page with a message, not an error page."""
    login(world.responder)
    response = client.post(f"/cases/{world.case.id}/drafts", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{world.case.id}#drafts")
    page = client.get(f"/cases/{world.case.id}").text
    assert any(message in f for f in flashes(page)), flashes(page)
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


# --- the text, escaping and exports ----------------------------------------------------------------------


def test_fake_display_name_is_escaped_on_the_page_and_plain_in_exports(world, client, login):
    """A fake account's display name cannot inject markup into the draft page; exports keep it as text."""
    draft = new_draft(world, type="takedown")
    assert XSS in service.latest_revision(draft).body
    login(world.responder)
    page = client.get(draft_url(draft)).text
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    txt = client.get(draft_url(draft, "/export.txt"))
    assert txt.status_code == 200
    assert txt.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert txt.headers["Content-Disposition"].startswith("attachment;")
    assert txt.headers["X-Content-Type-Options"] == "nosniff"
    assert txt.text == service.latest_revision(draft).body and XSS in txt.text
    md = client.get(draft_url(draft, "/export.md"))
    assert md.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert md.headers["Content-Disposition"].startswith("attachment;")
    assert md.text.startswith("# 削除依頼") and XSS in md.text
    assert f"{world.case.number}-takedown-{draft.id}-v1.md" in md.headers["Content-Disposition"]


def test_print_page_has_reiwa_date_and_department(world, client, login):
    """The A4 page for a press notice carries the 令和 date, the department and its contact — once each: the
    text has them, and the page adds no second date or sender above it."""
    draft = approved(world, type="press")
    login(world.responder)
    page = client.get(draft_url(draft, "/print")).text
    assert era_date(utcnow()) in page and "令和" in page
    assert "防災課" in page and "0225-95-1111" in page
    assert "報道機関各位" in page and XSS not in page
    text = service.latest_revision(draft).body
    assert text.startswith(era_date(utcnow())) and page.count(era_date(utcnow())) == text.count(era_date(utcnow()))
    assert page.count("0225-95-1111") == text.count("0225-95-1111") == 1
    assert "未承認" not in page


def test_print_page_warns_while_unapproved(world, client, login):
    """Printing an unapproved text shows a warning that it is not approved yet, and 未承認 prints on paper
    (a stamp, and the head of every page), not only on screen."""
    draft = new_draft(world, type="press")
    login(world.responder)
    page = client.get(draft_url(draft, "/print")).text
    assert "この文案はまだ承認されていません" in page
    assert re.search(r'<p class="unapproved-stamp"[^>]*>未承認</p>', page)
    assert re.search(r'<thead><tr><td><p class="unapproved-running">未承認', page)


# --- editing -----------------------------------------------------------------------------------------


def _edited(draft: Draft) -> tuple[str, str, str]:
    body = service.latest_revision(draft).body
    assert body.count("報道機関各位\n") == 1
    return body.replace("報道機関各位\n", "報道機関 各位（差し替え）\n"), "報道機関各位", "報道機関 各位（差し替え）"


def test_editing_makes_revision_two_and_shows_the_difference(world, client, login):
    """Saving the editor adds a revision; the page shows removed and added lines."""
    draft = new_draft(world, type="press")
    new_body, removed, added = _edited(draft)
    login(world.colleague)
    response = client.post(draft_url(draft, "/revisions"), data={"body": new_body, "base_revision": "1"})
    assert response.status_code == 302
    revisions = db.session.scalars(select(DraftRevision).order_by(DraftRevision.number)).all()
    assert [r.number for r in revisions] == [1, 2] and revisions[1].author_id == world.colleague.id
    page = client.get(draft_url(draft)).text
    assert "第 2 版" in page
    assert f"<del>- {removed}</del>" in page and f"<ins>+ {added}</ins>" in page
    compared = client.get(draft_url(draft, "?compare=1")).text
    assert f"<del>- {removed}</del>" in compared


def test_stale_edit_gets_409_and_keeps_the_typed_text(world, client, login):
    """Two people editing at once: the second save is refused with their text shown back."""
    draft = new_draft(world, type="press")
    new_body, _removed, _added = _edited(draft)
    service.revise(world.colleague, draft, new_body, base_revision="1")
    db.session.commit()
    login(world.responder)
    typed = "古い版をもとに書いた文です。\n二行目。"
    response = client.post(draft_url(draft, "/revisions"), data={"body": typed, "base_revision": "1"})
    assert response.status_code == 409
    assert "古い版をもとに書いた文です。" in response.text and "他の人が先に書き換えました" in response.text
    assert 'name="base_revision" value="2"' in response.text
    assert db.session.scalar(select(func.count()).select_from(DraftRevision)) == 2


def test_empty_edit_shows_a_message(world, client, login):
    """An empty text is refused with a message and stores nothing."""
    draft = new_draft(world, type="press")
    login(world.responder)
    assert client.post(draft_url(draft, "/revisions"), data={"body": "   ", "base_revision": "1"}).status_code == 302
    assert any("入力してください" in f for f in flashes(client.get(draft_url(draft)).text))
    assert db.session.scalar(select(func.count()).select_from(DraftRevision)) == 1


@pytest.mark.parametrize("sent", [False, True])
def test_unchanged_or_sent_edit_is_not_reported_as_someone_elses_edit(world, client, login, sent):
    """Saving the same text, or editing a sent text, explains that — it is not a concurrent edit."""
    draft = approved(world, type="press") if sent else new_draft(world, type="press")
    if sent:
        sending.record_sent(world.responder, draft, {"channel": "press"})
        db.session.commit()
    same = service.latest_revision(draft).body
    login(world.responder)
    response = client.post(draft_url(draft, "/revisions"), data={"body": same + ("追記" if sent else ""),
                                                                 "base_revision": "1"})
    assert response.status_code == 302
    message = "公開・提出済みの文案は変えられません" if sent else "前の版と同じ内容です"
    assert any(message in f for f in flashes(client.get(draft_url(draft)).text))


# --- approval and sending forms ------------------------------------------------------------------------


def test_submit_approve_and_publish_through_the_forms(world, client, login):
    """The author ticks the checks and submits, the supervisor approves, the author records the post."""
    draft = new_draft(world, type="citizen_warning", channel="website")  # the generated notice is too long for X
    login(world.responder)
    client.post(draft_url(draft, "/submit"), data={"checks": CHECKS[:3]})
    assert any("ガイドライン第4項の確認をすべて済ませてください" in f for f in flashes(client.get(draft_url(draft)).text))
    assert reload(draft).status == DraftStatus.EDITING
    assert client.post(draft_url(draft, "/submit"), data={"checks": CHECKS}).status_code == 302
    assert reload(draft).status == DraftStatus.SUBMITTED
    page = client.get(draft_url(draft)).text
    assert "所属長の承認を待っています" in page and "自分が書いた（提出した）文案は承認できません" in page
    assert client.post(draft_url(draft, "/approve"), data={}).status_code == 403  # no self-approval
    login(world.colleague)
    assert client.post(draft_url(draft, "/approve"), data={}).status_code == 403  # not a supervisor
    login(world.supervisor)
    assert client.post(draft_url(draft, "/approve"), data={"comment": "確認しました"}).status_code == 302
    assert reload(draft).status == DraftStatus.APPROVED
    login(world.responder)
    client.post(draft_url(draft, "/sent"), data={"channel": "post", "url": ""})
    assert any("公開した投稿・ページの URL を入力してください" in f for f in flashes(client.get(draft_url(draft)).text))
    client.post(draft_url(draft, "/sent"), data={"channel": "post", "url": "https://x.com/ishinomaki_city/status/9",
                                                 "sent_at": "not a date"})
    assert any("日時は" in f for f in flashes(client.get(draft_url(draft)).text))
    response = client.post(draft_url(draft, "/sent"), data={"channel": "post",
                                                            "url": "https://x.com/ishinomaki_city/status/9"})
    assert response.status_code == 302
    assert reload(draft).status == DraftStatus.SENT
    page = client.get(draft_url(draft)).text
    assert "公開・提出済みです" in page and "https://x.com/ishinomaki_city/status/9" in page
    assert 'id="editor"' not in page  # nothing to edit any more
    assert "確認しました" in page  # the approver's comment is in the history


def test_return_form_needs_a_comment(world, client, login):
    """Returning without a reason shows a message; with one, the draft is back to editing."""
    draft = filled(world, new_draft(world, type="press"))
    service.submit(world.responder, draft, CHECKS)
    db.session.commit()
    login(world.supervisor)
    client.post(draft_url(draft, "/return"), data={"comment": ""})
    assert any("入力してください" in f for f in flashes(client.get(draft_url(draft)).text))
    assert reload(draft).status == DraftStatus.SUBMITTED
    client.post(draft_url(draft, "/return"), data={"comment": "連絡先を直してください"})
    assert reload(draft).status == DraftStatus.EDITING
    login(world.responder)
    page = client.get(draft_url(draft)).text
    assert "連絡先を直してください" in page and "差し戻し" in page
    assert "連絡先を直してください" in client.get(f"/cases/{world.case.id}").text  # on the case timeline


def test_pre_approved_form_and_second_check(world, client, login):
    """Marking a pre-approved scope needs the scope; a colleague then records the second check."""
    draft = new_draft(world, type="citizen_warning", channel="website")  # the generated notice is too long for X
    login(world.responder)
    client.post(draft_url(draft, "/pre-approved"), data={"scope": "z", "source": CITY_PAGE, "checks": CHECKS})
    assert any("事前に承認された範囲" in f for f in flashes(client.get(draft_url(draft)).text))
    client.post(draft_url(draft, "/pre-approved"), data={"scope": "a", "source": "", "checks": CHECKS})
    assert any("入力してください" in f for f in flashes(client.get(draft_url(draft)).text))
    client.post(draft_url(draft, "/pre-approved"), data={"scope": "a", "source": CITY_PAGE, "checks": CHECKS})
    assert reload(draft).status == DraftStatus.SUBMITTED
    assert "もう一人の確認を待っています" in client.get(draft_url(draft)).text
    login(world.colleague)
    page = client.get(draft_url(draft)).text
    assert "確認した（複数人確認）" in page
    client.post(draft_url(draft, "/approve"), data={})
    assert reload(draft).status == DraftStatus.APPROVED
    assert "複数人で確認" in client.get(draft_url(draft)).text


def test_takedown_sent_and_answer_forms(world, client, login):
    """Record the submission (default follow-up), then the platform's answer; bad dates get messages."""
    draft = approved(world, type="takedown")
    login(world.responder)
    client.post(draft_url(draft, "/sent"), data={"channel": "form", "follow_up_on": "2025-02-30"})
    assert any("日付は" in f for f in flashes(client.get(draft_url(draft)).text))
    client.post(draft_url(draft, "/sent"), data={"channel": "form", "reference": "X-REF-1", "follow_up_on": ""})
    draft = reload(draft)
    assert draft.status == DraftStatus.SENT and draft.follow_up_on == sending.today() + dt.timedelta(days=7)
    page = client.get(draft_url(draft)).text
    assert "X-REF-1" in page and draft.follow_up_on.isoformat() in page and "回答待ち" in page
    client.post(draft_url(draft, "/answer"), data={"outcome": "", "answer": "受付済み", "follow_up_on": ""})
    assert any("次に確認する日" in f for f in flashes(client.get(draft_url(draft)).text))
    client.post(draft_url(draft, "/answer"), data={"outcome": "", "answer": "受付済み", "follow_up_on": "2030-01-31"})
    assert reload(draft).follow_up_on == dt.date(2030, 1, 31)
    client.post(draft_url(draft, "/answer"), data={"outcome": "removed", "answer": "削除されました"})
    draft = reload(draft)
    assert draft.outcome.value == "removed"
    page = client.get(draft_url(draft)).text
    assert "削除された" in page and 'action="' + draft_url(draft, "/answer") + '"' not in page


def test_withdraw_form_on_the_case_page(world, client, login):
    """The supervisor records a withdrawal from the ledger; the original entry stays, marked withdrawn."""
    draft = approved(world, type="citizen_warning", channel="website")  # the generated notice is too long for X
    publication = sending.record_sent(world.responder, draft, {"url": "https://x.com/ishinomaki_city/status/5"})
    db.session.commit()
    url = f"/cases/{world.case.id}/ledger/{publication.id}/withdraw"
    login(world.responder)
    assert url not in client.get(f"/cases/{world.case.id}").text
    assert client.post(url, data={"reason": "誤り"}).status_code == 403
    login(world.supervisor)
    entry = rf'<li id="publication-{publication.id}".*?</li>'  # the message is shown at the entry itself
    client.post(url, data={"reason": ""})
    refused = re.search(entry, client.get(f"/cases/{world.case.id}").text, re.S).group(0)
    assert 'role="alert"' in refused and "入力してください" in refused
    response = client.post(url, data={"reason": "URL に誤り"})
    assert response.headers["Location"].endswith(f"#publication-{publication.id}")
    page = client.get(f"/cases/{world.case.id}").text
    assert "取り下げ済み" in page and "https://x.com/ishinomaki_city/status/5" in page and "URL に誤り" in page
    assert 'role="status" tabindex="-1" data-just-added>取り下げを記録しました' in re.search(entry, page, re.S).group(0)
    client.post(url, data={"reason": "二度目"})
    again = re.search(entry, client.get(f"/cases/{world.case.id}").text, re.S).group(0)
    assert "すでに取り下げられています" in again


# --- access ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "suffix", "data"), [
    ("GET", "", None),
    ("GET", "/export.txt", None),
    ("GET", "/export.md", None),
    ("GET", "/print", None),
    ("POST", "/revisions", {"body": "他課から", "base_revision": "1"}),
    ("POST", "/submit", {"checks": CHECKS}),
    ("POST", "/approve", {}),
    ("POST", "/return", {"comment": "x"}),
    ("POST", "/pre-approved", {"scope": "a", "source": "x", "checks": CHECKS}),
    ("POST", "/sent", {"channel": "press"}),
    ("POST", "/answer", {"outcome": "removed"}),
])
def test_another_departments_responder_gets_404(world, client, login, method, suffix, data):
    """A draft of another department's case is not found, whatever the route."""
    draft = new_draft(world, type="press")
    login(world.outsider)
    response = client.open(draft_url(draft, suffix), method=method, data=data)
    assert response.status_code == 404
    assert "報道機関各位" not in response.text
    assert len(reload(draft).revisions) == 1 and reload(draft).status == DraftStatus.EDITING


def test_draft_of_another_case_is_not_found_under_this_case(world, client, login, make):
    """The draft id must belong to the case in the URL."""
    draft = new_draft(world, type="press")
    other_case = make.case(world.responder)
    login(world.responder)
    assert client.get(f"/cases/{other_case.id}/drafts/{draft.id}").status_code == 404
    assert client.get(f"/cases/{world.case.id}/drafts/999999").status_code == 404


def test_create_needs_a_login_and_the_csrf_token(app, world, client, login):
    """Without the form's token the POST is refused; with it (as the page sends it) it works."""
    client.post("/logout")
    assert client.post(f"/cases/{world.case.id}/drafts", data={"type": "press"}).status_code in (302, 401)
    login(world.responder)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/cases/{world.case.id}/drafts", data={"type": "press"}).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0
    page = client.get(f"/cases/{world.case.id}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/cases/{world.case.id}/drafts", data={"type": "press", "csrf_token": token})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 1


# --- follow-ups on the case list ---------------------------------------------------------------------------


def _sent_takedown(world, case, days_ago: int) -> Draft:
    draft = filled(world, service.create_draft(world.responder, case, {"type": "takedown"}))
    service.submit(world.responder, draft, CHECKS)
    service.approve(world.supervisor, draft)
    sent_at = (utcnow() - dt.timedelta(days=days_ago)).isoformat()
    sending.record_sent(world.responder, draft, {"channel": "form", "sent_at": sent_at})
    db.session.commit()
    return draft


def test_case_list_shows_the_follow_up_badge_only_when_due(world, client, login, make):
    """A takedown whose answer date has come is flagged on the case list and the case page."""
    due = _sent_takedown(world, world.case, days_ago=10)
    assert due.follow_up_on < sending.today()
    waiting_case = make.case(world.responder, kind="impersonation", platform="x", title="回答待ちの案件")
    _sent_takedown(world, waiting_case, days_ago=1)
    answered_case = make.case(world.responder, kind="impersonation", platform="x", title="回答済みの案件")
    answered = _sent_takedown(world, answered_case, days_ago=20)
    sending.record_answer(world.responder, answered, {"outcome": "refused"})
    db.session.commit()
    login(world.responder)
    page = client.get("/cases").text
    assert page.count("運営会社の回答確認日（") == 1
    assert f'class="due late" href="/cases/{world.case.id}#drafts"' in page
    assert due.follow_up_on.isoformat() in page
    assert f'href="/cases/{waiting_case.id}#drafts"' not in page
    assert f'href="/cases/{answered_case.id}#drafts"' not in page
    assert "運営会社の回答確認日が来ています" in client.get(f"/cases/{world.case.id}").text
    assert "運営会社の回答確認日が来ています" not in client.get(f"/cases/{waiting_case.id}").text


def test_case_list_queries_do_not_grow_with_drafts(world, client, login, make, count_queries):
    """The list runs the same number of queries for 3 or 13 cases with drafts (no N+1)."""
    def add_cases(n: int) -> None:
        for i in range(n):
            case = make.case(world.responder, kind="impersonation", platform="x", title=f"案件{i}")
            _sent_takedown(world, case, days_ago=10 if i % 2 else 1)
            service.create_draft(world.responder, case, {"type": "press"})
            db.session.commit()

    def measure() -> int:
        with count_queries() as counter:
            response = client.get("/cases")
            assert response.status_code == 200
        return counter.count

    login(world.responder)
    _sent_takedown(world, world.case, days_ago=10)
    add_cases(2)  # 3 cases with drafts, 2 of them due
    assert client.get("/cases").text.count("運営会社の回答確認日（") == 2
    few = measure()
    add_cases(10)  # 13 cases with drafts, 7 of them due
    assert client.get("/cases").text.count("運営会社の回答確認日（") == 7
    assert measure() == few


def test_case_page_queries_do_not_grow_with_drafts(world, client, login, count_queries):
    """The case page's draft list and ledger cost the same with 2 or 12 drafts (no N+1)."""
    def add_drafts(n: int) -> None:
        for i in range(n):
            if i % 2:
                _sent_takedown(world, world.case, days_ago=10)
            else:
                service.create_draft(world.colleague if i % 4 else world.responder, world.case, {"type": "press"})
                db.session.commit()

    def measure() -> int:
        with count_queries() as counter:
            assert client.get(f"/cases/{world.case.id}").status_code == 200
        return counter.count

    login(world.supervisor)
    add_drafts(2)
    few = measure()
    add_drafts(10)
    assert measure() == few
