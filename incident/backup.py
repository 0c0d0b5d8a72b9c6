"""Backup and restore of a SQLite instance (database and evidence files) with a SHA-256 manifest."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import current_app

from incident.dates import isoformat, utcnow
from incident.evidence.service import upload_dir
from incident.extensions import db

#: The names inside a backup folder.
DB_NAME = "incident.sqlite3"
UPLOADS = "uploads"
MANIFEST = "manifest.json"
#: The same sums in `sha256sum` format, so `sha256sum -c MANIFEST.sha256` checks a copy without the app.
CHECKSUMS = "MANIFEST.sha256"
FORMAT = "incident-backup"
FORMAT_VERSION = 1
#: Pages copied per step of the online backup (4 MiB with SQLite's default 4 KiB pages).
STEP_PAGES = 1024
_CHUNK = 1024 * 1024

POSTGRESQL_HELP = (
    "the database is PostgreSQL: this command copies SQLite databases only. Back up with "
    "`pg_dump -Fc`, copy the uploads folder and write its SHA-256 manifest, and restore with "
    "`pg_restore`, as README.md, section \"Backup and restore\", describes."
)


class BackupError(Exception):
    """A backup or restore that cannot be done safely; the message says why (and names the file)."""


@dataclasses.dataclass(frozen=True)
class BackupResult:
    """What `backup` wrote: the manifest, and evidence files that were missing or changed."""

    dest: Path
    manifest: dict[str, Any]
    problems: list[str]


@dataclasses.dataclass(frozen=True)
class RestoreResult:
    """What a verified (and possibly restored) backup holds, and whether `db upgrade` is due."""

    manifest: dict[str, Any]
    revision: str
    code_head: str

    @property
    def needs_upgrade(self) -> bool:
        return self.revision != self.code_head


def sqlite_path() -> Path:
    """The app's SQLite database file; BackupError for PostgreSQL or an in-memory database."""
    url = db.engine.url  # building the engine does not connect
    backend = url.get_backend_name()
    if backend == "postgresql":
        raise BackupError(POSTGRESQL_HELP)
    if backend != "sqlite":
        raise BackupError(f"backup and restore handle SQLite only, not {backend}")
    if not url.database or url.database == ":memory:" or "mode=memory" in url.database:
        raise BackupError("the database is in memory: there is no file to back up or restore into")
    return Path(url.database).resolve()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)


def _real_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables that store rows (virtual tables left out; their shadow tables are real and counted)."""
    return [name for name, sql in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name") if not (sql or "").upper().startswith("CREATE VIRTUAL")]


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {_quote(t)}").fetchone()[0] for t in _real_tables(conn)}


def _revision(conn: sqlite3.Connection) -> str | None:
    if "alembic_version" not in _real_tables(conn):
        return None
    return ",".join(sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))) or None


def _integrity(conn: sqlite3.Connection, label: str) -> None:
    result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{label}: SQLite integrity check failed: {'; '.join(result[:5])}")


def _digest(path: Path) -> tuple[int, str]:
    with open(path, "rb") as handle:
        return os.fstat(handle.fileno()).st_size, hashlib.file_digest(handle, "sha256").hexdigest()


def _copy(source: Path, target: Path, mode: int) -> tuple[int, str]:
    """Copy to a new file (never over an existing one) and flush it to disk; return size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as src, os.fdopen(
            os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        while chunk := src.read(_CHUNK):
            size += len(chunk)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _write_new(path: Path, text: str) -> None:
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


# ---- backup ----------------------------------------------------------------------------------


def _prepare_dest(dest: Path) -> bool:
    """Refuse a DEST that exists and is not an empty folder; create it (owner-only) if missing."""
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir():
            raise BackupError(f"{dest} exists and is not a folder: give a new (or empty) folder for the backup")
        if any(dest.iterdir()):
            raise BackupError(f"{dest} is not empty: give a new (or empty) folder; a backup never writes "
                              "over or beside other files")
        return False
    dest.mkdir(parents=True, mode=0o700)  # the copy holds personal data and password hashes
    return True


def _snapshot(source_path: Path, target_path: Path, step_pages: int,
              progress: Callable[[int, int], None] | None) -> None:
    """Copy the live database into a new file through SQLite's online backup API, as one snapshot."""
    timeout = float(current_app.config["SQLITE_BUSY_TIMEOUT"])
    with closing(sqlite3.connect(source_path, timeout=timeout, isolation_level=None)) as source, \
            closing(sqlite3.connect(target_path, isolation_level=None)) as target:
        # The app keeps its database in WAL mode (incident.database; this is a no-op then). In WAL mode
        # a reader never blocks writers or other readers, and the backup only ever reads the source.
        if source.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise BackupError(f"{source_path}: cannot switch the database to WAL mode for an online backup")
        # One read transaction held across every step: all steps copy the same snapshot, which is the
        # database as committed at this moment. Without it, each commit by another connection between
        # two steps restarts the copy from page 1, and under steady writes it never finishes. The copy
        # still goes in steps of `step_pages` so that progress is visible and Ctrl+C is honoured.
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        try:
            source.backup(target, pages=step_pages,
                          progress=(lambda _status, remaining, total: progress(remaining, total))
                          if progress else None)
        finally:
            source.execute("ROLLBACK")  # ends the read transaction; nothing was written
        # One self-contained file: rollback-journal mode, so no -wal/-shm belongs beside the copy.
        if target.execute("PRAGMA journal_mode = DELETE").fetchone()[0] != "delete":
            raise BackupError(f"{target_path}: could not leave WAL mode")
        _integrity(target, DB_NAME)


def _referenced_files(conn: sqlite3.Connection) -> list[tuple[int, str, int, str]]:
    """(id, stored name, size, SHA-256) of every evidence file the snapshot references."""
    if "evidence" not in _real_tables(conn):
        return []
    return list(conn.execute("SELECT id, stored_name, size, sha256 FROM evidence ORDER BY id"))


def _discard(dest: Path, created: bool) -> None:
    """Remove what a failed backup wrote (DEST was new or empty before, so all of it is ours)."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def backup(dest: Path, *, step_pages: int = STEP_PAGES,
           progress: Callable[[int, int], None] | None = None) -> BackupResult:
    """Copy the database (one consistent snapshot) and the evidence files it references into DEST."""
    source_path = sqlite_path()
    if not source_path.is_file():
        raise BackupError(f"there is no database at {source_path}")
    dest = Path(dest)
    created = _prepare_dest(dest)
    try:
        return _backup(source_path, dest, step_pages, progress)
    except BaseException:
        _discard(dest, created)
        raise


def _backup(source_path: Path, dest: Path, step_pages: int,
            progress: Callable[[int, int], None] | None) -> BackupResult:
    started_at = utcnow()
    db_copy = dest / DB_NAME
    _snapshot(source_path, db_copy, step_pages, progress)
    db_copy.chmod(0o600)
    with closing(_readonly(db_copy)) as conn:
        tables = _counts(conn)
        revision = _revision(conn)
        referenced = _referenced_files(conn)
    size, sha = _digest(db_copy)
    files = [{"path": DB_NAME, "size": size, "sha256": sha}]
    problems: list[str] = []
    # Evidence files are written once under a new server-made name and never changed or removed (a
    # wrong upload is withdrawn, its file kept), so copying them after the snapshot is consistent:
    # every file the snapshot references was complete before its row was committed, and uploads newer
    # than the snapshot are not referenced by it, so they are left out.
    folder = upload_dir()
    if referenced:
        (dest / UPLOADS).mkdir(mode=0o700)
    for evidence_id, stored_name, expected_size, expected_sha in referenced:
        name = os.path.basename(stored_name)
        source = folder / name
        if not source.is_file():
            problems.append(f"{UPLOADS}/{name}: missing from {folder} (evidence {evidence_id}); not in the backup")
            continue
        size, sha = _copy(source, dest / UPLOADS / name, 0o600)
        if (size, sha) != (expected_size, expected_sha):
            problems.append(f"{UPLOADS}/{name}: differs from the SHA-256 recorded at upload "
                            f"(evidence {evidence_id}); copied as found")
        files.append({"path": f"{UPLOADS}/{name}", "size": size, "sha256": sha})
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": isoformat(utcnow()),
        "snapshot_at": isoformat(started_at),
        "database": "sqlite",
        "source": str(source_path),
        "alembic_revision": revision,
        "tables": tables,
        "rows": sum(tables.values()),
        "files": files,
        "problems": problems,
    }
    _write_new(dest / CHECKSUMS, "".join(f"{f['sha256']}  {f['path']}\n" for f in files))
    # The manifest is written last: a folder without it is an unfinished backup, and restore refuses it.
    _write_new(dest / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    _fsync_dir(dest)
    return BackupResult(dest=dest, manifest=manifest, problems=problems)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- verify and restore ----------------------------------------------------------------------


def _safe_name(path: Any) -> bool:
    """Only the database and plain file names under uploads/ may appear in a manifest."""
    if path == DB_NAME:
        return True
    if not isinstance(path, str) or not path.startswith(UPLOADS + "/"):
        return False
    name = path[len(UPLOADS) + 1:]
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


def _read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{path} is missing: {src} is not a finished backup made by "
                          "`flask --app incident backup`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{MANIFEST}: not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{MANIFEST}: not the manifest of an incident backup")
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("database") != "sqlite":
        raise BackupError(f"{MANIFEST}: backup format {manifest.get('format_version')!r} of "
                          f"{manifest.get('database')!r} is not one this version restores")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("size"), int) and isinstance(f.get("sha256"), str)
            for f in files):
        raise BackupError(f"{MANIFEST}: the file list is damaged")
    paths = [f.get("path") for f in files]
    for bad in (p for p in paths if not _safe_name(p)):
        raise BackupError(f"{MANIFEST} lists {bad!r}, which cannot be a file of a backup; refusing")
    if len(set(paths)) != len(paths) or DB_NAME not in paths or not isinstance(manifest.get("tables"), dict):
        raise BackupError(f"{MANIFEST}: the file list is damaged (the database missing or a file twice)")
    return manifest


def _code_revisions() -> tuple[set[str], str]:
    """Every migration revision this code knows, and its head."""
    script = ScriptDirectory(current_app.extensions["migrate"].directory)
    return {rev.revision for rev in script.walk_revisions()}, ",".join(sorted(script.get_heads()))


def verify_backup(src: Path) -> RestoreResult:
    """Check a backup folder: its manifest, every file's size and SHA-256, the database and its schema."""
    src = Path(src)
    manifest = _read_manifest(src)
    for entry in manifest["files"]:
        path = src / entry["path"]
        if not path.is_file():
            raise BackupError(f"{entry['path']}: listed in the manifest but missing from {src}; nothing restored")
        size, sha = _digest(path)
        if size != entry["size"] or sha != entry["sha256"]:
            raise BackupError(f"{entry['path']}: size or SHA-256 differs from the manifest (the backup is "
                              "damaged or was changed); nothing restored")
    with closing(_readonly(src / DB_NAME)) as conn:
        _integrity(conn, DB_NAME)
        revision = _revision(conn)
        counts = _counts(conn)
    if counts != manifest["tables"] or revision != manifest.get("alembic_revision"):
        raise BackupError(f"{DB_NAME}: its tables or schema revision differ from the manifest; nothing restored")
    known, head = _code_revisions()
    if revision is None:
        raise BackupError(f"{DB_NAME}: no schema revision (alembic_version): not an incident database")
    if not set(revision.split(",")) <= known:
        raise BackupError(f"{DB_NAME}: schema revision {revision} is newer than this code knows (head {head}): "
                          "install the version of the app that made the backup, or a later one, and restore "
                          "with it; nothing restored")
    return RestoreResult(manifest=manifest, revision=revision, code_head=head)


def _holds_data(db_file: Path) -> str | None:
    """The first table with a row in an existing database file, or None (absent or data-free)."""
    if not db_file.exists() or db_file.stat().st_size == 0:
        return None
    timeout = float(current_app.config["SQLITE_BUSY_TIMEOUT"])
    with closing(sqlite3.connect(db_file, timeout=timeout)) as conn:
        tables = _real_tables(conn)
        virtual = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND upper(sql) LIKE 'CREATE VIRTUAL%'")]
        for table in tables:
            if table == "alembic_version" or any(table.startswith(v + "_") for v in virtual):
                continue  # the schema's revision, and full-text index internals, are not data
            if conn.execute(f"SELECT 1 FROM {_quote(table)} LIMIT 1").fetchone():
                return table
    return None


def _remove_database(db_file: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)


@contextmanager
def _undo_on_failure(db_file: Path, written: list[Path]) -> Iterator[None]:
    """On any error, remove the restored database and the files copied so far (the target held no data)."""
    try:
        yield
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        _remove_database(db_file)
        raise


def restore(src: Path) -> RestoreResult:
    """Verify a backup, then restore it into this instance, which must hold no data and no uploads."""
    db_file = sqlite_path()
    checked = verify_backup(src)
    src = Path(src)
    table = _holds_data(db_file)
    if table is not None:
        raise BackupError(f"the database {db_file} already holds data (table {table}): restore only into an "
                          "empty instance (a new database file and upload folder); nothing restored")
    folder = upload_dir()
    if any(folder.iterdir()):
        raise BackupError(f"the upload folder {folder} is not empty: restore only into an empty instance; "
                          "nothing restored")
    written: list[Path] = []
    with _undo_on_failure(db_file, written):
        db_file.parent.mkdir(parents=True, exist_ok=True)
        timeout = float(current_app.config["SQLITE_BUSY_TIMEOUT"])
        # Through SQLite rather than a file copy, so that a data-free database already there (with its
        # -wal and -shm files) is replaced correctly.
        with closing(_readonly(src / DB_NAME)) as source, \
                closing(sqlite3.connect(db_file, timeout=timeout, isolation_level=None)) as target:
            source.backup(target)
            target.execute("PRAGMA journal_mode = WAL")  # as the app runs it
            _integrity(target, str(db_file))
            if _counts(target) != checked.manifest["tables"]:
                raise BackupError(f"{db_file}: the restored rows differ from the manifest")
        for entry in checked.manifest["files"]:
            if entry["path"] == DB_NAME:
                continue
            target_file = folder / entry["path"][len(UPLOADS) + 1:]
            written.append(target_file)  # the folder was empty: whatever is at this name is ours
            size, sha = _copy(src / entry["path"], target_file, 0o666)  # umask applies, as for uploads
            if (size, sha) != (entry["size"], entry["sha256"]):
                raise BackupError(f"{entry['path']}: changed while it was being restored; nothing restored")
    return checked
