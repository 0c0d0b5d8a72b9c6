"""Hostile or absurd input on pages never becomes a 500."""
from __future__ import annotations

import pytest

from incident.validation import normalise_target


@pytest.mark.parametrize("url", [
    "/cases/99999999999999999999",
    "/cases/99999999999999999999/edit",
    "/cases?assignee_id=99999999999999999999",
    "/cases?assignee_id=-5&page=99999999999999999999&kind=%00",
    "/cases?q=%00",
    "/accounts/99999999999999999999/edit",
])
def test_absurd_urls_answer_without_error(make, client, login, url):
    login(make.user("admin"))
    assert client.get(url).status_code in (200, 400, 404)


def test_nul_in_a_form_is_refused(make, client, login):
    responder = make.user()
    case = make.case(responder)
    login(responder)
    assert client.post(f"/cases/{case.id}/notes", data={"body": "a\x00b"}).status_code == 400
    assert not case.notes


def test_nul_in_json_is_refused(make, client, token_for):
    responder = make.user()
    response = client.post("/api/v1/cases", json={"kind": "flaming", "severity": "low", "title": "a\x00b"},
                           headers=token_for(responder))
    assert response.status_code == 400


@pytest.mark.parametrize("target", ["http://[::1", "http://a:99999/", "https://ex ample.com/", "http://a\x07b/"])
def test_malformed_urls_are_refused_with_our_message(target):
    with pytest.raises(ValueError) as info:
        normalise_target(target)
    assert "http://" in str(info.value.args[0])


def test_assigning_a_bool_or_huge_id_is_refused(make, client, login):
    department = make.department()
    supervisor = make.user("supervisor", department)
    case = make.case(make.user("responder", department))
    login(supervisor)
    for value in ("True", "99999999999999999999", "1.5"):
        response = client.post(f"/cases/{case.id}/assign", data={"assignee_id": value})
        assert response.status_code == 422
    assert case.assignee_id is None


def test_lazy_messages_with_user_input_are_escaped_in_pages(app):
    """Flask-Babel's lazy strings declare themselves safe HTML; pages must escape them all the same."""
    from flask import render_template_string
    from flask_babel import lazy_gettext

    with app.test_request_context():
        html = render_template_string("{{ message }}", message=lazy_gettext("%(x)s", x="<script>alert(1)</script>"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
