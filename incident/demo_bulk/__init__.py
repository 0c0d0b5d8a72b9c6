"""Bulk demo data for benchmarks: N cases over two years with notes, timelines, drafts, escalations and
hash-chained audit rows, written by Core executemany in chunks (one transaction per chunk, ids taken here).

Runs after incident.demo.load_demo (its departments, users and accounts); deterministic for a seed.
"""
from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable

from incident.audit.service import current_request_id
from incident.cases.models import Case
from incident.database import refresh_statistics
from incident.dates import tokyo_year, utcnow
from incident.demo_bulk.history import Batch, City, queue_case, queue_notes
from incident.demo_bulk.rows import BulkReport, Ids, case_numbers, table_of, write
from incident.extensions import db
from incident.playbooks import due

#: Cases written per transaction (about 60 rows each across the tables).
CHUNK_CASES = 500
SPAN = dt.timedelta(days=730)


def generate(count: int, *, seed: int = 14, echo: Callable[[str], None] | None = None,
             now: dt.datetime | None = None) -> BulkReport:
    """Write `count` cases created over the last two years (about 90% closed), committing every chunk."""
    started, now = time.perf_counter(), now or utcnow()
    rng, report, ids = random.Random(seed), BulkReport(), Ids()
    city = City()
    request_id = current_request_id()
    db.session.commit()  # the demo's rows and the pinned playbook versions, before the first chunk
    times = sorted(now - SPAN * rng.random() for _ in range(count))
    for first in range(0, count, CHUNK_CASES):
        chunk = times[first:first + CHUNK_CASES]
        batch = Batch(city, ids, rng, request_id)
        numbers = case_numbers([tokyo_year(at) for at in chunk])
        case_ids = ids.take(table_of(Case), len(chunk))
        for case_id, number, created in zip(case_ids, numbers, chunk, strict=True):
            recent = now - created < dt.timedelta(days=45)
            queue_case(batch, case_id, number, created, now, rng.random() < (0.8 if recent else 0.05))
        write(batch, report)
        # Core rows pass the session's listeners by: the open cases' due steps are written here.
        report.counts["case_step_due"] = report.counts.get("case_step_due", 0) + due.refresh(
            db.session.connection(), case_ids)
        db.session.commit()
        if echo is not None:
            echo(f"  {first + len(chunk):,} / {count:,} cases ({time.perf_counter() - started:.0f} s)")
    # As the worker does at its start: after a bulk load the planner needs statistics (SQLite keeps none itself).
    refresh_statistics()
    report.seconds = time.perf_counter() - started
    return report


def add_notes(case_id: int, count: int, *, seed: int = 14) -> BulkReport:
    """Append `count` notes (with timeline events and audit rows) to one case, e.g. a long case page."""
    started, rng = time.perf_counter(), random.Random(seed)
    case = db.session.get_one(Case, case_id)
    city = City()
    authors = city.departments.get(case.department_id, (city.admins, city.admins))[0]
    batch, report = Batch(city, Ids(), rng, current_request_id()), BulkReport()
    queue_notes(batch, case_id, count, case.created_at, case.closed_at or utcnow(), authors)
    write(batch, report)
    report.seconds = time.perf_counter() - started
    return report
