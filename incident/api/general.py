"""API v1 routes about the caller."""
from __future__ import annotations

from incident.api import api_user, bp
from incident.api.schemas import MeOut
from incident.auth.models import User


@bp.get("/me", tags=["me"])
@bp.response(200, MeOut)
def me() -> User:
    """The caller's profile."""
    return api_user()

# The official-account routes live in incident/api/accounts.py.
