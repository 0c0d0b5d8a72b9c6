"""The case report: everything about one case gathered for a printable page and a Markdown download, in a
fixed number of queries (however many notes, events or files the case has), from each domain's own loaders."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from incident.auth.models import User
from incident.cases import queries
from incident.cases.models import Case, CaseReview, TimelineEvent
from incident.cases.review import reviews_of
from incident.drafts.models import FOLLOWED_UP_TYPES, Draft, DraftEvent, Publication
from incident.drafts.sending import ledger
from incident.escalation.models import Escalation
from incident.escalation.service import rules
from incident.evidence.service import EvidenceRow, download_name, evidence_rows
from incident.extensions import db
from incident.playbooks.service import StepState, checklist, progress, step_events


@dataclasses.dataclass
class Request:
    """A takedown or recovery request: where it went, when, and what the platform answered."""

    draft: Draft
    #: The ledger entries recording it as sent (one per place; usually one).
    sent: list[Publication]
    #: When the outcome was recorded (None while waiting).
    answered_at: dt.datetime | None
    #: What the platform said, as recorded with the outcome.
    answer: str

    @property
    def sent_at(self) -> dt.datetime | None:
        return self.sent[0].published_at if self.sent else None


@dataclasses.dataclass
class EscalationRow:
    """An escalation with the name of the highest level it reached."""

    escalation: Escalation
    level_name: str


@dataclasses.dataclass
class EvidenceFile:
    """An evidence file as the report lists it."""

    row: EvidenceRow
    name: str


@dataclasses.dataclass
class CaseReport:
    """What the report of one case shows."""

    case: Case
    events: list[TimelineEvent]
    steps: list[StepState]
    step_progress: tuple[int, int]
    ledger: list[Publication]
    withdrawn: set[int]
    requests: list[Request]
    evidence: list[EvidenceFile]
    escalations: list[EscalationRow]
    #: Newest first; the first is the case's review.
    reviews: list[CaseReview]

    @property
    def review(self) -> CaseReview | None:
        return self.reviews[0] if self.reviews else None


def _requests(case: Case, entries: list[Publication]) -> list[Request]:
    """The case's takedown and recovery requests with their sending and their answer (two queries)."""
    drafts = list(db.session.scalars(
        select(Draft).where(Draft.case_id == case.id, Draft.type.in_(FOLLOWED_UP_TYPES)).order_by(Draft.id)))
    answers = {event.draft_id: event for event in db.session.scalars(
        select(DraftEvent).join(Draft, Draft.id == DraftEvent.draft_id)
        .where(Draft.case_id == case.id, DraftEvent.action == "answered").order_by(DraftEvent.id))
        if (event.data or {}).get("outcome")}
    return [Request(draft, [p for p in entries if p.draft_id == draft.id and p.kind == draft.type.value],
                    answers[draft.id].created_at if draft.id in answers else None,
                    answers[draft.id].comment if draft.id in answers else "")
            for draft in drafts]


def _escalations(case: Case) -> list[EscalationRow]:
    """Every escalation of the case, oldest first, with who took it on (one query)."""
    levels = rules().levels
    found = db.session.scalars(
        select(Escalation).where(Escalation.case_id == case.id)
        .options(joinedload(Escalation.acknowledged_by), joinedload(Escalation.raised_by))
        .order_by(Escalation.created_at, Escalation.id))
    return [EscalationRow(e, levels[e.level] if 0 <= e.level < len(levels) else "") for e in found]


def case_report(actor: User, case_id: int) -> CaseReport:
    """The report of a case the actor may see (NotFound otherwise), in a fixed number of queries."""
    case = queries.load_case_page(actor, case_id)
    steps = checklist(case, step_events(case))
    entries = ledger(case)
    withdrawn = {p.supersedes_id for p in entries if p.kind == "withdrawal" and p.supersedes_id}
    return CaseReport(
        case=case,
        events=queries.timeline(case),
        steps=steps,
        step_progress=progress(steps),
        ledger=entries,
        withdrawn=withdrawn,
        requests=_requests(case, entries),
        evidence=[EvidenceFile(row, download_name(row.evidence)) for row in evidence_rows(case)],
        escalations=_escalations(case),
        reviews=reviews_of(case),
    )


# ---- Markdown: text typed by users is escaped so that it cannot change the document's structure ----

#: Characters that mark up text wherever they stand (emphasis, code, links, HTML, tables, strikethrough).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
#: What starts a block at the beginning of a line: a heading, a list item, a quote, a numbered item.
_MD_LINE_START = re.compile(r"^([#+\-=]|\d+(?=[.)]))")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def md_inline(text: object) -> str:
    """One line of text for Markdown: line breaks become spaces, mark-up characters are escaped, and what would
    start a heading or a list at the start of a line is escaped too."""
    line = _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text or "")).strip())
    match = _MD_LINE_START.match(line)
    if match is None:
        return line
    if match.group(1).isdigit():  # "1. " stays a number, not a list item: escape the dot or parenthesis
        end = match.end()
        return f"{line[:end]}\\{line[end:]}"
    return "\\" + line


def md_code(text: object) -> str:
    """A code span (URLs, hashes, file names) on one line, fenced with more backticks than it holds."""
    value = _LINE_BREAKS.sub(" ", str(text or "")).strip()
    if not value:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def md_block(text: object, indent: str = "> ") -> str:
    """Several lines of text as a quoted block: each line escaped, the line breaks kept."""
    lines = [md_inline(line) for line in str(text or "").splitlines()] or [""]
    return "  \n".join(f"{indent}{line}".rstrip() if line else indent.rstrip() for line in lines)
