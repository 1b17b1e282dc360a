"""What handlers return: (body, status, headers), each status built one way by the helpers below.

Operations declare application/json for success and application/problem+json for errors, so Connexion cannot
pick the media type itself (connexion#1956): every helper that sends a body, or that the spec gives one, names
it (application/json unless told).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import flask

from web.wsgi_bridge import STREAMED

Response = tuple[Any, int, dict[str, str]]

JSON_TYPE = "application/json"
JSON = {"Content-Type": JSON_TYPE}

# Responses that carry tokens or secrets must never be cached (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store"}


def ok(body: Any, *, media_type: str = JSON_TYPE, **headers: str) -> Response:
    """200 with `body`; `headers` may name the Content-Type too (the same as `media_type`)."""
    return body, 200, {"Content-Type": media_type, **headers}


def created(body: Any, *, location: str, **headers: str) -> Response:
    """201 with the new resource and where it lives."""
    return body, 201, {**JSON, **headers, "Location": location}


def accepted(body: Any = None, **headers: str) -> Response:
    """202: the work is queued. Without a body, no headers of its own (the spec declares no content)."""
    return body, 202, {**JSON, **headers} if body is not None else dict(headers)


def no_content() -> Response:
    return None, 204, {}


def redirect(location: str) -> Response:
    """302 without a body; Connexion still wants one of the operation's media types named (connexion#1956)."""
    return None, 302, {**JSON, "Location": location}


def streamed(chunks: Iterator[bytes], content_type: str, headers: Mapping[str, str]) -> flask.Response:
    """A 200 whose body is sent as `chunks` yields it (web/wsgi_bridge.py), never held whole here. An exception
    from `chunks` once it has started cuts the response off: the client sees an incomplete body."""
    flask.request.environ[STREAMED] = True
    return flask.Response(chunks, status=200, content_type=content_type, headers=dict(headers), direct_passthrough=True)
