"""The spec's security functions: the checks every request with a bearer token or an API key gets.

`token_info` is the spec's `x-tokenInfoFunc`, `api_key_info` its `x-apikeyInfoFunc`, `bearer_info` its
`x-bearerInfoFunc` (which accepts nothing itself: see there). Connexion calls them
in the ASGI layer, on the event loop, outside Flask: they find the app's services in the scope
(web.context.of_request), and the database check (is the token's session still standing? is the key
still valid?) runs on a thread, in a session of its own.
"""

from __future__ import annotations

from typing import Any

import anyio
from connexion.exceptions import OAuthScopeProblem
from connexion.lifecycle import ConnexionRequest
from connexion.security import NO_VALUE

from connectors.identity_provider import ExternalIdp
from models import ApiKey, AuthSession, User
from web.context import AppServices, of_request


def check_token(app_services: AppServices, token: str) -> dict[str, Any] | None:
    """What a bearer token stands for (web.context's caller shape), or None: ours, or the identity provider's."""
    ids = app_services.tokens.verify(token)
    if ids is None:
        external = app_services.identity_provider
        if external is not None and external.issued(token):
            return _check_external(app_services, external, token)
        return None
    user_id, session_id = ids
    with app_services.database.sessions() as session:
        auth_session = AuthSession.active_for_token(session, session_id, user_id)
        if auth_session is None:
            return None
        return auth_session.user.token_info(session_id)


def check_api_key(app_services: AppServices, secret: str) -> dict[str, Any] | None:
    with app_services.database.sessions.begin() as session:
        key = ApiKey.authenticate(session, secret)
        if key is None:
            return None
        return {"sub": None, "apiKey": str(key.id), "business": str(key.business_id), "scope": list(key.scopes)}


def _check_external(app_services: AppServices, external: ExternalIdp, token: str) -> dict[str, Any] | None:
    claims = external.verify(token)
    if claims is None:
        return None
    with app_services.database.sessions.begin() as session:
        user = User.from_external(session, external.issuer, claims)
        if user is None:
            return None
        session.refresh(user, ["membership"])
        # No sid: the provider owns that session; there is nothing of ours to revoke.
        return user.token_info(None)


async def token_info(token: str, request: ConnexionRequest) -> dict[str, Any] | None:
    return await anyio.to_thread.run_sync(check_token, of_request(request), token)


async def api_key_info(api_key: str, request: ConnexionRequest) -> dict[str, Any] | None:
    """The spec's `x-apikeyInfoFunc` for `X-API-Key` (Connexion reads it from the header only). OpenAPI 3.0
    gives `apiKey` requirements no scopes, so a key needs the scopes of the operation's `userToken`
    requirement, as the scheme's description says; a key without them is 403 `insufficient_scope`."""
    app_services = of_request(request)
    info = await anyio.to_thread.run_sync(check_api_key, app_services, api_key)
    operation = request.scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
    required = app_services.key_scopes.get(operation) if operation else None
    if info is not None and (required is None or not required <= set(info["scope"])):
        raise OAuthScopeProblem(token_scopes=info["scope"], required_scopes=sorted(required or ["(unknown)"]))
    return info


def bearer_info(token: str) -> object:
    """The spec's `x-bearerInfoFunc` of `bearerAuth`, the `http`/`bearer` scheme that gives Swagger UI a field to
    paste an access token into. It sends the same `Authorization: Bearer ...` header as `userToken`, which
    every operation lists beside it and which checks the token and the operation's scopes (`token_info`).

    Connexion gives an http bearer function no scopes (connexion#1515), so a token accepted here would skip
    the scope check. So this accepts no token: NO_VALUE means "no credentials of this scheme", and Connexion
    goes on to `userToken`'s answer (200, 401, or 403 `insufficient_scope`) exactly as without this scheme.
    """
    return NO_VALUE
