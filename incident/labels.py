"""Display labels for enums, in one place so pages, mail and exports say the same thing."""
from __future__ import annotations

from typing import Any, Iterable

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice

from incident.accounts.models import OperatorType, Platform
from incident.auth.models import Role
from incident.cases.models import CaseKind, CaseStatus, Severity

KIND_LABELS = {
    CaseKind.FLAMING: _l("炎上"),
    CaseKind.IMPERSONATION: _l("なりすまし"),
    CaseKind.FALSE_INFORMATION: _l("事実と反する内容"),
    CaseKind.ACCOUNT_TAKEOVER: _l("乗っ取り"),
}
SEVERITY_LABELS = {
    Severity.HIGH: _l("高"),
    Severity.MEDIUM: _l("中"),
    Severity.LOW: _l("低"),
}
STATUS_LABELS = {
    CaseStatus.NEW: _l("新規"),
    CaseStatus.RESPONDING: _l("対応中"),
    CaseStatus.MONITORING: _l("経過観察"),
    CaseStatus.CLOSED: _l("終了"),
}
ROLE_LABELS = {
    Role.RESPONDER: _l("担当者"),
    Role.SUPERVISOR: _l("所属長"),
    Role.ADMIN: _l("秘書広報課"),
}
PLATFORM_LABELS = {
    Platform.X: "X",
    Platform.FACEBOOK: "Facebook",
    Platform.INSTAGRAM: "Instagram",
    Platform.LINE: "LINE",
    Platform.YOUTUBE: "YouTube",
    Platform.TIKTOK: "TikTok",
    Platform.OTHER: _l("その他"),
}
OPERATOR_LABELS = {
    OperatorType.CITY: _l("市（担当課）"),
    OperatorType.DESIGNATED_MANAGER: _l("指定管理者"),
    OperatorType.CONTRACTOR: _l("委託業者"),
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
}


def options(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    """Select-box options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def choices(labels: dict) -> list[SelectChoice]:
    """Select-box options for an enum's labels, in enum order."""
    return options((member.value, label) for member, label in labels.items())
