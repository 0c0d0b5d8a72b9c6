"""Fixtures for the JSON API v1 tests: a caller that sends authenticated requests, and a small city
with two departments and the PR office."""
from __future__ import annotations

import types
from typing import Any

import pytest

_MISSING: Any = object()


@pytest.fixture
def api(client, token_for):
    """`api(method, url, user, json=...)`: one request with `user`'s token (none when user is None).

    Each user gets one token, created on first use, so repeated calls look like a real client.
    Tokens are kept by Python object, not `user.id`, so that a call sends no SQL of its own (an
    expired user would be reloaded) and query counts measure the request alone.
    """
    # id(user) -> (user, headers); holding the user keeps its id() from being reused.
    tokens: dict[int, tuple[Any, dict[str, str]]] = {}

    def call(method: str, url: str, user=None, *, json: Any = _MISSING, data: Any = None,
             content_type: str | None = None, headers: dict[str, str] | None = None):
        sent: dict[str, str] = {}
        if user is not None:
            if id(user) not in tokens:
                tokens[id(user)] = (user, token_for(user))
            sent.update(tokens[id(user)][1])
        sent.update(headers or {})
        kwargs: dict[str, Any] = {}
        if json is not _MISSING:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        if content_type is not None:
            kwargs["content_type"] = content_type
        return client.open(url, method=method.upper(), headers=sent, **kwargs)

    return call


@pytest.fixture
def city(make):
    """Department A (two responders, a supervisor), department B (a responder, a supervisor), and
    an admin of the PR office."""
    dept_a = make.department("dept-a", "防災課")
    dept_b = make.department("dept-b", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    return types.SimpleNamespace(
        dept_a=dept_a,
        dept_b=dept_b,
        pr=pr,
        responder_a=make.user("responder", dept_a, name="担当A"),
        responder_a2=make.user("responder", dept_a, name="担当A2"),
        supervisor_a=make.user("supervisor", dept_a, name="所属長A"),
        responder_b=make.user("responder", dept_b, name="担当B"),
        supervisor_b=make.user("supervisor", dept_b, name="所属長B"),
        admin=make.user("admin", pr, name="広報"),
    )


def assert_error(response, status: int, code: str, *fields: str) -> dict[str, Any]:
    """The response is a JSON API error with this status and code naming these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    for name in fields:
        assert name in error.get("fields", {}), error
    return error


@pytest.fixture
def expect_error():
    """`expect_error(response, status, code, *fields)`: check a JSON API error and return it."""
    return assert_error
