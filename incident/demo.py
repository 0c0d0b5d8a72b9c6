"""Demo data for a first run: departments, users with random passwords (one works for a contractor), accounts
and a few cases."""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from flask import current_app

from incident.accounts import service as accounts
from incident.auth import service as auth
from incident.auth.models import Department, User
from incident.cases import retention
from incident.cases import service as cases
from incident.cases.models import CaseStatus, RetentionEvent
from incident.dates import to_tokyo, utcnow
from incident.escalation import on_call
from incident.extensions import db
from incident.fakes.service import record_fake

DEPARTMENTS = [
    ("hisho-koho", "総務部 秘書広報課"),
    ("kanko", "産業部 観光課"),
    ("hakubutsukan", "教育委員会 博物館"),
]
#: The contractor running the tourism department's X account; its demo user (itaku@) sees that account's
#: cases only — not the rest of 観光課's (policy.is_operator_user).
CONTRACTOR = "株式会社いしのまき広告"
USERS = [
    ("koho@ishinomaki.example", "広報 花子", "admin", "hisho-koho", None),
    ("kanko-kacho@ishinomaki.example", "観光 一郎（課長）", "supervisor", "kanko", None),
    ("kanko@ishinomaki.example", "観光 次郎", "responder", "kanko", None),
    ("itaku@ishinomaki.example", "委託 三郎", "responder", "kanko", CONTRACTOR),
    ("hakubutsukan-kancho@ishinomaki.example", "博物 館長", "supervisor", "hakubutsukan", None),
    ("hakubutsukan@ishinomaki.example", "博物 学芸員", "responder", "hakubutsukan", None),
]


def load_demo() -> str:
    """Create the demo records and return the login table (also written to instance/)."""
    departments = {code: auth.create_department(None, code, name) for code, name in DEPARTMENTS}
    for code, department in departments.items():
        # Example contacts (the 0225-00 range is made up): printed on press and public notices.
        auth.set_department_contact(None, department, f"電話 0225-00-{1000 + len(code):04d}（{department.name}）")
    users = {}
    lines = ["Demo logins (also in instance/demo-logins.txt):"]
    for email, name, role, code, organisation in USERS:
        password = secrets.token_urlsafe(9)
        users[email] = auth.create_user(None, email=email, name=name, role=role,
                                        department=departments[code], password=password,
                                        organisation=organisation)
        lines.append(f"  {role:<10} {email:<42} {password}")
    lines.append(f"  (itaku@ works for the contractor {CONTRACTOR}, which runs 石巻市観光課 on X: that user sees only\n"
                 "   that account's cases and the ones they open or are assigned, not the rest of 観光課's.)")
    admin = users["koho@ishinomaki.example"]
    city = accounts.create_account(admin, {
        "platform": "facebook", "name": "宮城県石巻市",
        "url": "https://www.facebook.com/IshinomakiCityOffice/",
        "department_id": departments["hisho-koho"].id, "operator_type": "city",
        # 様式1 as in the guideline's 記載例.
        "responsible_person": "秘書広報課長",
        "content": "イベント情報や行政情報",
        "purpose": "市政情報を迅速に発信することにより、石巻市への理解を深めていただくとともに、"
                   "利用者の利便性を高めることを目的とする。",
        "start_date": "2024-04-01",
        "operating_hours": "月曜日から金曜日までの8時30分から17時15分まで（祝日及び年末年始を除く）"
                           "ただし、それ以外の時間に発信する場合があります。",
        "reply_policy": "必要に応じて回答を行います。ただし、全ての投稿を閲覧し投稿に対して回答することを"
                        "保証するものではありません。",
    })
    accounts.file_notice(admin, city, {
        "kind": "opening", "effective_date": "2024-04-01", "contact": "広報 花子（内線2345）",
    })
    accounts.confirm_mfa(admin, city)
    accounts.mark_policy_reviewed(admin, city)
    tourism = accounts.create_account(admin, {
        "platform": "x", "name": "石巻市観光課", "url": "https://x.com/ishinomaki_kanko_example",
        "department_id": departments["kanko"].id, "operator_type": "contractor",
        "operator_name": CONTRACTOR,
    })
    accounts.create_account(admin, {
        "platform": "instagram", "name": "石巻市博物館", "url": None,
        "department_id": departments["hakubutsukan"].id, "operator_type": "city",
    })
    responder = users["kanko@ishinomaki.example"]
    chief = users["kanko-kacho@ishinomaki.example"]
    fake = cases.open_case(responder, {
        "kind": "impersonation", "severity": "critical",  # prize DMs to followers: fraud under way
        "title": "観光課Xアカウントのなりすまし",
        "description": "公式アカウントの画像と名前をコピーした偽アカウントが、"
                       "フォロワーにプレゼント当選のDMを送っている。",
        "platform": "x", "official_account_id": tourism.id,
        "detected_at": utcnow() - dt.timedelta(hours=2), "source": "市民からの電話",
        "urls": ["https://x.com/ishinomaki_kanko_fake", "@ishinomaki_kanko_fake"],
    })
    cases.assign(chief, fake, responder.id)
    cases.acknowledge(responder, fake)
    cases.add_note(responder, fake, "偽アカウントのプロフィールとDMのスクリーンショットを保存した。")
    # The fake as a known account, so the takedown request and the warning to citizens name it.
    record_fake(responder, {"platform": "x", "url": "https://x.com/ishinomaki_kanko_fake",
                            "display_name": "石巻市観光課【公式】", "genuine_account_id": tourism.id}, fake)
    # A case of the tourism department on no contractor-run account: its contractor's user does not see it.
    cases.open_case(responder, {
        "kind": "false_information", "severity": "low",
        "title": "観光案内所の営業時間について古い情報が拡散",
        "description": "冬季の短縮営業が終わったのに、短縮営業中とする投稿が拡散している。",
        "platform": "facebook", "source": "観光案内所からの連絡",
    })
    cases.open_case(users["hakubutsukan@ishinomaki.example"], {
        "kind": "false_information", "severity": "medium",
        "title": "企画展の開館時間について誤った情報が拡散",
        "description": "「企画展は土日休館」という投稿が拡散している。正しくは土日も開館。",
        "platform": "instagram",
    })
    flaming = cases.open_case(admin, {
        "kind": "flaming", "severity": "low", "title": "イベント告知の写真への批判コメント",
        "platform": "facebook", "official_account_id": city.id,
    })
    cases.change_status(admin, flaming, CaseStatus.RESPONDING)
    _seed_on_call(departments, users)
    _seed_expired_record(admin, users["hakubutsukan-kancho@ishinomaki.example"],
                         users["hakubutsukan@ishinomaki.example"])
    text = "\n".join(lines)
    path = Path(current_app.instance_path) / "demo-logins.txt"
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return text


def _seed_on_call(departments: dict[str, Department], users: dict[str, User]) -> None:
    """Tonight's and the coming weekend's on-call shifts of the tourism department, and the museum's own hours
    (closed on Mondays, open at weekends), so that the 勤務時間と当番 page shows something."""
    chief, responder = users["kanko-kacho@ishinomaki.example"], users["kanko@ishinomaki.example"]
    today = to_tokyo(utcnow()).date()
    tomorrow = today + dt.timedelta(days=1)
    on_call.add_shift(chief, departments["kanko"], user_id=chief.id, starts=f"{today} 17:15", ends=f"{tomorrow} 08:30")
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    on_call.add_shift(chief, departments["kanko"], user_id=responder.id, starts=f"{saturday} 00:00",
                      ends=f"{saturday + dt.timedelta(days=2)} 08:30")
    on_call.set_hours(users["hakubutsukan-kancho@ishinomaki.example"], departments["hakubutsukan"],
                      start="09:00", end="17:00", weekdays=["1", "2", "3", "4", "5", "6"],
                      closed=f"{today.year}-12-28")


def _seed_expired_record(admin: User, chief: User, responder: User) -> None:
    """A case closed in fiscal 2021 with a 1-year retention, so 保存期間が満了した記録 has a record to write
    out and redact: a citizen's name and number in its description and a note, as real ones have."""
    old = cases.open_case(responder, {
        "kind": "false_information", "severity": "low", "title": "休館日の誤った情報（2021 年度の記録）",
        "description": "市民の 石巻 一郎 さん（電話 0225-00-9999）から、休館日が誤って投稿されているとの連絡。",
        "platform": "instagram", "source": "市民からの電話",
    })
    cases.add_note(responder, old, "石巻 一郎 さんに訂正の投稿を伝えた。")
    cases.change_status(chief, old, CaseStatus.CLOSED, "訂正済み", waive_open_steps=True)
    # Closed in September 2021 with 1 year: kept until 31 March 2023 (the record of this is written as it
    # would have been then; demo data only).
    closed = dt.datetime(2021, 9, 30, 6, 0, tzinfo=dt.UTC)
    until = retention.kept_until(to_tokyo(closed).date(), "1")
    old.closed_at, old.retention_class, old.retention_until = closed, "1", until
    db.session.add(RetentionEvent(case_id=old.id, retention_class="1", retention_until=until, actor_id=admin.id,
                                  reason="デモデータ：2021 年度に終了した記録として設定"))
