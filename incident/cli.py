"""`flask --app incident ...` commands: thin callers of the services."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from incident import boundary
from incident.audit.service import new_request_id, set_cli_request_id
from incident.auth import mfa, people, reshuffle_csv
from incident.auth import reshuffle as auth_reshuffle
from incident.auth import service as auth_service
from incident.auth import tokens as auth_tokens
from incident.auth.models import Role, User
from incident.cases.models import Case
from incident.database import in_own_transaction, reads_first, refresh_statistics
from incident.errors import DomainError
from incident.extensions import db

#: How often the worker refreshes the query planner's statistics (seconds).
STATISTICS_EVERY_S = 24 * 60 * 60

department_cli = AppGroup("department", help="Manage departments (所属).")
user_cli = AppGroup("user", help="Manage users.")
token_cli = AppGroup("token", help="Manage personal API tokens.")
records_cli = AppGroup("records", help="Records whose retention ended (保存期間の満了): export, then redact.")


@department_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--contact", default="", help="Phone / e-mail printed on press and public notices.")
@boundary.command
def department_create(code: str, name: str, contact: str) -> str:
    """Create a department with a short CODE and its NAME."""
    set_cli_request_id(new_request_id())
    department = auth_service.create_department(None, code, name)
    if contact:
        auth_service.set_department_contact(None, department, contact)
    return f"department {department.code}: {department.name}"


@department_cli.command("contact")
@click.argument("code")
@click.argument("contact")
@boundary.command
def department_contact(code: str, contact: str) -> str:
    """Set the CONTACT (phone, e-mail) printed on the department's press and public notices."""
    set_cli_request_id(new_request_id())
    department = auth_service.department_by_code(code)
    auth_service.set_department_contact(None, department, contact)
    return f"department {department.code}: {department.contact}"


@department_cli.command("rename")
@click.argument("code")
@click.argument("name")
@boundary.command
def department_rename(code: str, name: str) -> str:
    """Rename the department CODE to NAME (its code stays)."""
    set_cli_request_id(new_request_id())
    department = people.update_department(None, auth_service.department_by_code(code), name=name)
    return f"department {department.code}: {department.name}"


@department_cli.command("delete")
@click.argument("code")
@boundary.command
def department_delete(code: str) -> str:
    """Delete the department CODE, made by mistake: refused when anything refers to it (its history)."""
    set_cli_request_id(new_request_id())
    people.delete_department(None, auth_service.department_by_code(code))
    return f"department {code} deleted"


@user_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--department", "department_code", required=True, help="Department code.")
@click.option("--organisation", default=None,
              help="The contractor / designated manager a responder works for (registered if new); such a "
                   "user sees only the cases of the accounts that organisation runs.")
@click.option("--operator-kind", default=None, type=click.Choice(["contractor", "designated_manager"]),
              help="What a new --organisation is (default: contractor); an existing one keeps its kind.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@boundary.command
def user_create(email: str, name: str, role: str, department_code: str,
                organisation: str | None, operator_kind: str | None, password_stdin: bool) -> str:
    """Create a user; the password is asked for (or read from standard input)."""
    set_cli_request_id(new_request_id())
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    department = auth_service.department_by_code(department_code)
    user = auth_service.create_user(None, email=email, name=name, role=role,
                                    department=department, password=password,
                                    organisation=organisation, operator_kind=operator_kind)
    if user.operator is not None:
        return (f"user {user.email} ({user.role.value}, {department.code}, "
                f"{user.operator.kind.value} {user.operator.name})")
    return f"user {user.email} ({user.role.value}, {department.code})"


@user_cli.command("reset-password")
@click.argument("email")
@boundary.command
def user_reset_password(email: str) -> str:
    """Give EMAIL a random temporary password and print it: the user must change it at the next login
    (until then pages lead to the change page and the API answers 403)."""
    set_cli_request_id(new_request_id())
    user = auth_service.user_by_email(email)
    _user, plain = auth_service.issue_temporary_password(None, user.id)
    return plain


@user_cli.command("reset-mfa")
@click.argument("email")
@boundary.command
def user_reset_mfa(email: str) -> str:
    """Turn off EMAIL's multi-factor authentication (a lost phone): the secret and recovery codes are
    removed and the user's browsers signed out; they set it up again at the next login."""
    set_cli_request_id(new_request_id())
    user = auth_service.user_by_email(email)
    mfa.reset(None, user)
    return f"user {user.email}: multi-factor authentication reset"


def _plan_text(plan: list[dict], day: object) -> str:
    """A reshuffle plan as lines: each change from -> to, then the counts."""
    def place(p: dict) -> str:
        return f"{p['department_code']} {p['role']}" + (f" ({p['organisation']})" if p["organisation"] else "")

    lines = [f"line {row['line']}: {row['name']} <{row['email']}> {place(row['from'])} -> {place(row['to'])}"
             for row in plan if row["changed"]]
    moving = len(lines)
    return "\n".join([*lines, f"effective on {day}: {moving} change(s), {len(plan) - moving} unchanged"])


@user_cli.command("reshuffle")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--effective-on", default=None, help="The date the moves take effect, YYYY-MM-DD (default: today in Japan).")
@click.option("--apply", "apply_now", is_flag=True, help="Apply the plan; without it only the preview is printed.")
@click.option("--by", "by_email", default=None, help="The PR office member recorded as applying it (needed with --apply).")
@boundary.command
def user_reshuffle(file: Path, effective_on: str | None, apply_now: bool, by_email: str | None) -> str:
    """Move many people at once from a reshuffle CSV (人事異動; the format is in the README): print every
    change, and apply them only with --apply."""
    set_cli_request_id(new_request_id())
    with file.open("rb") as stream:
        data = stream.read(reshuffle_csv.MAX_BYTES + 1)
    if not apply_now:
        day = auth_reshuffle.parse_effective_on(effective_on)
        return _plan_text(auth_reshuffle.build_plan(data), day) + "\nnot applied (add --apply --by EMAIL)"
    if not by_email:
        raise click.UsageError("--apply needs --by EMAIL (a PR office member)")
    actor = auth_service.user_by_email(by_email)
    item = auth_reshuffle.upload(actor, data, file.name, effective_on)
    moved = auth_reshuffle.apply(actor, item)
    return _plan_text(item.plan, item.effective_on) + f"\napplied: {moved} moved (reshuffle {item.id})"


@user_cli.command("unlock")
@click.argument("email")
@boundary.command
def user_unlock(email: str) -> str:
    """Unlock EMAIL, locked after too many failed logins: its failures count from now on."""
    set_cli_request_id(new_request_id())
    user = auth_service.user_by_email(email)
    auth_service.unlock_user(None, user.id)
    return f"user {user.email} unlocked"


@user_cli.command("deactivate")
@click.argument("email")
@boundary.command
def user_deactivate(email: str) -> str:
    """Deactivate EMAIL: no more logins, every signed-in browser signed out, every API token revoked."""
    set_cli_request_id(new_request_id())
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    auth_service.deactivate_user(None, user)
    return f"user {user.email} deactivated (sessions ended, API tokens revoked)"


@user_cli.command("update")
@click.argument("email")
@click.option("--name", default=None, help="New display name.")
@click.option("--role", default=None, type=click.Choice([r.value for r in Role]))
@click.option("--department", "department_code", default=None, help="Code of the department moved to.")
@click.option("--organisation", default=None,
              help="The contractor / designated manager a responder works for; an empty value: city staff.")
@boundary.command
def user_update(email: str, name: str | None, role: str | None, department_code: str | None,
                organisation: str | None) -> str:
    """Change EMAIL's name, or move them to another role, department or organisation (a new posting)."""
    set_cli_request_id(new_request_id())
    user = auth_service.user_by_email(email)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if role is not None:
        changes["role"] = role
    if organisation is not None:
        changes["organisation"] = organisation
    department = auth_service.department_by_code(department_code) if department_code else None
    people.update_user(None, user, department=department, **changes)
    return f"user {user.email} ({user.name}, {user.role.value}, {user.department.code}, {user.organisation or '-'})"


@user_cli.command("list")
@boundary.command
def user_list() -> str:
    """List every user: e-mail, name, role, department code, organisation, state."""
    rows = []
    for user in db.session.scalars(select(User).order_by(User.active.desc(), User.email)):
        state = "pending" if user.pending_since else "active" if user.active else "inactive"
        rows.append(f"{user.email}\t{user.name}\t{user.role.value}\t{user.department.code}\t"
                    f"{user.organisation or '-'}\t{state}")
    return "\n".join(rows) if rows else "no users"


@token_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="What the token is for.")
@click.option("--days", type=int, default=None, help="Days until it expires (default API_TOKEN_DAYS, 90).")
@click.option("--read-only", is_flag=True, help="The token may only read (GET); anything else answers 403.")
@boundary.command
def token_create(email: str, name: str, days: int | None, read_only: bool) -> str:
    """Create an API token for EMAIL and print only the token."""
    set_cli_request_id(new_request_id())
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    _token, plain = auth_tokens.create_token(user, name, days, read_only=read_only)
    return plain


@token_cli.command("list")
@click.argument("email", required=False)
@boundary.command
def token_list(email: str | None) -> str:
    """List every API token (of EMAIL only, if given): id, owner, name, scope, expiry, last use, state."""
    rows = []
    for token in auth_tokens.all_tokens(email):
        scope = "read-only" if token.read_only else "read-write"
        expires = token.expires_at.isoformat(timespec="minutes") if token.expires_at else "never"
        used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never"
        rows.append(f"{token.id}\t{token.user.email}\t{token.name}\t{token.prefix}…\t{scope}\t"
                    f"expires {expires}\tlast used {used}\t{auth_tokens.state_of(token)}")
    return "\n".join(rows) if rows else "no tokens"


@token_cli.command("revoke")
@click.argument("token_id")
@boundary.command
def token_revoke(token_id: str) -> str:
    """Revoke the API token with id TOKEN_ID (as listed by `token list`); revoking twice changes nothing."""
    set_cli_request_id(new_request_id())
    token = auth_tokens.revoke_token(None, token_id)
    return f"token {token.id} ({token.name}) of {token.user.email} revoked"


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when users already exist.")
@click.option("--cases", "bulk_cases", type=click.IntRange(min=0), default=0,
              help="Also write this many realistic cases over two years in bulk (benchmarks); the demo's "
                   "users are loaded first unless users exist.")
@click.option("--seed", type=int, default=14, help="Random seed of the bulk cases (the same seed, the same data).")
@boundary.command
def seed_demo(if_empty: bool, bulk_cases: int, seed: int) -> str:
    """Load demo departments, users, accounts and cases; print the demo logins."""
    from incident.demo import load_demo
    from incident.demo_bulk import generate

    set_cli_request_id(new_request_id())
    has_users = bool(db.session.scalar(select(func.count(User.id))))
    if if_empty and has_users:
        return "Demo data: users exist already, nothing loaded. Logins: instance/demo-logins.txt"
    logins = "Demo data: users exist already; cases added for them." if has_users and bulk_cases else load_demo()
    if bulk_cases:
        click.echo(f"Writing {bulk_cases:,} cases in bulk ...")
        logins += f"\n{generate(bulk_cases, seed=seed, echo=click.echo)}"
    return logins


@click.group("playbooks")
def playbooks_cli() -> None:
    """Playbook files."""


@playbooks_cli.command("check")
@click.option("--dir", "directory", default=None, help="Directory to check (default: PLAYBOOK_DIR).")
def playbooks_check(directory: str | None) -> None:
    """Validate every playbook file; print each problem with its file, line and step."""
    from pathlib import Path

    from flask import current_app

    from incident.drafts.wording import WordingError, load_wording
    from incident.escalation.rules import EscalationRulesError, load_rules
    from incident.playbooks.loader import check_all, load_all

    folder = Path(directory or current_app.config["PLAYBOOK_DIR"])
    problems = check_all(folder)
    try:
        wording = load_wording(folder)
    except WordingError as exc:
        problems.append(str(exc))
    try:
        rules = load_rules(folder / "escalation.toml")
    except EscalationRulesError as exc:
        problems.append(str(exc))
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in {folder}")
    for _kind, playbook in sorted(load_all(folder).items()):
        click.echo(f"{playbook.path}: {len(playbook.steps)} steps, version {playbook.version[:12]}")
    click.echo(f"drafts/: {len(wording.templates)} templates and {len(wording.shorts)} short renditions; platforms.toml: {len(wording.platforms)} platforms")
    click.echo(f"escalation.toml: levels {' → '.join(rules.levels)}, repeat {rules.repeat}")


@click.command("escalate")
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601), for drills and tests.")
def escalate_command(now_text: str | None) -> None:
    """Escalate every case, step and approval past its time by one level (safe to run twice, or on
    several machines at once)."""
    from incident.dates import parse_iso
    from incident.escalation.service import sweep

    set_cli_request_id(new_request_id())
    try:
        now = parse_iso(now_text) if now_text else None
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-11-23T10:30+09:00", param_hint="--now") from None
    with reads_first():  # short write transactions, one per item: requests keep writing meanwhile
        report = sweep(now, run_item=in_own_transaction)
        db.session.commit()
    click.echo(str(report))


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@click.option("--interval", type=int, default=None, help="Seconds between rounds (default WORKER_INTERVAL).")
def worker_command(once: bool, interval: int | None) -> None:
    """Every minute: run the escalation sweep, then deliver the outbox (mail and chat). Stops cleanly on SIGTERM."""
    import signal
    import threading

    from flask import current_app

    from incident.escalation.service import sweep
    from incident.notifications.chat_delivery import deliver_chat_due
    from incident.notifications.mailer import deliver_due

    stop = threading.Event()
    for name in ("SIGTERM", "SIGINT"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    seconds = interval or int(current_app.config["WORKER_INTERVAL"])
    # SQLite's planner statistics: at the first round, then daily (PostgreSQL's autovacuum keeps its own).
    statistics_due = 0.0 if db.engine.dialect.name == "sqlite" else float("inf")
    while not stop.is_set():
        set_cli_request_id(new_request_id())
        try:
            with reads_first():
                report = sweep(run_item=in_own_transaction)
                db.session.commit()
            mail, chat = deliver_due(), deliver_chat_due()
            busy = report.raised or report.climbed or report.resolved or any(
                (d.sent, d.retried, d.failed) != (0, 0, 0) for d in (mail, chat))
            if busy or once:  # quiet rounds print nothing, so `make run` stays readable
                click.echo(f"{report}; mail sent {mail.sent}, retry later {mail.retried}, failed {mail.failed}"
                           + (f" ({mail.skipped})" if mail.skipped else "")
                           + f"; chat sent {chat.sent}, retry later {chat.retried}, failed {chat.failed}")
            if time.monotonic() >= statistics_due:
                refresh_statistics()
                statistics_due = time.monotonic() + STATISTICS_EVERY_S
        except Exception as exc:  # a bad round must not stop the worker; the next round tries again
            db.session.rollback()
            click.echo(f"worker round failed: {type(exc).__name__}: {exc}", err=True)
        finally:
            db.session.remove()
        if once:
            break
        stop.wait(seconds)


@click.group("audit")
def audit_cli() -> None:
    """The audit log."""


def _recorded_head(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    row_id, _, row_hash = value.partition(":")
    if not row_id.isdigit() or len(row_hash) != 64:
        raise click.BadParameter("use ID:HASH as printed by an earlier run, e.g. 1234:9f86d08…")
    return int(row_id), row_hash.lower()


@audit_cli.command("verify")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Rows read per query.")
@click.option("--head", callback=_recorded_head, metavar="ID:HASH",
              help="A head printed by an earlier run: fail unless that row still has that hash.")
def audit_verify(batch_size: int, head: tuple[int, str] | None) -> None:
    """Walk the audit log's hash chain; print OK and the row count, or the first broken link (exit 1)."""
    from incident.audit.chain import verify_chain

    report = verify_chain(batch_size, head=head)
    if not report.ok:
        raise click.ClickException(f"audit log chain broken at {report.broken} "
                                   f"({report.rows} rows before it are intact)")
    click.echo(f"audit log chain OK: {report.rows} rows; head {report.last_id or 0}:{report.last_hash}")


@records_cli.command("expire")
@click.option("--as", "email", required=True, help="The PR office user the exports and redactions are recorded as.")
@click.option("--to", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder the ZIPs are written to (for the records management system).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Records handled in this run, oldest first.")
@click.option("--redact/--export-only", default=False, show_default=True,
              help="Also remove the personal data of each record once its ZIP is safely written.")
def records_expire(email: str, folder: Path, limit: int, redact: bool) -> None:
    """Write out each record whose retention ended (and, with --redact, then remove its personal data), one
    record per transaction; print each ZIP's name and SHA-256. Stops at the first failure."""
    from flask import current_app
    from flask_login import login_user

    from incident.reports import records
    from incident.reports.records_views import export_archive

    set_cli_request_id(new_request_id())
    actor = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if actor is None or actor.role != Role.ADMIN or not actor.active:
        raise click.ClickException(f"{email} is not an active PR office (admin) user")
    folder.mkdir(parents=True, exist_ok=True)
    ids = list(db.session.scalars(records.expired(actor).with_only_columns(Case.id).limit(limit)))
    db.session.rollback()
    for case_id in ids:
        with current_app.test_request_context():
            login_user(actor)
            case = db.session.get(Case, case_id)
            assert case is not None
            archive = export_archive(actor, case)
            target = folder / archive.name
            with target.open("wb") as out:
                while chunk := archive.file.read(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            archive.file.close()
            db.session.commit()  # the export is recorded only once its file is on disk
            line = f"{archive.export.archive_sha256}  {target}"
            if redact:
                try:
                    made = records.redact(actor, case, (), case.number)
                except DomainError as error:
                    db.session.rollback()
                    raise click.ClickException(f"{case.number}: {error.message}") from None
                db.session.commit()
                failed = records.remove_files(made)
                line += "  redacted" + (f" (evidence files not deleted: {failed})" if failed else "")
            click.echo(line)
    click.echo(f"{len(ids)} record(s) {'written out and redacted' if redact else 'written out'}")


@click.command("db-optimize")
def db_optimize() -> None:
    """Refresh the query planner's statistics (SQLite: ANALYZE; run after `flask db upgrade` and by the worker
    daily)."""
    click.echo(refresh_statistics())


@click.command("db-grant-app")
@click.argument("role")
@click.option("--dry-run", is_flag=True, help="Print the statements without running them.")
def db_grant_app(role: str, dry_run: bool) -> None:
    """Give the app's PostgreSQL ROLE only the grants it needs (run as the owner after every `flask db upgrade`)."""
    from incident.database import GrantError, app_role_grants, role_can_create

    with db.engine.connect() as connection:
        try:
            statements = app_role_grants(connection, role)
        except GrantError as exc:
            raise click.ClickException(str(exc)) from None
        for statement in statements:
            click.echo(f"{statement};")
            if not dry_run:
                connection.exec_driver_sql(statement)
        connection.commit()
        if not dry_run and role_can_create(connection, role):
            click.echo(f"warning: {role} may still create tables in this schema (through PUBLIC); as a superuser "
                       "run: REVOKE CREATE ON SCHEMA public FROM PUBLIC", err=True)


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
def backup_command(dest: Path) -> None:
    """Copy the SQLite database (online, one consistent snapshot) and its evidence files into DEST, a new
    or empty folder, with a manifest of SHA-256 sums. PostgreSQL: see README (pg_dump)."""
    import sqlite3

    from incident.backup import BackupError, backup

    try:
        result = backup(dest)
    except (BackupError, OSError, sqlite3.Error) as exc:  # nothing is left half-written in DEST
        raise click.ClickException(str(exc)) from None
    manifest = result.manifest
    click.echo(f"backup written to {result.dest}: {manifest['rows']} rows in {len(manifest['tables'])} tables, "
               f"{len(manifest['files']) - 1} evidence files, schema revision {manifest['alembic_revision']}")
    if result.problems:
        for problem in result.problems:
            click.echo(f"warning: {problem}", err=True)
        raise click.ClickException(f"{len(result.problems)} evidence file(s) missing or changed in the upload "
                                   "folder (listed above and in manifest.json); the backup holds the rest")


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--verify-only", is_flag=True, help="Check the backup (manifest, sums, database); restore nothing.")
def restore_command(src: Path, verify_only: bool) -> None:
    """Check the backup in SRC against its manifest, then restore it into this instance, which must be empty
    (stop the app and the worker first)."""
    import sqlite3

    from incident.backup import BackupError, restore, verify_backup

    try:
        result = verify_backup(src) if verify_only else restore(src)
    except (BackupError, OSError, sqlite3.Error) as exc:  # a failed restore removes what it wrote
        raise click.ClickException(str(exc)) from None
    manifest = result.manifest
    done = "verified" if verify_only else "restored"
    click.echo(f"{done} {src}: {manifest['rows']} rows in {len(manifest['tables'])} tables, "
               f"{len(manifest['files']) - 1} evidence files, all SHA-256 sums match; backup taken "
               f"{manifest['snapshot_at']}, schema revision {result.revision}")
    if result.needs_upgrade:
        click.echo(f"the backup's schema ({result.revision}) is older than this code's ({result.code_head}): "
                   f"{'after restoring, ' if verify_only else ''}run `flask --app incident db upgrade`")


@click.command("doctor")
@click.option("--mail-to", "mail_to", default=None, metavar="ADDRESS",
              help="Also send a test mail to this address straight through the mail server.")
def doctor_command(mail_to: str | None) -> None:
    """Check the configuration (database schema, mail, base URL, playbooks); exit 1 if something needs fixing."""
    from incident import doctor

    findings = doctor.run(mail_to)
    for finding in findings:
        click.echo(f"{'ok     ' if finding.ok else 'PROBLEM'}  {finding.topic:<12} {finding.text}")
    if not all(f.ok for f in findings):
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(department_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(records_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(playbooks_cli)
    app.cli.add_command(escalate_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(db_grant_app)
    app.cli.add_command(db_optimize)
    app.cli.add_command(doctor_command)
