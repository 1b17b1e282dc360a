"""Tracing (core/tracing.py) against a local OTLP/HTTP receiver: the real server, as production starts it,
exports a span per request named by its operationId under the caller's traceparent, spans for its SQL, and a
client span for an outgoing call that carries the trace on; its log lines carry the trace id."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.live_server import gunicorn, wait_until

ISSUER, AUDIENCE = "https://idp.example", "switchboard-tracing-test"


class Receiver:
    """What the collector and the identity provider were sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.jwks_traceparents: list[str | None] = []

    def export(self, request: Request) -> Response:
        assert request.headers["Content-Type"] == "application/x-protobuf"
        exported = ExportTraceServiceRequest.FromString(request.get_data())
        self.spans += [
            span for resource in exported.resource_spans for scope in resource.scope_spans for span in scope.spans
        ]
        return Response(b"", status=200, content_type="application/x-protobuf")

    def in_trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans if span.trace_id.hex() == trace_id]


def get(url: str, headers: dict[str, str]) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:  # noqa: S310
        return int(response.status)


def test_requests_sql_and_outgoing_calls_are_traced_under_the_callers_trace(
    database_url: str, migrated: None, tmp_path: Path, httpserver: HTTPServer
) -> None:
    receiver = Receiver()
    key = RSAKey.generate_key(2048, parameters={"kid": "idp-1"}, private=True)

    def jwks(request: Request) -> Response:
        receiver.jwks_traceparents.append(request.headers.get("traceparent"))
        return Response(json.dumps(KeySet([key]).as_dict(private=False)), content_type="application/json")

    httpserver.expect_request("/v1/traces", method="POST").respond_with_handler(receiver.export)
    httpserver.expect_request("/jwks").respond_with_handler(jwks)
    settings = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": httpserver.url_for("/"),
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between exports (the SDK's own setting)
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_JWKS_URI": httpserver.url_for("/jwks"),
    }
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    idp_trace = "0af7651916cd43dd8448eb211c80319c"
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp-tracing", "iat": now, "exp": now + 300}
    claims |= {"email": "tracing@example.com", "email_verified": True, "name": "Trace Tester"}
    token = jwt.encode({"alg": "RS256", "kid": "idp-1"}, claims, key, algorithms=["RS256"])

    with gunicorn(database_url, tmp_path / "server.log", **settings) as (_, base):
        status = get(f"{base}/api/v1/countries", {"traceparent": f"00-{caller_trace}-{caller_span}-01"})
        signed_in = get(
            f"{base}/api/v1/users/me",
            {"traceparent": f"00-{idp_trace}-{caller_span}-01", "Authorization": f"Bearer {token}"},
        )

        def exported() -> bool:
            names = {span.name for span in receiver.in_trace(caller_trace) + receiver.in_trace(idp_trace)}
            return {"listCountries", "getCurrentUser", "GET"} <= names

        wait_until(exported, seconds=20)
    log = (tmp_path / "server.log").read_text()

    assert (status, signed_in) == (200, 200)
    spans = receiver.in_trace(caller_trace)
    (request_span,) = [span for span in spans if span.name == "listCountries"]
    assert request_span.parent_span_id.hex() == caller_span
    assert request_span.kind == Span.SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in request_span.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    sql = [span for span in spans if span.kind == Span.SPAN_KIND_CLIENT and span.parent_span_id == request_span.span_id]
    assert sql, [(span.name, span.kind) for span in receiver.spans]  # the catalog query, inside the request span
    assert any(a.key == "db.statement" or a.key.startswith("db.") for a in sql[0].attributes)

    outgoing = [span for span in receiver.in_trace(idp_trace) if span.name == "GET"]
    assert outgoing, "no client span for the JWKS fetch"
    (traceparent,) = [value for value in receiver.jwks_traceparents if value]
    assert traceparent.split("-")[1] == idp_trace  # the provider saw our trace
    assert traceparent.split("-")[2] == outgoing[0].span_id.hex()

    lines: list[dict[str, Any]] = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("operationId") == "listCountries"]
    assert [line.get("traceId") for line in access] == [caller_trace]
