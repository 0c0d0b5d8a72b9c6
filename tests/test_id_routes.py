"""Every route with an id in its path answers 404 for ids that cannot exist, on SQLite and PostgreSQL.

Walks `app.url_map`, so a route added later is covered without editing this file."""
from __future__ import annotations

import re

import pytest

from incident.database import MAX_ID

OUT_OF_RANGE = [str(MAX_ID + 1), str(2**63 - 1), str(2**63), str(2**64), "9" * 30]
MALFORMED = ["abc", "-1", "1.5", "1e3", "0x10", "%00", "%F0%9F%98%80"]


def _id_routes(app):
    """(rule, method) for every rule with an integer part, for each method it serves."""
    for rule in app.url_map.iter_rules():
        int_args = [name for name, conv in rule._converters.items() if type(conv).__name__ == "BoundedIntConverter"]
        if not int_args:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, int_args


_PART = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _url(rule, int_args, value: str) -> str:
    """The rule's path with `value` in every id slot and a plausible value in the others."""
    def fill(match: re.Match) -> str:
        converter, arguments, name = match.groups()
        if name in int_args:
            return value
        if converter == "any":
            return arguments.split(",")[0].strip()
        return "x"

    return _PART.sub(fill, rule.rule)


def _send(client, method, url, headers):
    if method == "GET":
        return client.get(url, headers=headers)
    return client.open(url, method=method, headers=headers, json={} if url.startswith("/api/") else None)


def test_routes_are_walked(app):
    routes = list(_id_routes(app))
    assert len(routes) > 40  # the walk must not silently find nothing
    assert any(rule.rule.startswith("/api/") for rule, _m, _a in routes)
    assert any(method == "POST" for _r, method, _a in routes)


def _walk(app, client, city, login, token_for, value: str, allowed: tuple[int, ...]) -> list[str]:
    """Send `value` as every id of every route, as the PR office (who may see everything); the answers
    outside `allowed` (API answers must also be JSON errors)."""
    login(city.admin)
    api_headers = token_for(city.admin)
    failures = []
    for rule, method, int_args in _id_routes(app):
        url = _url(rule, int_args, value)
        is_api = url.startswith("/api/")
        response = _send(client, method, url, api_headers if is_api else {})
        if response.status_code not in allowed or (is_api and not response.is_json):
            failures.append(f"{method} {url} -> {response.status_code}")
    return failures


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_out_of_range_ids_are_not_found_everywhere(app, client, city, login, token_for, value):
    assert _walk(app, client, city, login, token_for, value, (404,)) == []


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_ids_never_fail(app, client, city, login, token_for, value):
    assert _walk(app, client, city, login, token_for, value, (400, 404, 405)) == []


@pytest.mark.parametrize("value", OUT_OF_RANGE + MALFORMED)
def test_ids_in_query_strings(client, city, login, value):
    login(city.admin)
    assert client.get(f"/fakes/new?case_id={value}").status_code in ((404,) if value.isdigit() else (400, 404))
    listing = client.get(f"/audit?case_id={value}")
    assert listing.status_code in ((200,) if value != "%00" else (400,))


def test_an_id_just_in_range_reaches_the_database_and_is_simply_not_found(client, city, login, token_for):
    login(city.admin)
    assert client.get(f"/cases/{MAX_ID}").status_code == 404
    response = client.get(f"/api/v1/cases/{MAX_ID}", headers=token_for(city.admin))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
