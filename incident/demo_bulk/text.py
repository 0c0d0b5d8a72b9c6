"""The Japanese wording of generated cases: titles, subjects, sources and note texts."""
from __future__ import annotations

import random

from incident.cases.models import CaseKind

SUBJECTS = ["観光案内所", "市民プール", "中央図書館", "博物館の企画展", "川開き祭り", "花火大会", "ごみの収集日",
            "防災無線", "給付金の申請", "市立病院", "港の朝市", "マンガロード", "市役所の窓口", "復興祈念公園"]
TITLES = {
    CaseKind.FLAMING: "{s}の投稿への批判コメントが拡散",
    CaseKind.FALSE_INFORMATION: "{s}について誤った情報が拡散",
    CaseKind.IMPERSONATION: "{s}をかたる偽アカウント",
    CaseKind.DORMANT_ACCOUNT: "{s}の旧アカウントが放置されている",
    CaseKind.ACCOUNT_TAKEOVER: "{s}のアカウントに不正ログインの疑い",
}
OPENERS = ["午前中に", "昼過ぎに", "夕方に", "夜間に", "本日", "先ほど"]
EVENTS = ["市民から電話で問い合わせがあった", "投稿の引用が増えている", "リプライ欄で批判が続いている",
          "関係課に事実関係を確認した", "担当者が現地で状況を確認した", "プラットフォームに報告した",
          "スクリーンショットを保存した", "所属長に状況を報告した", "新しい投稿は見られない",
          "報道機関から問い合わせがあった", "正しい情報を市のウェブサイトに掲載した"]
CLOSERS = ["引き続き経過を見る。", "明日の朝に再確認する。", "対応方針を相談する。", "以上。", "特に変化はない。"]
SOURCES = ["市民からの電話", "職員が巡回中に発見", "観光案内所からの連絡", "報道機関からの問い合わせ", ""]
REASON = "対応を終えたため、残りの手順は不要と判断した。"


def sentence(rng: random.Random) -> str:
    """One sentence of a note: when, what happened, what next."""
    return f"{rng.choice(OPENERS)}、{rng.choice(EVENTS)}。{rng.choice(CLOSERS)}"


def note_body(rng: random.Random) -> str:
    """A Japanese note of one to three sentences; about one in five uses Markdown."""
    roll = rng.random()
    if roll < 0.08:
        return "**確認したこと**\n\n" + "\n".join(f"- {rng.choice(EVENTS)}" for _ in range(rng.randint(2, 4)))
    if roll < 0.14:
        return f"{sentence(rng)}\n\n> {rng.choice(EVENTS)}との連絡あり。"
    if roll < 0.2:
        return f"{sentence(rng)} 参考: [市のお知らせ](https://www.city.ishinomaki.example/news/{rng.randint(1, 9999)})"
    return "".join(sentence(rng) for _ in range(rng.randint(1, 3)))
