"""ASGI middleware around Connexion: they see every response, Connexion's own errors included."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import ClassVar

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, StatusCode
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import (
    PROBLEM_JSON,
    ApiError,
    CorsRejected,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from core.logging import client_ip_var, request_id_var
from core.tracing import tracer
from web import metrics
from web.spec import Contract

access_log = logging.getLogger("switchboard.access")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _problem_response(error: ApiError) -> Response:
    status, headers, body = error.encode()
    return Response(content=body, status_code=status, headers=headers)


async def _send_problem(error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    await _problem_response(error)(scope, receive, send)


def _is_trusted(address: str | None, trusted: Sequence[IPv4Network | IPv6Network]) -> bool:
    """Whether `address` is one of our proxies' (False for anything that is not an address)."""
    try:
        return address is not None and any(ip_address(address) in network for network in trusted)
    except ValueError:
        return False


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPv4Network | IPv6Network]
) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the nearest address in
    X-Forwarded-For that is not a trusted proxy (read from the right, where our proxies appended)."""
    if not _is_trusted(peer, trusted):
        return peer
    address = peer
    try:
        for hop in reversed((forwarded_for or "").split(",")):
            address = str(ip_address(hop.strip()))
            if not _is_trusted(address, trusted):
                break
    except ValueError:  # not an address (a forged hop): keep the last good one
        pass
    return address


class RequestIdMiddleware:
    """Keeps the caller's X-Request-ID if it is sane, else makes one; echoes it and exposes it (and the
    caller's address, see client_address) to logs, the audit log and the rate limits. A trusted proxy's
    X-Forwarded-Proto sets the request's scheme (uvicorn's own proxy-header rewrite is off)."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self.trusted_proxies = [ip_network(proxy, strict=False) for proxy in trusted_proxies]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        offered = headers.get("x-request-id", "")
        request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else str(uuid.uuid4())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded_for = headers.get("x-forwarded-for") if self.trusted_proxies else None
        ip_token = client_ip_var.set(client_address(peer, forwarded_for, self.trusted_proxies))
        proto = headers.get("x-forwarded-proto", "").strip().lower()
        if proto in ("http", "https") and _is_trusted(
            peer, self.trusted_proxies
        ):  # a proxy that ended TLS: the served spec's URL
            scope = {**scope, "scheme": proto}
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client_ip_var.reset(ip_token)
            request_id_var.reset(token)


class TracingMiddleware:
    """A server span per request (core/tracing.py), child of the caller's W3C `traceparent` and named by the
    operationId once the router has found it. Added only when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        extensions = scope.setdefault("extensions", {})
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span_name = f"{scope['method']} (unrouted)"
        with tracer.start_as_current_span(span_name, context=propagate.extract(carrier), kind=SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_and_note_status)
            finally:
                operation = extensions.get("connexion_routing", {}).get("operation_id")
                if operation:
                    span.update_name(operation)
                span.set_attributes(
                    {
                        "http.request.method": scope["method"],
                        "url.path": loggable_path(scope["path"]),
                        "http.response.status_code": status,
                    }
                )
                if status >= 500:
                    span.set_status(StatusCode.ERROR)


class AccessLogMiddleware:
    """One line per request: method, path, operationId, status, duration, and a problem's `code`; and the
    same request in the metrics (web.metrics)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before it starts a response
        problem: bytearray | None = None  # the body of a problem response (they are small)
        extensions = scope.setdefault("extensions", {})

        async def send_and_note_status(message: Message) -> None:
            nonlocal status, problem
            if message["type"] == "http.response.start":
                status = message["status"]
                if Headers(raw=message.get("headers", [])).get("content-type") == PROBLEM_JSON:
                    problem = bytearray()
            elif problem is not None and len(problem) < _PROBLEM_BYTES:
                problem += message.get("body", b"")
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            metrics.IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            operation = extensions.get("connexion_routing", {}).get("operation_id")
            metrics.observe_request(operation, scope["method"], status, seconds)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": loggable_path(scope["path"]),
                    "operationId": operation,
                    "status": status,
                    "code": _problem_code(problem),
                    "durationMs": round(seconds * 1000, 2),
                },
            )


_PROBLEM_BYTES = 16384
# Paths that carry a credential (playRecording's signed token, good for days): logged and traced without it.
_CREDENTIAL_IN_PATH = re.compile(r"^(/api/v1/recordings/)[^/]+$")


def loggable_path(path: str) -> str:
    return _CREDENTIAL_IN_PATH.sub(r"\1{token}", path)


def _problem_code(body: bytearray | None) -> str | None:
    if body is None:
        return None
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


class SecurityHeadersMiddleware:
    """The guidelines' security headers on every response; Swagger UI gets the CSP it needs to run, and a
    response that brings its own CSP keeps it (the API reference's names its inline scripts' hashes). A
    deprecated operation's responses, errors too, say so and when it goes (`Deprecation`, `Sunset`)."""

    COMMON: ClassVar[dict[str, str]] = {
        "X-Content-Type-Options": "nosniff",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    API_CSP = "default-src 'none'; frame-ancestors 'none'"
    UI_CSP = "frame-ancestors 'none'"

    def __init__(self, app: ASGIApp, *, ui_path: str, deprecations: Mapping[str, Mapping[str, str]]) -> None:
        self.app = app
        self.ui_path = ui_path
        self.deprecations = deprecations  # operationId -> Deprecation and Sunset (web.spec.Contract.deprecations)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = self.UI_CSP if scope["path"].startswith(self.ui_path) else self.API_CSP
        request_headers = Headers(scope=scope)
        carries_credentials = "authorization" in request_headers or "x-api-key" in request_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(self.COMMON)
                headers.setdefault("Content-Security-Policy", csp)
                if carries_credentials:
                    headers["Cache-Control"] = "no-store"
                if self.deprecations:
                    routing = scope.get("extensions", {}).get("connexion_routing", {})
                    headers.update(self.deprecations.get(routing.get("operation_id"), {}))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        problem = _problem_response(CorsRejected(bytes(response.body).decode()))
        problem.headers.update({k: v for k, v in response.headers.items() if k.lower().startswith("access-control")})
        return problem


class BodyLimitMiddleware:
    """Answers 413 for a body over the limit before anything reads or parses it, and 415 for a body that
    does not say what it is (no Content-Type: nothing could tell which validator it is for).

    A declared Content-Length is checked up front. A chunked body is read up to the limit, then
    replayed to the app with its length (bodies here are small, so holding one in memory is cheap).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body exceeds {self.max_body_bytes} bytes")

    @staticmethod
    def _untyped(headers: Headers, length: int) -> UnsupportedMediaType | None:
        """A body that does not say what it is; None when there is no body or it says."""
        return (
            UnsupportedMediaType("A request body needs a Content-Type")
            if length and "content-type" not in headers
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _send_problem(MalformedRequest("Content-Length is not a number"), scope, receive, send)
            if int(declared) > self.max_body_bytes:
                return await _send_problem(self._too_large(), scope, receive, send)
            if untyped := self._untyped(headers, int(declared)):
                return await _send_problem(untyped, scope, receive, send)
            return await self.app(scope, receive, send)
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return await self.app(scope, receive, send)

        chunks: list[bytes] = []
        received = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_body_bytes:
                return await _send_problem(self._too_large(), scope, receive, send)
            more_body = message.get("more_body", False)

        # Replayed whole, with the Content-Length that Connexion's body validation relies on.
        body = b"".join(chunks)
        if untyped := self._untyped(headers, len(body)):
            return await _send_problem(untyped, scope, receive, send)
        kept = [(k, v) for k, v in scope["headers"] if k not in (b"transfer-encoding", b"content-length")]
        scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        replayed = False

        async def replaying_receive() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replaying_receive, send)


class ContractDocumentsMiddleware:
    """Serves the public contract (the spec without its `x-internal` parts, `web.spec.public`) at
    {base}/openapi.json and {base}/openapi.yaml: one document in two notations, its server's defaults naming
    this deployment, so Swagger UI and SDKs generated from it reach it."""

    def __init__(self, app: ASGIApp, *, contract: Contract) -> None:
        self.app = app
        self.contract = contract
        self.json_path = f"{contract.base_path}/openapi.json"
        self.yaml_path = f"{contract.base_path}/openapi.yaml"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") else None
        if path == self.json_path:
            served, media_type = self.contract.served_json, "application/json"
        elif path == self.yaml_path:
            served, media_type = self.contract.served_yaml, "application/yaml"
        else:
            return await self.app(scope, receive, send)
        body = served(scope.get("scheme", "http"), Headers(scope=scope).get("host", ""))
        await Response(content=body, media_type=media_type)(scope, receive, send)


_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_SRC_ATTRIBUTE = re.compile(rb"\ssrc\s*=", re.IGNORECASE)


def reference_csp(html: bytes) -> str:
    """The CSP of the API reference page: its own inline scripts run (named by their SHA-256, as browsers
    hash them: line breaks normalised to LF), and nothing else does. Redoc also needs inline styles and
    data: fonts and images; it fetches nothing (its only outside request, Redocly's logo, is refused)."""
    inline = (body for attributes, body in _SCRIPT.findall(html) if not _SRC_ATTRIBUTE.search(attributes))
    scripts = (body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") for body in inline)
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in scripts]
    script_src = " ".join(hashes) or "'none'"
    return (
        f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


class ReferenceDocsMiddleware:
    """Serves the API reference at {base}/docs: the one-file Redoc page that `make docs` builds from the spec
    into `html_file` (never committed). It is read again when the file changes, so a rebuild needs no
    restart; until it is built, the path answers 404 saying so."""

    def __init__(self, app: ASGIApp, *, path: str, html_file: Path) -> None:
        self.app = app
        self.path = path
        self.html_file = html_file
        self._page: tuple[int, bytes, str] | None = None  # (mtime, HTML, CSP)

    def _current(self) -> tuple[bytes, str] | None:
        try:
            mtime = self.html_file.stat().st_mtime_ns
            if self._page is None or self._page[0] != mtime:
                html = self.html_file.read_bytes()
                self._page = (mtime, html, reference_csp(html))
        except FileNotFoundError:
            return None
        return self._page[1], self._page[2]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        page = self._current()
        if page is None:
            missing = NotFound("The API reference is not built on this server (`make docs` builds it)")
            return await _send_problem(missing, scope, receive, send)
        html, csp = page
        response = Response(content=html, media_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = csp
        await response(scope, receive, send)


class MethodGuardMiddleware:
    """405 with the spec's `Allow` for a method the spec does not declare on a path it has.

    Runs before Connexion's router, which would list one route's methods only and answer HEAD for GET.
    """

    def __init__(self, app: ASGIApp, *, contract: Contract) -> None:
        self.app = app
        self.contract = contract

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.contract.allowed_methods(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                raise MethodNotAllowed.of(scope["method"], allowed)
        await self.app(scope, receive, send)


class RoutedOnlyMiddleware:
    """404 for a request Connexion's router did not match to an operation, before Flask sees it.

    Flask's matcher accepts some paths Connexion's does not (an encoded newline in a path parameter);
    served anyway, they would run a handler outside every Connexion check.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        if scope["type"] == "http" and routing.get("operation_id") is None:
            raise NotFound("No resource at this path")
        await self.app(scope, receive, send)
