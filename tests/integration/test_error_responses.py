"""One error model on every path: each case is application/problem+json with a code and the request id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.config import Settings
from models import Country
from tests.factories import make_country
from tests.helpers import assert_problem


def test_an_unknown_route_is_404(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_problem(client.get("/elsewhere"), 404, "not_found")


def test_a_wrong_method_is_405_with_allow_from_the_spec(client: TestClient) -> None:
    response = client.delete(f"/api/v1/plans/{uuid.uuid4()}")

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_head_is_405_where_the_spec_declares_only_get(client: TestClient) -> None:
    response = client.head("/health-check/liveness")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


def test_an_unsupported_media_type_is_415(probe: TestClient) -> None:
    response = probe.post("/api/v1/probe/echo", content=b"name=x", headers={"Content-Type": "text/plain"})

    assert_problem(response, 415, "unsupported_media_type")


def test_a_schema_violation_is_400_with_every_bad_field(probe: TestClient) -> None:
    response = probe.post("/api/v1/probe/echo", json={"name": "far too long a name", "count": -1, "extra": 1})

    body = assert_problem(response, 400, "validation_error")
    assert body["type"] == "/problems/validation-error"
    assert {e["field"] for e in body["errors"]} == {"name", "count", "body"}
    assert any("extra" in e["message"] for e in body["errors"])


def test_a_nested_violation_names_its_path(probe: TestClient) -> None:
    response = probe.post("/api/v1/probe/echo", json={"name": "ok", "tags": ["fine", "too long"]})

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == [{"field": "tags.1", "message": "'too long' is too long"}]


def test_a_valid_body_passes(probe: TestClient) -> None:
    response = probe.post("/api/v1/probe/echo", json={"name": "ok", "count": 2})

    assert response.status_code == 200
    assert response.json() == {"name": "ok", "count": 2}


@pytest.mark.parametrize("raw", [b'{"name": "x"', b"{'name': 'x'}", b'{"name": NaN}', b'{"name": "x"} trailing'])
def test_malformed_json_is_400(probe: TestClient, raw: bytes) -> None:
    response = probe.post("/api/v1/probe/echo", content=raw, headers={"Content-Type": "application/json"})

    body = assert_problem(response, 400, "malformed_request")
    assert body["detail"].startswith("The request body is not valid JSON")


def test_a_missing_required_body_is_400(probe: TestClient) -> None:
    response = probe.post("/api/v1/probe/echo", headers={"Content-Type": "application/json"})

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "body"


def test_a_nul_character_in_a_json_string_is_400(probe: TestClient) -> None:
    response = probe.post("/api/v1/probe/echo", json={"name": "a\x00b", "tags": ["ok"]})

    body = assert_problem(response, 400, "malformed_request")
    assert "NUL" in body["detail"]


def test_non_utf8_json_is_400(probe: TestClient) -> None:
    response = probe.post(
        "/api/v1/probe/echo", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )

    body = assert_problem(response, 400, "malformed_request")
    assert "UTF-8" in body["detail"] or "utf-8" in body["detail"]


def test_an_unknown_query_parameter_is_400(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/plans", params={"colour": "red"}), 400, "validation_error")

    assert body["errors"] == [{"field": "colour", "message": "is not a parameter of this operation"}]


def test_a_body_over_the_limit_is_413_before_parsing(probe: TestClient, settings: Settings) -> None:
    too_big = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'

    response = probe.post("/api/v1/probe/echo", content=too_big, headers={"Content-Type": "application/json"})

    body = assert_problem(response, 413, "payload_too_large")
    assert "xxxx" not in response.text
    assert str(settings.max_body_bytes) in body["detail"]


def test_a_chunked_body_over_the_limit_is_413(probe: TestClient, settings: Settings) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(settings.max_body_bytes // 1000 + 1):
            yield b"x" * 1000
        yield b'"}'

    response = probe.post("/api/v1/probe/echo", content=chunks(), headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


def test_a_small_chunked_body_is_served(probe: TestClient) -> None:
    response = probe.post(
        "/api/v1/probe/echo", content=iter([b'{"name":', b' "ok"}']), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == {"name": "ok"}


def test_echoed_input_is_truncated(client: TestClient) -> None:
    response = client.get("/api/v1/plans", params={"cursor": "a" * 256, "country": "x" * 2000})

    assert response.status_code == 400
    assert len(response.text) < 2000


def test_an_uncaught_exception_is_a_bare_500(probe: TestClient) -> None:
    response = probe.get("/api/v1/probe/explode")

    body = assert_problem(response, 500, "internal_error")
    assert set(body) == {"type", "title", "status", "code", "requestId"}
    for leak in ("hunter2", "SELECT", "Traceback", "RuntimeError", "settings"):
        assert leak not in response.text


def test_a_failed_commit_is_an_error_and_writes_nothing(probe: TestClient, db: Session) -> None:
    make_country(db, code="US")
    db.commit()

    response = probe.post("/api/v1/probe/fail-commit")

    assert_problem(response, 500, "internal_error")
    assert "duplicate" not in response.text.lower()
    assert db.scalars(select(Country.code)).all() == ["US"]
