"""What handlers return: (body, status, headers)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import flask

from web.wsgi_bridge import STREAMED

Response = tuple[Any, int, dict[str, str]]

# Operations declare application/json for success and application/problem+json for errors, so
# Connexion cannot pick the media type itself (connexion#1956): handlers state it.
JSON = {"Content-Type": "application/json"}

# Responses that carry tokens must never be cached (RFC 6749 section 5.1).
JSON_NO_STORE = {**JSON, "Cache-Control": "no-store"}


def streamed(chunks: Iterator[bytes], content_type: str, headers: Mapping[str, str]) -> flask.Response:
    """A 200 whose body is sent as `chunks` yields it (web/wsgi_bridge.py), never held whole here. An exception
    from `chunks` once it has started cuts the response off: the client sees an incomplete body."""
    flask.request.environ[STREAMED] = True
    return flask.Response(chunks, status=200, content_type=content_type, headers=dict(headers), direct_passthrough=True)
