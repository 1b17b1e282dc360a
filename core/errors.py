"""Domain errors: expected failures raise an `ApiError` subclass, which carries its HTTP status, its stable
`code` and its application/problem+json body. web/errors.py translates everything else into one of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from core.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
MAX_DETAIL_CHARS = 500  # problem details may echo input: never echo much of it
MAX_FIELD_ERRORS = 50


class FieldError(TypedDict):
    field: str
    message: str


def truncate(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ApiError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal Server Error"
    type = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = truncate(self.detail)
        body["code"] = self.code
        body["requestId"] = request_id_var.get() or "-"
        if self.errors:
            body["errors"] = [
                {"field": truncate(e["field"], 200), "message": truncate(e["message"], 300)}
                for e in self.errors[:MAX_FIELD_ERRORS]
            ]
        return body

    def encode(self) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the problem response."""
        headers = {**self.headers, "Content-Type": PROBLEM_JSON}
        return self.status, headers, json.dumps(self.body()).encode()


class ValidationFailed(ApiError):
    status, code, title, type = 400, "validation_error", "Request validation failed", "/problems/validation-error"


class MalformedRequest(ApiError):
    status, code, title, type = 400, "malformed_request", "Malformed request", "/problems/malformed-request"


class InvalidCursor(ApiError):
    status, code, title, type = 400, "invalid_cursor", "Invalid cursor", "/problems/invalid-cursor"

    def __init__(self) -> None:
        super().__init__("This is not a cursor this API issued for this list; start again without it.")


class CorsRejected(ApiError):
    status, code, title = 400, "cors_rejected", "CORS preflight refused"


class Unauthorized(ApiError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer", **(headers or {})})


class Forbidden(ApiError):
    status, code, title = 403, "forbidden", "Forbidden"


class InvalidSignature(Forbidden):
    """A provider's callback (Twilio's) without a valid signature of its account."""

    code = "invalid_signature"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class NoBusiness(Forbidden):
    """A person who belongs to no business asked for a business's resource: no role, so no scope for it."""

    code = "no_business"

    def __init__(self) -> None:
        super().__init__("You do not belong to a business yet: create one (POST /business/me) or accept an invitation.")


class NotFound(ApiError):
    status, code, title = 404, "not_found", "Not Found"


class MethodNotAllowed(ApiError):
    status, code, title = 405, "method_not_allowed", "Method Not Allowed"

    @classmethod
    def of(cls, method: str, allowed: frozenset[str]) -> MethodNotAllowed:
        return cls(f"{method} is not allowed here", headers={"Allow": ", ".join(sorted(allowed))})


class PayloadTooLarge(ApiError):
    status, code, title = 413, "payload_too_large", "Payload Too Large"


class RequestTimeout(ApiError):
    status, code, title = 408, "request_timeout", "Request Timeout"


class RequestHeadTooLarge(ApiError):
    status, code, title = 431, "request_head_too_large", "Request Header Fields Too Large"


class UnsupportedMediaType(ApiError):
    status, code, title = 415, "unsupported_media_type", "Unsupported Media Type"


class RateLimited(ApiError):
    status, code, title = 429, "rate_limited", "Too Many Requests"

    def __init__(self, retry_after_seconds: int, headers: Mapping[str, str]) -> None:
        super().__init__(
            f"Too many requests; try again in {retry_after_seconds} s",
            headers={**headers, "Retry-After": str(retry_after_seconds)},
        )


class ServiceUnavailable(ApiError):
    status, code, title = 503, "service_unavailable", "Service Unavailable"
    retry_after_seconds = 5

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.retry_after_seconds)})


class DatabaseUnavailable(ServiceUnavailable):
    code, title, type = "database_unavailable", "Database unavailable", "/problems/database-unavailable"


class BusinessRuleBroken(ApiError):
    """A well-formed request that breaks a rule of the domain; `code` names the rule."""

    status, title, type = 422, "Business rule broken", "/problems/business-rule"

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail, errors=[{"field": field, "message": detail}] if field else ())
        self.code = code


class Conflict(ApiError):
    """The request conflicts with the current state; `code` names how."""

    status, title, type = 409, "Conflict", "/problems/conflict"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class PreconditionFailed(ApiError):
    status, code, title, type = 412, "precondition_failed", "Precondition failed", "/problems/precondition-failed"

    def __init__(self) -> None:
        super().__init__("The resource changed since you read it (If-Match does not match its ETag); read it again.")
