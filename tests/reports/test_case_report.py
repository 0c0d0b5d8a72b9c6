"""The case report (issue 14): one case's summary, people, steps, timeline, ledger, takedown requests and
their answers, evidence with SHA-256, escalations and the closing review — as a printable page and as Markdown."""
from __future__ import annotations

import datetime as dt
import io
import re
import types

import cmarkgfm
import pytest
from PIL import Image

from incident.cases import service as cases
from incident.cases.models import CaseStatus
from incident.dates import era_date, utcnow
from incident.drafts import sending
from incident.drafts import service as drafts
from incident.drafts.blanks import find_blanks
from incident.escalation import service as escalation
from incident.evidence import service as evidence
from incident.extensions import db
from incident.reports.case_report import md_block, md_code, md_inline

CHECKS = list(drafts.SECTION4_CHECKS)
JST = dt.timezone(dt.timedelta(hours=9))
REVIEW = {
    "what_happened": "市の観光アカウントを名乗る偽アカウントが\n# 見出しのふり\nキャンペーンを装った投稿をした。",
    "what_was_done": "運営会社に削除を依頼し、市民に注意を呼びかけた。",
    "cause": "公式アカウント一覧の周知不足",
    "changes": "公式アカウント一覧をトップページに載せる。",
}


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (20, 40, 60)).save(out, "PNG")
    return io.BytesIO(out.getvalue())


@pytest.fixture
def closed(app, make, tmp_path):
    """A closed impersonation case: a screenshot, a takedown request sent to X and answered "removed", an
    escalation taken on, a note, and the closing review."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    dept = make.department("kanko", "観光課")
    responder = make.user("responder", dept, name="担当 花子")
    supervisor = make.user("supervisor", dept, name="課長 太郎")
    account = make.account(dept, platform="x", name="石巻市観光", url="https://x.com/ishinomaki_kanko")
    case = make.case(responder, kind="impersonation", severity="high", title="観光アカウントのなりすまし",
                     official_account_id=account.id, platform="x",
                     urls=["https://x.com/ishinomaki_kank0"], assignee_id=None)
    cases.acknowledge(supervisor, case)
    cases.assign(supervisor, case, responder.id)
    shot = evidence.add_evidence(responder, case, _png(), "fake_profile.png", note="偽アカウントのプロフィール",
                                 captured_at=dt.datetime(2026, 11, 20, 9, 5, tzinfo=JST))
    cases.add_note(responder, case, "運営会社の窓口を確認した。")
    db.session.commit()
    takedown = drafts.create_draft(responder, case, {"type": "takedown", "platform": "x"})
    text = drafts.latest_revision(takedown).body
    for blank in find_blanks(text):
        text = text.replace(blank.text, "確認した内容", 1)
    drafts.revise(responder, takedown, text)
    drafts.submit(responder, takedown, CHECKS)
    drafts.approve(supervisor, takedown)
    sending.record_sent(responder, takedown, {"channel": "form", "sent_at": "2026-11-21T10:30:00+09:00",
                                              "reference": "X-REF-4821"})
    sending.record_answer(responder, takedown, {"outcome": "removed", "answer": "規約違反として削除しました"})
    raised = escalation.escalate(responder, case, "運営会社の回答が遅い", "supervisors")
    escalation.acknowledge(supervisor, raised)
    db.session.commit()
    cases.change_status(supervisor, case, CaseStatus.CLOSED, "対応完了", waive_open_steps=True, review=REVIEW)
    db.session.commit()
    return types.SimpleNamespace(dept=dept, responder=responder, supervisor=supervisor, case=case, shot=shot,
                                 takedown=takedown)


def test_the_printable_report_holds_the_takedown_and_its_outcome(closed, client, login):
    login(closed.responder)
    response = client.get(f"/cases/{closed.case.id}/report")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert closed.case.number in page and "観光アカウントのなりすまし" in page
    assert era_date(utcnow()) in page and era_date(utcnow()).startswith("令和")
    # The takedown request: its platform, when it was sent, the outcome, when it was answered.
    request_part = page.split('id="requests"')[1].split("</section>")[0]
    assert "X（旧Twitter）" in request_part or "X" in request_part
    assert "2026-11-21 10:30" in request_part and "削除された" in request_part
    assert "X-REF-4821" in request_part and "規約違反として削除しました" in request_part
    assert "回答待ち" not in request_part
    # The evidence, with its full SHA-256.
    assert "fake_profile.png" in page and closed.shot.sha256 in page
    # The steps with their states; the people; the escalation; the review.
    steps_part = page.split('id="r-steps"')[1].split("</section>")[0]
    assert "完了" in steps_part and "免除" in steps_part
    assert "課長 太郎" in page and "担当 花子" in page
    escalation_part = page.split('id="escalations"')[1].split("</section>")[0]
    assert "所属長" in escalation_part and "課長 太郎" in escalation_part
    review_part = page.split('id="review"')[1].split("</section>")[0]
    for value in REVIEW.values():
        assert value.replace("\n", "") in review_part.replace("\n", "")
    assert "公式アカウント一覧の周知不足" in review_part
    # The ledger holds the takedown as submitted; the timeline has the closing and the review.
    assert "X-REF-4821" in page.split('id="ledger"')[1].split("</section>")[0]
    assert "振り返りを記録" in page and "運営会社の窓口を確認した。" in page


def test_the_markdown_download_has_the_same_sections(closed, client, login):
    login(closed.supervisor)
    response = client.get(f"/cases/{closed.case.id}/report.md")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"{closed.case.number}-report.md" in disposition
    text = response.get_data(as_text=True)
    assert text.startswith("# 案件報告書 ") and era_date(utcnow()) in text
    for heading in ("## 概要", "## 関係者", "## 対応手順", "## 経過（タイムライン）", "## 公開・提出の記録",
                    "## 削除依頼・復旧依頼", "## 証拠ファイル", "## エスカレーション", "## 振り返り"):
        assert f"\n{heading}\n" in text, heading
    requests = text.split("## 削除依頼・復旧依頼")[1].split("\n## ")[0]
    assert "提出日時：2026-11-21 10:30" in requests and "結果：削除された" in requests
    assert "X-REF-4821" in requests and "運営会社：X" in requests
    assert f"`{closed.shot.sha256}`" in text
    assert "[完了]" in text and "[免除]" in text
    # A heading typed into the review stays text inside the quote: it adds no heading to the document.
    assert "\n# 見出しのふり" not in text and "> \\# 見出しのふり" in text
    assert "公式アカウント一覧をトップページに載せる。" in text


def test_another_departments_user_gets_404(closed, make, client, login):
    stranger = make.user("supervisor", make.department("other", "他課"))
    login(stranger)
    assert client.get(f"/cases/{closed.case.id}/report").status_code == 404
    assert client.get(f"/cases/{closed.case.id}/report.md").status_code == 404
    assert client.get("/cases/999999/report").status_code == 404


def test_signed_out_readers_are_sent_to_login(closed, client):
    response = client.get(f"/cases/{closed.case.id}/report.md")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_case_page_links_the_report(closed, client, login):
    login(closed.responder)
    page = client.get(f"/cases/{closed.case.id}").get_data(as_text=True)
    assert f'href="/cases/{closed.case.id}/report"' in page and f'/cases/{closed.case.id}/report.md' in page


def test_an_open_case_without_drafts_or_review_still_reports(make, client, login):
    responder = make.user("responder")
    case = make.case(responder, title="誤情報の拡散")
    login(responder)
    page = client.get(f"/cases/{case.id}/report").get_data(as_text=True)
    assert "誤情報の拡散" in page and "削除依頼・復旧依頼はありません。" in page
    assert "振り返りはまだ記録されていません。" in page
    text = client.get(f"/cases/{case.id}/report.md").get_data(as_text=True)
    assert "証拠ファイルはありません。" in text


def test_queries_do_not_grow_with_notes_and_events(make, client, login, count_queries):
    responder = make.user("responder")
    case = make.case(responder, kind="impersonation")
    login(responder)

    def add(n: int) -> None:
        for i in range(n):
            cases.add_note(responder, case, f"メモ {i}")
            cases.add_offending_item(responder, case, f"https://x.com/fake{i}_{n}")
        db.session.commit()

    def measure(url: str) -> int:
        db.session.expire_all()
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    add(2)
    few = measure(f"/cases/{case.id}/report"), measure(f"/cases/{case.id}/report.md")
    add(18)
    many = measure(f"/cases/{case.id}/report"), measure(f"/cases/{case.id}/report.md")
    assert few == many


def _html(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE)


@pytest.mark.parametrize("raw", ["一行目\n## 見出し", "# 見出し", "- 箇条書き\r\n* もう一つ", "+ 項目",
                                 "[リンク](https://evil.example)", "<script>x</script>", "1. 番号\u2028> 引用",
                                 "2) 番号", "> 引用", "| a | b |\n|---|---|", "**太字** `code` ~~消し~~",
                                 "見出し\n===", "X-REF-4821"])
def test_typed_text_cannot_add_markdown_structure(raw):
    line = md_inline(raw)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    for rendered in (_html(f"{line}\n"), _html(f"- 件名：{line}\n"), _html(md_block(raw) + "\n")):
        for tag in ("<h1", "<h2", "<ol", "<script", "<table", "<strong", "<code", "<del", "<blockquote><blockquote"):
            assert tag not in rendered, (raw, rendered)
        # A bare URL may be auto-linked as itself; no link hides its address behind other words.
        assert all(href == text for href, text in re.findall(r'<a href="([^"]*)">([^<]*)</a>', rendered)), rendered
        assert rendered.count("<li>") <= 1 and rendered.count("<ul>") <= 1
    assert md_inline("X-REF-4821") == "X-REF-4821"  # nothing is escaped that need not be


def test_code_spans_hold_backticks_and_one_line():
    assert md_code("a`b") == "``a`b``"
    assert md_code("https://x.com/a\nb") == "`https://x.com/a b`"
    assert md_code("") == ""
