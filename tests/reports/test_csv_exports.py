"""CSV exports (the writer itself: tests/test_csvfile.py): the case list with its filters and only visible
cases, streamed in batches, and the audit log for the PR office only."""
from __future__ import annotations

import csv
import io

from incident.reports import csv_export


def read(response):
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    text = response.data.decode("utf-8")[1:]
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")  # every line ends CRLF
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_case_list_csv_has_the_lists_filters_and_only_visible_cases(client, login, city, make):
    make.case(city.responder_a, kind="impersonation", title="=HYPERLINK(\"http://evil\",\"x\")", platform="x")
    make.case(city.responder_a, kind="flaming", title="炎上の件")
    make.case(city.responder_b, kind="impersonation", title="観光課の件")
    login(city.responder_a)
    rows = read(client.get("/cases.csv"))
    assert rows[0] == ["番号", "件名", "種別", "重大度", "状態", "所属", "担当者", "検知日時", "登録日時", "受付日時",
                       "終了日時", "プラットフォーム"]
    titles = [r[1] for r in rows[1:]]
    assert sorted(titles) == sorted(["'=HYPERLINK(\"http://evil\",\"x\")", "炎上の件"])  # not department B's
    filtered = read(client.get("/cases.csv?kind=impersonation"))
    assert [r[1:7] + r[11:] for r in filtered[1:]] == [
        ["'=HYPERLINK(\"http://evil\",\"x\")", "なりすまし", "中", "新規", "防災課", "", "X"]]
    assert len(read(client.get("/cases.csv?kind=bogus&assignee_id=abc&sort=x"))) == 3  # ignored, as the list does
    assert client.get("/cases").text.count('href="/cases.csv"') == 1
    assert 'href="/cases.csv?kind=flaming"' in client.get("/cases?kind=flaming").text
    login(city.admin)
    assert len(read(client.get("/cases.csv"))) == 4
    assert [r[1] for r in read(client.get("/cases.csv?department=dept-b"))[1:]] == ["観光課の件"]


def test_the_case_list_csv_is_streamed_in_batches_in_one_query(client, login, city, make, monkeypatch,
                                                              count_queries):
    for n in range(5):
        make.case(city.responder_a, title=f"件{n}")
    monkeypatch.setattr(csv_export, "BATCH", 2)
    login(city.responder_a)
    with count_queries() as counter:
        response = client.get("/cases.csv", buffered=False)
        chunks = [chunk for chunk in response.response if chunk]
        response.close()
    assert chunks[0] == b"\xef\xbb\xbf" and len(chunks) == 4  # the BOM, then the header and 5 rows, 2 at a time
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert [r[1] for r in rows[1:]] == [f"件{n}" for n in reversed(range(5))]  # the list's order, newest first
    assert sum("FROM cases" in statement for statement in counter.statements) == 1  # no query per case


def test_the_audit_log_csv_is_for_the_pr_office_only(client, login, city, make):
    case = make.case(city.responder_a, title="監査の件")
    for user in (city.responder_a, city.supervisor_a):
        login(user)
        assert client.get("/audit/export.csv").status_code == 404
    login(city.admin)
    rows = read(client.get("/audit/export.csv"))
    assert rows[0] == ["日時", "利用者", "操作", "対象", "対象ID", "案件ID", "変更内容（旧 → 新）", "リクエストID"]
    assert any(r[2] == "case.create" and r[5] == str(case.id) for r in rows[1:])
    only = read(client.get(f"/audit/export.csv?case_id={case.id}&action=case.create"))
    assert len(only) == 2 and only[1][1] == "担当A" and "監査の件" in only[1][6]
    assert len(read(client.get("/audit/export.csv?case_id=abc"))) == 1  # no such case: an empty file, not an error
    assert len(read(client.get(f"/audit/export.csv?case_id={case.id}&action=nothing.like.this"))) == 1


def test_signed_out_users_get_no_csv(client):
    for url in ("/cases.csv", "/audit/export.csv", "/metrics.csv"):
        assert client.get(url).status_code == 302
