"""The disclosure package for a 情報公開 request (issue 16): the case report with chosen passages masked (■)
wherever they stand — the description, notes, the timeline, the review — each mask recorded with who, why
and the ordinance's ground, as a printable page and Markdown; only the PR office and the department's
supervisors prepare it."""
from __future__ import annotations

import datetime as dt
import types

import pytest
from sqlalchemy import select, text

from incident.audit.models import AuditLog
from incident.cases import service as cases
from incident.extensions import db
from incident.reports.models import DisclosureMask

CALLER = "石巻 太郎"
PHONE = "090-1234-5678"
GROUND = "個人に関する情報（特定の個人を識別できるもの）"


@pytest.fixture
def town(make):
    dept = make.department("kanko", "観光課")
    other = make.department("bosai", "防災課")
    pr = make.department("hisho-koho", "秘書広報課")
    responder = make.user("responder", dept, name="担当 花子")
    supervisor = make.user("supervisor", dept, name="課長 次郎")
    case = make.case(responder, kind="false_information", title="誤った避難所情報の拡散",
                     description=f"市民の{CALLER}さん（電話 {PHONE}）から通報。")
    cases.add_note(responder, case, f"{CALLER}さんに折り返し電話した（{PHONE}）。")
    db.session.commit()
    return types.SimpleNamespace(
        case=case, responder=responder, supervisor=supervisor,
        other_supervisor=make.user("supervisor", other, name="防災 課長"),
        contractor=make.user("responder", dept, name="委託", organisation="株式会社委託"),
        admin=make.user("admin", pr, name="広報 担当"))


def _open(client, case, reference="R8-情公-0012", received_on="2026-11-25"):
    return client.post(f"/cases/{case.id}/disclosures", data={"reference": reference, "received_on": received_on})


def _mask(client, case, request_id, passage, reason="通報者の個人情報", ground=GROUND):
    return client.post(f"/cases/{case.id}/disclosures/{request_id}",
                       data={"passage": passage, "ground": ground, "reason": reason})


def test_the_disclosed_report_masks_every_place_and_records_who_and_why(town, client, login):
    login(town.supervisor)
    opened = _open(client, town.case)
    assert opened.status_code == 302
    request_id = int(opened.location.rstrip("/").split("/")[-1])
    assert _mask(client, town.case, request_id, CALLER).status_code == 302
    assert _mask(client, town.case, request_id, PHONE, reason="通報者の電話番号").status_code == 302

    editor = client.get(f"/cases/{town.case.id}/disclosures/{request_id}").get_data(as_text=True)
    assert "報告書の中で 2 か所" in editor and "記録：課長 次郎" in editor

    page = client.get(f"/cases/{town.case.id}/disclosures/{request_id}/print")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert CALLER not in html and PHONE not in html  # description, note, timeline: nowhere
    assert "■" * len(CALLER) in html and "■" * len(PHONE) in html
    assert "誤った避難所情報の拡散" in html  # what is not withheld is disclosed
    assert "R8-情公-0012" in html and GROUND in html and "通報者の電話番号" in html
    assert "<title>開示用報告書：" in html and "誤った避難所情報の拡散</title>" not in html

    markdown = client.get(f"/cases/{town.case.id}/disclosures/{request_id}/report.md")
    assert markdown.headers["Content-Disposition"].startswith("attachment;")
    body = markdown.get_data(as_text=True)
    assert CALLER not in body and PHONE not in body and "■" * len(PHONE) in body
    assert "公文書開示用" in body

    masks = db.session.scalars(select(DisclosureMask).order_by(DisclosureMask.id)).all()
    assert [(m.passage, m.ground, m.created_by_id) for m in masks] == [
        (CALLER, GROUND, town.supervisor.id), (PHONE, GROUND, town.supervisor.id)]
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.case_id == town.case.id)).all()
    assert actions.count("disclosure.mask") == 2 and "disclosure.open" in actions
    # The plain report stays whole.
    assert PHONE in client.get(f"/cases/{town.case.id}/report").get_data(as_text=True)


def test_a_withdrawn_mask_discloses_the_passage_again_and_stays_on_record(town, client, login):
    login(town.admin)
    request_id = int(_open(client, town.case).location.rstrip("/").split("/")[-1])
    _mask(client, town.case, request_id, CALLER)
    mask = db.session.scalars(select(DisclosureMask)).one()
    refused = client.post(f"/cases/{town.case.id}/disclosures/{request_id}/masks/{mask.id}/withdraw",
                          data={"reason": ""}, follow_redirects=True)
    assert "理由を" in refused.get_data(as_text=True)
    assert CALLER not in client.get(f"/cases/{town.case.id}/disclosures/{request_id}/print").get_data(as_text=True)
    client.post(f"/cases/{town.case.id}/disclosures/{request_id}/masks/{mask.id}/withdraw",
                data={"reason": "本人の同意を得た"})
    assert CALLER in client.get(f"/cases/{town.case.id}/disclosures/{request_id}/print").get_data(as_text=True)
    editor = client.get(f"/cases/{town.case.id}/disclosures/{request_id}").get_data(as_text=True)
    assert f"<del>{CALLER}</del>" in editor and "本人の同意を得た" in editor
    with pytest.raises(Exception, match="append-only|permission denied"):  # the record of the mask cannot be edited away
        db.session.execute(text("UPDATE disclosure_mask SET passage = 'x'"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(("passage", "message"), [
    ("石", "2〜500 文字"),                      # a single character would black out words everywhere
    ("報告書にない文字列", "報告書にこの文字列が見つかりません"),
])
def test_a_passage_must_be_in_the_report(town, client, login, passage, message):
    login(town.supervisor)
    request_id = int(_open(client, town.case).location.rstrip("/").split("/")[-1])
    response = _mask(client, town.case, request_id, passage)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    # The refusal is announced in the form's own part of the page (the report read to check the passage
    # must not take the request's messages first).
    part = page[page.index('id="add-mask"'):]
    assert 'role="alert"' in part[:part.index("<form")] and "入力内容を確認してください。" in part
    assert _mask(client, town.case, request_id, CALLER, ground="勝手な根拠").status_code == 422
    assert db.session.scalars(select(DisclosureMask)).all() == []


def test_a_request_needs_its_number_and_a_date_not_in_the_future(town, client, login):
    login(town.supervisor)
    assert _open(client, town.case, reference="").status_code == 422
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert "今日以前" in _open(client, town.case, received_on=tomorrow).get_data(as_text=True)


def test_a_passage_across_the_pages_markup_stops_the_printable_page(town, client, login, make):
    """An account's name and its address stand in different elements of the page: a mask running across
    them cannot be applied there, and the page is refused rather than handed out readable."""
    account = make.account(town.case.department, platform="x", name="石巻市観光", url="https://x.com/ishinomaki_k")
    town.case.official_account_id = account.id
    db.session.commit()
    login(town.supervisor)
    request_id = int(_open(client, town.case).location.rstrip("/").split("/")[-1])
    assert _mask(client, town.case, request_id, "石巻市観光 https://x.com/ishinomaki_k").status_code == 302
    page = client.get(f"/cases/{town.case.id}/disclosures/{request_id}/print")
    assert page.status_code == 409 and "伏せきれません" in page.get_data(as_text=True)


@pytest.mark.parametrize(("who", "status"), [("responder", 403), ("other_supervisor", 404), ("contractor", 404)])
def test_only_the_pr_office_and_the_departments_supervisors_prepare_it(town, client, login, who, status):
    """The department's responder sees the case but not who asked for it or what is withheld (403);
    to those who cannot see the case it does not exist (404)."""
    login(town.supervisor)
    request_id = int(_open(client, town.case).location.rstrip("/").split("/")[-1])
    login(getattr(town, who))
    base = f"/cases/{town.case.id}/disclosures"
    for response in (client.get(base), _open(client, town.case), client.get(f"{base}/{request_id}"),
                     client.get(f"{base}/{request_id}/print"), client.get(f"{base}/{request_id}/report.md"),
                     _mask(client, town.case, request_id, CALLER)):
        assert response.status_code == status
    assert "情報公開（開示用の報告書）" not in client.get(f"/cases/{town.case.id}").get_data(as_text=True)
