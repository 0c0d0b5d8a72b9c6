"""The playbook loader (no app needed) and clause tests on the real playbook files.

Error tests: every mistake the loader detects yields a message naming the file, the line of the
step's [[steps]] header and the step. Clause tests: the real content follows the guideline
(石巻市ソーシャルメディアガイドライン), section by section.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from incident.playbooks.loader import (
    DRAFT_TYPES,
    KINDS,
    Playbook,
    PlaybookError,
    Step,
    load_all,
    load_playbook,
    parse_playbook,
)

PLAYBOOK_DIR = Path(__file__).resolve().parents[2] / "playbooks"


# --- a small valid playbook to break in one place at a time ---------------------------------------

VALID = '''\
kind = "flaming"
title_ja = "炎上"
title_en = "Flaming"
clause = "3(4)ア"

[[steps]]
key = "consult"
title_ja = "相談する"
title_en = "Consult"
clause = "3(4)※"
type = "approval"
actor = "supervisor"
completes_on = "supervisor_acknowledgement"
due_minutes = { critical = 5, high = 15, medium = 30, low = 60 }

[[steps]]
key = "wrong"
title_ja = "誤りがあったか"
title_en = "Was it wrong?"
clause = "3(4)ア(イ)"
type = "decision"

[[steps]]
key = "fix"
title_ja = "訂正する"
title_en = "Correct it"
clause = "3(4)ア(イ)"
type = "draft"
draft_type = "correction"
when = { step = "wrong", answer = true }
'''
# Line numbers of the [[steps]] headers above.
CONSULT_LINE, WRONG_LINE, FIX_LINE = 6, 16, 23


def _error(text: str, name: str = "flaming.toml") -> str:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, name)
    return str(info.value)


def _replace(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_the_sample_is_valid_and_headers_are_where_the_tests_say() -> None:
    playbook = parse_playbook(VALID, "flaming.toml")
    assert [s.key for s in playbook.steps] == ["consult", "wrong", "fix"]
    lines = VALID.splitlines()
    assert [lines[n - 1] for n in (CONSULT_LINE, WRONG_LINE, FIX_LINE)] == ["[[steps]]"] * 3
    assert playbook.step("fix").when.step == "wrong"
    assert playbook.step("consult").due_minutes == {"critical": 5, "high": 15, "medium": 30, "low": 60}


def test_unknown_key_names_file_and_line() -> None:
    message = _error(_replace('type = "decision"', 'type = "decision"\nansewr = true'))
    assert message.startswith(f"flaming.toml:{WRONG_LINE}")
    assert "unknown key ansewr" in message


def test_unknown_key_also_names_the_step_key() -> None:
    message = _error(_replace('type = "decision"', 'type = "decision"\nansewr = true'))
    assert "'wrong'" in message


def test_unknown_top_level_key_names_file() -> None:
    message = _error(_replace('clause = "3(4)ア"\n', 'clause = "3(4)ア"\nversion = 2\n'))
    assert message.startswith("flaming.toml:")
    assert "unknown key version" in message


def test_when_naming_unknown_step() -> None:
    message = _error(_replace('when = { step = "wrong"', 'when = { step = "worng"'))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "unknown step 'worng'" in message


def test_missing_japanese_title() -> None:
    message = _error(_replace('title_ja = "訂正する"\n', ""))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "'title_ja' is missing" in message


def test_empty_japanese_title() -> None:
    message = _error(_replace('title_ja = "訂正する"', 'title_ja = "  "'))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "'title_ja' is empty" in message


def test_guidance_ja_without_guidance_en() -> None:
    message = _error(_replace('title_en = "Correct it"', 'title_en = "Correct it"\nguidance_ja = "訂正します。"'))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "'guidance_en' is missing" in message


def test_condition_on_a_step_that_is_not_a_decision() -> None:
    message = _error(_replace('when = { step = "wrong"', 'when = { step = "consult"'))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "'consult', which is not a decision" in message


def test_malformed_condition() -> None:
    message = _error(_replace("answer = true }", 'answer = "yes" }'))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "'when' must be" in message


def test_cycle_of_conditions() -> None:
    text = _replace('title_ja = "誤りがあったか"',
                    'title_ja = "誤りがあったか"\nwhen = { step = "again", answer = true }')
    text += '''
[[steps]]
key = "again"
title_ja = "もう一度判断する"
title_en = "Decide again"
clause = "3(4)ア"
type = "decision"
when = { step = "wrong", answer = false }
'''
    message = _error(text)
    assert message.startswith(f"flaming.toml:{WRONG_LINE} step 'wrong'")
    assert "cycle" in message and "wrong → again → wrong" in message


def test_duplicate_key() -> None:
    message = _error(_replace('key = "fix"', 'key = "wrong"'))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'wrong'")
    assert f"duplicate key (first at flaming.toml:{WRONG_LINE} step 'wrong')" in message


def test_draft_step_without_draft_type() -> None:
    message = _error(_replace('draft_type = "correction"\n', ""))
    assert message.startswith(f"flaming.toml:{FIX_LINE} step 'fix'")
    assert "needs 'draft_type'" in message


def test_draft_type_on_a_step_that_is_not_a_draft() -> None:
    message = _error(_replace('type = "decision"', 'type = "decision"\ndraft_type = "press"'))
    assert message.startswith(f"flaming.toml:{WRONG_LINE} step 'wrong'")
    assert "only for draft steps" in message


@pytest.mark.parametrize("due, expected", [
    ("{ critical = 5, high = 15, medium = 30 }", "lacks ['low']"),
    ("{ critical = 5, high = 15, medium = 30, low = 60, urgent = 5 }", "unknown severity ['urgent']"),
    ("{ critical = 5, high = 0, medium = 30, low = 60 }", "'due_minutes.high' must be a positive whole number"),
    ("{ critical = 0, high = 15, medium = 30, low = 60 }", "'due_minutes.critical' must be a positive whole number"),
    ("{ critical = 5, high = 15, medium = 30.5, low = 60 }", "'due_minutes.medium' must be a positive whole number"),
    ("{ critical = 5, high = 15, medium = 30, low = true }", "'due_minutes.low' must be a positive whole number"),
    ('"soon"', "must be a number or a table"),
])
def test_bad_due_minutes(due: str, expected: str) -> None:
    message = _error(_replace("due_minutes = { critical = 5, high = 15, medium = 30, low = 60 }",
                              f"due_minutes = {due}"))
    assert message.startswith(f"flaming.toml:{CONSULT_LINE} step 'consult'")
    assert expected in message


def test_a_table_without_critical_is_refused() -> None:
    """Every severity needs its deadline: a table written before 緊急 existed names the missing one."""
    message = _error(_replace("due_minutes = { critical = 5, high = 15, medium = 30, low = 60 }",
                              "due_minutes = { high = 15, medium = 30, low = 60 }"))
    assert message.startswith(f"flaming.toml:{CONSULT_LINE} step 'consult'")
    assert "'due_minutes' lacks ['critical']" in message


def test_due_minutes_as_one_number_applies_to_every_severity() -> None:
    playbook = parse_playbook(_replace("due_minutes = { critical = 5, high = 15, medium = 30, low = 60 }",
                                       "due_minutes = 45"), "flaming.toml")
    assert playbook.step("consult").due_minutes == {"critical": 45, "high": 45, "medium": 45, "low": 45}


@pytest.mark.parametrize("old, new, field", [
    ('type = "decision"', 'type = "todo"', "type"),
    ('type = "decision"', 'type = "decision"\nactor = "mayor"', "actor"),
    ('type = "decision"', 'type = "decision"\ninput = "photo"', "input"),
    ('type = "decision"', 'type = "decision"\ncompletes_on = "noon"', "completes_on"),
])
def test_values_outside_the_allowed_lists(old: str, new: str, field: str) -> None:
    message = _error(_replace(old, new))
    assert message.startswith(f"flaming.toml:{WRONG_LINE} step 'wrong'")
    assert f"'{field}' must be one of" in message


def test_missing_type() -> None:
    message = _error(_replace('type = "decision"\n', ""))
    assert message.startswith(f"flaming.toml:{WRONG_LINE} step 'wrong'")
    assert "'type' is missing" in message


def test_bad_key_format() -> None:
    message = _error(_replace('key = "fix"', 'key = "Fix-It"'))
    assert message.startswith(f"flaming.toml:{FIX_LINE}")
    assert "'Fix-It'" in message


def test_required_must_be_boolean() -> None:
    message = _error(_replace('type = "decision"', 'type = "decision"\nrequired = "yes"'))
    assert message.startswith(f"flaming.toml:{WRONG_LINE} step 'wrong'")
    assert "'required' must be true or false" in message


def test_kind_not_matching_file_name() -> None:
    message = _error(VALID, "impersonation.toml")
    assert message.startswith("impersonation.toml:")
    assert "'flaming'" in message and "'impersonation'" in message


def test_invalid_toml_names_file_and_line() -> None:
    message = _error(_replace('type = "decision"', "type = decision"))
    assert message.startswith("flaming.toml: not valid TOML")
    assert f"line {WRONG_LINE + 5}" in message


def test_no_steps() -> None:
    message = _error(VALID.split("[[steps]]")[0])
    assert message.startswith("flaming.toml:") and "no [[steps]]" in message


def test_load_playbook_uses_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "flaming.toml"
    path.write_text(_replace('draft_type = "correction"\n', ""), encoding="utf-8")
    with pytest.raises(PlaybookError, match=rf"^flaming\.toml:{FIX_LINE} step 'fix'"):
        load_playbook(path)


def test_load_all_requires_every_kind(tmp_path: Path) -> None:
    (tmp_path / "flaming.toml").write_text(VALID, encoding="utf-8")
    with pytest.raises(PlaybookError, match="no playbook for impersonation, false_information, account_takeover"):
        load_all(tmp_path)


def test_version_is_the_content_hash() -> None:
    first = parse_playbook(VALID, "flaming.toml")
    assert parse_playbook(VALID, "flaming.toml").version == first.version
    assert len(first.version) == 64
    edited = parse_playbook(VALID + "# a comment\n", "flaming.toml")
    assert edited.version != first.version


# --- the real playbook files --------------------------------------------------------------------

@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    return load_all(PLAYBOOK_DIR)


def _only(playbook: Playbook, **attrs: object) -> Step:
    found = [s for s in playbook.steps if all(getattr(s, k) == v for k, v in attrs.items())]
    assert len(found) == 1, (playbook.kind, attrs, [s.key for s in found])
    return found[0]


def test_the_four_real_files_load(playbooks: dict[str, Playbook]) -> None:
    assert set(playbooks) == set(KINDS)
    for kind, playbook in playbooks.items():
        assert playbook.path == f"{kind}.toml"
        assert playbook.title_ja and playbook.title_en and playbook.clause
        assert len(playbook.steps) >= 5


def test_every_step_is_bilingual_and_cites_a_clause(playbooks: dict[str, Playbook]) -> None:
    for playbook in playbooks.values():
        for step in playbook.steps:
            where = f"{playbook.path} {step.key}"
            assert step.title_ja and step.title_en, where
            assert step.guidance_ja and step.guidance_en, where
            assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", step.guidance_ja), where
            assert re.match(r"^\d(\(\d\))?", step.clause), where
            # The OCR of the guideline reads (ア)/(イ) as (7)/(4); the files must not copy that.
            assert not re.search(r"[アイウ]\([74]\)|\d\(\d\)[アイウ]?\([74]\)", step.clause), where


def test_decisions_come_before_the_steps_that_depend_on_them(playbooks: dict[str, Playbook]) -> None:
    # The loader accepts a forward reference, but such a step would wait for ever on the checklist.
    for playbook in playbooks.values():
        seen: set[str] = set()
        for step in playbook.steps:
            if step.when is not None:
                assert step.when.step in seen, f"{playbook.path} {step.key}"
            seen.add(step.key)


def test_every_playbook_starts_with_consulting_the_supervisor(playbooks: dict[str, Playbook]) -> None:
    """3(4) ※: never handle trouble alone; a supervisor's acknowledgement completes the step."""
    for playbook in playbooks.values():
        consult = _only(playbook, completes_on="supervisor_acknowledgement")
        assert playbook.steps[0] is consult
        assert consult.type == "approval" and consult.actor == "supervisor"
        assert consult.required and consult.when is None
        assert consult.clause == "3(4)※"
        assert consult.due_minutes is not None, playbook.path
        # Critical (緊急): the supervisor hears of it within minutes, not a quarter of an hour.
        assert 5 <= consult.due_minutes["critical"] <= 10, playbook.path
        assert {k: v for k, v in consult.due_minutes.items() if k != "critical"} == {"high": 15, "medium": 30, "low": 60}


def test_every_playbook_records_evidence(playbooks: dict[str, Playbook]) -> None:
    for playbook in playbooks.values():
        evidence = [s for s in playbook.steps if s.type == "check" and s.required and s.when is None
                    and (s.key == "record_evidence" or s.input == "fake_account")]
        assert evidence, playbook.path


def test_every_playbook_ends_with_a_required_review(playbooks: dict[str, Playbook]) -> None:
    for playbook in playbooks.values():
        review = playbook.steps[-1]
        assert review.key == "closing_review"
        assert review.type == "check" and review.required and review.when is None
        for word in ("何が起きたか", "何をしたか", "何を変えるか"):
            assert word in review.guidance_ja, playbook.path
        for word in ("What happened", "What was done", "What to change"):
            assert word in review.guidance_en, playbook.path


def test_every_draft_states_the_posting_rules(playbooks: dict[str, Playbook]) -> None:
    """3(1)イ(ウ): supervisor approval or the pre-approved scope (a)(b)(c), a second check; section 4."""
    for playbook in playbooks.values():
        drafts = [s for s in playbook.steps if s.type == "draft"]
        assert drafts, playbook.path
        for step in drafts:
            where = f"{playbook.path} {step.key}"
            assert step.draft_type in DRAFT_TYPES
            assert "3(1)イ(ウ)" in step.guidance_ja and "3(1)イ(ウ)" in step.guidance_en, where
            assert "所属長の了承" in step.guidance_ja and "supervisor's approval" in step.guidance_en, where
            assert "4(4)" in step.guidance_ja and "4(6)" in step.guidance_ja, where
            assert "section 4" in step.guidance_en, where
            for marker in ("(a)", "(b)", "(c)"):
                assert marker in step.guidance_ja and marker in step.guidance_en, (where, marker)
            assert "複数の担当者" in step.guidance_ja and "second person" in step.guidance_en, where


def test_due_minutes_grow_with_lower_severity(playbooks: dict[str, Playbook]) -> None:
    for playbook in playbooks.values():
        for step in playbook.steps:
            if step.due_minutes:
                due = step.due_minutes
                assert due["critical"] <= due["high"] <= due["medium"] <= due["low"], f"{playbook.path} {step.key}"


# flaming — 3(4)ア

def test_flaming_reminds_to_stay_calm(playbooks: dict[str, Playbook]) -> None:
    step = playbooks["flaming"].step("stay_calm")
    assert step is not None and step.clause == "3(4)ア(ア)" and step.required
    assert "4(7)" in step.guidance_ja and "反論" in step.guidance_ja


def test_flaming_correction_depends_on_did_city_post_wrong(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["flaming"]
    decision = playbook.step("did_city_post_wrong")
    assert decision is not None and decision.type == "decision" and decision.clause == "3(4)ア(イ)"
    correction = _only(playbook, draft_type="correction")
    assert correction.required and correction.when is not None
    assert (correction.when.step, correction.when.answer) == ("did_city_post_wrong", True)
    assert correction.clause == "3(4)ア(イ)"


def test_flaming_keeps_the_original_post(playbooks: dict[str, Playbook]) -> None:
    """3(4)ア(イ): a wrong post is corrected, not deleted; recording a deletion is flagged."""
    keep = _only(playbooks["flaming"], input="deletion_record")
    assert keep.type == "check" and keep.required and keep.clause == "3(4)ア(イ)"
    assert keep.when is not None and (keep.when.step, keep.when.answer) == ("did_city_post_wrong", True)
    assert "削除せず" in keep.guidance_ja and "所属長が理由" in keep.guidance_ja
    assert "flagged" in keep.guidance_en and "supervisor" in keep.guidance_en


def test_flaming_interim_and_final_notices_depend_on_response_takes_time(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["flaming"]
    decision = playbook.step("response_takes_time")
    assert decision is not None and decision.type == "decision" and decision.clause == "3(4)ア(ウ)"
    for draft_type in ("interim_notice", "final_notice"):
        step = _only(playbook, draft_type=draft_type)
        assert step.required and step.clause == "3(4)ア(ウ)"
        assert step.when is not None and (step.when.step, step.when.answer) == ("response_takes_time", True)
    keys = [s.key for s in playbook.steps]
    assert keys.index(_only(playbook, draft_type="interim_notice").key) < keys.index(
        _only(playbook, draft_type="final_notice").key)


# impersonation — 3(4)イ

def test_impersonation_records_the_fake_and_the_genuine_account(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["impersonation"]
    fake = _only(playbook, input="fake_account")
    assert fake.type == "check" and fake.required
    for word in ("サービス名", "URL", "表示名", "最初に確認した日時"):
        assert word in fake.guidance_ja
    genuine = playbook.step("link_genuine_account")
    assert genuine is not None and genuine.required and genuine.input == "url"


def test_impersonation_takedown_and_follow_up(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["impersonation"]
    takedown = _only(playbook, draft_type="takedown")
    assert takedown.required and takedown.when is None and takedown.clause == "3(4)イ(ア)"
    follow_up = playbook.step("follow_up_takedown")
    assert follow_up is not None and follow_up.type == "check" and follow_up.required
    assert "情報流通プラットフォーム対処法" in follow_up.guidance_ja and "7日" in follow_up.guidance_ja
    assert "7 days" in follow_up.guidance_en
    monitor = playbook.step("monitor_until_removed")
    assert monitor is not None and monitor.type == "check" and monitor.required


def test_impersonation_press_decision_is_the_supervisors(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["impersonation"]
    decision = playbook.step("notify_press")
    assert decision is not None and decision.type == "decision" and decision.actor == "supervisor"
    assert decision.clause == "3(4)イ(イ)"
    press = _only(playbook, draft_type="press")
    assert press.when is not None and (press.when.step, press.when.answer) == ("notify_press", True)
    assert press.clause == "3(4)イ(イ)"


def test_impersonation_warns_citizens_with_what_real_notices_contain(playbooks: dict[str, Playbook]) -> None:
    warning = _only(playbooks["impersonation"], draft_type="citizen_warning")
    assert warning.required and warning.when is None
    for word in ("偽アカウントの名前と URL", "本物の公式アカウントの URL", "見分け方", "市が決してしないこと",
                 "してほしいこと", "問い合わせ先"):
        assert word in warning.guidance_ja, word


# false_information — 3(4)ウ

def test_false_information_correct_info_links_a_city_page(playbooks: dict[str, Playbook]) -> None:
    correct = _only(playbooks["false_information"], draft_type="correct_info")
    assert correct.input == "city_url" and correct.required and correct.when is None
    assert correct.clause == "3(4)ウ(ア)"


def test_false_information_deletion_only_when_malicious(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["false_information"]
    decision = playbook.step("is_malicious")
    assert decision is not None and decision.type == "decision" and decision.clause == "3(4)ウ(イ)"
    deletion = _only(playbook, input="prohibited_item")
    assert deletion.type == "approval" and deletion.actor == "supervisor"
    assert deletion.when is not None and (deletion.when.step, deletion.when.answer) == ("is_malicious", True)
    assert deletion.clause == "3(4)ウ(イ)"
    for number in range(1, 11):
        assert f"({number})" in deletion.guidance_ja and f"({number})" in deletion.guidance_en
    assert "誹謗中傷" in deletion.guidance_ja and "虚偽" in deletion.guidance_ja


# account_takeover — 3(2)ウ, 3(3)オ・カ

def test_account_takeover_regains_control_with_mfa(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["account_takeover"]
    regain = playbook.step("regain_control")
    assert regain is not None and regain.required and regain.clause == "3(3)オ"
    assert "パスワード" in regain.guidance_ja and "ログアウト" in regain.guidance_ja
    mfa = playbook.step("enable_mfa")
    assert mfa is not None and mfa.required and mfa.clause == "3(3)カ"
    assert "多要素認証" in mfa.guidance_ja
    report = playbook.step("report_to_platform")
    assert report is not None and report.required


def test_account_takeover_tells_followers_and_corrects_without_deleting(playbooks: dict[str, Playbook]) -> None:
    playbook = playbooks["account_takeover"]
    followers = _only(playbook, draft_type="citizen_warning")
    assert followers.required and followers.when is None
    decision = playbook.step("unauthorized_posts")
    assert decision is not None and decision.type == "decision"
    correction = _only(playbook, draft_type="correction")
    assert correction.when is not None and (correction.when.step, correction.when.answer) == ("unauthorized_posts", True)
    assert "黙って削除" in correction.guidance_ja and "silently" in correction.guidance_en


def test_account_takeover_notifies_the_pr_office(playbooks: dict[str, Playbook]) -> None:
    step = playbooks["account_takeover"].step("notify_pr_office")
    assert step is not None and step.required and step.clause == "3(2)イ"
    assert "様式2" in step.guidance_ja and "秘書広報課" in step.guidance_ja
    assert "3(2)ウ" in step.guidance_ja


def test_condition_on_a_later_decision_is_refused() -> None:
    """A step waiting on a decision further down would wait forever and never block closing."""
    text = _replace('title_ja = "誤りがあったか"',
                    'title_ja = "誤りがあったか"\nwhen = { step = "later", answer = true }')
    text += '''
[[steps]]
key = "later"
title_ja = "後の判断"
title_en = "A later decision"
clause = "3(4)ア"
type = "decision"
'''
    message = _error(text)
    assert message.startswith(f"flaming.toml:{WRONG_LINE} step 'wrong'")
    assert "comes later in the file" in message
