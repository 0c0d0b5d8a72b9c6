"""Page times at growing data sizes: each page at N cases should take at most 1.5x its time at the smallest N.

Run with `make bench` (BENCH_CASES="1000 10000" by default; add 100000 by hand, it takes a while to seed).
For each size it builds a fresh SQLite database in a temporary instance folder (and a PostgreSQL one when
INCIDENT_BENCH_PG_URL names a scratch database: its public schema is dropped and rebuilt), loads the demo,
writes N cases in bulk (incident.demo_bulk), gives one case 500 notes, then requests each page through the
WSGI app (Flask's test client) BENCH_REPEATS times as a PR office user and as a responder. It prints the
median and 95th-percentile milliseconds and the SQL statements per request, then the ratio of the largest
size's median to the smallest's. Pages that do not exist yet (found by the URL map) are skipped with a note.
A benchmark, not a test: it exits 0 unless BENCH_STRICT=1 and a page misses the aim.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, delete, event, func, select, text, update

from incident import create_app
from incident.audit.service import new_request_id, set_cli_request_id
from incident.auth import service as auth
from incident.auth.models import Department, User
from incident.auth.tokens import create_token
from incident.cases.models import Case, CaseStatus, Note
from incident.cases.queries import MAX_PAGE_NUMBER, CaseFilters, case_list_query
from incident.database import in_own_transaction, reads_first, refresh_statistics
from incident.dates import utcnow
from incident.demo import load_demo
from incident.demo_bulk import add_notes, generate
from incident.escalation.models import Escalation
from incident.escalation.service import sweep
from incident.extensions import db
from incident.pagination import Cursor
from incident.playbooks.models import CaseStepDue

AIM = 1.5
LONG_CASE_NOTES = 500
PASSWORD = "bench-Passw0rd-long-enough"
#: Words for the search rows: one, two and three-or-more characters.
#: "偽" and "拡散" are in many demo texts (the common path), "偽アカウント" in fewer, a case number in one case.
QUERIES = (("1 char", "偽"), ("2 chars", "拡散"), ("3+ chars", "偽アカウント"), ("case number", "2025-0420"))


@dataclass
class City:
    """What the timed requests need from a seeded database."""

    app: Flask
    pr_email: str
    responder_email: str
    token: str
    long_case: int
    cases: int
    seconds: float


@dataclass
class Timing:
    """One page's times (ms) and statement counts at one size."""

    ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    status: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.ms, n=20)[18] if len(self.ms) >= 2 else self.ms[0]


def _empty_postgresql(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build(cases: int, instance: Path, uri: str | None = None, echo: Callable[[str], None] = print) -> City:
    """A fresh database with the demo, `cases` bulk cases, one case with 500 notes and two bench users."""
    instance.mkdir(parents=True, exist_ok=True)
    os.environ["INCIDENT_INSTANCE_PATH"] = str(instance)
    uri = uri or f"sqlite:///{instance / 'bench.sqlite3'}"
    if uri.startswith("postgresql"):
        _empty_postgresql(uri)
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "INCIDENT_UPLOAD_DIR": str(instance / "uploads")})
    started = time.perf_counter()
    with app.app_context():
        logging.disable(logging.INFO)  # the migrations' progress lines
        upgrade()
        logging.disable(logging.NOTSET)
        set_cli_request_id(new_request_id())
        load_demo()
        report = generate(cases, echo=lambda line: echo("   " + line))
        departments = {d.code: d for d in db.session.scalars(select(Department))}
        pr = auth.create_user(None, email="bench-pr@ishinomaki.example", name="計測 広報", role="admin",
                              department=departments["hisho-koho"], password=PASSWORD)
        auth.create_user(None, email="bench-kanko@ishinomaki.example", name="計測 観光", role="responder",
                         department=departments["kanko"], password=PASSWORD)
        token = create_token(pr, "bench")[1]
        # The long case: a closed case of 観光課, which both bench users may see.
        long_case = db.session.scalars(select(Case.id).where(
            Case.department_id == departments["kanko"].id, Case.status == CaseStatus.CLOSED,
            Case.official_account_id.is_(None)).order_by(Case.id.desc()).limit(1)).one()
        db.session.commit()
        have = db.session.scalar(select(func.count(Note.id)).where(Note.case_id == long_case)) or 0
        add_notes(long_case, LONG_CASE_NOTES - have)
        echo(f"   {report}")
        db.session.remove()
    return City(app, "bench-pr@ishinomaki.example", "bench-kanko@ishinomaki.example", token, long_case, cases,
                time.perf_counter() - started)


def _rules(app: Flask) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules()}


def _cursor_at(city: City, position: int, page: int) -> str:
    """The cursor the list's 「次へ」 link carries to the row after `position` (newest first, every case)."""
    with city.app.app_context():
        row = db.session.execute(select(Case.created_at, Case.id).order_by(Case.created_at.desc(), Case.id.desc())
                                 .offset(max(position - 1, 0)).limit(1)).one()
    return Cursor("newest", (row.created_at.isoformat(), row.id), page).encode()


def _deepest_numbered_page(city: City, email: str) -> int:
    """The deepest page the user's list opens by number: MAX_PAGE_NUMBER, or the last page when the user
    sees fewer cases (at 1,000 cases a responder's list has a few pages, and an empty page past its end is
    not the same work as a full one)."""
    with city.app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        seen = db.session.scalar(select(func.count()).select_from(
            case_list_query(user, CaseFilters()).order_by(None).subquery())) or 0
        db.session.remove()
    per_page = int(city.app.config["PER_PAGE"])
    return max(1, min(MAX_PAGE_NUMBER, -(-seen // per_page)))


def pages(city: City, numbered_page: int = MAX_PAGE_NUMBER) -> list[tuple[str, str | None, dict[str, str]]]:
    """(label, url or None with a note in the headers slot, headers) for each page timed."""
    rules = _rules(city.app)
    per_page = int(city.app.config["PER_PAGE"])
    deep = max(1, int(city.cases / per_page * 0.9))
    api = {"Authorization": f"Bearer {city.token}"}
    found: list[tuple[str, str | None, dict[str, str]]] = [
        ("home /", "/", {}) if "/" in rules else ("home /", None, {"note": "no / route"}),
        ("case list", "/cases", {}),
        ("case list filtered", "/cases?status=closed&kind=flaming&severity=high", {}),
        ("case list not closed", "/cases?status=open", {}),
        # Old links by number open up to MAX_PAGE_NUMBER (OFFSET); deeper ones start from the first page.
        (f"case list numbered page (<= {MAX_PAGE_NUMBER})", f"/cases?page={numbered_page}", {}),
        ("case list deep page (90%, cursor)", f"/cases?cursor={_cursor_at(city, deep * per_page, deep + 1)}", {}),
        (f"case page {LONG_CASE_NOTES} notes", f"/cases/{city.long_case}", {}),
    ]
    search = "/search" if "/search" in rules else None
    for label, word in QUERIES:
        url = f"{search}?q={word}" if search else f"/cases?q={word}"
        found.append((f"search {label}" + ("" if search else " (/cases?q=)"), url, {}))
    metrics = next((rule for rule in ("/metrics", "/reports/metrics") if rule in rules), None)
    found.append(("metrics", metrics, {} if metrics else {"note": "no /metrics route yet"}))
    found.append(("API case list", "/api/v1/cases", api))
    return found


def _login(app: Flask, email: str) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"bench login failed for {email}: {response.status_code}")
    return client


def _time(app: Flask, call: Callable[[], int], repeats: int) -> Timing:
    timing = Timing()
    count = [0]

    def counter(*_args: Any) -> None:
        count[0] += 1

    with app.app_context():
        engine = db.engine
    timing.status = call()  # warm-up: caches, compiled statements
    event.listen(engine, "before_cursor_execute", counter)
    try:
        for _ in range(repeats):
            count[0] = 0
            start = time.perf_counter()
            timing.status = call()
            timing.ms.append((time.perf_counter() - start) * 1000)
            timing.queries.append(count[0])
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return timing


def _sweep(app: Flask) -> int:
    with app.app_context():
        set_cli_request_id(new_request_id())
        with reads_first():
            sweep(run_item=in_own_transaction)
            db.session.commit()
        db.session.remove()
    return 200


#: Open cases left for the second sweep row: about what a city has open at once.
SWEEP_OPEN_CASES = 100


def _sweep_with_open_cases(app: Flask, repeats: int, keep: int = SWEEP_OPEN_CASES) -> Timing:
    """The sweep over the whole history once only the newest `keep` open cases are still open.

    The seed keeps about a tenth of all cases open at every size, so the plain sweep row compares a hundred
    times the open work; this one compares the same open work over a hundred times the history, which is what
    a city sees as its records grow. It closes the other cases and resolves their alarms for good (committed,
    then its statistics refreshed as the worker or autovacuum would have by then), so it runs last."""
    with app.app_context():
        kept = select(Case.id).where(Case.status != CaseStatus.CLOSED).order_by(
            Case.created_at.desc(), Case.id.desc()).limit(keep).scalar_subquery()
        now = utcnow()
        db.session.execute(update(Escalation).where(
            Escalation.acknowledged_at.is_(None), Escalation.resolved_at.is_(None), Escalation.case_id.not_in(kept))
            .values(resolved_at=now, next_at=None))
        db.session.execute(delete(CaseStepDue).where(CaseStepDue.case_id.not_in(kept)))
        db.session.execute(update(Case).where(Case.status != CaseStatus.CLOSED, Case.id.not_in(kept))
                           .values(status=CaseStatus.CLOSED, closed_at=now))
        db.session.commit()
        engine = db.engine
        if engine.dialect.name == "sqlite":
            refresh_statistics()  # as the worker does (sampled, daily)
            db.session.remove()
            engine.dispose()  # the closing's pages leave the write-ahead log for the file
            with contextlib.closing(sqlite3.connect(str(engine.url.database))) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            db.session.remove()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                for table in ("cases", "escalation", "case_step_due"):  # as autovacuum would have by then
                    connection.execute(text(f"VACUUM ANALYZE {table}"))
    return _time(app, lambda: _sweep(app), repeats)


def measure(city: City, repeats: int) -> dict[str, Timing | str]:
    """Every page for both users, the API and one sweep, at this size."""
    results: dict[str, Timing | str] = {}
    users = (("PR", city.pr_email), ("responder", city.responder_email))
    for who, email in users:
        client = _login(city.app, email)
        for label, url, headers in pages(city, _deepest_numbered_page(city, email)):
            if url is None:
                results[f"{label} [{who}]"] = headers["note"]
                continue
            if label.startswith("API") and who != "PR":
                continue
            results[f"{label} [{who}]"] = _time(
                city.app, lambda url=url, headers=headers, client=client: client.get(url, headers=headers).status_code,
                repeats)
    results["escalation sweep"] = _time(city.app, lambda: _sweep(city.app), max(3, repeats // 4))
    results[f"escalation sweep, {SWEEP_OPEN_CASES} cases open"] = _sweep_with_open_cases(city.app, max(3, repeats // 4))
    return results


def report(sizes: list[int], runs: dict[int, dict[str, Timing | str]], engine_name: str) -> list[str]:
    """Print the table; return the pages that missed the aim."""
    small, large = sizes[0], sizes[-1]
    head = f"{'page [' + engine_name + ']':<44}" + "".join(
        f"{f'{n:,} cases: med / p95 ms  SQL':>34}" for n in sizes) + f"{'ratio':>8}"
    print(head)
    print("-" * len(head))
    missed = []
    for label in runs[small]:
        cells, first = [], runs[small][label]
        if isinstance(first, str):
            print(f"{label:<44}skipped: {first}")
            continue
        for n in sizes:
            t = runs[n][label]
            assert isinstance(t, Timing)
            status = "" if t.status == 200 else f" [{t.status}]"
            cells.append(f"{t.median:9.1f} / {t.p95:7.1f} {statistics.median(t.queries):5.0f}{status}")
        last = runs[large][label]
        assert isinstance(last, Timing)
        ratio = last.median / max(first.median, 1e-6)
        flag = "" if ratio <= AIM or len(sizes) == 1 else "  over aim"
        if flag:
            missed.append(f"{label}: {ratio:.2f}x")
        print(f"{label:<44}" + "".join(f"{c:>34}" for c in cells) + f"{ratio:8.2f}{flag}")
    return missed


def main() -> int:
    """Build each size, time every page, print the tables; exit 1 only under BENCH_STRICT=1 on a miss."""
    sizes = sorted(int(n) for n in (sys.argv[1:] or os.environ.get("BENCH_CASES", "1000 10000").split()))
    repeats = int(os.environ.get("BENCH_REPEATS", "20"))
    engines = [("sqlite", None)]
    if os.environ.get("INCIDENT_BENCH_PG_URL"):
        engines.append(("postgresql", os.environ["INCIDENT_BENCH_PG_URL"]))
    missed = []
    with tempfile.TemporaryDirectory(prefix="incident-bench-") as folder:
        for engine_name, uri in engines:
            runs = {}
            for n in sizes:
                print(f"== {engine_name}: seeding {n:,} cases ==", flush=True)
                city = build(n, Path(folder) / f"{engine_name}-{n}", uri)
                print(f"   seeded in {city.seconds:.0f} s; timing {repeats} requests per page", flush=True)
                runs[n] = measure(city, repeats)
                with city.app.app_context():
                    db.engine.dispose()
            print()
            missed += [f"[{engine_name}] {m}" for m in report(sizes, runs, engine_name)]
            print()
    for line in missed:
        print(f"over the {AIM}x aim: {line}")
    print("pages: within aim" if not missed else "pages: some pages over the aim")
    return 1 if missed and os.environ.get("BENCH_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
