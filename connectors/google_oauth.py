"""Google's OAuth 2.0 endpoints for the Calendar: authorization code with PKCE (RFC 6749, RFC 7636).

`consent_url` makes a PKCE code verifier and puts it, with the business, the person and an expiry, in the
`state`, a JWE (`dir` + `A256GCM`) under a key derived from DATA_ENCRYPTION_KEYS. The state is opaque to
the browser and to Google (the verifier never shows) and cannot be forged or altered; the server keeps
nothing between the two legs, so any replica can answer the callback. `exchange` trades the code for
tokens and reads the account's email; `revoke` gives a grant back, best effort.

Blocking HTTP runs on the caller's thread, bounded by GOOGLE_TIMEOUT_SECONDS per step (connectors/http.py).
Tokens are never logged or put in an error.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from connectors import http
from core.config import Settings
from core.crypto import Cipher
from core.errors import ApiError, ServiceUnavailable
from core.tokens import GrantedTokens

log = logging.getLogger(__name__)

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
SCOPES = f"openid email {CALENDAR_SCOPE}"
STATE_TTL_SECONDS = 600
_STATE_TYPE = "switchboard-oauth-state+jwt"
_STATE_REGISTRY = JWERegistry(algorithms=["dir", "A256GCM"])  # pinned: nothing else is accepted


class InvalidOAuthState(ApiError):
    status, code, title, type = 400, "invalid_oauth_state", "Invalid OAuth state", "/problems/invalid-oauth-state"

    def __init__(self, detail: str = "This sign-in with Google is not valid or has expired; start again.") -> None:
        super().__init__(detail)


class OAuthExchangeFailed(ApiError):
    status, code, title, type = 400, "oauth_exchange_failed", "OAuth exchange failed", "/problems/oauth-exchange-failed"


class IntegrationUnavailable(ServiceUnavailable):
    code, title, type = "integration_unavailable", "Integration unavailable", "/problems/integration-unavailable"


@dataclass(frozen=True)
class PendingGrant:
    """What the state carries from the start of the flow to its callback."""

    business_id: uuid.UUID
    user_id: uuid.UUID
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class GoogleCalendar:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    authorize_url: str
    token_url: str
    userinfo_url: str
    revoke_url: str
    timeout: float
    state_keys: tuple[OctKey, ...] = field(repr=False)  # the first seals new states, all open them

    @classmethod
    def from_settings(cls, settings: Settings, cipher: Cipher) -> GoogleCalendar:
        return cls(
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            redirect_uri=settings.google_redirect_uri,
            authorize_url=settings.google_authorize_url,
            token_url=settings.google_token_url,
            userinfo_url=settings.google_userinfo_url,
            revoke_url=settings.google_revoke_url,
            timeout=settings.google_timeout_seconds,
            state_keys=tuple(OctKey.import_key(key) for key in cipher.derived_keys("google-oauth-state")),
        )

    def _client(self) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name): as Google documents it
            revocation_endpoint_auth_method="client_secret_post",
            scope=SCOPES,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            **http.client_options(self.timeout),
        )

    # The first leg: the browser goes to Google.

    def consent_url(self, business_id: uuid.UUID, user_id: uuid.UUID) -> str:
        code_verifier = generate_token(64)  # RFC 7636: 43 to 128 unreserved characters
        state = self.issue_state(PendingGrant(business_id, user_id, code_verifier))
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self.authorize_url,
                state=state,
                code_verifier=code_verifier,
                access_type="offline",  # a refresh token, to reach the calendar while nobody is signed in
                prompt="consent",  # Google sends the refresh token only with a consent screen
                include_granted_scopes="true",
            )
        return str(url)

    def issue_state(self, grant: PendingGrant, *, now: float | None = None) -> str:
        issued_at = int(now if now is not None else time.time())
        claims = {
            "bid": str(grant.business_id),
            "sub": str(grant.user_id),
            "cv": grant.code_verifier,
            "iat": issued_at,
            "exp": issued_at + STATE_TTL_SECONDS,
        }
        header = {"alg": "dir", "enc": "A256GCM", "typ": _STATE_TYPE}
        return jwt.encode(header, claims, self.state_keys[0], registry=_STATE_REGISTRY)

    def read_state(self, state: str) -> PendingGrant:
        """The grant the state carries; 400 invalid_oauth_state if it is not ours, altered or expired."""
        for key in self.state_keys:
            try:
                token = jwt.decode(state, key, registry=_STATE_REGISTRY)
            except (JoseError, ValueError, TypeError):
                continue
            try:
                if token.header.get("typ") != _STATE_TYPE:
                    break
                JWTClaimsRegistry(
                    leeway=0,
                    bid={"essential": True},
                    sub={"essential": True},
                    cv={"essential": True},
                    exp={"essential": True},
                ).validate(token.claims)
                claims = token.claims
                return PendingGrant(uuid.UUID(claims["bid"]), uuid.UUID(claims["sub"]), str(claims["cv"]))
            except (JoseError, ValueError, TypeError, KeyError):
                break
        raise InvalidOAuthState()

    # The second leg: Google sends the browser back with a code.

    def exchange(self, code: str, code_verifier: str) -> GrantedTokens:
        """Trades the code (and the verifier) for tokens, and reads which account granted them."""
        try:
            with self._client() as client:
                token = _fetch_token(client, self.token_url, code, code_verifier)
                response = client.get(self.userinfo_url)
                response.raise_for_status()
                info = response.json()
        except (http.HTTPError, ValueError) as failure:
            # A transport error, a timeout, a 5xx or 429, a body that is not what the protocol says.
            log.warning("google oauth: provider unavailable (%s)", type(failure).__name__)
            raise IntegrationUnavailable("Google did not answer in time or failed; try again shortly.") from None
        email = info.get("email") if isinstance(info, dict) else None
        expires_at = token.get("expires_at")
        return GrantedTokens(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token") or None,
            expires_at=datetime.fromtimestamp(expires_at, UTC) if isinstance(expires_at, int | float) else None,
            scope=str(token["scope"])[:1000] if token.get("scope") else None,
            account_email=email if isinstance(email, str) and 0 < len(email) <= 254 else None,
        )

    def revoke(self, token: str) -> None:
        """Asks Google to revoke the grant; a failure is logged, never raised (the caller forgets it anyway)."""
        try:
            with self._client() as client:
                response = client.revoke_token(self.revoke_url, token=token)
            if response.status_code >= 400:
                log.warning("google oauth: revocation refused (HTTP %s)", response.status_code)
        except http.HTTPError as failure:
            log.warning("google oauth: revocation failed (%s)", type(failure).__name__)


def _fetch_token(client: OAuth2Client, url: str, code: str, code_verifier: str) -> dict[str, Any]:
    try:
        token = client.fetch_token(url, grant_type="authorization_code", code=code, code_verifier=code_verifier)
    except OAuthError as refused:  # RFC 6749 5.2: a JSON error from the token endpoint
        raise OAuthExchangeFailed(_refusal_detail(str(refused.error))) from None
    except http.HTTPStatusError as failed:  # an error status without the protocol's JSON body
        status = failed.response.status_code
        if status >= 500 or status == 429:
            raise
        raise OAuthExchangeFailed(f"Google refused the authorization code (HTTP {status}); connect again.") from None
    if not isinstance(token.get("access_token"), str):
        raise ValueError("token response without an access_token")
    return dict(token)


def _refusal_detail(error: str) -> str:
    if error == "invalid_grant":
        return (
            "Google refused the authorization code (invalid_grant): it was already used or has expired; connect again."
        )
    return f"Google refused the authorization code ({error[:60]}); connect again."
