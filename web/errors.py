"""The one registry that turns every exception into application/problem+json.

Domain errors (core/errors.py) carry their own problem. Anything else (Connexion's problems, the router's
404/405, undecodable bodies, database outages, bugs) is translated by `as_api_error`, so every error
response has the same shape, with the request id, and never a traceback, SQL or setting. The one exception
is RFC 6749's token endpoint, whose 400s are the RFC's error objects (web/oauth.py).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from connexion import FlaskApp
from connexion.exceptions import OAuthScopeProblem, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from core.errors import (
    ApiError,
    DatabaseUnavailable,
    Forbidden,
    InsufficientScope,
    MalformedRequest,
    MethodNotAllowed,
    NoBusiness,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from models.business import ROLE_GRANTED_SCOPES
from web.oauth import rfc6749_error

log = logging.getLogger(__name__)

# Connexion raises its own problems for what it checks itself; they map onto ours by status.
_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (ValidationFailed, Unauthorized, Forbidden, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType)
}


def as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OAuthScopeProblem):
        # A business's scope asked of a person with no role at all: they have no business yet.
        if (
            set(exc.required_scopes or ()) & ROLE_GRANTED_SCOPES
            and not set(exc.token_scopes or ()) & ROLE_GRANTED_SCOPES
        ):
            return NoBusiness()
        return InsufficientScope("Your role does not allow this operation")
    if isinstance(exc, HTTPException) and exc.status_code == 404:
        return NotFound("No resource at this path")
    if isinstance(exc, HTTPException) and exc.status_code in _BY_STATUS:
        detail = getattr(exc, "detail", None)
        error = _BY_STATUS[exc.status_code](str(detail) if detail else None, headers=getattr(exc, "headers", None))
        if isinstance(error, ValidationFailed) and isinstance(exc, ProblemException) and exc.detail:
            error.errors = [{"field": "body", "message": str(exc.detail)}]
        return error
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        return _plain_client_error(exc.status_code)
    if isinstance(exc, UnicodeDecodeError):
        return MalformedRequest("The request body is not valid UTF-8")
    if isinstance(exc, (OperationalError, PoolTimeoutError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        return DatabaseUnavailable("The database is not answering; try again shortly.")
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return ApiError()


def _plain_client_error(status: int) -> ApiError:
    """A 4xx no class of ours names (the framework's own, such as 406): still a problem, never a 500."""
    phrase = HTTPStatus(status).phrase
    error = ApiError()
    error.status, error.title, error.code = status, phrase, phrase.lower().replace(" ", "_").replace("-", "_")
    return error


def _handle(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    status, headers, body = rfc6749_error(request, as_api_error(exc)).encode()
    return ConnexionResponse(status_code=status, mimetype=headers["Content-Type"], headers=headers, body=body)


def register_error_handlers(app: FlaskApp) -> None:
    for exception_class in (Exception, HTTPException, ProblemException):
        app.add_error_handler(exception_class, _handle)
