"""Bearer tokens from an external identity provider (JWT_ISSUER, JWT_AUDIENCE, JWT_JWKS_URI).

Verified against the provider's JWKS, which is cached and fetched again (once) when a token names a key
we do not have; `iss`, `aud` and `exp` are enforced and the algorithm is pinned to asymmetric ones.
Callers run on a worker thread (web.security), so the HTTP fetch blocks no event loop.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from connectors import http

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "ES256"]  # never "none", never HS*: a public key cannot become an HMAC secret
REFETCH_AT_MOST_EVERY = 30.0  # seconds between fetches of the provider's keys


@dataclass
class ExternalIdp:
    issuer: str
    audience: str
    jwks_uri: str
    timeout: float = 5.0
    _keys: KeySet | None = field(default=None, repr=False)
    _attempted_at: float | None = field(default=None, repr=False)  # last fetch, successful or not
    _refreshed_at: float | None = field(default=None, repr=False)  # last fetch for an unknown kid
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def issued(self, token: str) -> bool:
        """Whether the token claims to come from this provider (unverified: only to pick the verifier)."""
        try:
            payload = token.split(".")[1]
            claims = json.loads(_b64decode(payload))
            return isinstance(claims, dict) and claims.get("iss") == self.issuer
        except (IndexError, ValueError):
            return False

    def verify(self, token: str) -> dict[str, Any] | None:
        """The token's claims if it is valid, else None."""
        keys = self._key_set(refresh=False)
        if keys is None:
            return None
        kid = _header_kid(token)
        if kid is not None and all(key.kid != kid for key in keys.keys):
            keys = self._key_set(refresh=True)  # the provider may have rotated its keys
            if keys is None:
                return None
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
            JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
            return dict(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError):
            return None

    def _key_set(self, *, refresh: bool) -> KeySet | None:
        """The cached keys; fetched when there are none or `refresh` asks, at most once per interval,
        so neither an unknown kid nor a provider that is down makes every request wait on it."""
        with self._lock:
            now = time.monotonic()
            if self._keys is None:
                due = _elapsed(self._attempted_at, now)
            else:
                due = refresh and _elapsed(self._refreshed_at, now)
            if due:
                self._attempted_at = now
                self._refreshed_at = now if refresh else self._refreshed_at
                try:
                    with http.client(self.timeout) as client:
                        response = client.get(self.jwks_uri)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
                except (http.HTTPError, ValueError, JoseError) as error:
                    log.warning("could not fetch the identity provider's keys: %s", type(error).__name__)
            return self._keys


def _elapsed(since: float | None, now: float) -> bool:
    return since is None or now - since > REFETCH_AT_MOST_EVERY


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _header_kid(token: str) -> str | None:
    try:
        header = json.loads(_b64decode(token.split(".")[0]))
        kid = header.get("kid") if isinstance(header, dict) else None
        return kid if isinstance(kid, str) else None
    except (IndexError, ValueError):
        return None
