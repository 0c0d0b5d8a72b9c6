"""SQLite's query planner gets statistics: after migrating (`make db`), from the worker, and by `flask db-optimize`."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from incident.extensions import db

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()),
    reason="sqlite_stat1 is SQLite's; PostgreSQL's autovacuum gathers statistics by itself",
)

MAIN_TABLES = {"cases", "audit_log", "timeline_event", "users", "playbook_version"}


def statistics() -> dict[str, str]:
    """Table -> the row-count statistic SQLite's planner reads (first number of its first index's stat)."""
    db.session.commit()
    rows = db.session.execute(text("SELECT tbl, stat FROM sqlite_stat1 WHERE idx IS NOT NULL ORDER BY tbl, idx"))
    found: dict[str, str] = {}
    for table, stat in rows:
        found.setdefault(table, stat.split()[0])
    db.session.commit()
    return found


def some_cases(make, n: int) -> None:
    supervisor = make.user("supervisor")
    for k in range(n):
        make.case(supervisor, title=f"統計{k}")


def test_the_worker_gathers_statistics_at_its_first_round(app, make, runner):
    some_cases(make, 3)
    db.session.remove()
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    found = statistics()
    assert set(found) >= MAIN_TABLES, found
    assert found["cases"] == "3"


def test_db_optimize_refreshes_them(app, make, runner):
    some_cases(make, 2)
    db.session.remove()
    first = runner.invoke(args=["db-optimize"])
    assert first.exit_code == 0 and "statistics refreshed" in first.output, first.output
    assert statistics()["cases"] == "2"
    some_cases(make, 5)
    assert statistics()["cases"] == "2"  # stale until the job runs again
    db.session.remove()
    assert runner.invoke(args=["db-optimize"]).exit_code == 0
    assert statistics()["cases"] == "7"


def test_make_db_gathers_them_after_migrating():
    """`make run` and `make db` run `flask db-optimize` right after `flask db upgrade`."""
    makefile = (Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^db:.*?\n((?:\t.*\n)+)", makefile, re.M)
    assert target is not None
    commands = [line.strip() for line in target.group(1).splitlines()]
    assert commands.index("$(BIN)/flask db upgrade") < commands.index("$(BIN)/flask db-optimize")


def test_statistics_leave_the_connection_unlimited(app, make):
    """The bounded ANALYZE's limit is put back: a later ANALYZE on the pooled connection is exact."""
    from incident.database import refresh_statistics

    refresh_statistics()
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA analysis_limit").scalar() == 0
