"""RFC 6749's token endpoint (`issueToken`, what Swagger UI's Authorize posts to): the RFC's shapes.

Its answers are the RFC's, not ours: a success is `{access_token, token_type, expires_in, refresh_token}`
(section 5.1) and an error is `{"error": ..., "error_description": ...}` with status 400 (section 5.2),
both application/json and never cached. Wrong credentials and a bad refresh token are `invalid_grant`; a
field that is missing or breaks the spec's schema is `invalid_request`, also when the spec's validator found
it (`rfc6749_error`, applied by the error registry). Everything else this endpoint can answer (413, 415,
429 `account_locked`, 503) stays problem+json like the rest of the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connexion.lifecycle import ConnexionRequest

from core.errors import ApiError, truncate
from models.auth_session import InvalidRefreshToken
from models.user import InvalidCredentials

RFC6749_OPERATION = "issueToken"
# RFC 6749 sections 5.1 and 5.2: an answer of the token endpoint is never stored.
TOKEN_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_DESCRIPTION = 500
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


class TokenError(ApiError):
    """An RFC 6749 section 5.2 error answer; `code` is the RFC's `error`."""

    status = 400

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.code = error

    def encode(self) -> tuple[int, dict[str, str], bytes]:
        # The RFC allows printable ASCII but `"` and `\` in a description; anything else becomes `?`.
        description = _NOT_IN_DESCRIPTION.sub("?", (self.detail or self.title)[:MAX_DESCRIPTION])
        body = {"error": self.code, "error_description": description}
        return self.status, dict(TOKEN_HEADERS), json.dumps(body).encode()


def required(body: dict[str, Any], *names: str) -> list[str]:
    """The values of the fields the grant needs; an absent or empty one is `invalid_request`."""
    missing = [name for name in names if not body.get(name)]
    if missing:
        raise TokenError("invalid_request", f"grant_type {body['grant_type']} needs {', '.join(missing)}")
    return [body[name] for name in names]


def unsupported_grant(grant_type: str) -> TokenError:
    return TokenError("unsupported_grant_type", f"grant_type {truncate(grant_type, 50)!r} is not supported here")


@contextmanager
def grant_errors() -> Iterator[None]:
    """Refused credentials and refresh tokens as the RFC's `invalid_grant`. Lockout (429) and outages (503)
    pass through as the service's problems."""
    try:
        yield
    except (InvalidCredentials, InvalidRefreshToken) as refused:
        raise TokenError("invalid_grant", refused.detail or refused.title) from None


def token_response(pair: dict[str, Any]) -> dict[str, Any]:
    """services.accounts' token pair in RFC 6749's names."""
    return {
        "access_token": pair["accessToken"],
        "token_type": pair["tokenType"],
        "expires_in": pair["expiresIn"],
        "refresh_token": pair["refreshToken"],
    }


def rfc6749_error(request: ConnexionRequest, error: ApiError) -> ApiError:
    """On the token endpoint, a 400 of the framework (a missing, unknown or invalid field) is `invalid_request`."""
    routing = request.scope.get("extensions", {}).get("connexion_routing", {})
    if error.status != 400 or isinstance(error, TokenError) or routing.get("operation_id") != RFC6749_OPERATION:
        return error
    return TokenError("invalid_request", error.detail or error.title)
