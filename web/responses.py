"""What handlers return: (body, status, headers)."""

from __future__ import annotations

from typing import Any

Response = tuple[Any, int, dict[str, str]]

# Operations declare application/json for success and application/problem+json for errors, so
# Connexion cannot pick the media type itself (connexion#1956): handlers state it.
JSON = {"Content-Type": "application/json"}

# Responses that carry tokens must never be cached (RFC 6749 section 5.1).
JSON_NO_STORE = {**JSON, "Cache-Control": "no-store"}
