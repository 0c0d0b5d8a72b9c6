"""Mixed read/write load against gunicorn (4 workers) on a seeded database: requests/s, median, p95, errors.

Run with `make bench` (BENCH_CASES sizes, BENCH_LOAD_SECONDS per size, 30 by default). For each size it seeds
a database as bench/pages_bench.py does, starts gunicorn on a free port of 127.0.0.1, and runs 16 client
threads: 90% GET (the case list and a deep page, case pages, the API case list), 10% POST (a note through
the case page's form with its CSRF token, or through the API with a token). Every answer other than 2xx/3xx
counts as an error, by status; a connection failure counts as status 0. Errors must be 0 (exit 1 otherwise).
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from pages_bench import PASSWORD, build  # beside this file (run as bench/mixed_load.py)
from sqlalchemy import select

from incident.auth.models import User
from incident.auth.tokens import create_token
from incident.cases.models import Case, CaseStatus
from incident.cases.queries import MAX_PAGE_NUMBER
from incident.extensions import db
from incident.loopback import gunicorn

THREADS = 16
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)" name="csrf_token"')


class Client:
    """One browser-like user: a cookie jar, a logged-in session and an API token."""

    def __init__(self, base: str, email: str, token: str) -> None:
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = self.request("GET", "/login")[1]
        status, _ = self.request("POST", "/login", {"email": email, "password": PASSWORD,
                                                    "csrf_token": self.csrf(form)})
        if status >= 400:
            raise SystemExit(f"login failed for {email}: {status}")

    @staticmethod
    def csrf(page: str) -> str:
        found = CSRF.search(page)
        if found is None:
            raise SystemExit("no csrf_token on the page")
        return found.group(1) or found.group(2)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                api: dict[str, str] | None = None) -> tuple[int, str]:
        headers, data = {}, None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
        if api is not None:
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            data = json.dumps(api).encode() if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, ""
        except OSError:
            return 0, ""


def _run(base: str, users: list[tuple[str, str]], cases: list[int], open_cases: list[int], deep: int,
         seconds: float) -> tuple[list[float], Counter[int], int]:
    times: list[float] = []
    errors: Counter[int] = Counter()
    lock = threading.Lock()
    # One session per user, shared by its threads (logging in is slow on purpose: password hashing).
    sessions = [Client(base, *user) for user in users]
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        client = sessions[n % len(sessions)]
        while time.monotonic() < stop:
            roll = rng.random()
            start = time.perf_counter()
            if roll < 0.9:
                choice = rng.choice(("list", "deep", "case", "case", "api"))
                path = {"list": "/cases", "deep": f"/cases?page={deep}", "case": f"/cases/{rng.choice(cases)}",
                        "api": "/api/v1/cases"}[choice]
                status, _ = client.request("GET", path, api={} if choice == "api" else None)
            elif roll < 0.95:
                case_id = rng.choice(open_cases)
                status, page = client.request("GET", f"/cases/{case_id}")
                if status == 200:
                    status, _ = client.request("POST", f"/cases/{case_id}/notes",
                                               {"body": "負荷試験のメモ。", "csrf_token": client.csrf(page)})
            else:
                status, _ = client.request("POST", f"/api/v1/cases/{rng.choice(open_cases)}/notes",
                                           api={"body": "負荷試験のメモ（API）。"})
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                times.append(elapsed)
                if not 200 <= status < 400:
                    errors[status] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors, len(times)


def load(cases: int, folder: Path, seconds: float) -> bool:
    """Seed, serve, load; print one line; True when there were no errors."""
    city = build(cases, folder, echo=lambda line: None)
    with city.app.app_context():
        responder = db.session.scalars(select(User).where(User.email == city.responder_email)).one()
        users = [(city.pr_email, city.token), (city.responder_email, create_token(responder, "bench-load")[1])]
        kanko = db.session.scalar(select(Case.department_id).where(Case.id == city.long_case))
        visible = list(db.session.scalars(select(Case.id).where(Case.department_id == kanko).limit(500)))
        open_cases = list(db.session.scalars(select(Case.id).where(
            Case.department_id == kanko, Case.status != CaseStatus.CLOSED,
            Case.official_account_id.is_(None)).limit(50)))
        db.session.commit()
        uri = str(db.engine.url.render_as_string(hide_password=False))
        db.engine.dispose()
    env = {**os.environ, "DATABASE_URL": uri, "INCIDENT_SECRET_KEY": "bench-load-secret",
           "INCIDENT_INSTANCE_PATH": str(folder), "INCIDENT_ENV": "development"}
    log = folder / "gunicorn.log"  # the tracebacks of the errors, shown after the figures
    with log.open("w") as output, gunicorn(env, output) as base:
        deep = min(MAX_PAGE_NUMBER, max(1, int(cases / 25 * 0.9)))  # deeper page numbers open the first page
        started = time.perf_counter()
        times, errors, count = _run(base, users, visible, open_cases, deep, seconds)
        elapsed = time.perf_counter() - started
    p95 = statistics.quantiles(times, n=20)[18] if len(times) >= 2 else 0.0
    shown = ", ".join(f"{status}: {n}" for status, n in sorted(errors.items())) or "none"
    print(f"{cases:>8,} cases  {count / elapsed:7.1f} req/s  median {statistics.median(times):7.1f} ms  "
          f"p95 {p95:7.1f} ms  requests {count:,}  errors {shown}", flush=True)
    if errors:
        _show_failures(log)
    return not errors


def _show_failures(log: Path) -> None:
    """Print which requests failed and the exception each ended with, from the server's log."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    failures = Counter(line.split("] ", 1)[-1] for line in lines if "Exception on " in line)
    failures.update(line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line))
    for line, n in failures.most_common(10):
        print(f"    {n:>4} × {line[:200]}", flush=True)


def main() -> int:
    """Run the load at each size; exit 1 on any error."""
    sizes = sorted(int(n) for n in (sys.argv[1:] or os.environ.get("BENCH_CASES", "1000 10000").split()))
    seconds = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
    print(f"mixed load: gunicorn 4 workers, {THREADS} threads, {seconds:.0f} s, 90% GET / 10% POST (SQLite)")
    ok = True
    with tempfile.TemporaryDirectory(prefix="incident-load-") as folder:
        for n in sizes:
            ok = load(n, Path(folder) / f"load-{n}", seconds) and ok
    print("mixed load: no errors" if ok else "mixed load: ERRORS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
