"""The public list of official accounts (3(2)ア): no login, active accounts only, nothing private.

What the PR office publishes on the city website: by department, platform, account name, URL,
purpose and reply policy. Closed accounts disappear from it. Contacts, MFA status, remarks and the
operator's details never appear (see `service.PUBLIC_FIELDS`).
"""
from __future__ import annotations

import csv
import io
from itertools import groupby

from flask import Blueprint, Response, jsonify, render_template

from incident import labels
from incident.accounts import service

bp = Blueprint("public", __name__, url_prefix="/public")

CSV_HEADER = ["開設所属", "媒体", "アカウント名", "登録URL", "利用目的", "投稿に対する返信"]


def _rows() -> list[dict]:
    return [service.public_record(account) for account in service.public_accounts()]


@bp.get("/accounts")
def accounts():
    """The public list as a page, grouped by department."""
    rows = _rows()
    groups = [(name, list(items)) for name, items in groupby(rows, key=lambda r: r["department"])]
    return render_template("accounts/public_list.html", groups=groups,
                           platform_labels={k.value: v for k, v in labels.PLATFORM_LABELS.items()})


@bp.get("/accounts.json")
def accounts_json():
    """The public list as JSON for the website team."""
    return jsonify(items=_rows())


@bp.get("/accounts.csv")
def accounts_csv():
    """The public list as CSV, UTF-8 with a BOM so that Excel reads the Japanese text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in _rows():
        writer.writerow([_safe(row[k]) for k in ("department", "platform", "name", "url", "purpose", "reply_policy")])
    body = "\ufeff" + out.getvalue()
    return Response(body.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="official-accounts.csv"'})


def _safe(value: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value
