"""The application starts and its login page answers in Japanese."""


def test_login_page_is_japanese(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "ログイン" in response.text
    assert 'lang="ja"' in response.text
