from __future__ import annotations

import json

from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from core.errors import ApiError, DatabaseUnavailable, NotFound, ValidationFailed
from core.logging import request_id_var
from web.errors import as_api_error


def test_a_problem_carries_code_title_and_the_request_id() -> None:
    token = request_id_var.set("req-1")
    try:
        status, headers, body = NotFound("Plan not found").encode()
    finally:
        request_id_var.reset(token)

    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Plan not found",
        "code": "not_found",
        "requestId": "req-1",
    }


def test_echoed_input_is_truncated() -> None:
    error = ValidationFailed("x" * 10_000, errors=[{"field": "f" * 1000, "message": "m" * 1000}] * 80)

    body = error.body()

    assert len(body["detail"]) == 500
    assert len(body["errors"]) == 50
    assert len(body["errors"][0]["field"]) == 200
    assert len(body["errors"][0]["message"]) == 300


def test_a_non_utf8_body_is_a_malformed_request() -> None:
    error = as_api_error(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))

    assert (error.status, error.code) == (400, "malformed_request")


def test_an_unreachable_database_is_503_with_retry_after() -> None:
    error = as_api_error(OperationalError("SELECT 1", {}, Exception("connection refused")))

    assert isinstance(error, DatabaseUnavailable)
    assert error.headers == {"Retry-After": "5"}
    assert "SELECT" not in json.dumps(error.body())


def test_anything_unexpected_is_a_bare_500() -> None:
    for exc in (RuntimeError("password=hunter2"), IntegrityError("INSERT secret", {}, Exception("dup"))):
        error = as_api_error(exc)

        assert type(error) is ApiError
        assert error.body().keys() == {"type", "title", "status", "code", "requestId"}
        assert "hunter2" not in json.dumps(error.body())


def test_router_statuses_become_problems() -> None:
    assert as_api_error(HTTPException(404)).code == "not_found"
    method_not_allowed = as_api_error(HTTPException(405, headers={"Allow": "GET"}))
    assert method_not_allowed.code == "method_not_allowed"
    assert method_not_allowed.headers["Allow"] == "GET"


def test_a_client_error_we_have_no_class_for_stays_a_client_error() -> None:
    error = as_api_error(HTTPException(406))

    assert (error.status, error.code, error.title) == (406, "not_acceptable", "Not Acceptable")
