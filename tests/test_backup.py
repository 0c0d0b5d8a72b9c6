"""`flask backup` / `flask restore`: a consistent online copy under concurrent writes, the manifest checks,
empty-instance-only restore, schema revisions, and PostgreSQL's refusal."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import threading
import zlib
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask import Flask

from incident import create_app
from incident.auth.models import User
from incident.backup import backup
from incident.cases import service as cases_service
from incident.cases.models import Case
from incident.database import APPEND_ONLY_TABLES
from incident.evidence.service import add_evidence
from incident.extensions import db

PG_URL = os.environ.get("INCIDENT_TEST_DATABASE_URL", "").strip()
sqlite_only = pytest.mark.skipif(
    bool(PG_URL), reason="backup/restore copy SQLite only; on PostgreSQL they refuse and point to "
                         "pg_dump/pg_restore (README), which test_postgresql_is_refused checks")


def png(n: int) -> bytes:
    """A valid 1×1 PNG whose pixel, and so whose SHA-256, depends on n."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixel = b"\x00" + bytes([n % 256, n // 256 % 256, n // 65536 % 256])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixel)) + chunk(b"IEND", b""))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in rowid order (virtual tables through their shadow tables, which hold what
    the search index stores; a table without rowids in its primary key's order)."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND upper(sql) NOT LIKE 'CREATE VIRTUAL%'")]
        without_rowid = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND upper(sql) LIKE '%WITHOUT ROWID%'")}
        return {t: conn.execute(f'SELECT * FROM "{t}"' + ("" if t in without_rowid else " ORDER BY rowid")).fetchall()
                for t in tables}


def db_file(app: Flask) -> Path:
    return Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))


@pytest.fixture
def uploads(app: Flask, tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    app.config["UPLOAD_DIR"] = str(folder)
    return folder


@pytest.fixture
def new_instance(tmp_path: Path, built_apps: list[Flask]):
    """`new_instance(name, database=None, uri=None)`: an app with its own (absent) SQLite file (or `uri`)
    and upload folder."""

    def make_instance(name: str = "restored", database: Path | None = None, uri: str | None = None) -> Flask:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        application = create_app({
            "TESTING": True, "SECRET_KEY": "test-secret-key", "WTF_CSRF_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": uri or f"sqlite:///{database or folder / 'incident.sqlite3'}",
            "UPLOAD_DIR": str(folder / "uploads"),
        })
        built_apps.append(application)
        return application

    return make_instance


@pytest.fixture
def small_city(app, make, uploads):
    """A case with notes and two evidence files, committed; returns (user, case)."""
    user = make.user("responder")
    case = make.case(user)
    for n in range(2):
        cases_service.add_note(user, case, f"メモ {n}")
        add_evidence(user, case, io.BytesIO(png(n)), f"shot{n}.png")
    db.session.commit()
    return user, case


def invoke(application: Flask, *args: str):
    """Run a command of `application` (in its own app context: the runner would reuse the fixture app's)."""
    with application.app_context():
        return application.test_cli_runner().invoke(args=list(args))


class Writer(threading.Thread):
    """Adds notes (and every fourth time an evidence file) through the services, one commit each."""

    def __init__(self, app: Flask, case_id: int, user_id: int) -> None:
        super().__init__(daemon=True)
        self.app, self.case_id, self.user_id = app, case_id, user_id
        self.note_ids: list[int] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        try:
            with self.app.app_context():
                n = 0
                while not self.stopping.is_set():
                    user, case = db.session.get(User, self.user_id), db.session.get(Case, self.case_id)
                    note_id = cases_service.add_note(user, case, f"並行メモ {n}").id
                    if n % 4 == 0:
                        add_evidence(user, case, io.BytesIO(png(1000 + n)), f"live{n}.png")
                    db.session.commit()
                    with self.changed:
                        self.note_ids.append(note_id)
                        self.changed.notify_all()
                    n += 1
                db.session.remove()
        except BaseException as exc:  # reported by wait_for and stop
            self.error = exc
            with self.changed:
                self.changed.notify_all()

    def wait_for(self, more: int, timeout: float = 30) -> list[int]:
        """Wait until `more` further notes are committed; the ids committed so far."""
        with self.changed:
            target = len(self.note_ids) + more
            done = self.changed.wait_for(lambda: len(self.note_ids) >= target or self.error, timeout)
            assert done and self.error is None, f"the writer could not commit: {self.error!r}"
            return list(self.note_ids)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)
        assert self.error is None, repr(self.error)


@sqlite_only
def test_backup_under_concurrent_writes_restores_exactly_the_snapshot(app, make, client, login, uploads,
                                                                       tmp_path, new_instance):
    user = make.user("responder")
    case = make.case(user)
    for n in range(150):  # enough pages that the copy takes many steps
        cases_service.add_note(user, case, f"準備メモ {n} " + "あ" * 300)
    add_evidence(user, case, io.BytesIO(png(1)), "before.png")
    db.session.commit()
    user_id, case_id, email = user.id, case.id, user.email
    reader = login(user)
    db.session.remove()  # outside requests this session would take the write lock: end its transaction
    live = db_file(app)
    before_writer = dump(live)

    writer = Writer(app, case_id, user_id)
    writer.start()
    committed_before = set(writer.wait_for(5))  # committed before the backup starts
    steps: list[int] = []
    during: dict[str, object] = {}

    def progress(remaining: int, total: int) -> None:
        steps.append(remaining)
        assert len(steps) < 2000, "the copy keeps starting over"
        if len(steps) == 1:
            # Mid-copy, with the snapshot held: a writer still commits, a reader still reads.
            start = len(writer.note_ids)
            during["committed"] = writer.wait_for(3)[start:]
            with app.app_context():  # a request of its own, as in another worker
                page = reader.get(f"/cases/{case_id}")
            during["page"] = (page.status_code, "準備メモ 149" in page.text)

    result = backup(tmp_path / "backup", step_pages=5, progress=progress)
    writer.wait_for(3)  # and goes on after it
    writer.stop()

    assert len(steps) > 5 and steps[-1] == 0
    assert during["page"] == (200, True)
    dest = result.dest
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["alembic_revision"] and manifest["snapshot_at"] and manifest["problems"] == []
    # The manifest lists every file with its size and SHA-256, and MANIFEST.sha256 says the same.
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {"manifest.json", "MANIFEST.sha256"}
    for path, entry in listed.items():
        assert (entry["size"], entry["sha256"]) == ((dest / path).stat().st_size, sha256(dest / path))
    assert (dest / "MANIFEST.sha256").read_text().splitlines() == [
        f"{f['sha256']}  {f['path']}" for f in manifest["files"]]

    target = new_instance()
    restored = invoke(target, "restore", str(dest))
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output and "db upgrade" not in restored.output

    restored_db = db_file(target)
    with closing(sqlite3.connect(restored_db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    snapshot, copy, now = dump(dest / "incident.sqlite3"), dump(restored_db), dump(live)
    # The restored instance holds exactly the snapshot: every row of every table, and the manifest's counts.
    assert copy == snapshot
    assert {t: len(rows) for t, rows in copy.items()} == manifest["tables"]
    # The snapshot is the database at one moment: every note committed before the backup started, none
    # committed while it copied, and each append-only table is an unbroken prefix of the live one.
    note_ids = {row[0] for row in copy["note"]}
    assert committed_before <= note_ids
    assert during["committed"] and not note_ids & set(during["committed"])
    assert len(now["note"]) > len(copy["note"])
    for table in set(APPEND_ONLY_TABLES) & set(copy):
        assert copy[table] == now[table][:len(copy[table])], table
    for table, rows in copy.items():
        if table not in APPEND_ONLY_TABLES and now[table] == before_writer[table]:
            assert rows == now[table], table  # untouched by the writer: the same as live
    # Every evidence file of the snapshot, and only those, with the SHA-256 recorded at upload.
    restored_uploads = Path(target.config["UPLOAD_DIR"])
    evidence = {row[0]: row for row in sqlite3.connect(restored_db).execute(
        "SELECT stored_name, size, sha256 FROM evidence")}
    assert len(evidence) >= 2 and {p.name for p in restored_uploads.iterdir()} == set(evidence)
    for name, (_name, size, digest) in evidence.items():
        assert (size, digest) == ((restored_uploads / name).stat().st_size, sha256(restored_uploads / name))
        assert (restored_uploads / name).read_bytes() == (uploads / name).read_bytes()
    assert len(list(uploads.iterdir())) > len(evidence)  # uploads newer than the snapshot are not copied

    # The app works on the restored instance: log in, read the case, add a note.
    with target.app_context():
        browser = target.test_client()
        assert browser.post("/login", data={"email": email, "password": "correct-horse-battery"}).status_code == 302
        page = browser.get(f"/cases/{case_id}")
        assert page.status_code == 200 and "準備メモ 149" in page.text
        cases_service.add_note(db.session.get(User, user_id), db.session.get(Case, case_id), "復元後のメモ")
        db.session.commit()
        with closing(sqlite3.connect(restored_db)) as conn:
            assert conn.execute("SELECT count(*) FROM note").fetchone()[0] == len(copy["note"]) + 1


@sqlite_only
def test_backup_refuses_a_destination_that_is_not_a_new_or_empty_folder(app, small_city, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("older backup")
    result = invoke(app, "backup", str(busy))
    assert result.exit_code == 1 and "is not empty" in result.output
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = invoke(app, "backup", str(a_file))
    assert result.exit_code == 1 and "not a folder" in result.output

    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(app, "backup", str(empty))
    assert result.exit_code == 0, result.output
    assert "2 evidence files" in result.output
    assert {p.name for p in empty.iterdir()} == {"incident.sqlite3", "uploads", "manifest.json", "MANIFEST.sha256"}
    new = tmp_path / "new" / "2026-11-30"
    assert invoke(app, "backup", str(new)).exit_code == 0
    assert new.stat().st_mode & 0o077 == 0  # owner only: personal data and password hashes


@pytest.fixture
def made_backup(app, small_city, tmp_path) -> Path:
    dest = tmp_path / "backup"
    result = invoke(app, "backup", str(dest))
    assert result.exit_code == 0, result.output
    return dest


def assert_nothing_restored(target: Flask) -> None:
    database = db_file(target)
    if database.exists():
        with closing(sqlite3.connect(database)) as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    folder = Path(target.config["UPLOAD_DIR"])
    assert not folder.exists() or not any(folder.iterdir())


@sqlite_only
@pytest.mark.parametrize("victim", ["uploads", "incident.sqlite3"])
def test_restore_refuses_a_tampered_file_and_restores_nothing(made_backup, new_instance, victim):
    path = made_backup / victim
    if victim == "uploads":
        path = sorted(path.iterdir())[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    path.write_bytes(bytes(data))
    name = str(path.relative_to(made_backup))

    target = new_instance()
    for args in (["restore", "--verify-only"], ["restore"]):
        result = invoke(target, *args, str(made_backup))
        assert result.exit_code == 1
        assert f"{name}: size or SHA-256 differs from the manifest" in result.output
    assert_nothing_restored(target)


@sqlite_only
def test_restore_refuses_a_missing_file(made_backup, new_instance):
    missing = sorted((made_backup / "uploads").iterdir())[0]
    missing.unlink()
    target = new_instance()
    result = invoke(target, "restore", str(made_backup))
    assert result.exit_code == 1
    assert f"uploads/{missing.name}: listed in the manifest but missing" in result.output
    assert_nothing_restored(target)

    (made_backup / "manifest.json").unlink()
    result = invoke(target, "restore", str(made_backup))
    assert result.exit_code == 1 and "manifest.json is missing" in result.output
    assert_nothing_restored(target)


@sqlite_only
def test_restore_refuses_a_manifest_pointing_outside_the_backup(made_backup, new_instance):
    manifest_path = made_backup / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][1]["path"] = "uploads/../../outside"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    target = new_instance()
    result = invoke(target, "restore", str(made_backup))
    assert result.exit_code == 1 and "'uploads/../../outside', which cannot be a file of a backup" in result.output
    assert_nothing_restored(target)


@sqlite_only
def test_restore_only_into_an_empty_instance(app, made_backup, new_instance, schema_source, tmp_path):
    # Into the instance the backup came from (it holds data): refused, nothing changed.
    before = dump(db_file(app))
    result = invoke(app, "restore", str(made_backup))
    assert result.exit_code == 1 and "already holds data" in result.output
    assert dump(db_file(app)) == before

    # An empty database but a used upload folder: refused.
    target = new_instance("used-uploads")
    Path(target.config["UPLOAD_DIR"]).mkdir(parents=True)
    (Path(target.config["UPLOAD_DIR"]) / "someone-elses.png").write_bytes(png(7))
    result = invoke(target, "restore", str(made_backup))
    assert result.exit_code == 1 and "upload folder" in result.output and "not empty" in result.output
    assert not db_file(target).exists()

    # A freshly migrated database without rows counts as empty and is replaced.
    fresh = tmp_path / "fresh.sqlite3"
    shutil.copyfile(schema_source, fresh)
    target = new_instance("fresh", database=fresh)
    result = invoke(target, "restore", str(made_backup))
    assert result.exit_code == 0, result.output
    assert dump(fresh) == dump(made_backup / "incident.sqlite3")


def _rewrite_database(backup_dir: Path, statement: str) -> str:
    """Change the backup's database and re-sign it in the manifest (so only the content is at issue)."""
    database = backup_dir / "incident.sqlite3"
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(statement)
        conn.commit()
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    manifest_path = backup_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][0].update(size=database.stat().st_size, sha256=sha256(database))
    manifest["alembic_revision"] = revision
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return revision


@sqlite_only
def test_restore_refuses_a_backup_from_a_newer_schema(made_backup, new_instance):
    _rewrite_database(made_backup, "UPDATE alembic_version SET version_num = '9999_future'")
    target = new_instance()
    result = invoke(target, "restore", str(made_backup))
    assert result.exit_code == 1
    assert "schema revision 9999_future is newer than this code knows" in result.output
    assert_nothing_restored(target)


@sqlite_only
def test_an_older_schema_is_restored_then_upgraded(new_instance, tmp_path):
    from flask_migrate import upgrade

    old = new_instance("old")
    with old.app_context():
        script = ScriptDirectory(old.extensions["migrate"].directory)
        head = script.get_current_head()
        previous = script.get_revision(head).down_revision
        if previous is None:
            pytest.skip("only one migration: no older schema to restore")
        upgrade(revision=previous)
        with closing(sqlite3.connect(db_file(old))) as conn:
            conn.execute("INSERT INTO department (code, name, created_at) VALUES ('kanko', '観光課', '2026-11-30 00:00:00')")
            conn.commit()
        result = invoke(old, "backup", str(tmp_path / "old-backup"))
        assert result.exit_code == 0, result.output
        db.engine.dispose()

    target = new_instance("new")
    result = invoke(target, "restore", str(tmp_path / "old-backup"))
    assert result.exit_code == 0, result.output
    assert f"older than this code's ({head}): run `flask --app incident db upgrade`" in result.output
    with target.app_context():
        upgrade()
        with closing(sqlite3.connect(db_file(target))) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
            assert conn.execute("SELECT code, name FROM department").fetchall() == [("kanko", "観光課")]


@sqlite_only
def test_backup_names_an_evidence_file_missing_from_the_upload_folder(app, small_city, uploads, tmp_path,
                                                                       new_instance):
    lost = sorted(uploads.iterdir())[0]
    lost.unlink()
    dest = tmp_path / "backup"
    result = invoke(app, "backup", str(dest))
    assert result.exit_code == 1  # a cron job or systemd timer shows the failure
    assert f"warning: uploads/{lost.name}: missing from" in result.output
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["problems"]) == 1 and len(manifest["files"]) == 2
    restored = invoke(new_instance(), "restore", str(dest))  # the rest is there and restorable
    assert restored.exit_code == 0, restored.output


def test_postgresql_is_refused(tmp_path, new_instance):
    """On PostgreSQL both commands refuse and point to the README's pg_dump/pg_restore procedure."""
    # The refusal comes before any connection, so without a PostgreSQL server an unreachable one shows it.
    target = new_instance("pg", uri=PG_URL or "postgresql+psycopg://nobody@127.0.0.1:9/incident")
    dest = tmp_path / "pg-backup"
    result = invoke(target, "backup", str(dest))
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output and "pg_dump -Fc" in result.output and "Backup and restore" in result.output
    assert not dest.exists()
    src = tmp_path / "some-backup"
    src.mkdir()
    result = invoke(target, "restore", str(src))
    assert result.exit_code == 1 and "pg_restore" in result.output
