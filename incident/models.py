"""Imports every model so the metadata (and Alembic) sees all tables."""
from incident.accounts.models import OfficialAccount, OperatorType, Platform  # noqa: F401
from incident.audit.models import AuditLog  # noqa: F401
from incident.auth.models import ApiToken, Department, Role, User  # noqa: F401
from incident.cases.models import (  # noqa: F401
    Case,
    CaseCounter,
    CaseKind,
    CaseStatus,
    Note,
    OffendingItem,
    Severity,
    TimelineEvent,
)
from incident.playbooks.models import PlaybookVersion, StepEvent  # noqa: F401
