"""The one HTTP setup for calls to outside systems (httpx2, which authlib and Starlette use too).

Every connector builds its client here: a deadline on every call (connect, read, write, pool), connection
failures retried once (nothing was sent, so a retry is safe for any method), `HTTPError` as the one
family of failures a connector turns into its own "unavailable" error, and, when tracing is on, a client
span per call that passes the trace on in `traceparent` (core/tracing.py).
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpcore2
import httpx2
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from core.tracing import tracer

HTTPError = httpx2.HTTPError
HTTPStatusError = httpx2.HTTPStatusError
CONNECT_RETRIES = 1


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx2.create_ssl_context()  # reads SSL_CERT_FILE and SSL_CERT_DIR, the cache's key


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process (per trusted-CA setting): building one loads the CA bundle, which cost a
    webhook delivery most of its CPU when each made its own."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class _TracedTransport(httpx2.HTTPTransport):
    def __init__(self, *, network_backend: httpcore2.NetworkBackend | None = None) -> None:
        ssl_context = shared_ssl_context()
        super().__init__(verify=ssl_context, retries=CONNECT_RETRIES)
        if network_backend is not None:  # HTTPTransport takes none: the same pool, connecting through it
            self._pool = httpcore2.ConnectionPool(
                ssl_context=ssl_context, retries=CONNECT_RETRIES, network_backend=network_backend
            )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        with tracer.start_as_current_span(request.method, kind=SpanKind.CLIENT) as span:
            span.set_attributes({"http.request.method": request.method, "server.address": request.url.host})
            propagate.inject(request.headers)
            response = super().handle_request(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response


def client_options(timeout: float) -> dict[str, Any]:
    """Keyword arguments for httpx2.Client and its subclasses (authlib's OAuth2Client)."""
    return {"timeout": httpx2.Timeout(timeout), "transport": _TracedTransport()}


def client(timeout: float) -> httpx2.Client:
    return httpx2.Client(**client_options(timeout))


def pinned_client(timeout: float, network_backend: httpcore2.NetworkBackend) -> httpx2.Client:
    """A client whose connections go where `network_backend` decides (URL, Host, TLS SNI and certificate
    checks stay on the URL's host), and which takes no proxy from the environment."""
    return httpx2.Client(
        timeout=httpx2.Timeout(timeout), transport=_TracedTransport(network_backend=network_backend), trust_env=False
    )
