"""Printable 様式1 and 様式2: every row of the guideline's forms, in order, with the filled values."""
from __future__ import annotations

import datetime as dt

from incident.accounts import service
from incident.extensions import db

FORM1_ROWS = ["開設所属", "責任者", "発信情報", "利用目的", "利用するソーシャルメディアの種類", "アカウント名",
              "登録URL", "運用開始日", "運用時間", "投稿に対する返信", "備考"]
FORM2_ROWS = ["ソーシャルメディアの種類", "アカウント名", "登録URL", "開設・変更・廃止日", "担当者（連絡先）", "備考欄"]


def _example(make):
    department = make.department("hisho-koho", "総務部 秘書広報課")
    account = make.account(
        department, platform="facebook", name="宮城県石巻市", url="https://www.facebook.com/IshinomakiCityOffice/",
        responsible_person="秘書広報課長", content="イベント情報や行政情報",
        purpose="市政情報を迅速に発信する", start_date=dt.date(2024, 4, 1), end_date=dt.date(2027, 3, 31),
        operating_hours="月曜日から金曜日までの8時30分から17時15分", reply_policy="必要に応じて回答を行います。",
        remarks="このアカウントは委託業者が運用しています。",
    )
    return department, account


def _in_order(text: str, labels: list[str]) -> None:
    positions = [text.index(label) for label in labels]
    assert positions == sorted(positions), labels


def test_form1_has_every_row_in_order_with_values(make, client, login):
    department, account = _example(make)
    login(make.user("responder"))
    response = client.get(f"/accounts/{account.id}/form1")
    assert response.status_code == 200
    text = response.text
    assert "石巻市ソーシャルメディア運用ポリシー" in text
    table = text[text.index('class="form-table"'):]
    _in_order(table, [f">{label}" for label in FORM1_ROWS])
    for value in ("総務部 秘書広報課", "秘書広報課長", "イベント情報や行政情報", "市政情報を迅速に発信する", "Facebook",
                  "宮城県石巻市", "https://www.facebook.com/IshinomakiCityOffice/", "令和6年4月1日", "令和9年3月31日",
                  "月曜日から金曜日までの8時30分から17時15分", "必要に応じて回答を行います。",
                  "このアカウントは委託業者が運用しています。"):
        assert value in text, value
    assert "(開設後に記載可)" in text and "(運用期間)" in text
    for heading in ("(その他)", "1 注意事項", "2 知的財産権", "3 免責事項", "(10) その他石巻市が不適切と判断した情報"):
        assert heading in text


def test_form2_has_addressee_rows_and_reiwa_date(make, client, login):
    department, account = _example(make)
    admin = make.user("admin", department)
    notice = service.file_notice(admin, account, {"kind": "change", "effective_date": "2025-05-01",
                                                  "contact": "広報 花子（内線2345）", "details": "運用時間を変更",
                                                  "remarks": "備考の例"})
    db.session.commit()
    login(admin)
    response = client.get(f"/accounts/{account.id}/notices/{notice.id}/form2")
    assert response.status_code == 200
    text = response.text
    assert "(様式2)" in text
    assert "(宛先) 総務部秘書広報課長 殿" in text
    assert "届出書" in text and "したので届け出ます。" in text
    assert '<strong class="chosen">変更</strong>' in text
    _in_order(text[text.index('class="form-table"'):], [f">{label}<" for label in FORM2_ROWS])
    for value in ("Facebook", "宮城県石巻市", "https://www.facebook.com/IshinomakiCityOffice/", "令和7年5月1日",
                  "広報 花子（内線2345）", "変更内容：運用時間を変更", "備考の例", "総務部 秘書広報課 秘書広報課長"):
        assert value in text, value
    today = service.utcnow()
    assert "令和" in text[text.index("(様式2)"):text.index("(宛先)")]
    assert str(today.year - 2018) in text


def test_form2_of_another_account_is_404(make, client, login):
    department, account = _example(make)
    other = make.account(department)
    admin = make.user("admin", department)
    notice = service.file_notice(admin, account, {"kind": "opening", "effective_date": "2024-04-01", "contact": "x"})
    db.session.commit()
    login(admin)
    assert client.get(f"/accounts/{other.id}/notices/{notice.id}/form2").status_code == 404
    assert client.get("/accounts/999/form1").status_code == 404


def test_print_stylesheet_targets_a4(app):
    from pathlib import Path

    css = (Path(app.static_folder) / "app.css").read_text(encoding="utf-8")
    assert "size: A4" in css and ".print-form" in css
