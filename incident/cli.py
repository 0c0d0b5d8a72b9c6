"""`flask --app incident ...` commands: thin callers of the services."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from incident.audit.service import new_request_id, set_cli_request_id
from incident.auth import service as auth_service
from incident.auth.models import Role, User
from incident.errors import DomainError
from incident.extensions import db

department_cli = AppGroup("department", help="Manage departments (所属).")
user_cli = AppGroup("user", help="Manage users.")
token_cli = AppGroup("token", help="Manage personal API tokens.")


def _fail(error: DomainError) -> None:
    db.session.rollback()
    messages = [str(error.message)] + [f"{k}: {v}" for k, v in error.fields.items()]
    raise click.ClickException(" ".join(messages))


@department_cli.command("create")
@click.argument("code")
@click.argument("name")
def department_create(code: str, name: str) -> None:
    """Create a department with a short CODE and its NAME."""
    set_cli_request_id(new_request_id())
    try:
        department = auth_service.create_department(None, code, name)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"department {department.code}: {department.name}")


@user_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--department", "department_code", required=True, help="Department code.")
@click.option("--organisation", default=None, help="Contractor / designated manager name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(email: str, name: str, role: str, department_code: str,
                organisation: str | None, password_stdin: bool) -> None:
    """Create a user; the password is asked for (or read from standard input)."""
    set_cli_request_id(new_request_id())
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        department = auth_service.department_by_code(department_code)
        user = auth_service.create_user(None, email=email, name=name, role=role,
                                        department=department, password=password,
                                        organisation=organisation)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"user {user.email} ({user.role.value}, {department.code})")


@token_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="What the token is for.")
def token_create(email: str, name: str) -> None:
    """Create an API token for EMAIL and print only the token."""
    set_cli_request_id(new_request_id())
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    try:
        _token, plain = auth_service.create_token(user, name)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(plain)


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when users already exist.")
def seed_demo(if_empty: bool) -> None:
    """Load demo departments, users, accounts and cases; print the demo logins."""
    from incident.demo import load_demo

    set_cli_request_id(new_request_id())
    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("Demo data: users exist already, nothing loaded. Logins: instance/demo-logins.txt")
        return
    logins = load_demo()
    db.session.commit()
    click.echo(logins)


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
    from incident.playbooks.loader import check_all, load_all

    folder = Path(directory or current_app.config["PLAYBOOK_DIR"])
    problems = check_all(folder)
    try:
        wording = load_wording(folder)
    except WordingError as exc:
        problems.append(str(exc))
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in {folder}")
    for kind, playbook in sorted(load_all(folder).items()):
        click.echo(f"{playbook.path}: {len(playbook.steps)} steps, version {playbook.version[:12]}")
    click.echo(f"drafts/: {len(wording.templates)} templates; platforms.toml: {len(wording.platforms)} platforms")


def register_cli(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(department_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(playbooks_cli)
