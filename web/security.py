"""The spec's security functions: the checks every request with a bearer token or an API key gets.

`token_info` is the spec's `x-tokenInfoFunc`, `api_key_info` its `x-apikeyInfoFunc`, `bearer_info` its
`x-bearerInfoFunc` (which accepts nothing itself: see there), and `twilio_signature_info` the function of the
internal `twilioSignature` scheme that Twilio's callbacks declare. Connexion calls them in the ASGI layer, on the
event loop, outside Flask; they find the app's services in the scope (web.context.of_request).

A credential is checked in two halves, both on every request. Here, without the database: our token's
signature and lifetime, or a key's shape and checksum; what fails is 401 at once. Then, in the request's own
database session before its handler runs (web.context's `await_confirmation`): does the token's session
still stand, is the key still valid, and do the person's role or the key's scopes grant the operation? So a
revocation or a role change applies on the next request, and a request opens one session, not two (nor
crosses to a thread and back for the check). Until that second half runs, the info Connexion holds is
provisional: the operation's scopes, so its scope check passes; the second half fills in the real one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import anyio
from connexion.exceptions import OAuthScopeProblem
from connexion.lifecycle import ConnexionRequest
from connexion.security import NO_VALUE
from sqlalchemy.orm import Session

from connectors.identity_provider import ExternalIdp
from core.errors import Unauthorized
from models import ApiKey, AuthSession, User
from models.api_key import is_well_formed
from web import twilio
from web.context import AppServices, await_confirmation, of_request

Confirmation = Callable[[Session], dict[str, Any]]


def _required_scopes(app_services: AppServices, request: ConnexionRequest) -> frozenset[str]:
    """The scopes of the operation's `userToken` requirement: what a person's role or a key must grant."""
    operation = request.scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
    return app_services.key_scopes.get(operation, frozenset()) if operation else frozenset()


def _granted(info: dict[str, Any], required: frozenset[str]) -> dict[str, Any]:
    if not required <= set(info["scope"]):
        raise OAuthScopeProblem(token_scopes=info["scope"], required_scopes=sorted(required))
    return info


def _provisional(
    request: ConnexionRequest, required: frozenset[str], confirm: Confirmation, *, sub: str | None, caller: str
) -> dict[str, Any]:
    # Connexion hands handlers `sub` as `user`; `caller` names whose budget the request spends (web.rate_limits).
    info: dict[str, Any] = {"sub": sub, "caller": caller, "scope": sorted(required)}
    await_confirmation(request, lambda session: info.update(confirm(session)))
    return info


async def token_info(token: str, request: ConnexionRequest) -> dict[str, Any] | None:
    app_services = of_request(request)
    ids = app_services.tokens.verify(token)
    if ids is None:
        external = app_services.identity_provider
        if external is not None and external.issued(token):
            return await anyio.to_thread.run_sync(_check_external, app_services, external, token)
        return None
    user_id, session_id = ids
    required = _required_scopes(app_services, request)

    def confirm(session: Session) -> dict[str, Any]:
        auth_session = AuthSession.active_for_token(session, session_id, user_id)
        if auth_session is None:
            raise Unauthorized("Provided token is not valid")
        return _granted(auth_session.user.token_info(session_id), required)

    return _provisional(request, required, confirm, sub=str(user_id), caller=f"user:{user_id}")


async def api_key_info(api_key: str, request: ConnexionRequest) -> dict[str, Any] | None:
    """The spec's `x-apikeyInfoFunc` for `X-API-Key` (Connexion reads it from the header only). OpenAPI 3.0
    gives `apiKey` requirements no scopes, so a key needs the scopes of the operation's `userToken`
    requirement, as the scheme's description says; a key without them is 403 `insufficient_scope`."""
    if not is_well_formed(api_key):
        return None
    required = _required_scopes(of_request(request), request)

    def confirm(session: Session) -> dict[str, Any]:
        key = ApiKey.authenticate(session, api_key)
        if key is None:
            raise Unauthorized("Provided apikey is not valid")
        info = {"sub": None, "apiKey": str(key.id), "business": str(key.business_id), "scope": list(key.scopes)}
        return _granted(info, required)

    # Budgets go by the whole secret, not its prefix: anyone can write a well-formed secret with another
    # key's prefix, and must not spend that key's budget with it.
    caller = f"key:{hashlib.sha256(api_key.encode()).hexdigest()[:32]}"
    return _provisional(request, required, confirm, sub=None, caller=caller)


def _check_external(app_services: AppServices, external: ExternalIdp, token: str) -> dict[str, Any] | None:
    """A token of the configured identity provider: verified against its JWKS (a network call, so on a thread)
    and its person provisioned on first sight, in a session of its own."""
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


def bearer_info(token: str) -> object:
    """The spec's `x-bearerInfoFunc` of `bearerAuth`, the `http`/`bearer` scheme that gives Swagger UI a field to
    paste an access token into. It sends the same `Authorization: Bearer ...` header as `userToken`, which
    every operation lists beside it and which checks the token and the operation's scopes (`token_info`).

    Connexion gives an http bearer function no scopes (connexion#1515). The confirmation checks the
    operation's scopes itself, so a token accepted here could not skip them; still, one scheme answering keeps
    one path. So this accepts no token: NO_VALUE means "no credentials of this scheme", and Connexion goes on
    to `userToken`'s answer (200, 401, or 403 `insufficient_scope`) exactly as without this scheme.
    """
    return NO_VALUE


def metrics_token_info(token: str, request: ConnexionRequest) -> dict[str, Any] | None:
    """The spec's `x-bearerInfoFunc` of `metricsToken`: the deployment's METRICS_TOKEN, compared in constant
    time. Anything else is None; getMetrics then decides whether it answers without a token."""
    expected = of_request(request).settings.metrics_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return {"sub": None, "metrics": True}
    return None


def twilio_signature_info(signature: str, request: ConnexionRequest) -> dict[str, Any]:
    """The spec's `x-apikeyInfoFunc` of `twilioSignature` (`X-Twilio-Signature`, on Twilio's callbacks only).

    The signature covers the URL and the form body, and Connexion gives security functions the request's scope
    but not its body. So the check is the second half here, as the database half of the other credentials is:
    web.twilio.check_signature runs in Flask before the handler, where the form is read, and answers 403
    `invalid_signature`. This half refuses nothing itself: the operations list `{}` beside the scheme (so a
    request without the header meets the spec's required-parameter 400, not Connexion's 401), and that
    alternative would take the place of a refusal here.
    """
    await_confirmation(request, lambda _session: twilio.check_signature(signature))
    return {"sub": None, "twilio": True}
