"""The OpenAPI document of API v1 (/api/v1/openapi.json) and its docs page: a valid OpenAPI 3 document
listing every API route of the app (so a route added without schemas fails here), a Schemathesis run
against it through WSGI, and a page that loads nothing from elsewhere."""
from __future__ import annotations

import collections
import io
import re
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from incident.api import PUBLIC_ENDPOINTS
from incident.api.docs import openapi_document

#: Operations that take no input beyond their path: every other POST, PATCH or PUT declares its body.
NO_BODY = {
    ("post", "/api/v1/cases/{case_id}/acknowledge"),
    ("post", "/api/v1/escalations/{escalation_id}/acknowledge"),
    ("post", "/api/v1/notifications/{notification_id}/read"),
}
#: The documentation's own routes (public, and not API operations).
DOC_ENDPOINTS = {name for name in PUBLIC_ENDPOINTS if name.startswith("api_docs.")}
#: How many requests Schemathesis makes per operation: schema-valid ones, then schema-breaking ones.
POSITIVE_EXAMPLES = 10
NEGATIVE_EXAMPLES = 5
#: The ids in API paths.
PATH_IDS = ("case_id", "note_id", "draft_id", "publication_id", "evidence_id", "escalation_id", "notification_id",
            "fake_id", "account_id")


def api_rules(app):
    """(method, OpenAPI path, endpoint) of every API route in the app's URL map."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint in DOC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method.lower(), re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), rule.endpoint


def operations(document):
    """(method, path, operation) of every operation in the document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def test_the_document_is_valid_openapi_3_and_needs_no_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"] == "1"
    assert document["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "inc_…",
        "description": "A personal API token (設定 → API トークン).",
    }
    assert document["security"] == [{"token": []}]
    # Public, even with a token that is no good: it describes the API and shows no data.
    assert client.get("/api/v1/openapi.json", headers={"Authorization": "Bearer nope"}).status_code == 200


def test_every_api_route_is_documented_with_its_schemas(app):
    with app.app_context():
        document = openapi_document()
    routed = {(method, path) for method, path, _endpoint in api_rules(app)}
    documented = {(method, path) for method, path, _operation in operations(document)}
    assert len(routed) > 40
    assert routed == documented, (routed - documented, documented - routed)
    tags = {tag["name"] for tag in document["tags"]}
    for method, path, operation in operations(document):
        label = f"{method.upper()} {path}"
        assert operation.get("summary"), f"{label} has no docstring"
        assert len(operation["tags"]) == 1 and set(operation["tags"]) <= tags, f"{label}: tags= one of TAGS"
        successes = {code: answer for code, answer in operation["responses"].items() if code.startswith("2")}
        assert successes, f"{label} declares no response schema (@bp.response)"
        for answer in successes.values():
            assert all("schema" in media for media in answer["content"].values()), label
        assert "default" in operation["responses"], label  # the error shape
        if method in ("post", "put", "patch") and (method, path) not in NO_BODY:
            assert "requestBody" in operation, f"{label} declares no body (@bp.body)"
        if method == "get":
            assert "requestBody" not in operation, label


def test_only_the_public_list_is_documented_without_a_token(app):
    with app.app_context():
        document = openapi_document()
    public = [f"{method} {path}" for method, path, operation in operations(document) if operation.get("security") == []]
    assert public == ["get /api/v1/public/accounts"]


def test_unknown_fields_are_ignored_except_on_a_case_edit(app):
    """The document says where a key the API does not know is refused (additionalProperties: false)."""
    with app.app_context():
        schemas = openapi_document()["components"]["schemas"]
    refusing = sorted(name for name, schema in schemas.items()
                      if name.endswith("In") and schema.get("additionalProperties") is False)
    assert refusing == ["CasePatchIn"]
    assert schemas["CaseIn"]["required"] == ["kind", "severity", "title"]
    assert schemas["CaseIn"]["properties"]["title"]["maxLength"] == 200
    assert set(schemas["StatusIn"]["properties"]["status"]["enum"]) == {"new", "responding", "monitoring", "closed"}


def test_answers_are_checked_against_the_document(api, city, make, conformance):
    """The checker in tests/api/conftest.py runs on every call, and refuses what the document does not allow."""
    case = make.case(city.responder_a)
    assert api("GET", f"/api/v1/cases/{case.id}", city.responder_a).status_code == 200
    assert api("GET", "/api/v1/cases/999", city.responder_a).status_code == 404
    assert conformance.checked == 2
    good = api("GET", "/api/v1/me", city.responder_a)
    good.set_data(good.get_data().replace(b'"locale":"ja"', b'"locale":"fr"'))
    with pytest.raises(AssertionError, match="locale"):
        conformance.check("GET", "/api/v1/me", good)


def test_the_docs_page_loads_only_the_apps_own_files(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "http://" not in page and "https://" not in page
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # No inline script: every script is a file of the app.
    assert re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S) == ["", ""]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {"/api/v1/docs/assets/swagger-ui-bundle.js", "/api/v1/docs/assets/swagger-ui.css",
            "/static/api-docs.js", "/static/api-docs.css"} <= set(assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404  # only the two files it needs
    script = client.get("/static/api-docs.js")
    assert b"SwaggerUIBundle" in script.data and b"validatorUrl: null" in script.data
    script.close()


def test_the_settings_page_links_the_docs(client, login, make):
    login(make.user())
    assert 'href="/api/v1/docs"' in client.get("/settings").get_data(as_text=True)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, "PNG")
    return out.getvalue()


PNG = _png()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(app, client, city, make, token_for):
    """Requests generated from the document, valid and invalid, as a supervisor of a department with cases:
    no 5xx, and every answer's status, type, headers and body as documented. Deterministic (derandomized)."""
    make.account(city.dept_a, platform="x", url="https://x.com/city")
    for n in range(3):  # ids 1 to 3 of most kinds exist, and the supervisor may see them
        case = make.case(city.responder_a, kind="impersonation", title=f"案件{n}", urls=[f"https://x.com/f{n}"])
    headers = token_for(city.supervisor_a)
    for n in range(3):
        base = f"/api/v1/cases/{case.id}"
        assert client.post(f"{base}/notes", headers=headers, json={"body": f"メモ{n}"}).status_code == 201
        assert client.post(f"{base}/drafts", headers=headers, json={"type": "press"}).status_code == 201
        assert client.post("/api/v1/fake-accounts", headers=headers, json={
            "platform": "x", "handle": f"@fake{n}", "case_id": case.id}).status_code == 201
        upload = client.post(f"{base}/evidence", headers=headers, content_type="multipart/form-data",
                             data={"file": (io.BytesIO(PNG), f"shot{n}.png")})
        assert upload.status_code == 201, upload.get_json()
        assert client.post(f"{base}/escalations", headers=headers, json={"reason": "至急"}).status_code == 201
    config = schemathesis.Config.from_dict({
        "generation": {"with-security-parameters": False},  # our token, not generated ones
        # Ids in paths are often ones that exist (and the caller may see), so that requests get past the 404.
        "dictionaries": {"ids": {"values": [1, 2, 3]}},
        "parameters": {f"path.{name}": {"dictionary": "ids", "probability": 0.7} for name in PATH_IDS},
    })
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    failures: list[str] = []
    statuses: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in ((schemathesis.GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
                               (schemathesis.GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None, print_blob=False,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[f"{response.status_code // 100}xx"] += 1

            try:
                run()
            except Unsatisfiable:
                pass  # nothing to break in an operation without parameters
            except Exception as error:  # report every operation, not just the first that fails
                failures.append(f"{operation.label} ({mode.value}): {error}")
    seconds = time.perf_counter() - started
    print(f"Schemathesis: {sum(statuses.values())} requests in {seconds:.0f} s, {dict(statuses)}")
    assert not failures, "\n\n".join(failures)
    assert statuses["2xx"] > 50 and statuses["4xx"] > 50  # it did reach the API, past the token check
    assert "5xx" not in statuses
