"""The audit log's hash chain: appends link up, even from concurrent writers; `flask audit verify` finds
the first row that was changed, removed, or re-hashed behind the app's back."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from incident.audit.chain import GENESIS, Problem, verify_chain
from incident.audit.models import AuditLog
from incident.audit.service import record
from incident.cases import service as cases
from incident.database import append_only_ddl
from incident.extensions import db


@pytest.fixture
def history(make):
    """Two cases with a few changes each: the committed audit rows, as plain mappings."""
    responder = make.user()
    for title in ("一件目", "二件目"):
        case = make.case(responder, title=title)
        cases.add_note(responder, case, "状況を確認した")
        cases.update_case(responder, case, case.version, {"title": f"{title}（更新）"})
        db.session.commit()
    rows = db.session.execute(select(AuditLog.__table__).order_by(AuditLog.id)).mappings().all()
    db.session.commit()  # verify reads through connections of its own: leave no transaction open
    assert len(rows) >= 6
    return rows


@pytest.fixture
def tamper(app, owner_uri):
    """`tamper(sql, **params)`: change audit_log as someone with the owner's powers could (triggers
    dropped or disabled for the moment), and commit it; the triggers are back afterwards."""

    def run(statement: str, **params) -> None:
        db.session.commit()  # end the app's transaction (on SQLite it holds the write lock)
        engine = create_engine(owner_uri)
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                else:
                    conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
                    conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
                conn.execute(text(statement), params)
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
                else:
                    for ddl in append_only_ddl("sqlite", "audit_log"):
                        conn.exec_driver_sql(ddl)
        finally:
            engine.dispose()
        db.session.expire_all()

    return run


def test_a_normal_sequence_verifies(history):
    report = verify_chain()
    assert report.ok, report.broken
    assert report.rows == len(history)
    assert (report.last_id, report.last_hash) == (history[-1]["id"], history[-1]["row_hash"])
    assert history[0]["prev_hash"] == GENESIS
    for before, after in zip(history, history[1:], strict=False):
        assert after["prev_hash"] == before["row_hash"]
        assert after["id"] == before["id"] + 1


def test_verify_reads_in_batches(history, count_queries):
    with count_queries() as counter:
        report = verify_chain(batch_size=4)
    assert report.ok and report.rows == len(history)
    # A query per batch, and two for the redactions' seals (read once, whatever the log's length).
    assert counter.count == len(history) // 4 + 1 + 2


def test_an_empty_log_verifies(app):
    report = verify_chain()
    assert report.ok and report.rows == 0 and report.last_hash == GENESIS


def test_several_rows_in_one_transaction_read_the_head_once(history, count_queries):
    with count_queries() as counter:
        for n in range(3):
            record(None, "test.write", "thing", n)
    reads = [s for s in counter.statements if "audit_log" in s and not s.lstrip().upper().startswith("INSERT")]
    assert len(reads) == 1, reads
    assert counter.count - 3 <= 2  # three INSERTs, one read of the head and (PostgreSQL) one lock
    db.session.commit()
    record(None, "test.write", "thing", 4)  # a new transaction reads the head again
    db.session.commit()
    assert verify_chain().rows == len(history) + 4


def test_a_rolled_back_savepoint_does_not_leave_a_stale_head(history):
    record(None, "test.write", "thing", 1)
    savepoint = db.session.begin_nested()
    record(None, "test.write", "thing", 2)
    savepoint.rollback()
    record(None, "test.write", "thing", 3)
    db.session.commit()
    report = verify_chain()
    assert report.ok, report.broken
    assert report.rows == len(history) + 2


def test_a_rolled_back_transaction_does_not_leave_a_stale_head(history):
    record(None, "test.write", "thing", 1)
    db.session.rollback()
    record(None, "test.write", "thing", 2)
    db.session.commit()
    assert verify_chain().rows == len(history) + 1


def test_edited_changes_are_caught_at_that_row(history, tamper):
    target = history[3]
    tamper("UPDATE audit_log SET changes = :changes WHERE id = :id",
           changes='{"title": ["一件目", "改ざん"]}', id=target["id"])
    report = verify_chain()
    assert not report.ok
    assert report.broken.row_id == target["id"]
    assert report.broken.problem is Problem.CONTENT_CHANGED
    assert report.rows == 3  # the rows before it hold


def test_any_edited_column_is_caught(history, tamper):
    target = history[2]
    tamper("UPDATE audit_log SET actor_id = NULL, request_id = 'x' WHERE id = :id", id=target["id"])
    assert verify_chain().broken.row_id == target["id"]


def test_a_deleted_row_is_caught_at_the_next_one(history, tamper):
    target = history[2]
    tamper("DELETE FROM audit_log WHERE id = :id", id=target["id"])
    report = verify_chain()
    assert report.broken.row_id == history[3]["id"]
    assert report.broken.problem is Problem.ROW_MISSING
    assert f"id {target['id']} absent" in str(report.broken)


def test_a_deleted_first_row_is_caught(history, tamper):
    tamper("DELETE FROM audit_log WHERE id = :id", id=history[0]["id"])
    report = verify_chain()
    assert report.broken.row_id == history[1]["id"]
    assert report.broken.problem is Problem.ROW_MISSING


def test_a_row_rehashed_to_match_its_edit_is_caught_at_the_next_link(history, tamper):
    """Whoever edits a row and recomputes its hash still breaks the next row's link."""
    from incident.audit.chain import CONTENT_COLUMNS, canonical_content, chain_hash

    target = history[2]
    content = {name: target[name] for name in CONTENT_COLUMNS}
    content["changes"] = {"title": ["一件目", "改ざん"]}
    forged = chain_hash(target["prev_hash"], canonical_content(content))
    tamper("UPDATE audit_log SET changes = :changes, row_hash = :hash WHERE id = :id",
           changes='{"title": ["一件目", "改ざん"]}', hash=forged, id=target["id"])
    report = verify_chain()
    assert report.broken.row_id == history[3]["id"]
    assert report.broken.problem is Problem.PREVIOUS_HASH_MISMATCH
    assert f"row {target['id']}'s row_hash" in str(report.broken)


def test_cli_reports_ok_with_the_row_count(history, runner):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"audit log chain OK: {len(history)} rows" in result.output
    assert history[-1]["row_hash"] in result.output


def test_cli_names_the_first_broken_row_and_exits_1(history, tamper, runner):
    target = history[4]
    tamper("UPDATE audit_log SET action = 'case.nothing' WHERE id = :id", id=target["id"])
    tamper("DELETE FROM audit_log WHERE id = :id", id=history[-1]["id"])  # a later break is not the first
    result = runner.invoke(args=["audit", "verify", "--batch-size", "2"])
    assert result.exit_code == 1
    assert f"broken at row {target['id']}: content changed" in result.output
    assert "4 rows before it are intact" in result.output


def test_a_recorded_head_catches_a_rewritten_chain(history, tamper, runner):
    """Rewriting a row and every hash after it links up again; the head printed earlier does not."""
    from incident.audit.chain import CONTENT_COLUMNS, canonical_content, chain_hash

    first = runner.invoke(args=["audit", "verify"])
    head = first.output.split("head ")[1].strip()
    assert head == f"{history[-1]['id']}:{history[-1]['row_hash']}"
    assert runner.invoke(args=["audit", "verify", "--head", head]).exit_code == 0

    prev_hash = history[1]["row_hash"]
    for row in history[2:]:  # rewrite row 3 and re-link everything after it, as an owner could
        content = {name: row[name] for name in CONTENT_COLUMNS}
        if row is history[2]:
            content["action"] = "case.nothing"
        row_hash = chain_hash(prev_hash, canonical_content(content))
        tamper("UPDATE audit_log SET action = :action, prev_hash = :prev, row_hash = :hash WHERE id = :id",
               action=content["action"], prev=prev_hash, hash=row_hash, id=row["id"])
        prev_hash = row_hash
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0  # the chain alone cannot tell
    result = runner.invoke(args=["audit", "verify", "--head", head])
    assert result.exit_code == 1
    assert f"row {history[-1]['id']}: recorded head changed" in result.output


def test_a_recorded_head_catches_a_shortened_log(history, tamper, runner):
    head = (history[-1]["id"], history[-1]["row_hash"])
    tamper("DELETE FROM audit_log WHERE id = :id", id=head[0])
    assert verify_chain().ok  # the newest rows gone leave a shorter chain that still holds
    report = verify_chain(head=head)
    assert report.broken.row_id == head[0]
    assert report.broken.problem is Problem.ROW_MISSING
    result = runner.invoke(args=["audit", "verify", "--head", "12:abc"])
    assert result.exit_code == 2 and "ID:HASH" in result.output


def test_concurrent_writers_keep_one_chain(app):
    """Writers in parallel transactions append one after another (PostgreSQL: the advisory lock; SQLite:
    BEGIN IMMEDIATE); without that they would read the same head and collide or fork."""
    threads_n, transactions, rows = 4, 6, 3
    start = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        with app.app_context():
            try:
                start.wait()
                for t in range(transactions):
                    for r in range(rows):
                        record(None, "test.concurrent", "thing", n * 1000 + t * 10 + r)
                        time.sleep(0.002)  # widen the window between reading the head and committing
                    db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    report = verify_chain()
    assert report.ok, report.broken
    assert report.rows == threads_n * transactions * rows


@pytest.fixture
def scratch_uri(owner_uri, tmp_path):
    """An empty database of its own for migrating step by step: a SQLite file, or (PostgreSQL) a
    schema of its own in the test database, made and dropped by the owner."""
    if not owner_uri.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    schema = "audit_chain_migration"
    engine = create_engine(owner_uri)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in owner_uri else "?"
    yield f"{owner_uri}{separator}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


def test_the_migration_links_the_rows_already_there(scratch_uri, tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy.exc import DatabaseError

    from incident import create_app

    other = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": scratch_uri})
    with other.app_context():
        try:
            upgrade(revision="0005")
            for n, changes in enumerate(['{}', '{"title": ["旧", "新"]}', '{"n": [1, 2.5], "ok": [true, null]}']):
                db.session.execute(text(
                    "INSERT INTO audit_log (action, object_type, object_id, changes, request_id, created_at) "
                    "VALUES ('test.old', 'thing', :n, :changes, 'r', :at)"
                ), {"n": n, "changes": changes, "at": f"2026-01-0{n + 1} 00:00:00.12345{n}"})
            db.session.commit()
            upgrade()
            report = verify_chain()
            assert report.ok and report.rows == 3, report.broken
            record(None, "test.new", "thing", 4)
            db.session.commit()
            assert verify_chain().rows == 4
            with pytest.raises(DatabaseError, match="append-only"):  # the triggers are back
                db.session.execute(text("UPDATE audit_log SET action = 'x'"))
            db.session.rollback()
            downgrade(revision="0005")
            with pytest.raises(DatabaseError, match="append-only"):
                db.session.execute(text("DELETE FROM audit_log"))
            db.session.rollback()
            upgrade()
            assert verify_chain().rows == 4
        finally:
            db.session.remove()
            db.engine.dispose()
