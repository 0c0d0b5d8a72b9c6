"""Every API answer in these tests is checked against the OpenAPI document (/api/v1/openapi.json): its status
is documented for the operation and its JSON body matches the documented schema, so the document describes
what the API really sends, in every state the tests reach (which a fuzzer alone would not)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_schema_validator import OAS30Validator
from werkzeug.exceptions import HTTPException

from incident.api.docs import openapi_document

_RULE_PART = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule written as an OpenAPI path (`/cases/<int:case_id>` → `/cases/{case_id}`)."""
    return _RULE_PART.sub(r"{\1}", rule)


def inline(node: Any, document: dict[str, Any]) -> Any:
    """`node` with every `$ref` into the document replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return inline(target, document)
        return {key: inline(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [inline(value, document) for value in node]
    return node


class Conformance:
    """Checks API answers against the app's OpenAPI document."""

    def __init__(self, app: Any) -> None:
        self.app = app
        with app.app_context():
            self.document = openapi_document()
        self.adapter = app.url_map.bind("localhost")
        self.checked = 0

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The documented operation serving this request, or None when no API route does."""
        try:
            endpoint, _args = self.adapter.match(path, method=method)
        except HTTPException:
            return None
        rule = next(self.app.url_map.iter_rules(endpoint))
        item = self.document["paths"].get(openapi_path(rule.rule))
        assert item is not None, f"{rule.rule} ({endpoint}) is not in the OpenAPI document"
        operation = item.get(method.lower())
        assert operation is not None, f"{method} {rule.rule} is not in the OpenAPI document"
        return operation

    def check(self, method: str, url: str, response: Any) -> None:
        """The answer is what the document says this operation answers."""
        path = urlsplit(url).path
        if not path.startswith("/api/v1/"):
            return
        operation = self.operation(method, path)
        if operation is None:  # not routed (404, 405): the API's error shape all the same
            schema = self.document["components"]["schemas"]["ErrorOut"]
        else:
            responses = operation["responses"]
            documented = inline(responses.get(str(response.status_code)) or responses["default"], self.document)
            content = documented.get("content", {})
            media = response.mimetype
            assert media in content, f"{method} {path}: {response.status_code} {media} is not documented"
            schema = content[media].get("schema", {})
            if media != "application/json":
                return
        errors = sorted(OAS30Validator(inline(schema, self.document)).iter_errors(response.get_json()),
                        key=lambda e: list(e.absolute_path))
        assert not errors, f"{method} {path} → {response.status_code} does not match the document: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
        self.checked += 1


@pytest.fixture
def conformance(app) -> Conformance:
    """The OpenAPI document of this app, to check answers against."""
    return Conformance(app)


@pytest.fixture
def api(api, conformance):
    """The API client of tests/conftest.py, checking every answer against the OpenAPI document."""

    def call(method: str, url: str, *args: Any, **kwargs: Any):
        response = api(method, url, *args, **kwargs)
        conformance.check(method.upper(), url, response)
        return response

    return call
