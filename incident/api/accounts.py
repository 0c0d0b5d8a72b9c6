"""API v1 routes for the registry of official accounts (様式1 fields, 様式2 notices) and the public list.

`GET /api/v1/public/accounts` is the one API route that needs no token: `authenticate` in
incident/api/__init__.py skips exactly the endpoint named in `PUBLIC_ENDPOINTS` below.
"""
from __future__ import annotations

from typing import Any

from flask import jsonify

from incident.accounts import service
from incident.accounts.models import AccountNotice, NoticeReceipt, OfficialAccount
from incident.api import ID, api_user, bp, json_body, serialize
from incident.dates import isoformat
from incident.extensions import db

#: Endpoints the token check lets through (read-only, nothing private).
PUBLIC_ENDPOINTS = frozenset({"api.public_accounts"})


def account_full(item: OfficialAccount) -> dict[str, Any]:
    """An official account with its 様式1 fields and status (for logged-in users only)."""
    data = serialize.account(item)
    data.update({
        "responsible_person": item.responsible_person,
        "content": item.content,
        "purpose": item.purpose,
        "start_date": item.start_date.isoformat() if item.start_date else None,
        "end_date": item.end_date.isoformat() if item.end_date else None,
        "operating_hours": item.operating_hours,
        "reply_policy": item.reply_policy,
        "remarks": item.remarks,
        "status": item.status.value,
        "closed_at": isoformat(item.closed_at),
        "mfa_enabled": item.mfa_enabled,
        "mfa_confirmed_at": isoformat(item.mfa_confirmed_at),
        "policy_reviewed_at": isoformat(item.policy_reviewed_at),
    })
    return data


def notice_data(notice: AccountNotice, receipt: NoticeReceipt | None) -> dict[str, Any]:
    """A 様式2 notice with its receipt."""
    return {
        "id": notice.id,
        "account_id": notice.account_id,
        "kind": notice.kind.value,
        "effective_date": notice.effective_date.isoformat(),
        "contact": notice.contact,
        "details": notice.details,
        "remarks": notice.remarks,
        "filed_by_id": notice.filed_by_id,
        "filed_at": isoformat(notice.filed_at),
        "received": receipt is not None,
        "received_by_id": receipt.received_by_id if receipt else None,
        "received_at": isoformat(receipt.received_at) if receipt else None,
    }


@bp.get("/accounts")
def accounts():
    """Every official account, with its 様式1 fields."""
    return jsonify(items=[account_full(a) for a in service.all_accounts()])


@bp.post("/accounts")
def create_account():
    """Register an official account (PR office)."""
    account = service.create_account(api_user(), json_body())
    db.session.commit()
    return jsonify(account_full(account)), 201


@bp.get(f"/accounts/<{ID}:account_id>")
def get_account(account_id: int):
    """One account with its notices (oldest first) and closure checklist."""
    account = service.get_account(account_id)
    data = account_full(account)
    data["notices"] = [notice_data(n, r) for n, r, _filer, _receiver in service.notices_of(account)]
    data["closure_tasks"] = [
        {"task": item.task, "done": item.done is not None,
         "done_at": isoformat(item.done.done_at) if item.done else None}
        for item in service.closure_checklist(account)
    ] if account.status.value == "closed" else []
    return jsonify(data)


@bp.patch(f"/accounts/<{ID}:account_id>")
def update_account(account_id: int):
    """Change an account's fields (PR office)."""
    account = service.get_account(account_id)
    service.update_account(api_user(), account, json_body())
    db.session.commit()
    return jsonify(account_full(account))


@bp.post(f"/accounts/<{ID}:account_id>/notices")
def file_notice(account_id: int):
    """File a 様式2 notice (the account's department or the PR office)."""
    account = service.get_account(account_id)
    notice = service.file_notice(api_user(), account, json_body())
    db.session.commit()
    return jsonify(notice_data(notice, None)), 201


@bp.get("/public/accounts")
def public_accounts():
    """The public list (3(2)ア): active accounts only, no private field; needs no token."""
    return jsonify(items=[service.public_record(a) for a in service.public_accounts()])
