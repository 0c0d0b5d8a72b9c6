"""The public list (3(2)ア): no login, active accounts only, nothing private; HTML, JSON, CSV, API."""
from __future__ import annotations

import csv
import io
import json

from incident.accounts import service
from incident.extensions import db


def _setup(make):
    department = make.department("kanko", "観光課")
    account = make.account(department, platform="x", name="石巻観光", url="https://x.com/ishinomaki_kanko",
                           purpose="観光情報の発信", reply_policy="個別の回答は行いません。",
                           remarks="秘密の備考", operator_type="contractor", operator_name="株式会社ひみつ",
                           mfa_enabled=True)
    admin = make.user("admin", department)
    service.file_notice(admin, account, {"kind": "opening", "effective_date": "2024-04-01", "contact": "観光 次郎（内線9999）"})
    db.session.commit()
    return account, admin


def _text(response) -> str:
    """The body as text, JSON decoded so that escaped Japanese is compared as written."""
    if response.is_json:
        return json.dumps(response.get_json(), ensure_ascii=False)
    return response.data.decode("utf-8-sig")


def _all_views(client):
    html = client.get("/public/accounts")
    data = client.get("/public/accounts.json")
    csv_response = client.get("/public/accounts.csv")
    api = client.get("/api/v1/public/accounts")
    for response in (html, data, csv_response, api):
        assert response.status_code == 200
    return html, data, csv_response, api


def test_public_list_needs_no_login_and_shows_public_fields(make, client):
    _setup(make)
    html, data, csv_response, api = _all_views(client)
    assert "石巻観光" in html.text and "観光課" in html.text and "観光情報の発信" in html.text
    expected = [{"department": "観光課", "platform": "x", "name": "石巻観光", "url": "https://x.com/ishinomaki_kanko",
                 "purpose": "観光情報の発信", "reply_policy": "個別の回答は行いません。"}]
    assert data.get_json() == {"items": expected}
    assert api.get_json() == {"items": expected}
    raw = csv_response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    assert csv_response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["開設所属", "媒体", "アカウント名", "登録URL", "利用目的", "投稿に対する返信"]
    assert rows[1] == ["観光課", "x", "石巻観光", "https://x.com/ishinomaki_kanko", "観光情報の発信", "個別の回答は行いません。"]


def test_public_list_leaks_nothing_private(make, client):
    _setup(make)
    for response in _all_views(client):
        body = _text(response)
        for secret in ("内線9999", "秘密の備考", "株式会社ひみつ", "mfa", "remarks", "contact", "operator"):
            assert secret not in body, (response.request.path, secret)


def test_closure_removes_account_from_every_public_view(make, client):
    account, admin = _setup(make)
    make.account(account.department, name="残るアカウント")
    service.file_notice(admin, account, {"kind": "closure", "effective_date": "2026-03-31", "contact": "x",
                                         "details": "事業終了"})
    db.session.commit()
    for response in _all_views(client):
        body = _text(response)
        assert "石巻観光" not in body
        assert "残るアカウント" in body


def test_only_the_public_api_route_is_exempt_from_tokens(make, client):
    _setup(make)
    assert client.get("/api/v1/accounts").status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    assert client.post("/api/v1/public/accounts", json={}).status_code in (401, 405)
    assert client.get("/public/accounts.xml").status_code == 404


def test_csv_cells_cannot_run_formulas(make, client):
    make.account(name="=HYPERLINK(\"http://evil\")", purpose="+1")
    text = client.get("/public/accounts.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1" in text
