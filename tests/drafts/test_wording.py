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
from incident.drafts import service
from incident.drafts.length import weighted_length
from incident.drafts.models import DraftType
from incident.drafts.wording import (
    ASKS,
    NOTICE_TYPES,
    PLATFORMS,
    WordingError,
    load_platforms,
    load_wording,
    sample_context,
)
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
    text = path.read_text(encoding="utf-8")
    assert "{{ today.date }}" in text
    path.write_text(text.replace("{{ today.date }}", "{{ today.english }}"), encoding="utf-8")
    message = _error(folder)
    assert "takedown.en.txt" in message and "english" in message


def test_typo_in_a_kind_specific_branch_is_refused_at_start_up(folder):
    """citizen_warning.ja.txt has an account-takeover branch; a typo there must stop start-up too."""
    path = folder / "drafts" / "citizen_warning.ja.txt"
    text = path.read_text(encoding="utf-8")
    assert "case.kind == 'account_takeover'" in text and "{{ case.first_seen_datetime }}" in text
    path.write_text(text.replace("{{ case.first_seen_datetime }}", "{{ case.first_seen_datetimee }}"), encoding="utf-8")
    message = _error(folder)
    assert "citizen_warning.ja.txt" in message and "first_seen_datetimee" in message


def test_typo_in_the_dormant_account_branch_is_refused_at_start_up(folder):
    """The takedown's branch for the city's own former account (dormant_account) is checked like the rest."""
    path = folder / "drafts" / "takedown.ja.txt"
    text = path.read_text(encoding="utf-8")
    assert "case.kind == 'dormant_account'" in text and "{{ account.closed_date }}" in text
    path.write_text(text.replace("{{ account.closed_date }}", "{{ account.closed_day }}"), encoding="utf-8")
    message = _error(folder)
    assert "takedown.ja.txt" in message and "closed_day" in message


# --- short renditions of the notices (<type>.short.<lang>.txt) ----------------------------------------------


def test_every_notice_ships_a_short_rendition_and_letters_none(app):
    """The five notices have a Japanese short template (for X and other short channels); takedowns, recovery
    requests and press releases are letters and have none; there is no English notice, so no English short."""
    wording = load_wording(Path(app.config["PLAYBOOK_DIR"]))
    assert set(NOTICE_TYPES) == {"interim_notice", "final_notice", "correction", "correct_info", "citizen_warning"}
    for draft_type in DRAFT_TYPES:
        assert (wording.short_template(draft_type, "ja") is not None) == (draft_type in NOTICE_TYPES), draft_type
        assert wording.short_template(draft_type, "en") is None
    assert wording.languages("citizen_warning") == ["ja"]  # a short template adds no language


@pytest.mark.parametrize("draft_type", ["interim_notice", "final_notice", "correction", "correct_info",
                                        "citizen_warning"])
@pytest.mark.parametrize("kind", KINDS)
def test_shipped_short_renditions_fit_x_for_every_kind_and_have_no_memo(app, draft_type, kind):
    """Rendered with the made-up case, full or sparse, each short text fits X's 280 and names where the details
    are (the link, else the city website); its file has no ※ staff memo."""
    wording = load_wording(Path(app.config["PLAYBOOK_DIR"]))
    template = wording.short_template(draft_type, "ja")
    for full in (True, False):
        context = sample_context(full, draft_type, kind)
        text = template.render(context)
        assert weighted_length(text) <= 280, (full, text)
        assert (context["link"] or context["city"].website) in text
    source = Path(template.filename).read_text(encoding="utf-8")
    assert not re.search(r"^[ \u3000]*※", source, flags=re.M)


def test_syntax_error_in_a_short_template_names_it(folder):
    _write(folder, "citizen_warning.short.ja.txt", "【ご注意】\n{% if link %}\n{{ link }\n{% endif %}\n")
    assert "citizen_warning.short.ja.txt:3:" in _error(folder)


def test_unknown_variable_in_a_short_template_names_it(folder):
    _write(folder, "interim_notice.short.ja.txt", "【お知らせ】\n{{ secret }}\n")
    message = _error(folder)
    assert "interim_notice.short.ja.txt:2:" in message and "secret" in message


def test_a_short_template_failing_on_a_sparse_case_names_it(folder):
    """account is None for a case without an official account: an unguarded account.handle stops start-up."""
    _write(folder, "correction.short.ja.txt", "【訂正】\n{{ account.handle }}\n")
    message = _error(folder)
    assert "correction.short.ja.txt" in message and "handle" in message


def test_typo_in_a_kind_branch_of_a_short_template_is_refused(folder):
    path = folder / "drafts" / "citizen_warning.short.ja.txt"
    text = path.read_text(encoding="utf-8")
    assert "case.kind == 'dormant_account'" in text and "account.closed_date" in text
    path.write_text(text.replace("account.closed_date", "account.closed_day"), encoding="utf-8")
    message = _error(folder)
    assert "citizen_warning.short.ja.txt" in message and "closed_day" in message


@pytest.mark.parametrize("name", ["takedown.short.ja.txt", "press.short.ja.txt", "recovery.short.en.txt",
                                  "notice.short.ja.txt", "correction.short.fr.txt", "correction.shorter.ja.txt"])
def test_a_short_template_for_a_letter_or_an_unknown_type_is_refused(folder, name):
    """Letters go out whole (a form or paper): a short rendition of one is a mistake, named."""
    _write(folder, name, "本文\n")
    assert name in _error(folder)


def test_a_short_template_without_its_long_one_is_refused(folder):
    """No English notice exists: an English short rendition would be an orphan, named with the file it needs."""
    _write(folder, "interim_notice.short.en.txt", "Notice\n{{ link or city.website }}\n")
    message = _error(folder)
    assert "interim_notice.short.en.txt" in message and "interim_notice.en.txt" in message
    _write(folder, "interim_notice.en.txt", "Notice about the matter\n")  # with its long one, it loads
    wording = load_wording(folder)
    assert wording.short_template("interim_notice", "en") is not None
    assert wording.languages("interim_notice") == ["ja", "en"]


def test_an_edited_short_template_changes_the_next_notice(app, folder, make):
    """The PR office edits the short wording; the next notice generated for X uses it (not a cached copy)."""
    path = folder / "drafts" / "interim_notice.short.ja.txt"
    path.write_text(path.read_text(encoding="utf-8") + "秘書広報課が追記した短い一文。\n", encoding="utf-8")
    app.extensions["wording"] = load_wording(folder)
    responder = make.user()
    account = make.account(responder.department, platform="x", url="https://x.com/ishinomaki_city")
    case = make.case(responder, official_account_id=account.id)
    draft = service.create_draft(responder, case, {"type": "interim_notice"})
    db.session.commit()
    assert draft.channel == "x" and "秘書広報課が追記した短い一文。" in draft.revisions[0].body
    assert "秘書広報課が追記した短い一文。" not in draft.revisions[0].web_body


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


# --- drafts/types.toml (how each type writes dates) ------------------------------------------------------


def _edit_types(folder: Path, old: str, new: str) -> None:
    path = folder / "drafts" / "types.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_date_styles_date_letters_by_era_and_posts_by_the_western_calendar(app):
    """Takedowns, recovery requests and press notices are formal letters (令和); the notices are posts."""
    wording = load_wording(Path(app.config["PLAYBOOK_DIR"]))
    assert set(wording.types) == set(DRAFT_TYPES)
    assert {t for t in DRAFT_TYPES if wording.date_style(t) == "reiwa"} == {"takedown", "recovery", "press"}
    assert {wording.date_style(t) for t in ("interim_notice", "final_notice", "correction", "correct_info",
                                            "citizen_warning")} == {"western"}


PRESS_TABLE = '[press]           # 報道機関への情報提供\ndate_style = "reiwa"'


@pytest.mark.parametrize(("old", "new", "expected"), [
    (PRESS_TABLE, '[press]\ndate_style = "showa"', "[press] date_style"),
    (PRESS_TABLE, "[press]\ndate_style = 1", "[press] date_style"),
    (PRESS_TABLE, '[press]\ndate_styl = "reiwa"', "date_styl"),
    (PRESS_TABLE, "", "[press]"),
    ("[press]", "[pres]", "pres"),
    ('date_style = "reiwa"', 'date_style = "reiwa', "types.toml"),
])
def test_broken_types_toml_is_refused(folder, old, new, expected):
    """A wrong value, a misspelt key, a missing or unknown type, or bad TOML stops start-up naming the file."""
    _edit_types(folder, old, new)
    message = _error(folder)
    assert "types.toml" in message and expected in message


def test_missing_types_toml_is_refused(folder):
    (folder / "drafts" / "types.toml").unlink()
    message = _error(folder)
    assert "types.toml" in message and "missing" in message


def test_an_edited_types_toml_is_not_served_from_the_cache(app, folder):
    """The loader's cache is keyed by every file it reads, types.toml included."""
    assert load_wording(folder).date_style("press") == "reiwa"
    _edit_types(folder, PRESS_TABLE, '[press]\ndate_style = "western"')
    assert load_wording(folder).date_style("press") == "western"


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
