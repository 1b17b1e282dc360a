"""Rate limits: every operation but the internal ones spends a budget of its client's.

Three policies, each a setting in the `limits` notation (core/config.py):
- `sensitive`, per client address: operations the spec marks `x-rate-limit: sensitive` (sign-in, sign-up,
  and what sends mail), where volume is an attack;
- `anonymous`, per client address: the other operations without security;
- `authenticated`, per person or API key: the rest.

The client address is the peer's, or what trusted proxies forwarded (web.middleware.RequestIdMiddleware).
Counts use a fixed window of the `limits` library, kept in this process's memory (each worker counts its
own), or in Redis when RATE_LIMIT_STORAGE_URL names one, shared by every worker and replica.

Every counted response says where its client stands, as the IETF draft's RateLimit headers do:
`RateLimit-Policy: "sensitive";q=10;w=60` and `RateLimit: "sensitive";r=7;t=42`. Past the budget the
answer is 429 `rate_limited` with `Retry-After`, before the request is validated or served.

When the storage fails (Redis down, or slower than STORAGE_TIMEOUT_SECONDS), requests are served without a
limit and a warning is logged; the storage is tried again after RETRY_SECONDS. Failing open is the choice:
a limiter that fails closed turns an outage of its cache into an outage of the API, while the per-account
lockout still guards passwords.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from core.errors import RateLimited
from core.logging import client_ip_var
from web import metrics
from web.spec import Contract

log = logging.getLogger(__name__)

STORAGE_TIMEOUT_SECONDS = 0.5
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Policy:
    name: str
    rate: RateLimitItem
    per_caller: bool  # per person or API key; else per client address

    @property
    def header(self) -> str:
        return f'"{self.name}";q={self.rate.amount};w={self.rate.get_expiry()}'


class RateLimits:
    """Which policy each operation spends, and the counts."""

    def __init__(self, settings: Settings, contract: Contract) -> None:
        policies = {
            "sensitive": Policy("sensitive", parse(settings.rate_limit_sensitive), per_caller=False),
            "anonymous": Policy("anonymous", parse(settings.rate_limit_anonymous), per_caller=False),
            "authenticated": Policy("authenticated", parse(settings.rate_limit_authenticated), per_caller=True),
        }
        self.by_operation = {operation: policies[name] for operation, name in contract.rate_policies.items()}
        storage = storage_from_string(
            f"async+{settings.rate_limit_storage_url}",
            **_redis_options(settings.rate_limit_storage_url),
        )
        self.limiter = FixedWindowRateLimiter(storage)
        self._unavailable_until = 0.0

    async def spend(self, policy: Policy, client: str) -> tuple[bool, int, int] | None:
        """(allowed, remaining, seconds until the window resets); None while the storage is unavailable."""
        if time.monotonic() < self._unavailable_until:
            return None
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                allowed = await self.limiter.hit(policy.rate, policy.name, client)
                stats = await self.limiter.get_window_stats(policy.rate, policy.name, client)
        except (StorageError, TimeoutError, OSError) as error:
            self._unavailable_until = time.monotonic() + RETRY_SECONDS
            log.warning("rate limits not enforced for %s s: storage failed (%s)", RETRY_SECONDS, type(error).__name__)
            return None
        return allowed, stats.remaining, max(0, math.ceil(stats.reset_time - time.time()))


def _redis_options(url: str) -> dict[str, Any]:
    if url.startswith("memory://"):
        return {}
    timeouts = {"socket_timeout": STORAGE_TIMEOUT_SECONDS, "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS}
    return {"implementation": "redispy", "wrap_exceptions": True, **timeouts}


def _client(policy: Policy, scope: Scope) -> str:
    if not policy.per_caller:
        return f"address:{client_ip_var.get()}"
    info: dict[str, Any] = scope.get("extensions", {}).get("connexion_context", {}).get("token_info") or {}
    return str(info.get("caller") or f"user:{info.get('sub')}")


_HEADERS = "switchboard.rate_limit_headers"


class RateLimitMiddleware:
    """Runs after Connexion's security (it knows the caller) and before validation (invalid requests count).
    The headers it earns are left in the scope for RateLimitHeadersMiddleware, outside Connexion's error
    handling, which sends error responses past any layer inside it."""

    def __init__(self, app: ASGIApp, *, rate_limits: RateLimits) -> None:
        self.app = app
        self.rate_limits = rate_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        policy = self.rate_limits.by_operation.get(operation) if scope["type"] == "http" else None
        spent = await self.rate_limits.spend(policy, _client(policy, scope)) if policy else None
        if policy is None or spent is None:
            return await self.app(scope, receive, send)
        allowed, remaining, reset = spent
        headers = {"RateLimit-Policy": policy.header, "RateLimit": f'"{policy.name}";r={remaining};t={reset}'}
        scope["state"][_HEADERS] = headers
        if not allowed:
            metrics.RATE_LIMITED.labels(policy.name).inc()
            raise RateLimited(max(reset, 1), headers)
        await self.app(scope, receive, send)


class RateLimitHeadersMiddleware:
    """Adds the RateLimit headers a request earned (RateLimitMiddleware) to its response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and _HEADERS in state:
                MutableHeaders(scope=message).update(state[_HEADERS])
            await send(message)

        await self.app(scope, receive, send_with_headers)
