"""The one HTTP setup for calls to outside systems (httpx2, which authlib and Starlette use too).

Every connector builds its client here: a deadline on every call (connect, read, write, pool), connection
failures retried once (nothing was sent, so a retry is safe for any method), and `HTTPError` as the one
family of failures a connector turns into its own "unavailable" error.
"""

from __future__ import annotations

from typing import Any

import httpx2

HTTPError = httpx2.HTTPError
HTTPStatusError = httpx2.HTTPStatusError
CONNECT_RETRIES = 1


def client_options(timeout: float) -> dict[str, Any]:
    """Keyword arguments for httpx2.Client and its subclasses (authlib's OAuth2Client)."""
    return {"timeout": httpx2.Timeout(timeout), "transport": httpx2.HTTPTransport(retries=CONNECT_RETRIES)}


def client(timeout: float) -> httpx2.Client:
    return httpx2.Client(**client_options(timeout))
