"""`flask --app incident doctor`: what the running configuration can and cannot do, checked on the spot."""
from __future__ import annotations

import dataclasses
import smtplib

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy.engine import make_url

from incident.extensions import db
from incident.notifications import mailer
from incident.notifications.service import mail_health, mail_setting
from incident.search.index import trigram_schema


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, what was found, and whether it needs fixing."""

    topic: str
    text: str
    ok: bool


def _database() -> list[Finding]:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    head = ScriptDirectory(current_app.extensions["migrate"].directory).get_current_head()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        return [Finding("database", f"{url}: schema {current or 'none'}, the code needs {head} — run "
                                    "`flask --app incident db upgrade`", False)]
    return [Finding("database", f"{url} (schema {current}, up to date)", True), *_search_index()]


def _search_index() -> list[Finding]:
    """On PostgreSQL, whether pg_trgm sees Japanese letters (a UTF-8 LC_CTYPE); else search reads its whole
    index for every word of three characters or more (README.md, "Search")."""
    if db.engine.dialect.name != "postgresql":
        return []
    with db.engine.connect() as connection:
        ctype = connection.exec_driver_sql("SHOW lc_ctype").scalar_one()
        schema = trigram_schema(connection)
        if schema is None:
            return [Finding("search", "pg_trgm is not installed: run `flask --app incident db upgrade` as the "
                                      "database owner", False)]
        trigrams = connection.exec_driver_sql(
            f"SELECT cardinality(\"{schema}\".show_trgm('検索'))").scalar_one()
    if trigrams:
        return [Finding("search", f"pg_trgm indexes Japanese text (LC_CTYPE {ctype})", True)]
    return [Finding("search", f"LC_CTYPE is {ctype}: pg_trgm sees no Japanese letters, so search reads the "
                              "whole index; create the database with LC_CTYPE C.UTF-8 (or ja_JP.UTF-8)", False)]


def _mail(send_to: str | None) -> list[Finding]:
    setting, health = mail_setting(), mail_health(exact=True)
    found: list[Finding] = []
    if not setting.host:
        found.append(Finding("mail", "NOT CONFIGURED: INCIDENT_MAIL_HOST is not set, so no mail leaves; "
                                     f"{health.waiting} mail(s) wait in the outbox. See README, 'Mail'.", False))
    else:
        login = f", login {setting.username} (password {'set' if setting.has_password else 'NOT set'})" \
            if setting.username else ", no login"
        found.append(Finding("mail", f"{setting.host}:{setting.port} security={setting.security}{login}, "
                                     f"from {setting.sender}", True))
    outbox = f"outbox: {health.waiting} waiting, {health.retrying} retrying, {health.failed} failed"
    if health.last_error:
        outbox += f"; last error: {health.last_error}"
    found.append(Finding("mail", outbox, not (health.retrying or health.failed)))
    if send_to:
        if not setting.host:
            found.append(Finding("mail", f"test mail to {send_to} not sent: no mail server is configured", False))
        else:
            try:
                mailer.send_test(send_to)
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                found.append(Finding("mail", f"test mail to {send_to} FAILED: {type(exc).__name__}: {exc}", False))
            else:
                found.append(Finding("mail", f"test mail to {send_to} accepted by {setting.host}", True))
    return found


def _site() -> list[Finding]:
    config = current_app.config
    found = [Finding("environment", str(config["ENV"]), True)]
    base = str(config["BASE_URL"])
    local = "127.0.0.1" in base or "localhost" in base
    production = config["ENV"] == "production"
    found.append(Finding("base url", base + (" — links in mail will not work for others; set INCIDENT_BASE_URL"
                                             if local and production else ""), not (local and production)))
    playbooks = current_app.extensions.get("playbooks") or {}
    found.append(Finding("playbooks", f"{len(playbooks)} loaded from {config['PLAYBOOK_DIR']}", bool(playbooks)))
    return found


def run(send_to: str | None = None) -> list[Finding]:
    """Every check, in the order they are printed."""
    return _site() + _database() + _mail(send_to)
