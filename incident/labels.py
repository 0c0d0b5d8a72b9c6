"""Display labels for enums, in one place so pages, mail and exports say the same thing.

Tables a domain needs itself (case kinds and statuses, platforms, operators, fake states, escalation
triggers) are defined in that domain's models and imported here, so pages still find them all here."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import SelectChoice  # type: ignore[attr-defined]  # types-WTForms 3.2 predates WTForms 3.3's SelectChoice
from wtforms.widgets import Select

from incident.accounts.models import FAKE_STATE_LABELS, OPERATOR_LABELS, PLATFORM_LABELS  # noqa: F401
from incident.auth.models import Role
from incident.cases.models import KIND_LABELS, STATUS_LABELS, Severity  # noqa: F401
from incident.drafts.models import DraftStatus, DraftType
from incident.escalation.models import (  # noqa: F401
    ESCALATION_LEVEL_LABELS,
    ESCALATION_TAKEN_BY_LABELS,
    ESCALATION_TRIGGER_LABELS,
)

#: Most urgent first: forms offer them in this order and the case list sorts by it.
SEVERITY_LABELS = {
    Severity.CRITICAL: _l("緊急"),
    Severity.HIGH: _l("高"),
    Severity.MEDIUM: _l("中"),
    Severity.LOW: _l("低"),
}
ROLE_LABELS = {
    Role.RESPONDER: _l("担当者"),
    Role.SUPERVISOR: _l("所属長"),
    Role.ADMIN: _l("秘書広報課"),
}
#: What an evidence file is for (takedown forms ask for proof of authority or an ID).
EVIDENCE_PURPOSE_LABELS = {
    "capture": _l("証拠（スクリーンショット等）"),
    "authority_proof": _l("権限の証明（委任状・公式アカウント一覧など）"),
    "id_document": _l("身分証明書"),
}
#: The same labels keyed by plain value, for data stored as JSON (timeline events).
STATUS_BY_VALUE = {member.value: label for member, label in STATUS_LABELS.items()}

#: Verbs for timeline entries; templates add the details kept in each event's data.
EVENT_LABELS = {
    "opened": _l("案件を登録"),
    "acknowledged": _l("受付（対応開始）"),
    "assigned": _l("担当者を変更"),
    "status_changed": _l("状態を変更"),
    "note_added": _l("メモを追加"),
    "note_corrected": _l("メモを訂正"),
    "edited": _l("案件を編集"),
    "item_added": _l("問題の投稿・アカウントを記録"),
    "step_complete": _l("手順を完了"),
    "step_decide": _l("判断を記録"),
    "step_skip": _l("手順を省略"),
    "step_waive": _l("手順を免除"),
    "step_reopen": _l("手順の記録を取り消し"),
    "step_flagged": _l("元の投稿の削除を記録（3(4)ア(イ)に反するため要注意）"),
    "fake_linked": _l("既知の偽アカウントと関連付け"),
    "evidence_added": _l("証拠ファイルを添付"),
    "evidence_withdrawn": _l("証拠ファイルを取り下げ"),
    "draft_created": _l("文案を作成"),
    "draft_revised": _l("文案を書き換え"),
    "draft_submitted": _l("文案の承認を依頼"),
    "draft_pre_approved": _l("文案を事前承認の範囲として記録"),
    "draft_approved": _l("文案を承認"),
    "draft_second_checked": _l("文案を複数人で確認"),
    "draft_returned": _l("文案を差し戻し"),
    "draft_sent": _l("文案の公開・提出を記録"),
    "draft_answered": _l("削除依頼・復旧依頼への回答を記録"),
    "draft_withdrawn": _l("公開した文の取り下げを記録"),
    "escalated": _l("エスカレーション"),
    "escalation_acknowledged": _l("エスカレーションを受けた"),
    "escalation_resolved": _l("エスカレーションの原因が解消"),
    "reviewed": _l("振り返りを記録"),
    "redacted": _l("保存期間の満了により個人情報を消去"),
}
FIELD_LABELS = {
    "kind": _l("種別"),
    "title": _l("件名"),
    "severity": _l("重大度"),
    "description": _l("概要"),
    "platform": _l("媒体"),
    "official_account_id": _l("関係する公式アカウント"),
    "detected_at": _l("覚知日時"),
    "source": _l("情報源"),
    "playbook_version": _l("対応手順（プレイブック）"),
}
STEP_TYPE_LABELS = {
    "check": _l("確認"),
    "decision": _l("判断"),
    "draft": _l("文案"),
    "approval": _l("承認"),
}
STEP_STATE_LABELS = {
    "pending": _l("未完了"),
    "done": _l("完了"),
    "skipped": _l("省略"),
    "waived": _l("免除"),
    "not_applicable": _l("該当なし"),
    "waiting": _l("判断待ち"),
}
ACTOR_LABELS = {"responder": _l("担当者"), "supervisor": _l("所属長")}
#: 様式1 注意事項: the prohibited posts of every account's operation policy.
PROHIBITED_ITEMS = {
    1: _l("(1) 法律、法令等に違反する内容、又は違反するおそれがあるもの"),
    2: _l("(2) 特定の個人・団体等を誹謗中傷するもの"),
    3: _l("(3) 政治、宗教活動を目的とするもの"),
    4: _l("(4) 著作権、商標権、肖像権など石巻市又は第三者の知的所有権を侵害するもの"),
    5: _l("(5) 広告、宣伝、勧誘、営業活動、その他営利を目的とするもの"),
    6: _l("(6) 人種・思想・信条等の差別又は差別を助長させるもの"),
    7: _l("(7) 公の秩序又は善良の風俗に反するもの"),
    8: _l("(8) 虚偽や事実と異なる内容及び根拠のないもの"),
    9: _l("(9) 本人の承諾なく個人情報を特定・開示・漏えいする等プライバシーを害するもの"),
    10: _l("(10) その他石巻市が不適切と判断した情報及びこれらの内容を含むホームページへのリンク"),
}


# ---- outgoing texts (drafts) ----
DRAFT_TYPE_LABELS = {
    DraftType.TAKEDOWN: _l("削除依頼（運営会社あて）"),
    DraftType.PRESS: _l("報道機関への情報提供"),
    DraftType.INTERIM_NOTICE: _l("中間の周知（対応中のお知らせ）"),
    DraftType.FINAL_NOTICE: _l("最終の周知"),
    DraftType.CORRECTION: _l("訂正"),
    DraftType.CORRECT_INFO: _l("正しい情報の発信（市ページへのリンク付き）"),
    DraftType.CITIZEN_WARNING: _l("注意喚起（偽アカウント）"),
    DraftType.RECOVERY: _l("アカウントの復旧依頼（運営会社あて）"),
}
DRAFT_STATUS_LABELS = {
    DraftStatus.EDITING: _l("作成中"),
    DraftStatus.SUBMITTED: _l("承認待ち"),
    DraftStatus.APPROVED: _l("承認済み"),
    DraftStatus.SENT: _l("公開・提出済み"),
}
SECTION4_CHECK_LABELS = {
    "public_info": _l("4(1) 市で一般に公表することを前提とした情報だけである"),
    "accurate": _l("4(4) 正確に書かれ、誤解を生じない"),
    "rights": _l("4(3) 基本的人権・肖像権・プライバシー権・著作権などを侵害しない"),
    "not_prohibited": _l("4(6) 侮辱・差別・違法・根拠のない情報などを含まない"),
    "calm": _l("4(7) 冷静な表現で、反論や無用な議論をしていない"),
}
PRE_APPROVED_SCOPE_LABELS = {
    "a": _l("(a) 既にホームページ等に掲載するなど、公表済みの内容"),
    "b": _l("(b) イベントの状況や結果など、既成の事実"),
    "c": _l("(c) 法令等で定められている手続などの内容"),
}
SENDING_CHANNEL_LABELS = {
    "form": _l("運営会社のフォーム"),
    "email": _l("メール"),
    "in_app": _l("アプリ内の報告"),
    "post": _l("SNS への投稿"),
    "website": _l("市ホームページ"),
    "press": _l("報道機関へ提供"),
    "other": _l("その他"),
}
#: What came of a takedown (removed) or a recovery request (recovered); drafts.models.OUTCOMES says which
#: a type may end with.
TAKEDOWN_OUTCOME_LABELS = {
    "removed": _l("削除された"),
    "recovered": _l("復旧した（市が管理を取り戻した）"),
    "refused": _l("応じられなかった（拒否）"),
    "no_answer": _l("回答なし"),
}
DRAFT_EVENT_LABELS = {
    "created": _l("作成（ひな形から）"),
    "revised": _l("書き換え"),
    "submitted": _l("承認を依頼"),
    "pre_approved": _l("事前承認の範囲として記録"),
    "approved": _l("承認"),
    "second_checked": _l("複数人で確認"),
    "returned": _l("差し戻し"),
    "sent": _l("公開・提出を記録"),
    "answered": _l("運営会社の回答を記録"),
    "withdrawn": _l("取り下げ"),
}
TAKEDOWN_ASK_LABELS = {
    "reporter": _l("依頼者（担当者）"),
    "email": _l("連絡先メールアドレス"),
    "authority_proof": _l("権限の証明"),
    "id_document": _l("身分証明書"),
    "fake_url": _l("偽アカウントの URL"),
    "fake_handle": _l("偽アカウントの @ハンドル"),
    "genuine_url": _l("正規アカウントの URL"),
    "description": _l("説明"),
    "screenshots": _l("スクリーンショット"),
}

# ---- escalation and notifications ----
CHAT_SERVICE_LABELS = {
    "teams": _l("Microsoft Teams（ワークフローの Webhook）"),
    "slack": _l("Slack（Incoming Webhook）"),
    "lineworks": _l("LINE WORKS（Bot）"),
    "webhook": _l("汎用 Webhook（署名付き JSON。LoGoチャットの中継など）"),
}

NOTIFICATION_KIND_LABELS = {
    "case_opened": _l("所属で案件が登録されたとき"),
    "escalation": _l("エスカレーションが届いたとき"),
    "approval_requested": _l("文案の承認を求められたとき"),
    "draft_decided": _l("自分の文案が承認・差し戻しされたとき"),
    "assigned": _l("案件の担当者になったとき"),
}


def options(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    """Select-box options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def choices(labels: dict) -> list[SelectChoice]:
    """Select-box options for an enum's labels, in enum order."""
    return options((member.value, label) for member, label in labels.items())


class RequiredSelect(Select):
    """A select box whose first option is an empty 「選んでください」 when its field is required: HTML asks a
    required select for such a placeholder, and a choice nobody made is then refused rather than taken."""

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        markup = super().__call__(field, **kwargs)
        if not field.flags.required:
            return markup
        head, end, rest = str(markup).partition(">")
        return Markup(f'{head}{end}<option value="">{escape(_l("選んでください"))}</option>{rest}')
