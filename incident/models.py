"""Imports every model so the metadata (and Alembic) sees all tables."""
from incident.accounts.models import (  # noqa: F401
    AccountNotice,
    AccountStatus,
    CaseFakeAccount,
    ClosureTask,
    FakeAccount,
    FakeAccountEvent,
    FakeAccountState,
    NoticeKind,
    NoticeReceipt,
    OfficialAccount,
    OperatorType,
    Platform,
)
from incident.audit.models import AuditLog  # noqa: F401
from incident.auth.models import ApiToken, Department, Role, User  # noqa: F401
from incident.cases.models import (  # noqa: F401
    Case,
    CaseCounter,
    CaseKind,
    CaseStatus,
    Evidence,
    EvidenceWithdrawal,
    Note,
    OffendingItem,
    RetentionEvent,
    Severity,
    TimelineEvent,
)
from incident.drafts.models import (  # noqa: F401
    Draft,
    DraftCheck,
    DraftEvent,
    DraftRevision,
    DraftStatus,
    DraftType,
    Outcome,
    Publication,
    Route,
)
from incident.escalation.models import Escalation, EscalationNotice, OnCallShift  # noqa: F401
from incident.notifications.models import ChatChannel, EmailPreference, Notification, OutboxMail  # noqa: F401
from incident.playbooks.models import PlaybookVersion, StepEvent  # noqa: F401
from incident.reports.models import DisclosureMask, DisclosureMaskWithdrawal, DisclosureRequest  # noqa: F401
from incident.search.models import SearchEntry  # noqa: F401
