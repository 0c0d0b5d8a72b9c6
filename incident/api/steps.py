"""API v1 playbook routes: the kinds' playbooks and a case's checklist actions."""
from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from incident.api import api_user, bp, json_body
from incident.cases.service import get_case
from incident.dates import isoformat
from incident.extensions import db
from incident.playbooks import service
from incident.playbooks.loader import Playbook, Step


def _step(step: Step) -> dict[str, Any]:
    return {
        "key": step.key, "title_ja": step.title_ja, "title_en": step.title_en,
        "guidance_ja": step.guidance_ja, "guidance_en": step.guidance_en, "clause": step.clause,
        "type": step.type, "actor": step.actor, "required": step.required,
        "when": {"step": step.when.step, "answer": step.when.answer} if step.when else None,
        "due_minutes": step.due_minutes, "draft_type": step.draft_type, "input": step.input,
    }


def _playbook(playbook: Playbook) -> dict[str, Any]:
    return {"kind": playbook.kind, "title_ja": playbook.title_ja, "title_en": playbook.title_en,
            "clause": playbook.clause, "version": playbook.version,
            "steps": [_step(s) for s in playbook.steps]}


def _state(state: service.StepState) -> dict[str, Any]:
    event = state.event
    return {
        **_step(state.step),
        "state": state.state,
        "answer": state.answer,
        "due_at": isoformat(state.due_at),
        "overdue": state.overdue,
        "last_event": None if event is None else {
            "action": event.action, "reason": event.reason, "data": event.data,
            "actor": {"id": event.actor.id, "name": event.actor.name} if event.actor else None,
            "created_at": isoformat(event.created_at),
        },
    }


def _checklist_response(case_id: int):
    case = get_case(api_user(), case_id)
    states = service.checklist(case)
    done, total = service.progress(states)
    return jsonify(playbook_version=case.playbook_version, required_done=done, required_total=total,
                   items=[_state(s) for s in states])


@bp.get("/playbooks")
def playbooks():
    """The current playbook of every kind."""
    registry = current_app.extensions["playbooks"]
    return jsonify(items=[_playbook(registry[k]) for k in sorted(registry)])


@bp.get("/cases/<int:case_id>/steps")
def steps(case_id: int):
    """The case's checklist."""
    return _checklist_response(case_id)


@bp.post("/cases/<int:case_id>/steps/<key>/<any(complete, decide, skip, waive, reopen):action>")
def act(case_id: int, key: str, action: str):
    """complete {"note"?, "url"?, "where"?, ...}; decide {"answer", "reason"}; skip, waive, reopen {"reason"}."""
    data = json_body()
    case = get_case(api_user(), case_id)
    service.perform(api_user(), case, key, action, data)
    db.session.commit()
    return _checklist_response(case_id)
