"""API v1 routes about the caller and the registry of official accounts."""
from __future__ import annotations

from flask import jsonify

from incident.accounts.service import all_accounts
from incident.api import api_user, bp, serialize


@bp.get("/me")
def me():
    """The caller's profile."""
    return jsonify(serialize.user_full(api_user()))


@bp.get("/accounts")
def accounts():
    """Every official account."""
    return jsonify(items=[serialize.account(a) for a in all_accounts()])
