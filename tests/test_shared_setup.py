"""What is shared to keep the suite fast, and why it stays correct: playbooks and draft wording are loaded
once per process (a changed file is read again; callers get copies), and the tests' shared app is put back
after each test, or rebuilt when a test changed more than its config and extensions."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from incident import config
from incident.audit.models import AuditLog
from incident.auth.models import User
from incident.drafts.wording import WordingError, load_wording
from incident.extensions import db
from incident.playbooks import loader
from incident.playbooks.loader import PlaybookError, load_all

SHIPPED = Path(config.PLAYBOOK_DIR)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private copy of the shipped playbooks folder (copy2 keeps the files' times, as a deployment may)."""
    target = tmp_path / "playbooks"
    shutil.copytree(SHIPPED, target)
    return target


def _replace_same_size(path: Path, old: str, new: str) -> None:
    """Edit a file keeping its size and modification time, as two quick edits within one clock tick of a
    coarse file system would: a cache keyed on size and mtime would miss the change."""
    text = path.read_text(encoding="utf-8")
    assert old in text and len(old.encode()) == len(new.encode())
    before = path.stat()
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_changed_playbook_is_read_again(folder):
    first = load_all(folder)
    title = first["flaming"].title_ja
    changed = title[:-1] + "燃"  # a character of the same length in UTF-8
    _replace_same_size(folder / "flaming.toml", f'title_ja = "{title}"', f'title_ja = "{changed}"')
    second = load_all(folder)
    assert second["flaming"].title_ja == changed
    assert second["flaming"].version != first["flaming"].version
    assert load_all(SHIPPED)["flaming"].title_ja == title  # another folder is another entry


def test_a_playbook_broken_after_a_good_load_is_still_refused(folder):
    load_all(folder)
    (folder / "flaming.toml").write_text('kind = "flaming"\n', encoding="utf-8")
    with pytest.raises(PlaybookError, match="flaming.toml"):
        load_all(folder)
    (folder / "flaming.toml").unlink()
    with pytest.raises(PlaybookError, match="no playbook for flaming"):
        load_all(folder)


def test_unchanged_playbooks_are_parsed_once(folder, monkeypatch):
    parsed = []
    real = loader.load_playbook
    monkeypatch.setattr(loader, "load_playbook", lambda path: parsed.append(path.name) or real(path))
    load_all(folder)
    load_all(folder)
    assert len(parsed) == len(set(parsed)) == len(load_all(folder))


def test_callers_cannot_change_the_cached_playbooks(folder):
    first = load_all(folder)
    first.pop("flaming")
    step = next(s for s in first["impersonation"].steps if s.due_minutes)
    step.due_minutes["high"] = 1
    again = load_all(folder)
    assert "flaming" in again
    assert next(s for s in again["impersonation"].steps if s.key == step.key).due_minutes["high"] != 1


def test_a_changed_template_is_read_again(folder):
    press = folder / "drafts" / "press.ja.txt"
    before = load_wording(folder).template("press", None, "ja")
    press.write_text(press.read_text(encoding="utf-8") + "\n秘書広報課が追記。\n", encoding="utf-8")
    after = load_wording(folder).template("press", None, "ja")
    assert after is not before and "秘書広報課が追記。" in Path(after.filename).read_text(encoding="utf-8")
    (folder / "drafts" / "takedown.x.ja.txt").write_text("X 専用 {{ case.number }}\n", encoding="utf-8")
    assert load_wording(folder).template("takedown", "x", "ja") is not None  # a new file is seen too


def test_changed_platforms_are_read_again_and_errors_still_stop(folder):
    load_wording(folder)
    platforms = folder / "platforms.toml"
    text = platforms.read_text(encoding="utf-8")
    platforms.write_text(text.replace("answer_days = 7", "answer_days = 8", 1), encoding="utf-8")
    assert 8 in {facts.answer_days for facts in load_wording(folder).platforms.values()}
    platforms.write_text(text + "\n[myspace]\n", encoding="utf-8")
    with pytest.raises(WordingError, match="platforms.toml"):
        load_wording(folder)


def test_callers_cannot_change_the_cached_wording(folder):
    first = load_wording(folder)
    first.templates.clear()
    first.platforms.pop("x")
    again = load_wording(folder)
    assert again.template("press", None, "ja") is not None and "x" in again.platforms


# --- the tests' shared app ------------------------------------------------------------------------


def test_each_test_starts_with_an_empty_database(app, make):
    """Whatever the tests before wrote (and on PostgreSQL, whatever ids they used) is gone."""
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert make.department().id == 1


def test_the_shared_app_is_put_back_or_rebuilt(shared_app, tmp_path):
    holder = type(shared_app)(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    app = holder.get()
    per_page, domains, wording = app.config["PER_PAGE"], list(app.config["CITY_WEB_DOMAINS"]), app.extensions["wording"]
    app.config["PER_PAGE"] = 3
    app.config["CITY_WEB_DOMAINS"].append("example.com")  # changed in place
    app.extensions["wording"] = None
    holder.reset()
    assert holder.app is app, "config and extensions are simply put back"
    assert app.config["PER_PAGE"] == per_page and app.config["CITY_WEB_DOMAINS"] == domains
    assert app.extensions["wording"] is wording
    app.jinja_env.globals["leftover"] = "from a test"
    holder.reset()
    assert holder.app is None, "anything else changed: the next test gets a new app"
    rebuilt = holder.get()
    assert rebuilt is not app and "leftover" not in rebuilt.jinja_env.globals
    rebuilt.extensions["playbooks"].pop("flaming")  # loaded data changed in place
    holder.reset()
    assert holder.app is None
    holder.get()
    holder.dispose()


def test_apps_keep_their_files_out_of_the_checkout(app, runner):
    """Demo logins, uploads and databases the suite makes go to a temporary instance folder, never into
    the developer's ./instance (where `make run` keeps the real demo logins)."""
    checkout_instance = Path(__file__).resolve().parents[1] / "instance"
    assert Path(app.instance_path).resolve() != checkout_instance.resolve()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert (Path(app.instance_path) / "demo-logins.txt").is_file()
