"""The OpenAPI document at /api/openapi.json is exact: schemathesis generates requests from it (valid and
invalid ones) against the real app, database, Redis and object store, and checks every answer.

Checked for every operation: no 5xx; every status, content type, body and declared header of an answer is
in the document; what the document calls valid is accepted (or refused only for a documented reason: not
found, conflict, no right) and what it calls invalid is refused. Bounded: a fixed number of derandomized
examples per operation, so a run is repeatable.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.app import create_app
from tests.conftest import token_for

APP = create_app()
EXAMPLES = 12

# tus 1.0.0 answers a missing or other Tus-Resumable with 412 Precondition Failed (the protocol says so),
# where schemathesis expects a 400-ish status for a missing required header.
TUS_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429", "5xx"]
# A province code that names no province is the service's 422 ``unknown_province`` (and one other than the
# submitter's unit's is ``province_mismatch``): codes are data, the document cannot list them.
NAMES_STORED_DATA = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict({
    "generation": {"max-examples": EXAMPLES, "deterministic": True},
    "operations": [
        {
            "include-path-regex": "^/api/v1/uploads",
            "checks": {
                "negative_data_rejection": {"expected-statuses": TUS_REFUSALS},
                "missing_required_header": {"expected-statuses": ["400", "401", "403", "412", "415", "422"]},
            },
        },
        {
            # Which tus headers a creation needs depends on another header (no Upload-Length on a final, no
            # work_id in the base64 Upload-Metadata of a partial): OpenAPI cannot say that of parameters, so
            # the document describes it in words and a creation missing one is a documented 400.
            "include-name": "POST /api/v1/uploads",  # one filter: separate include-* keys match either
            "checks": {
                "negative_data_rejection": {"expected-statuses": TUS_REFUSALS},
                "missing_required_header": {"expected-statuses": ["400", "401", "403", "412", "415", "422"]},
                # A creation-with-upload whose body is longer than its Upload-Length: 413
                # ``upload_length_exceeded`` (the schema cannot tie a body's length to a header's value).
                "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409",
                                                                   "413", "429", "5xx"]},
            },
        },
        {
            # Campaign settings are checked against each other and the stored ones (a deadline before the
            # stored opening, a year not after the current campaign's): a 422 naming the field.
            "include-path-regex": "^/api/v1/campaigns",
            "checks": {"positive_data_acceptance": {"expected-statuses": NAMES_STORED_DATA}},
        },
        {
            # Whether a phone number is a mainland mobile one is the number plan's question (phonenumbers), not
            # a pattern's: a well-formed string may still be 422 ``bad_phone``; codes are limited (429).
            "include-path-regex": "^/api/v1/(public/codes|dev/sms-outbox)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422", "429"]}},
        },
        {
            # Registration and reset: the number, the password rule, the province, consent (a bool the schema
            # cannot require to be true) are the domain's; a code is unknown to a generated request (401).
            "include-path-regex": "^/api/v1/public/(register|password-reset)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "409", "422", "429"]}},
        },
        {
            # A voter's sign-in: the same number plan (422 ``bad_phone``), and a code is right or not (401
            # ``bad_code``): no generated request holds the code just sent.
            "include-path-regex": "^/api/v1/public/sessions$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "422", "429"]}},
        },
        {
            # Judging: a reason that is only spaces is the domain's 422 ``reason_required``, a score the
            # rubric's range (a setting) refuses is 422 ``out_of_range``, a generated username names no judge.
            "include-path-regex": "^/api/v1/judging/",
            "checks": {"positive_data_acceptance": {"expected-statuses": NAMES_STORED_DATA}},
        },
        {
            "include-path-regex": "^/api/v1/(audit|works|accounts|organisations)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": NAMES_STORED_DATA}},
        },
    ],
})
# The tus body is bytes, sent as they are.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP, config=CONFIG)


# The submitter's own operations: creating a work and uploading to it (which the admin's role refuses).
submitter_schema = schema.include(tag=["works", "uploads", "notifications"])
BOUNDED = settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
    # The demo data is made once per operation, not per example: later examples see what earlier ones changed,
    # as a client would.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _bearer(username: str) -> dict[str, str]:
    with TestClient(APP) as client:
        return {"Authorization": f"Bearer {token_for(client, username)}"}


@pytest.fixture()
def admin_bearer(demo: dict[str, int]) -> dict[str, str]:
    # The national admin reaches every operation's checks past the role gate (most answer it, not 403).
    return _bearer("demo-admin")


@pytest.fixture()
def submitter_bearer(demo: dict[str, int]) -> dict[str, str]:
    return _bearer("demo-submitter")


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_as_documented(case: Any, admin_bearer: dict[str, str]) -> None:
    case.call_and_validate(headers=admin_bearer)


@submitter_schema.parametrize()
@BOUNDED
def test_submitter_operations_answer_as_documented(case: Any, submitter_bearer: dict[str, str]) -> None:
    case.call_and_validate(headers=submitter_bearer)


def test_document_declares_every_path_parameter_and_error() -> None:
    """Every ``{name}`` of a path is a declared path parameter of each of its operations, and every error
    answer of the API is problem+json with its codes listed."""
    with TestClient(APP) as client:
        document = client.get("/api/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        names = set(re.findall(r"\{([^}/]+)\}", path))  # also `{work_id}.pdf`
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path, declared)
            for status, answer in operation["responses"].items():
                # /healthz answers its 503 with the same body as its 200 (what is down), for probes.
                if status.startswith(("4", "5")) and path.startswith("/api/"):
                    assert list(answer["content"]) == ["application/problem+json"], (method, path, status)
                    assert "`code` is one of:" in answer["description"], (method, path, status)


def test_answers_of_the_limits_scopes_and_throttle_are_declared() -> None:
    """Answers that later slices added to existing operations (upload limits, the role that may upload,
    staff without their scope, a rewound tail, the login throttle failing closed, bounded form bodies)
    are in the document, so a client can know them from it."""
    with TestClient(APP) as client:
        paths = client.get("/api/openapi.json").json()["paths"]

    def codes(path: str, method: str, status: str) -> str:
        return str(paths[path][method]["responses"][status]["description"])

    for path, method in (("/api/v1/uploads", "post"), ("/api/v1/works/{work_id}/video", "put")):
        assert "`role_cannot_submit`" in codes(path, method, "403"), (path, method)
        for code in ("too_many_uploads", "daily_upload_quota"):
            assert f"`{code}`" in codes(path, method, "429"), (path, method, code)
    assert "`too_many_partials`" in codes("/api/v1/uploads", "post", "429")
    assert "`too_many_drafts`" in codes("/api/v1/works", "post", "429")
    assert "`upload_rewound`" in codes("/api/v1/uploads/{upload_id}", "patch", "409")
    assert "`account_incomplete`" in codes("/api/v1/works", "get", "403")
    assert "`service_unavailable`" in codes("/api/v1/auth/token", "post", "503")
    assert "`form_too_large`" in codes("/api/v1/auth/token", "post", "413")
    # The public code route: a refused number, the limits (with Retry-After), Redis down, a bounded body.
    assert "`bad_phone`" in codes("/api/v1/public/codes", "post", "422")
    assert "`too_many`" in codes("/api/v1/public/codes", "post", "429")
    assert "`service_unavailable`" in codes("/api/v1/public/codes", "post", "503")
    assert "`body_too_large`" in codes("/api/v1/public/codes", "post", "413")
    assert "`bad_phone`" in codes("/api/v1/dev/sms-outbox", "get", "422")


def test_tus_operations_declare_their_headers() -> None:
    with TestClient(APP) as client:
        paths = client.get("/api/openapi.json").json()["paths"]

    def headers(path: str, method: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in paths[path][method].get("parameters", []) if p["in"] == "header"}

    for method in ("head", "patch", "delete"):
        assert headers("/api/v1/uploads/{upload_id}", method)["Tus-Resumable"]["required"] is True
    assert "Tus-Resumable" in headers("/api/v1/uploads", "post")
    assert headers("/api/v1/uploads/{upload_id}", "patch")["Upload-Offset"]["schema"]["pattern"] == "^[0-9]{1,18}$"
    body = paths["/api/v1/uploads/{upload_id}"]["patch"]["requestBody"]
    assert list(body["content"]) == ["application/offset+octet-stream"]
    assert set(paths["/api/v1/uploads/{upload_id}"]["options"]["responses"]) == {"204"}


def test_405_lists_every_method_of_the_path(client: Any) -> None:
    response = client.request("OPTIONS", "/api/v1/works")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/problem+json"


def test_text_with_nul_is_refused_alike_on_both_databases(client: Any, demo: dict[str, int]) -> None:
    """PostgreSQL cannot hold NUL in text, SQLite can: the document says no NUL, and both refuse it before
    the database (it was a 200 on SQLite and a DataError, 422 ``out_of_range``, on PostgreSQL)."""
    headers = {"Authorization": f"Bearer {token_for(client, 'demo-admin')}"}
    for url in ("/api/v1/review/works?province=he%00bei", "/api/v1/review/works?q=a%00", "/api/v1/audit?action=x%00"):
        response = client.get(url, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["code"] == "invalid", (url, response.text)
    submitter = {"Authorization": f"Bearer {token_for(client, 'demo-submitter')}"}
    response = client.post("/api/v1/works", json={"title": "a\x00b"}, headers=submitter)
    assert response.status_code == 422 and response.json()["code"] == "invalid", response.text


def test_ids_in_paths_are_bounded_alike_on_both_databases(client: Any, demo: dict[str, int]) -> None:
    """An id no database row can have is refused by the route (it was a 404 on SQLite and a DataError on
    PostgreSQL); the document gives the same bounds."""
    headers = {"Authorization": f"Bearer {token_for(client, 'demo-admin')}"}
    response = client.post("/api/v1/notifications/99999999999/read", headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid", response.text
    response = client.get("/api/v1/reports/activities?unit=99999999999", headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid", response.text
    response = client.put(
        "/api/v1/reports/activities/99999999999/lecture", json={"sessions": 1, "participants": 1}, headers=headers
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid", response.text
