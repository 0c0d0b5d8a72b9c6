"""API v1: check a commissioned third-party post against guideline 5 (see incident/drafts/disclosure.py)."""
from __future__ import annotations

from typing import Any

from flask import jsonify

from incident.api import bp, json_body, require_text
from incident.drafts.disclosure import check_with_config
from incident.drafts.disclosure_views import TEXT_MAX


@bp.post("/pr-disclosure/check")
def check_pr_disclosure():
    """`{"text": …}` → `{"ok": …, "problems": [{"code", "message", "token"?}]}`; nothing is stored."""
    text = require_text(json_body(), "text", max_len=TEXT_MAX)
    problems = []
    for problem in check_with_config(text):
        item: dict[str, Any] = {"code": problem.code, "message": str(problem.message)}
        if problem.token is not None:
            item["token"] = problem.token
        problems.append(item)
    return jsonify({"ok": not problems, "problems": problems})
