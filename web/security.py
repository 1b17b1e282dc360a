"""The spec's security functions: the checks every request with a bearer token or an API key gets.

`token_info` is the spec's `x-tokenInfoFunc`, `api_key_info` its `x-apikeyInfoFunc`. Connexion calls them
in the ASGI layer, on the event loop, outside Flask: they find the app's services in the scope
(web.context.of_request), and the database check (is the token's session still standing? is the key
still valid?) runs on a thread, in a session of its own.
"""

from __future__ import annotations

from typing import Any

import anyio
from connexion.exceptions import OAuthScopeProblem
from connexion.lifecycle import ConnexionRequest

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


async def api_key_info(
    api_key: str, required_scopes: list[str] | None, request: ConnexionRequest
) -> dict[str, Any] | None:
    """The spec's `x-apikeyInfoFunc` for `X-API-Key` (Connexion reads it from the header only). Connexion
    leaves scope checks of API keys to this function: a key without them is 403 `insufficient_scope`."""
    info = await anyio.to_thread.run_sync(check_api_key, of_request(request), api_key)
    if info is not None and not set(required_scopes or ()) <= set(info["scope"]):
        raise OAuthScopeProblem(token_scopes=info["scope"], required_scopes=required_scopes)
    return info
