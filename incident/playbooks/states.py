"""A checklist's step states computed from a playbook, a case's detection time and severity and its step
events; no database access (incident.playbooks.service and .due, and the migrations, use it)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from incident.playbooks.loader import Playbook, Step, parse_playbook
from incident.playbooks.models import StepEvent

#: The states a step can be in, as shown on the checklist.
PENDING, DONE, SKIPPED, WAIVED, NOT_APPLICABLE, WAITING = (
    "pending", "done", "skipped", "waived", "not_applicable", "waiting")


@dataclasses.dataclass
class StepState:
    """A step of a case's playbook with what has been done to it."""

    step: Step
    state: str
    answer: bool | None
    event: StepEvent | None
    due_at: dt.datetime | None
    overdue: bool

    @property
    def is_open(self) -> bool:
        return self.state == PENDING


@functools.lru_cache(maxsize=64)
def parse_stored(version: str, text: str, file_name: str) -> Playbook:
    """A stored playbook version parsed (cached by its version and text)."""
    return parse_playbook(text, file_name)


_STATE_OF_ACTION = {"complete": DONE, "decide": DONE, "skip": SKIPPED, "waive": WAIVED, "reopen": PENDING}


def states_of(playbook: Playbook, detected_at: dt.datetime, severity: str, events: Iterable[Any],
              now: dt.datetime) -> list[StepState]:
    """The checklist of a playbook given the case's detection time, severity and step events (rows with
    step_key, action and answer, oldest first); no database access, so a migration may use it too."""
    latest = {event.step_key: event for event in events}  # the last event of each step wins
    states: dict[str, StepState] = {}
    for step in playbook.steps:
        event = latest.get(step.key)
        state = _STATE_OF_ACTION[event.action] if event else PENDING
        answer = event.answer if event and event.action == "decide" else None
        if step.when is not None:
            decision = states.get(step.when.step)
            if decision is None or decision.state in (NOT_APPLICABLE, WAITING) or decision.answer is None:
                state = WAITING if state == PENDING else state
                if decision is not None and decision.state == NOT_APPLICABLE:
                    state = NOT_APPLICABLE
            elif decision.answer != step.when.answer:
                state = NOT_APPLICABLE
        due_at = None
        if step.due_minutes:
            # Deadlines count from detection, which may be hours before the case was opened.
            due_at = detected_at + dt.timedelta(minutes=step.due_minutes[severity])
        overdue = state == PENDING and due_at is not None and now > due_at
        states[step.key] = StepState(step, state, answer, event, due_at, overdue)
    return list(states.values())
