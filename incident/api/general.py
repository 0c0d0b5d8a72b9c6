"""API v1 routes about the caller."""
from __future__ import annotations

from flask import jsonify

from incident.api import api_user, bp, serialize


@bp.get("/me")
def me():
    """The caller's profile."""
    return jsonify(serialize.user_full(api_user()))

# The official-account routes live in incident/api/accounts.py.
