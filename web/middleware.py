"""The web layer's own ASGI middleware: one layer outside Connexion (`Edge`) and three in its stack (`AfterSecurity`,
and `SwaggerUI` and `Routing` in place of Connexion's own). app.py installs them.

What every request meets, in this order:

`Edge`, outside Connexion's error handling, so it sees every response, Connexion's own errors included:
  1. the request id (the caller's X-Request-ID if sane, else a new one), the client's address, and the app's
     services in the scope (web.context.scope_state);
  2. a server span, when tracing is on (core/tracing.py);
  3. when the response is done: one access line and the request's metrics (web/metrics.py);
  4. on the response: X-Request-ID, the security headers, Deprecation and Sunset for a deprecated operation,
     and the RateLimit headers the request earned (step 10);
  5. CORS, when origins are configured (a refused preflight is a problem like every other error);
  6. 413 for a body over MAX_BODY_BYTES and 415 for a body without a Content-Type, before anything reads it;
  7. the documents: the public contract (JSON and YAML) and the API reference;
  8. 405 with the spec's Allow for a method the spec does not declare on a path it has.
Connexion: its error handling, then Swagger UI (`SwaggerUI`: asked only for paths under `/ui`).
`Routing`, in place of Connexion's router: the operation and path parameters of the route step 8 found.
Connexion: the credential check (web/security.py).
`AfterSecurity`, between Connexion's credential check and its validation:
  9. 404 for a request the router matched to no operation, before Flask (whose matcher is laxer) sees it;
 10. the rate limit (web/rate_limits.py): 429 past the budget, before the request is validated or served.
Connexion: validation, then the handler in Flask (web/wsgi_bridge.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from connexion.middleware.abstract import SpecMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, StatusCode
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from core.errors import (
    PROBLEM_JSON,
    ApiError,
    CorsRejected,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
)
from core.logging import client_ip_var, request_id_var
from core.tracing import tracer
from web import metrics
from web.rate_limits import RateLimits
from web.spec import Contract, Route

access_log = logging.getLogger("switchboard.access")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PROBLEM_BYTES = 16384
_PROBLEM_TYPE = PROBLEM_JSON.encode()
_RATE_LIMIT_HEADERS = "switchboard.rate_limit_headers"  # scope["state"] key: step 10 leaves them for step 4
_HEADERS = "switchboard.headers"  # scope key: the request's headers by name, read once by Edge
_ROUTE = "switchboard.route"  # scope key: what the spec serves at the request's path (step 8), for `Routing`

# Step 4: set on every response, replacing what the response had (Content-Security-Policy only if it has none).
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
UI_CSP = b"frame-ancestors 'none'"  # Swagger UI needs its scripts and styles
_NO_STORE = (b"cache-control", b"no-store")
_CSP = b"content-security-policy"

# Paths that carry a credential (playRecording's signed token, good for days): logged and traced without it.
_CREDENTIAL_IN_PATH = re.compile(r"^(/api/v1/recordings/)[^/]+$")


def loggable_path(path: str) -> str:
    return _CREDENTIAL_IN_PATH.sub(r"\1{token}", path)


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def _send_problem(error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    status, headers, body = error.encode()
    await Response(content=body, status_code=status, headers=headers)(scope, receive, send)


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


def _problem_code(body: bytearray | None) -> str | None:
    if body is None:
        return None
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


class Edge:
    """Steps 1-8 above, in one layer: one `send` wrapper, the request's headers read once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        contract: Contract,
        reference: ReferenceDocs | None,
        state: Mapping[str, Any],
    ) -> None:
        self.app = app
        self.state = state  # put in every request's scope state (web.context.scope_state)
        self.trusted_proxies = [ip_network(proxy, strict=False) for proxy in settings.trusted_proxies]
        self.tracing = settings.tracing_enabled
        self.ui_path = f"{contract.base_path}/ui"
        self.deprecations = {operation: _encoded(headers) for operation, headers in contract.deprecations.items()}
        self.max_body_bytes = settings.max_body_bytes
        self.contract = contract
        self.documents = {
            f"{contract.base_path}/openapi.json": (contract.served_json, "application/json"),
            f"{contract.base_path}/openapi.yaml": (contract.served_yaml, "application/yaml"),
        }
        self.reference = reference
        self.inner: ASGIApp = self.serve
        if settings.cors_origins:
            self.inner = ProblemCORSMiddleware(
                self.serve,
                allow_origins=list(settings.cors_origins),
                allow_methods=sorted({op.method for op in contract.operations}),
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "X-API-Key",
                    "X-Request-ID",
                    "Idempotency-Key",
                    "If-Match",
                ],
                expose_headers=["X-Request-ID", "Location", "ETag", "Retry-After", "RateLimit", "RateLimit-Policy"],
                max_age=600,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers: dict[bytes, bytes] = dict(scope["headers"])
        scope[_HEADERS] = headers

        # 1. Request id and client address; a trusted proxy that ended TLS sets the scheme (the served spec's URL).
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else str(uuid.uuid4())
        client = scope.get("client")
        peer = client[0] if client else None
        address = peer
        if self.trusted_proxies:
            # Every X-Forwarded-For line, in order (a proxy may add a line of its own rather than append to one).
            hops = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
            forwarded_for = ",".join(hops)
            address = client_address(peer, forwarded_for, self.trusted_proxies)
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https") and _is_trusted(peer, self.trusted_proxies):
                scope["scheme"] = proto
        id_token, ip_token = request_id_var.set(request_id), client_ip_var.set(address)

        # 4. What every response gets.
        added = [(b"x-request-id", request_id.encode()), *_SECURITY_HEADERS]
        if b"authorization" in headers or b"x-api-key" in headers:
            added.append(_NO_STORE)
        csp = UI_CSP if scope["path"].startswith(self.ui_path) else API_CSP
        state = scope.setdefault("state", {})
        state.update(self.state)
        extensions = scope.setdefault("extensions", {})
        status = 500  # what the server answers if the app fails before it starts a response
        problem: bytearray | None = None  # the body of a problem response, for the access line (they are small)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, problem
            if message["type"] == "http.response.start":
                status = message["status"]
                answer = added
                operation = extensions.get("connexion_routing", {}).get("operation_id")
                if operation in self.deprecations:
                    answer = [*answer, *self.deprecations[operation]]
                if _RATE_LIMIT_HEADERS in state:
                    answer = [*answer, *state[_RATE_LIMIT_HEADERS]]
                replaced = {name for name, _ in answer}
                kept = [(name, value) for name, value in message.get("headers", ()) if name.lower() not in replaced]
                if not any(name.lower() == _CSP for name, _ in kept):
                    kept.append((_CSP, csp))
                if any(name.lower() == b"content-type" and value == _PROBLEM_TYPE for name, value in kept):
                    problem = bytearray()
                message["headers"] = kept + answer
            elif problem is not None and len(problem) < _PROBLEM_BYTES:
                problem += message.get("body", b"")
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            with self._span(scope) as span:  # 2.
                try:
                    await self.inner(scope, receive, send_with_headers)  # 5-8, then Connexion
                finally:  # 3., inside the span: the access line carries its trace id
                    seconds = time.perf_counter() - started
                    operation = extensions.get("connexion_routing", {}).get("operation_id")
                    if span is not None:
                        _describe(span, scope, operation, status)
                    metrics.observe_request(operation, scope["method"], status, seconds)
                    if access_log.isEnabledFor(logging.INFO):
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
        finally:
            metrics.IN_FLIGHT.dec()
            client_ip_var.reset(ip_token)
            request_id_var.reset(id_token)

    def _span(self, scope: Scope) -> AbstractContextManager[Span | None]:
        """A server span, child of the caller's W3C `traceparent`; named by the operationId once routed."""
        if not self.tracing:
            return nullcontext()
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        name = f"{scope['method']} (unrouted)"
        return tracer.start_as_current_span(name, context=propagate.extract(carrier), kind=SpanKind.SERVER)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Steps 6-8, then Connexion."""
        headers: dict[bytes, bytes] = scope[_HEADERS]
        # 6. The body limit; a chunked body is read up to it and replayed whole with its length.
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _send_problem(MalformedRequest("Content-Length is not a number"), scope, receive, send)
            if int(declared) > self.max_body_bytes:
                return await _send_problem(self._too_large(), scope, receive, send)
            if int(declared) and b"content-type" not in headers:
                return await _send_problem(_UNTYPED, scope, receive, send)
        elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            replayed = await self._read_chunked(scope, receive, send)
            if replayed is None:
                return
            scope, receive = replayed

        # 7. The documents.
        method, path = scope["method"], scope["path"]
        if method in ("GET", "HEAD"):
            if path in self.documents:
                served, media_type = self.documents[path]
                body = served(scope.get("scheme", "http"), headers.get(b"host", b"").decode("latin-1"))
                return await Response(content=body, media_type=media_type)(scope, receive, send)
            if self.reference is not None and path == self.reference.path:
                return await self.reference(scope, receive, send)

        # 8. The route, found once (`Routing` hands it to Connexion); a method the spec does not declare on this
        # path is a 405 (Connexion's router would list one route's methods only, and answer HEAD for GET).
        route = scope[_ROUTE] = self.contract.route(path)
        if route is not None and method not in route.allowed:
            return await _send_problem(MethodNotAllowed.of(method, route.allowed), scope, receive, send)
        await self.app(scope, receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body exceeds {self.max_body_bytes} bytes")

    async def _read_chunked(self, scope: Scope, receive: Receive, send: Send) -> tuple[Scope, Receive] | None:
        """The chunked body read up to the limit, as a scope with its Content-Length (Connexion's body validation
        relies on it) and a `receive` that replays it; None when a problem was sent or the client went away."""
        chunks: list[bytes] = []
        received = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_body_bytes:
                await _send_problem(self._too_large(), scope, receive, send)
                return None
            more_body = message.get("more_body", False)
        body = b"".join(chunks)
        if body and b"content-type" not in scope[_HEADERS]:
            await _send_problem(_UNTYPED, scope, receive, send)
            return None
        kept = [(k, v) for k, v in scope["headers"] if k not in (b"transfer-encoding", b"content-length")]
        scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        replayed = False

        async def replaying_receive() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return scope, replaying_receive


_UNTYPED = UnsupportedMediaType("A request body needs a Content-Type")


def _describe(span: Span, scope: Scope, operation: str | None, status: int) -> None:
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


class SwaggerUI(SwaggerUIMiddleware):
    """Connexion's Swagger UI, asked only for paths it could serve (they all lie under a `/ui` path: app.py serves
    the documents itself); its router would otherwise try each of its routes on every request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "/ui" not in scope["path"]:
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class Routing(SpecMiddleware):
    """Connexion's routing step, in place of its RoutingMiddleware (which tries every route's pattern in turn): the
    operation and path parameters of the route Edge found (step 8), in the scope where Connexion's security,
    validation and context look for them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def add_api(self, specification: Any, **kwargs: Any) -> None:
        """Nothing to learn: the routes are the Contract's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route: Route | None = scope.get(_ROUTE)
            operation = route.operations.get(scope["method"]) if route else None
            routing: dict[str, str | None] = {"api_base_path": None, "operation_id": None}
            if route is not None and operation is not None:
                routing = {"api_base_path": operation.base_path, "operation_id": operation.operation_id}
                scope["path_params"] = dict(route.params)
            scope.setdefault("extensions", {})["connexion_routing"] = routing
        await self.app(scope, receive, send)


class AfterSecurity:
    """Steps 9 and 10 above: after Connexion's credential check (the rate limit knows the caller) and before
    validation (invalid requests count). The RateLimit headers are left in the scope for Edge to add: Connexion's
    error handling sends error responses past any layer inside it."""

    def __init__(self, app: ASGIApp, *, rate_limits: RateLimits) -> None:
        self.app = app
        self.rate_limits = rate_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        operation = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        if operation is None:
            raise NotFound("No resource at this path")
        spent = await self.rate_limits.spend(operation, scope)
        if spent is not None:
            allowed, reset, headers = spent
            scope["state"][_RATE_LIMIT_HEADERS] = _encoded(headers)
            if not allowed:
                raise RateLimited(max(reset, 1), headers)
        await self.app(scope, receive, send)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        status, headers, body = CorsRejected(bytes(response.body).decode()).encode()
        problem = Response(content=body, status_code=status, headers=headers)
        problem.headers.update({k: v for k, v in response.headers.items() if k.lower().startswith("access-control")})
        return problem


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


class ReferenceDocs:
    """The API reference at `path` (ASGI, GET and HEAD): the one-file Redoc page that `make docs` builds from the
    spec into `html_file` (never committed). It is read again when the file changes, so a rebuild needs no
    restart; until it is built, the path answers 404 saying so."""

    def __init__(self, *, path: str, html_file: Path) -> None:
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
        page = self._current()
        if page is None:
            missing = NotFound("The API reference is not built on this server (`make docs` builds it)")
            return await _send_problem(missing, scope, receive, send)
        html, csp = page
        response = Response(content=html, media_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = csp
        await response(scope, receive, send)
