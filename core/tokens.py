"""Tokens: access tokens (ES256 JWTs signed with our `kid`-rotated keys), opaque one-time tokens (refresh,
email verification, password reset; shown once, stored as a digest), and what an OAuth provider grants us."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

from core.config import Settings
from core.crypto import development_secret

ALGORITHM = "ES256"  # pinned: tokens naming another alg (none, HS256, ...) are refused


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits, URL-safe


def digest(token: str) -> str:
    """With 256 random bits a fast hash suffices: nobody can guess a preimage, so no salt or slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_key_set(settings: Settings) -> KeySet:
    """JWT_PRIVATE_KEYS (a JWKS of EC P-256 private keys; the first signs) or, outside production, a key
    generated once and kept in VAR_DIR so tokens survive restarts."""
    if settings.jwt_private_keys:
        return KeySet.import_key_set(json.loads(settings.jwt_private_keys))

    def generate() -> str:
        key = ECKey.generate_key("P-256", parameters={"kid": f"dev-{uuid.uuid4().hex[:8]}"}, private=True)
        return json.dumps(KeySet([key]).as_dict(private=True))

    return KeySet.import_key_set(json.loads(development_secret(settings.var_dir / "jwt-signing-keys.json", generate)))


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

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID) -> tuple[str, int]:
        """A signed access token for the person and session, and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": str(session_id),
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
class GrantedTokens:
    """What the provider granted: kept only encrypted (never logged, never audited)."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str | None
    account_email: str | None

    def __repr__(self) -> str:
        return f"GrantedTokens(account_email={self.account_email!r}, scope={self.scope!r})"
