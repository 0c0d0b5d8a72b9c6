"""The escalation policy file (playbooks/escalation.toml): read and checked at start-up."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

SEVERITIES = ("critical", "high", "medium", "low")
LEVELS = ("assignee", "supervisors", "pr_office")
_TIMES = ("unacknowledged_minutes", "step_overdue_minutes", "approval_wait_minutes", "next_level_minutes")
_OPTIONAL = "working_hours_only"


class EscalationRulesError(ValueError):
    """escalation.toml is broken; the message names the file and what is wrong."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long things may wait at one severity, in minutes."""

    unacknowledged_minutes: int
    step_overdue_minutes: int
    approval_wait_minutes: int
    next_level_minutes: int
    #: The minutes count only the department's working hours (a low-severity case waits over nights,
    #: weekends and holidays rather than waking anyone).
    working_hours_only: bool = False


@dataclasses.dataclass(frozen=True)
class Rules:
    """Timings per severity and the chain of levels."""

    timings: dict[str, Timing]
    levels: tuple[str, ...]
    repeat: bool


def _line(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def load_rules(path: Path) -> Rules:
    """Read escalation.toml, or raise EscalationRulesError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EscalationRulesError(f"{path}: ファイルがありません (file missing)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EscalationRulesError(f"{path}: {exc}") from None
    unknown = set(data) - {"severity", "chain"}
    if unknown:
        name = sorted(unknown)[0]
        raise EscalationRulesError(f"{path}:{_line(text, name)}: unknown table or key {name!r}")
    severity = data.get("severity")
    if not isinstance(severity, dict) or set(severity) != set(SEVERITIES):
        raise EscalationRulesError(f"{path}: [severity.critical], [severity.high], [severity.medium] and [severity.low] are all needed")
    timings = {}
    for name in SEVERITIES:
        table = severity[name]
        where = f"{path}:{_line(text, f'[severity.{name}]')}"
        if not isinstance(table, dict) or not set(_TIMES) <= set(table) or set(table) - set(_TIMES) - {_OPTIONAL}:
            raise EscalationRulesError(
                f"{where}: [severity.{name}] needs exactly {', '.join(_TIMES)} (and optionally {_OPTIONAL})")
        for key in _TIMES:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60 * 24 * 30:
                raise EscalationRulesError(f"{where}: {key} must be whole minutes between 1 and 43200")
        if not isinstance(table.get(_OPTIONAL, False), bool):
            raise EscalationRulesError(f"{where}: {_OPTIONAL} must be true or false")
        timings[name] = Timing(**table)
    chain = data.get("chain")
    where = f"{path}:{_line(text, '[chain]')}"
    if not isinstance(chain, dict) or set(chain) != {"levels", "repeat"}:
        raise EscalationRulesError(f"{where}: [chain] needs exactly levels and repeat")
    levels = chain["levels"]
    if (not isinstance(levels, list) or not levels or any(level not in LEVELS for level in levels)
            or len(set(levels)) != len(levels)):
        raise EscalationRulesError(f"{where}: levels must list each of {', '.join(LEVELS)} at most once")
    if not isinstance(chain["repeat"], bool):
        raise EscalationRulesError(f"{where}: repeat must be true or false")
    return Rules(timings=timings, levels=tuple(levels), repeat=chain["repeat"])
