"""The roles a user can have; below every domain, so that incident.policy can name them without importing one."""
from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """What a user may do: 担当者, 所属長, or the PR office (秘書広報課)."""

    RESPONDER = "responder"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
