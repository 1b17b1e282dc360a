"""The one HTTP setup for calls to outside systems (httpx2, which authlib and Starlette use too).

Every connector builds its client here: a deadline on every call (connect, read, write, pool), connection
failures retried once (nothing was sent, so a retry is safe for any method), `HTTPError` as the one
family of failures a connector turns into its own "unavailable" error, and, when tracing is on, a client
span per call that passes the trace on in `traceparent` (core/tracing.py).
"""

from __future__ import annotations

from typing import Any

import httpx2
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from core.tracing import tracer

HTTPError = httpx2.HTTPError
HTTPStatusError = httpx2.HTTPStatusError
CONNECT_RETRIES = 1


class _TracedTransport(httpx2.HTTPTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        with tracer.start_as_current_span(request.method, kind=SpanKind.CLIENT) as span:
            span.set_attributes({"http.request.method": request.method, "server.address": request.url.host})
            propagate.inject(request.headers)
            response = super().handle_request(request)
            span.set_attribute("http.response.status_code", response.status_code)
            return response


def client_options(timeout: float) -> dict[str, Any]:
    """Keyword arguments for httpx2.Client and its subclasses (authlib's OAuth2Client)."""
    return {"timeout": httpx2.Timeout(timeout), "transport": _TracedTransport(retries=CONNECT_RETRIES)}


def client(timeout: float) -> httpx2.Client:
    return httpx2.Client(**client_options(timeout))
