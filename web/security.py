"""Access tokens: ES256 JWTs signed with our keys (`kid`-rotated), and the checks every request gets.

`token_info` is the spec's `x-tokenInfoFunc`. Connexion calls it in the ASGI layer, on the event loop,
so the database check (is the token's session still standing?) runs on a thread.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import flask
from connexion.exceptions import OAuthScopeProblem
from connexion.lifecycle import ConnexionRequest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

from connectors.identity_provider import ExternalIdp
from core.config import Settings
from core.db import Database
from models import ApiKey, AuthSession, User

ALGORITHM = "ES256"  # pinned: tokens naming another alg (none, HS256, ...) are refused
_EXTENSION = "switchboard.tokens"
_SCOPE_STATE = "switchboard.auth"


def load_key_set(settings: Settings) -> KeySet:
    """JWT_PRIVATE_KEYS (a JWKS of EC P-256 private keys; the first signs) or, outside production, a key
    generated once and kept in VAR_DIR so tokens survive restarts."""
    if settings.jwt_private_keys:
        return KeySet.import_key_set(json.loads(settings.jwt_private_keys))
    dev_key_file = settings.var_dir / "jwt-signing-keys.json"
    if dev_key_file.exists():
        return KeySet.import_key_set(json.loads(dev_key_file.read_text()))
    key = ECKey.generate_key("P-256", parameters={"kid": f"dev-{uuid.uuid4().hex[:8]}"}, private=True)
    key_set = KeySet([key])
    dev_key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dev_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(key_set.as_dict(private=True), file)
    return key_set


@dataclass(frozen=True)
class TokenService:
    keys: KeySet
    issuer: str
    audience: str
    access_ttl: int  # seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        return cls(
            load_key_set(settings), settings.token_issuer, settings.token_audience, settings.access_token_ttl_seconds
        )

    def public_jwks(self) -> dict[str, Any]:
        public = [{**key.as_dict(private=False), "alg": ALGORITHM, "use": "sig"} for key in self.keys.keys]
        return {"keys": public}

    def issue(self, user: User, auth_session: AuthSession) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user.id),
            "sid": str(auth_session.id),
            "iat": now,
            "exp": now + self.access_ttl,
        }
        signing_key = self.keys.keys[0]
        header = {"alg": ALGORITHM, "kid": signing_key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, signing_key, algorithms=[ALGORITHM]), self.access_ttl

    def verify(self, token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
        """(user id, session id) of a token we signed that is still within its lifetime, else None."""
        try:
            decoded = jwt.decode(token, self.keys, algorithms=[ALGORITHM])
            JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                sub={"essential": True},
                sid={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
            ).validate(decoded.claims)
            return uuid.UUID(decoded.claims["sub"]), uuid.UUID(decoded.claims["sid"])
        except (JoseError, ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class Authenticator:
    """What token_info needs, handed to it through the ASGI scope (it runs outside Flask)."""

    tokens: TokenService
    database: Database
    external: ExternalIdp | None = None

    def check(self, token: str) -> dict[str, Any] | None:
        ids = self.tokens.verify(token)
        if ids is None:
            if self.external is not None and self.external.issued(token):
                return self._check_external(self.external, token)
            return None
        user_id, session_id = ids
        with self.database.sessions() as session:
            auth_session = AuthSession.active_for_token(session, session_id, user_id)
            if auth_session is None:
                return None
            return auth_session.user.token_info(session_id)

    def check_api_key(self, secret: str) -> dict[str, Any] | None:
        with self.database.sessions.begin() as session:
            key = ApiKey.authenticate(session, secret)
            if key is None:
                return None
            return {"sub": None, "apiKey": str(key.id), "business": str(key.business_id), "scope": list(key.scopes)}

    def _check_external(self, external: ExternalIdp, token: str) -> dict[str, Any] | None:
        claims = external.verify(token)
        if claims is None:
            return None
        with self.database.sessions.begin() as session:
            user = User.from_external(session, external.issuer, claims)
            if user is None:
                return None
            session.refresh(user, ["membership"])
            # No sid: the provider owns that session; there is nothing of ours to revoke.
            return user.token_info(None)


class AuthenticatorMiddleware:
    def __init__(self, app: Any, *, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[_SCOPE_STATE] = self.authenticator
        await self.app(scope, receive, send)


async def token_info(token: str, request: ConnexionRequest) -> dict[str, Any] | None:
    authenticator: Authenticator = request.scope["state"][_SCOPE_STATE]
    return await anyio.to_thread.run_sync(authenticator.check, token)


def attach_tokens(app: flask.Flask, tokens: TokenService) -> None:
    app.extensions[_EXTENSION] = tokens


def tokens() -> TokenService:
    return flask.current_app.extensions[_EXTENSION]  # type: ignore[no-any-return]


async def api_key_info(
    api_key: str, required_scopes: list[str] | None, request: ConnexionRequest
) -> dict[str, Any] | None:
    """The spec's `x-apikeyInfoFunc` for `X-API-Key` (Connexion reads it from the header only). Connexion
    leaves scope checks of API keys to this function: a key without them is 403 `insufficient_scope`."""
    authenticator: Authenticator = request.scope["state"][_SCOPE_STATE]
    info = await anyio.to_thread.run_sync(authenticator.check_api_key, api_key)
    if info is not None and not set(required_scopes or ()) <= set(info["scope"]):
        raise OAuthScopeProblem(token_scopes=info["scope"], required_scopes=required_scopes)
    return info
