"""Reading and validating playbook files (TOML); usable without an application."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from incident.filecache import FileCache, files_key

KINDS = ("flaming", "impersonation", "false_information", "account_takeover", "dormant_account")
SEVERITIES = ("critical", "high", "medium", "low")
STEP_TYPES = ("check", "decision", "draft", "approval")
ACTORS = ("responder", "supervisor")
DRAFT_TYPES = ("takedown", "press", "interim_notice", "final_notice", "correction", "correct_info",
               "citizen_warning", "recovery")
#: What a step asks for when it is completed, besides an optional note.
INPUTS = ("none", "url", "city_url", "prohibited_item", "fake_account", "deletion_record", "mfa")
#: Events that complete a step by themselves: a supervisor acknowledging the case; a 様式2 notice filed from
#: the case (incident.signals.account_notice_filed); a platform answering a takedown request "removed"
#: (incident.signals.draft_answered); the closing review given when the case is closed
#: (incident.signals.case_closing with a review).
COMPLETES_ON = ("supervisor_acknowledgement", "account_notice", "takedown_removed", "case_review")
_TOP_KEYS = {"kind", "title_ja", "title_en", "clause", "steps"}
_STEP_KEYS = {"key", "title_ja", "title_en", "guidance_ja", "guidance_en", "clause", "type", "actor",
              "required", "when", "due_minutes", "draft_type", "input", "completes_on"}
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_STEPS_HEADER = re.compile(r"^\s*\[\[\s*steps\s*\]\]\s*(#.*)?$")


class PlaybookError(ValueError):
    """A playbook file is broken; the message names the file, the line and the step."""


@dataclasses.dataclass(frozen=True)
class Condition:
    """A step applies only when an earlier decision was answered `answer`."""

    step: str
    answer: bool


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a playbook."""

    key: str
    title_ja: str
    title_en: str
    guidance_ja: str
    guidance_en: str
    clause: str
    type: str
    actor: str
    required: bool
    when: Condition | None
    #: Minutes from the case's opening, per severity; None: no deadline.
    due_minutes: dict[str, int] | None
    draft_type: str | None
    input: str
    completes_on: str | None

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" else self.title_ja

    def guidance(self, locale: str) -> str:
        return self.guidance_en if locale == "en" else self.guidance_ja


@dataclasses.dataclass(frozen=True)
class Playbook:
    """The steps for one kind of incident, with the content hash that identifies this version."""

    kind: str
    title_ja: str
    title_en: str
    clause: str
    steps: tuple[Step, ...]
    version: str
    path: str

    def step(self, key: str) -> Step | None:
        return next((s for s in self.steps if s.key == key), None)


def _step_lines(text: str) -> list[int]:
    """Line numbers (1-based) of each [[steps]] header, in order."""
    return [n for n, line in enumerate(text.splitlines(), 1) if _STEPS_HEADER.match(line)]


def _text(value: Any, where: str, name: str, required: bool) -> str:
    if value is None:
        if required:
            raise PlaybookError(f"{where}: '{name}' is missing")
        return ""
    if not isinstance(value, str):
        raise PlaybookError(f"{where}: '{name}' must be text")
    if required and not value.strip():
        raise PlaybookError(f"{where}: '{name}' is empty")
    return value.strip()


def _due(value: Any, where: str) -> dict[str, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = {severity: value for severity in SEVERITIES}
    if not isinstance(value, dict):
        raise PlaybookError(f"{where}: 'due_minutes' must be a number or a table of critical/high/medium/low")
    unknown = set(value) - set(SEVERITIES)
    if unknown:
        raise PlaybookError(f"{where}: 'due_minutes' has unknown severity {sorted(unknown)}")
    missing = set(SEVERITIES) - set(value)
    if missing:
        raise PlaybookError(f"{where}: 'due_minutes' lacks {sorted(missing)}")
    for severity, minutes in value.items():
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
            raise PlaybookError(f"{where}: 'due_minutes.{severity}' must be a positive whole number")
    return dict(value)


def _choice(value: Any, where: str, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    if value is None:
        return default
    if value not in allowed:
        raise PlaybookError(f"{where}: '{name}' must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _parse_step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise PlaybookError(f"{where}: a step must be a table")
    key = _text(raw.get("key"), where, "key", True)
    if not _KEY.match(key):
        raise PlaybookError(f"{where}: key {key!r} must be lower-case letters, digits and _")
    where = f"{where} step '{key}'"
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise PlaybookError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    step_type = _choice(raw.get("type"), where, "type", STEP_TYPES, None)
    if step_type is None:
        raise PlaybookError(f"{where}: 'type' is missing")
    when = raw.get("when")
    condition = None
    if when is not None:
        if (not isinstance(when, dict) or set(when) != {"step", "answer"}
                or not isinstance(when["step"], str) or not isinstance(when["answer"], bool)):
            raise PlaybookError(f"{where}: 'when' must be {{ step = \"<decision key>\", answer = true|false }}")
        condition = Condition(when["step"], when["answer"])
    draft_type = _choice(raw.get("draft_type"), where, "draft_type", DRAFT_TYPES, None)
    if step_type == "draft" and draft_type is None:
        raise PlaybookError(f"{where}: a draft step needs 'draft_type'")
    if step_type != "draft" and draft_type is not None:
        raise PlaybookError(f"{where}: 'draft_type' is only for draft steps")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise PlaybookError(f"{where}: 'required' must be true or false")
    title_ja = _text(raw.get("title_ja"), where, "title_ja", True)
    guidance_ja = _text(raw.get("guidance_ja"), where, "guidance_ja", False)
    return Step(
        key=key,
        title_ja=title_ja,
        title_en=_text(raw.get("title_en"), where, "title_en", True),
        guidance_ja=guidance_ja,
        guidance_en=_text(raw.get("guidance_en"), where, "guidance_en", bool(guidance_ja)),
        clause=_text(raw.get("clause"), where, "clause", True),
        type=step_type,
        actor=_choice(raw.get("actor"), where, "actor", ACTORS, "responder") or "responder",
        required=required,
        when=condition,
        due_minutes=_due(raw.get("due_minutes"), where),
        draft_type=draft_type,
        input=_choice(raw.get("input"), where, "input", INPUTS, "none") or "none",
        completes_on=_choice(raw.get("completes_on"), where, "completes_on", COMPLETES_ON, None),
    )


def _check_conditions(steps: list[Step], wheres: dict[str, str]) -> None:
    by_key = {s.key: s for s in steps}
    position = {s.key: n for n, s in enumerate(steps)}
    for step in steps:
        if step.when is None:
            continue
        target = by_key.get(step.when.step)
        if target is None:
            raise PlaybookError(f"{wheres[step.key]}: 'when' refers to unknown step '{step.when.step}'")
        if target.type != "decision":
            raise PlaybookError(
                f"{wheres[step.key]}: 'when' refers to step '{target.key}', which is not a decision"
            )
    for step in steps:  # follow each chain of conditions; coming back means a cycle
        seen = [step.key]
        current = step
        while current.when is not None:
            current = by_key[current.when.step]
            if current.key in seen:
                raise PlaybookError(f"{wheres[step.key]}: conditions form a cycle: {' → '.join(seen + [current.key])}")
            seen.append(current.key)
    for step in steps:
        if step.when is not None and position[step.when.step] > position[step.key]:
            # The checklist is worked in file order: a decision must come before what depends on it,
            # or the dependent step would wait forever and never block closing.
            raise PlaybookError(
                f"{wheres[step.key]}: 'when' refers to step '{step.when.step}', which comes later in the file"
            )


def parse_playbook(text: str, name: str) -> Playbook:
    """Parse and validate one playbook's TOML text; `name` is the file name used in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(f"{name}: not valid TOML: {exc}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PlaybookError(f"{name}: unknown key {', '.join(sorted(unknown))}")
    kind = _text(data.get("kind"), name, "kind", True)
    stem = Path(name).stem
    if kind != stem:
        raise PlaybookError(f"{name}: kind {kind!r} does not match the file name (expected {stem!r})")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PlaybookError(f"{name}: no [[steps]]")
    lines = _step_lines(text)
    steps: list[Step] = []
    wheres: dict[str, str] = {}
    for index, raw in enumerate(raw_steps):
        where = f"{name}:{lines[index]}" if index < len(lines) else f"{name} step #{index + 1}"
        step = _parse_step(raw, where)
        if step.key in wheres:
            raise PlaybookError(f"{where} step '{step.key}': duplicate key (first at {wheres[step.key]})")
        wheres[step.key] = f"{where} step '{step.key}'"
        steps.append(step)
    _check_conditions(steps, wheres)
    return Playbook(
        kind=kind,
        title_ja=_text(data.get("title_ja"), name, "title_ja", True),
        title_en=_text(data.get("title_en"), name, "title_en", True),
        clause=_text(data.get("clause"), name, "clause", True),
        steps=tuple(steps),
        version=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=name,
    )


def load_playbook(path: Path) -> Playbook:
    """Load one playbook file."""
    return parse_playbook(path.read_text(encoding="utf-8"), path.name)


_LOADED = FileCache()


def _playbook_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.glob("*.toml")) if p.name not in ("platforms.toml", "escalation.toml")]


def load_all(directory: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, Playbook]:
    """Load every playbook; each known kind must have one. Raises PlaybookError on the first mistake.

    Cached by the files' contents; each call gets its own copy, so a caller cannot change the cache."""
    files = _playbook_files(directory)
    key = (str(directory.resolve()), tuple(kinds), files_key(files))
    cached = _LOADED.get(key)
    if cached is None:
        playbooks = {}
        for path in files:
            playbook = load_playbook(path)
            playbooks[playbook.kind] = playbook
        missing = [k for k in kinds if k not in playbooks]
        if missing:
            raise PlaybookError(f"{directory}: no playbook for {', '.join(missing)}")
        _LOADED.put(key, cached := playbooks)
    # Playbooks are frozen, but a step's due_minutes is a dict: a deep copy keeps the cache untouched.
    return copy.deepcopy(cached)


def check_all(directory: Path) -> list[str]:
    """Every problem in the directory, one message per broken file (for `playbooks check`)."""
    problems = []
    for path in sorted(directory.glob("*.toml")):
        if path.name in ("platforms.toml", "escalation.toml"):
            continue
        try:
            load_playbook(path)
        except PlaybookError as exc:
            problems.append(str(exc))
    present = {p.stem for p in directory.glob("*.toml")}
    problems += [f"{directory}: no playbook for {k}" for k in KINDS if k not in present]
    return problems
