"""Draft wording kept as data (issue 5): the templates in playbooks/drafts/ and platforms.toml.

The PR office edits these files without touching code, so a mistake in them must stop the app at
start-up with the file (and line) named, never produce a broken draft or a 500 later, and a template
must never reach beyond the facts the app hands it (sandbox).
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from incident import create_app
from incident.drafts.models import DraftType
from incident.drafts.wording import ASKS, PLATFORMS, WordingError, load_platforms, load_wording
from incident.extensions import db
from incident.playbooks.loader import DRAFT_TYPES, KINDS


@pytest.fixture
def folder(app, tmp_path: Path) -> Path:
    """A private copy of the shipped playbooks folder, to break one file at a time."""
    target = tmp_path / "playbooks-copy"
    shutil.copytree(app.config["PLAYBOOK_DIR"], target)
    return target


def _error(folder: Path) -> str:
    with pytest.raises(WordingError) as info:
        load_wording(folder)
    return str(info.value)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / "drafts" / name
    path.write_text(text, encoding="utf-8")
    return path


def _edit_platforms(folder: Path, old: str, new: str) -> None:
    path = folder / "platforms.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- the shipped files ---------------------------------------------------------------------------


def test_shipped_templates_and_platforms_load(app):
    """The files the city ships give a Japanese template for every draft type and English for takedowns."""
    wording = load_wording(Path(app.config["PLAYBOOK_DIR"]))
    assert set(DRAFT_TYPES) == {t.value for t in DraftType}
    for draft_type in DRAFT_TYPES:
        assert wording.template(draft_type, None, "ja") is not None, draft_type
        assert wording.languages(draft_type)[0] == "ja"
    assert wording.template("takedown", None, "en") is not None
    assert wording.languages("takedown") == ["ja", "en"]
    assert set(wording.platforms) == set(PLATFORMS)


def test_shipped_platform_facts_follow_domain_notes(app):
    """platforms.toml: designated platforms owe an answer in about 7 days; every ask is a known one."""
    facts = load_platforms(Path(app.config["PLAYBOOK_DIR"]) / "platforms.toml")
    for key in ("x", "facebook", "instagram", "line", "youtube", "tiktok"):
        assert facts[key].designated and facts[key].answer_days == 7, key
    assert not facts["other"].designated
    assert all(set(f.asks) <= set(ASKS) and f.asks for f in facts.values())
    assert "genuine_url" in facts["youtube"].asks and "fake_url" in facts["youtube"].asks


def test_the_app_uses_the_loaded_wording(app):
    """Start-up keeps the checked wording on the app for the draft service."""
    assert set(app.extensions["wording"].platforms) == set(PLATFORMS)


def test_an_edited_template_changes_the_next_draft(app, folder, make):
    """The PR office changes wording in the file; new drafts use it without any code change."""
    path = folder / "drafts" / "interim_notice.ja.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n秘書広報課が追記した一文。\n", encoding="utf-8")
    app.extensions["wording"] = load_wording(folder)
    from incident.drafts import service

    responder = make.user()
    case = make.case(responder)
    draft = service.create_draft(responder, case, {"type": "interim_notice"})
    db.session.commit()
    assert "秘書広報課が追記した一文。" in draft.revisions[0].body


def test_a_platform_specific_takedown_template_wins_over_the_general_one(app, folder):
    """takedown.<platform>.<lang>.txt is used for that platform; other platforms keep the general one."""
    _write(folder, "takedown.x.ja.txt", "X 専用の削除依頼 {{ case.number }}\n")
    wording = load_wording(folder)
    assert wording.template("takedown", "x", "ja").render(
        {"case": type("C", (), {"number": "2026-0001"})()}).startswith("X 専用の削除依頼 2026-0001")
    assert wording.template("takedown", "facebook", "ja") is wording.template("takedown", None, "ja")


# --- broken templates ----------------------------------------------------------------------------


def test_syntax_error_names_file_and_line(folder):
    """A typo in Jinja syntax stops loading with the file and the line of the mistake."""
    _write(folder, "interim_notice.ja.txt", "一行目\n二行目\n{{ case.title }\n四行目\n")
    message = _error(folder)
    assert "interim_notice.ja.txt:3:" in message


def test_unknown_variable_names_file_line_and_variable(folder):
    """A name the app never provides ({{ secret }}) is refused, naming file, line and the name."""
    _write(folder, "press.ja.txt", "{{ today.reiwa }}\n報道機関各位\n{{ secret }}\n")
    message = _error(folder)
    assert "press.ja.txt:3:" in message
    assert "secret" in message


def test_unknown_variable_in_a_branch_the_samples_never_take_is_refused(folder):
    """Names are checked in the whole file, not only in the parts a sample case happens to render."""
    _write(folder, "press.ja.txt", "報道機関各位\n{% if case.kind == 'no_such_kind' %}\n{{ secret }}\n{% endif %}\n")
    message = _error(folder)
    assert "press.ja.txt:3:" in message and "secret" in message and "unknown variable" in message


def test_unknown_attribute_is_refused(folder):
    """{{ case.nope }} is not silently blank: the template is refused at load time."""
    _write(folder, "correct_info.ja.txt", "正しい情報\n{{ case.nope }}\n")
    message = _error(folder)
    assert "correct_info.ja.txt" in message
    assert "nope" in message


@pytest.mark.parametrize("expression", [
    "{{ case.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ case.title.__class__.__mro__[1].__subclasses__() }}",
    "{{ case.title|attr('__class__') }}",
    "{{ lipsum.__globals__ }}",
])
def test_sandbox_escape_is_refused(folder, expression):
    """A template cannot reach Python internals (the sandbox refuses, and the file is named)."""
    _write(folder, "final_notice.ja.txt", f"お知らせ\n{expression}\n")
    message = _error(folder)
    assert "final_notice.ja.txt" in message
    assert "unsafe" in message or "undefined" in message.lower()


@pytest.mark.parametrize("name", [
    "notice.ja.txt",            # not a draft type
    "press.fr.txt",             # not a language the app has
    "press.x.ja.txt",           # only takedowns are per platform
    "takedown.myspace.ja.txt",  # not a platform
    "Takedown.ja.txt",          # names are lower case
    "takedown.ja.en.txt",
])
def test_bad_file_name_is_refused(folder, name):
    """A file the app would never use is a mistake, not something to ignore."""
    _write(folder, name, "本文\n")
    message = _error(folder)
    assert name in message


def test_missing_japanese_template_is_refused(folder):
    """Every type needs its Japanese template; the message names the missing type."""
    (folder / "drafts" / "press.ja.txt").unlink()
    message = _error(folder)
    assert "press" in message


def test_error_in_the_english_takedown_names_that_file(folder):
    """The English takedown is checked like the Japanese ones."""
    path = folder / "drafts" / "takedown.en.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("{{ today.en }}", "{{ today.english }}"),
                    encoding="utf-8")
    message = _error(folder)
    assert "takedown.en.txt" in message and "english" in message


def test_typo_in_a_kind_specific_branch_is_refused_at_start_up(folder):
    """citizen_warning.ja.txt has an account-takeover branch; a typo there must stop start-up too."""
    path = folder / "drafts" / "citizen_warning.ja.txt"
    text = path.read_text(encoding="utf-8")
    assert "case.kind == 'account_takeover'" in text and "{{ case.detected_ja }}" in text
    path.write_text(text.replace("{{ case.detected_ja }}", "{{ case.detected_jaa }}"), encoding="utf-8")
    message = _error(folder)
    assert "citizen_warning.ja.txt" in message and "detected_jaa" in message


# --- broken platforms.toml ------------------------------------------------------------------------


def test_platforms_missing_a_platform_is_refused(folder):
    """Every platform the app knows needs its table."""
    path = folder / "platforms.toml"
    text = path.read_text(encoding="utf-8")
    cut = re.sub(r"\n\[line\]\n.*?(?=\n\[youtube\]\n)", "\n", text, flags=re.S)
    assert "\n[line]\n" in text and "\n[line]\n" not in cut
    path.write_text(cut, encoding="utf-8")
    message = _error(folder)
    assert "platforms.toml" in message and "[line]" in message


def test_platforms_unknown_asks_value_is_refused(folder):
    """`asks` only takes the words the takedown checklist understands."""
    _edit_platforms(folder, 'asks = ["fake_url", "genuine_url", "description"]',
                    'asks = ["fake_url", "genuine_url", "passport"]')
    message = _error(folder)
    assert "platforms.toml" in message and "[youtube]" in message and "passport" in message


@pytest.mark.parametrize(("old", "new", "key"), [
    ("answer_days = 7", 'answer_days = "7"', "answer_days"),
    ("answer_days = 7", "answer_days = true", "answer_days"),
    ("designated = true", 'designated = "yes"', "designated"),
    ('name = "X"', "name = 1", "name"),
    ('asks = ["reporter", "authority_proof", "fake_handle", "fake_url", "description"]', 'asks = "reporter"', "asks"),
])
def test_platforms_wrong_type_is_refused(folder, old, new, key):
    """A value of the wrong type (text for a number, a number for text) is refused, naming the key."""
    _edit_platforms(folder, old, new)
    message = _error(folder)
    assert "platforms.toml" in message and key in message


def test_platforms_unknown_key_or_table_is_refused(folder):
    """A misspelt key or an extra platform table is refused rather than ignored."""
    _edit_platforms(folder, "answer_days = 7", "answer_days = 7\nanswer_dayz = 7")
    assert "answer_dayz" in _error(folder)


def test_platforms_extra_table_is_refused(folder):
    """A platform the app does not know ([myspace]) is refused."""
    path = folder / "platforms.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\n[myspace]\nname = "MySpace"\n', encoding="utf-8")
    assert "myspace" in _error(folder)


def test_platforms_toml_syntax_error_is_refused(folder):
    """A TOML syntax error names platforms.toml."""
    _edit_platforms(folder, 'name = "X"', 'name = "X')
    assert "platforms.toml" in _error(folder)


# --- start-up and the check command ------------------------------------------------------------------


def test_app_refuses_to_start_with_a_broken_template(folder, tmp_path, monkeypatch):
    """INCIDENT_PLAYBOOK_DIR pointing at a broken copy: create_app stops, naming the file."""
    _write(folder, "interim_notice.ja.txt", "一行目\n{{ secret }}\n")
    monkeypatch.setattr(sys, "argv", ["flask", "run"])
    monkeypatch.setenv("INCIDENT_PLAYBOOK_DIR", str(folder))
    monkeypatch.setenv("INCIDENT_SECRET_KEY", "from-env")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/broken.db")
    with pytest.raises(WordingError) as info:
        create_app()
    assert "interim_notice.ja.txt:2:" in str(info.value) and "secret" in str(info.value)


def test_app_refuses_to_start_with_broken_platforms(folder, tmp_path, monkeypatch):
    """The same for platforms.toml (through the test configuration)."""
    _edit_platforms(folder, "answer_days = 7", 'answer_days = "seven"')
    monkeypatch.setattr(sys, "argv", ["flask", "run"])
    with pytest.raises(WordingError) as info:
        create_app({"TESTING": True, "SECRET_KEY": "x", "PLAYBOOK_DIR": str(folder),
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/broken.db"})
    assert "platforms.toml" in str(info.value)


def test_app_starts_with_a_valid_copy(folder, tmp_path, monkeypatch):
    """Control for the two tests above: the unbroken copy starts."""
    monkeypatch.setattr(sys, "argv", ["flask", "run"])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "PLAYBOOK_DIR": str(folder),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/ok.db"})
    assert app.extensions["wording"].template("press", None, "ja") is not None


def test_check_command_reports_the_broken_template(runner, folder):
    """`flask playbooks check --dir` prints the problem with the file name and fails."""
    _write(folder, "correction.ja.txt", "訂正\n\n{% if corrects %}\n{{ corrects.target }\n{% endif %}\n")
    result = runner.invoke(args=["playbooks", "check", "--dir", str(folder)])
    assert result.exit_code != 0
    assert "correction.ja.txt:4" in result.output


def test_check_command_passes_the_shipped_files(runner, app):
    """The shipped folder checks clean and the command says how many templates it loaded."""
    result = runner.invoke(args=["playbooks", "check"])
    assert result.exit_code == 0, result.output
    assert "drafts/:" in result.output and "platforms.toml: 7 platforms" in result.output


def test_every_kind_has_a_playbook_that_asks_only_for_known_draft_types(app):
    """Playbook draft steps name draft types that have templates (the two files agree)."""
    wording = app.extensions["wording"]
    playbooks = app.extensions["playbooks"]
    assert set(playbooks) == set(KINDS)
    for playbook in playbooks.values():
        for step in playbook.steps:
            if step.type == "draft":
                assert wording.template(step.draft_type, None, "ja") is not None, step.key
