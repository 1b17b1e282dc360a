from __future__ import annotations

import json
import logging
import uuid

import pytest
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from core.logging import JsonFormatter
from web import validation


def test_a_sane_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/health-check/liveness", headers={"X-Request-ID": "abc.DEF_123-x"})

    assert response.headers["x-request-id"] == "abc.DEF_123-x"


@pytest.mark.parametrize("offered", ["", "x" * 65, "has space", "semi;colon", "ünïcode"])
def test_an_insane_request_id_is_replaced_by_a_uuid(client: TestClient, offered: str) -> None:
    response = client.get("/health-check/liveness", headers={"X-Request-ID": offered.encode("utf-8")})  # type: ignore[dict-item]

    assert uuid.UUID(response.headers["x-request-id"])


def test_every_response_has_a_request_id_and_security_headers(client: TestClient) -> None:
    for response in (client.get("/api/v1/health"), client.get("/api/v1/nowhere"), client.post("/api/v1/plans")):
        assert response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_a_deprecated_operation_says_so_and_when_it_goes_on_every_answer(client: TestClient, probe: TestClient) -> None:
    """RFC 9745's Deprecation and RFC 8594's Sunset, from the spec's `deprecated: true` with its two dates."""
    served, refused = probe.get("/api/v1/probe/old"), probe.get("/api/v1/probe/old?count=-1")

    for response in (served, refused):
        assert response.headers["Deprecation"] == "@1796083200"  # 2026-12-01T00:00:00Z
        assert response.headers["Sunset"] == "Tue, 01 Jun 2027 00:00:00 GMT"
    assert (served.status_code, refused.status_code) == (200, 400)
    assert "Deprecation" not in probe.post("/api/v1/probe/echo", json={"name": "x"}).headers
    assert "Deprecation" not in client.get("/api/v1/plans").headers  # the product deprecates nothing yet


def test_swagger_ui_is_served_with_a_csp_that_lets_it_run(client: TestClient) -> None:
    response = client.get("/api/v1/ui/")

    assert response.status_code == 200
    assert "swagger-ui" in response.text
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert client.get("/api/v1/ui/swagger-ui-bundle.js").status_code == 200


def test_responses_to_credentialed_requests_are_not_stored(client: TestClient) -> None:
    response = client.get("/api/v1/health", headers={"Authorization": "Bearer x"})

    assert response.headers["cache-control"] == "no-store"


def test_cors_is_off_unless_origins_are_configured(client: TestClient, settings: Settings) -> None:
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}

    assert "access-control-allow-origin" not in client.options("/api/v1/plans", headers=preflight).headers

    cors_app = create_app(settings.model_copy(update={"cors_origins": ("https://app.example.com",)}))
    with cors_app.test_client() as cors_client:
        answer = cors_client.options("/api/v1/plans", headers=preflight)
        refused = cors_client.options("/api/v1/plans", headers=preflight | {"Origin": "https://evil.example"})
        simple = cors_client.get("/health-check/liveness", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://app.example.com"
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "cors_rejected"
    assert refused.headers["x-request-id"] == refused.json()["requestId"]
    assert "access-control-allow-origin" not in simple.headers


def test_a_credential_in_the_path_is_not_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """playRecording's path is a signed link good for days: the access line names the route, not the token."""
    token = "gAAAAABn-a-token-that-opens-a-recording"
    with caplog.at_level(logging.INFO, logger="switchboard.access"):
        client.get(f"/api/v1/recordings/{token}")

    (line,) = [r for r in caplog.records if r.name == "switchboard.access"]
    assert json.loads(JsonFormatter().format(line))["path"] == "/api/v1/recordings/{token}"
    assert token not in caplog.text


def test_one_access_log_line_per_request(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="switchboard.access"):
        response = client.get("/api/v1/plans?limit=1", headers={"X-Request-ID": "trace-me"})

    lines = [r for r in caplog.records if r.name == "switchboard.access"]
    assert len(lines) == 1
    entry = json.loads(JsonFormatter().format(lines[0]))
    assert entry["requestId"] == "trace-me" == response.headers["x-request-id"]
    assert entry["level"] == "info"
    assert entry["time"].endswith("+00:00")
    assert {k: entry[k] for k in ("method", "path", "operationId", "status")} == {
        "method": "GET",
        "path": "/api/v1/plans",
        "operationId": "listPlans",
        "status": 200,
    }
    assert entry["durationMs"] >= 0


def test_request_validators_are_built_once_per_schema(client: TestClient) -> None:
    def requests() -> None:
        assert client.get("/api/v1/plans?limit=5&country=SE").status_code == 200
        assert client.post("/api/v1/auth/register", json={"email": "not an address"}).status_code == 400

    requests()
    built = len(validation._compiled)
    requests()
    requests()

    assert built >= 3  # two query parameters and one body
    assert len(validation._compiled) == built
