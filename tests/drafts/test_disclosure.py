"""Guideline 5: the checker for posts the city commissions from a third party, its page and its API."""
from __future__ import annotations

import pytest

from incident.drafts.disclosure import Problem, check_disclosure, check_with_config

TAGS = ["#プロモーション", "#PR", "#宣伝", "#広告"]
URL = "/tools/pr-disclosure"
API_URL = "/api/v1/pr-disclosure/check"


def codes(text: str, tags: list[str] = TAGS, city_tag: str = "#石巻市", city: str = "石巻市") -> list[str]:
    return [p.code for p in check_disclosure(text, tags, city_tag, city)]


@pytest.mark.parametrize("text", [
    "#PR #石巻市",
    "#広告 #石巻市 #グルメ",
    "＃ＰＲ　＃石巻市",  # full-width # and letters, full-width space
    "#pr #石巻市。",
    "秋の石巻をどうぞ！\n#プロモーション #石巻市 #旅行",
    "石巻市のプロモーションに参加しています。",
    "石巻市のPR案件としての投稿です。",
    "石巻市の広告制作を担当しています。",
    "【PR】石巻市",
    "【広告】石巻市",
    "石巻市のPR案件としての投稿です。 #石巻市 #グルメ",  # the city tag alone is just a place
])
def test_the_guidelines_right_examples_pass(text):
    assert check_disclosure(text, TAGS, "#石巻市", "石巻市") == []


@pytest.mark.parametrize(("text", "code", "token"), [
    ("#石巻市 #PR", "order_reversed", "#石巻市"),
    ("#石巻市PR", "glued", "#石巻市PR"),
    ("#PR石巻市", "glued", "#PR石巻市"),
    ("#グルメ #PR #石巻市", "not_first", "#グルメ"),
    ("#PR", "city_missing", "#PR"),
    ("#PR #グルメ #石巻市", "city_not_next", "#グルメ"),
])
def test_the_guidelines_wrong_examples_fail_with_their_own_reason(text, code, token):
    problems = check_disclosure(text, TAGS, "#石巻市", "石巻市")
    assert [(p.code, p.token) for p in problems] == [(code, token)]


def test_each_wrong_example_says_how_to_fix_it():
    def message(text: str) -> str:
        return str(check_disclosure(text, TAGS, "#石巻市", "石巻市")[0].message)

    assert "順番が逆" in message("#石巻市 #PR") and "「#PR #石巻市」" in message("#石巻市 #PR")
    assert "2 つのハッシュタグに分けて" in message("#石巻市PR") and "「#PR #石巻市」" in message("#PR石巻市")
    assert "先頭" in message("#グルメ #PR #石巻市") and "#グルメ" in message("#グルメ #PR #石巻市")
    assert "#石巻市" in message("#PR") and "情報元" in message("#PR")
    assert "直後" in message("#PR #グルメ #石巻市")
    missing = message("石巻市でランチ #グルメ")
    assert "#PR #石巻市" in missing and "石巻市のPR案件としての投稿です" in missing


@pytest.mark.parametrize("text", ["", "   ", "\n　\n"])
def test_empty_text(text):
    assert codes(text) == ["empty"]


@pytest.mark.parametrize("text", [
    "石巻市でランチ #グルメ",
    "#石巻市 #グルメ",
    "PR案件です。石巻市に行きました。",  # the relationship is not said of the city
    "石巻市 printer",  # "pr" inside an English word is not PR
    "#プロモ #石巻市",  # not a relationship tag
])
def test_no_disclosure_is_missing(text):
    assert codes(text) == ["missing"]


def test_a_glued_hashtag_is_not_read_as_a_sentence():
    assert codes("今日のランチ #石巻市PR") == ["glued"]


def test_a_sentence_does_not_excuse_a_wrong_hashtag():
    assert codes("石巻市のPR案件としての投稿です。 #石巻市 #PR") == ["order_reversed"]
    assert codes("【PR】石巻市 #PR石巻市") == ["glued"]


def test_problem_is_a_frozen_value():
    problem = check_disclosure("#PR", TAGS, "#石巻市", "石巻市")[0]
    assert isinstance(problem, Problem)
    with pytest.raises(AttributeError):
        problem.code = "x"  # type: ignore[misc]


def test_other_tags_and_city_are_honoured():
    assert codes("#PR #石巻市", city_tag="#東松島市", city="東松島市") == ["city_missing"]
    assert codes("#PR #東松島市", city_tag="#東松島市", city="東松島市") == []
    assert codes("東松島市のPR案件です", city_tag="#東松島市", city="東松島市") == []
    assert codes("#タイアップ #石巻市", tags=["タイアップ"]) == []  # '#' may be left out of the setting
    assert codes("#PR #石巻市", tags=["#タイアップ"]) == ["missing"]


def test_check_with_config_reads_the_settings(app):
    assert app.config["PR_RELATIONSHIP_TAGS"] == TAGS and app.config["PR_CITY_TAG"] == "#石巻市"
    assert check_with_config("#PR #石巻市") == []
    app.config.update(PR_CITY_TAG="#東松島市", CITY_NAME="東松島市")
    assert [p.code for p in check_with_config("#PR #石巻市")] == ["city_missing"]
    assert check_with_config("#PR #東松島市") == []
    assert check_with_config("東松島市の広告制作を担当しています。") == []
    # A non-JSON INCIDENT_PR_RELATIONSHIP_TAGS arrives as a string: one tag, not its letters.
    app.config["PR_RELATIONSHIP_TAGS"] = "#タイアップ"
    assert check_with_config("#タイアップ #東松島市") == []
    assert [p.code for p in check_with_config("#P #東松島市")] == ["missing"]


# --- the page ---------------------------------------------------------------------------------

def test_page_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post(URL, data={"text": "#PR #石巻市"}).status_code == 302


def test_page_shows_the_form_and_the_guidelines_examples(make, client, login):
    login(make.user())
    page = client.get(URL).text
    assert 'name="text"' in page and "明示の方法（ガイドライン 5）" in page
    assert "#PR #石巻市" in page and "石巻市のPR案件としての投稿です。" in page and "【広告】石巻市" in page
    assert "明示が不十分" not in page and "満たしています" not in page
    assert f'href="{URL}"' in client.get("/cases").text  # in the main menu


def test_page_shows_problems_for_a_wrong_text(make, client, login):
    login(make.user())
    page = client.post(URL, data={"text": "春の石巻 #石巻市 #PR"}).text
    assert "明示が不十分" in page and 'data-code="order_reversed"' in page and "順番が逆" in page
    assert "満たしています" not in page


def test_page_shows_ok_for_a_right_text(make, client, login):
    login(make.user())
    page = client.post(URL, data={"text": "春の石巻 #PR #石巻市 #桜"}).text
    assert "ガイドライン 5 の明示方法を満たしています。" in page and "明示が不十分" not in page


def test_page_escapes_the_quoted_hashtag(make, client, login):
    login(make.user())
    page = client.post(URL, data={"text": "#<i>x #PR #石巻市"}).text
    assert 'data-code="not_first"' in page
    assert "&lt;i&gt;x" in page and "<i>x" not in page


def test_page_honours_the_configured_city(app, make, client, login):
    login(make.user())
    app.config.update(PR_CITY_TAG="#東松島市", CITY_NAME="東松島市")
    assert "満たしています" in client.post(URL, data={"text": "#PR #東松島市"}).text
    assert 'data-code="city_missing"' in client.post(URL, data={"text": "#PR #石巻市"}).text
    assert "#PR #東松島市" in client.get(URL).text


def test_page_refuses_empty_and_too_long_text(make, client, login):
    login(make.user())
    empty = client.post(URL, data={"text": "  "}).text
    assert "入力してください。" in empty and "満たしています" not in empty and "明示が不十分" not in empty
    long = client.post(URL, data={"text": "#PR #石巻市" + "あ" * 5000}).text
    assert "5000 文字以内で入力してください。" in long and "満たしています" not in long


def test_page_post_without_csrf_token_is_refused(app, make, client, login):
    login(make.user())
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(URL, data={"text": "#PR #石巻市"})
    assert response.status_code == 400 and "満たしています" not in response.text


# --- the API ----------------------------------------------------------------------------------

@pytest.fixture
def headers(make, token_for):
    return token_for(make.user())


def test_api_returns_ok_and_problems(client, headers):
    right = client.post(API_URL, json={"text": "#PR #石巻市"}, headers=headers)
    assert right.status_code == 200 and right.get_json() == {"ok": True, "problems": []}
    wrong = client.post(API_URL, json={"text": "#石巻市PR"}, headers=headers)
    assert wrong.status_code == 200
    body = wrong.get_json()
    assert body["ok"] is False
    assert [(p["code"], p["token"]) for p in body["problems"]] == [("glued", "#石巻市PR")]
    assert "2 つのハッシュタグに分けて" in body["problems"][0]["message"]
    missing = client.post(API_URL, json={"text": "ランチ"}, headers=headers).get_json()["problems"]
    assert [p["code"] for p in missing] == ["missing"] and "token" not in missing[0]


def test_api_honours_the_configured_city(app, client, headers):
    app.config.update(PR_CITY_TAG="#東松島市", CITY_NAME="東松島市")
    assert client.post(API_URL, json={"text": "#PR #東松島市"}, headers=headers).get_json()["ok"] is True
    assert client.post(API_URL, json={"text": "#PR #石巻市"}, headers=headers).get_json()["ok"] is False


def test_api_needs_a_token(client):
    response = client.post(API_URL, json={"text": "#PR #石巻市"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("text", [123, ["#PR #石巻市"], "", "あ" * 5001])
def test_api_refuses_a_bad_text(client, headers, text):
    response = client.post(API_URL, json={"text": text}, headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and "text" in error["fields"]


def test_api_refuses_non_json(client, headers):
    plain = client.post(API_URL, data="#PR #石巻市", content_type="text/plain", headers=headers)
    assert plain.status_code == 400 and plain.get_json()["error"]["code"] == "bad_request"
    broken = client.post(API_URL, data="{not json", content_type="application/json", headers=headers)
    assert broken.status_code == 400
    assert client.post(API_URL, json=["#PR #石巻市"], headers=headers).status_code == 400
