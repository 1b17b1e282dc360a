"""Rate limits: every operation but the internal ones spends a budget of its client's.

Three policies, each a setting in the `limits` notation (core/config.py):
- `sensitive`, per client address: operations the spec marks `x-rate-limit: sensitive` (sign-in, sign-up,
  and what sends mail), where volume is an attack;
- `anonymous`, per client address: the other operations without security;
- `authenticated`, per person or API key: the rest.

The client address is the peer's, or what trusted proxies forwarded (web.middleware.client_address). Each
budget is a fixed window that starts at its client's first request, counted with one call per request: in this
process's memory (each worker counts its own), or in Redis when RATE_LIMIT_STORAGE_URL names one, shared by every
worker and replica (one Lua script: the increment, the window's expiry when it starts, and the time left).

Every counted response says where its client stands, as the IETF draft's RateLimit headers do:
`RateLimit-Policy: "sensitive";q=10;w=60` and `RateLimit: "sensitive";r=7;t=42`. Past the budget the
answer is 429 `rate_limited` with `Retry-After`, before the request is validated or served (web.middleware).

When Redis fails (down, or slower than STORAGE_TIMEOUT_SECONDS), requests are served without a limit and a
warning is logged; it is tried again after RETRY_SECONDS. Failing open is the choice: a limiter that fails
closed turns an outage of its cache into an outage of the API, while the per-account lockout still guards
passwords.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio
from limits import RateLimitItem, parse
from redis.exceptions import RedisError
from starlette.types import Scope

from core.config import Settings
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


class _Windows(Protocol):
    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        """Counts one request against `key`'s window (started now if none is open): (requests in the window,
        seconds until it resets)."""


class RateLimits:
    """Which policy each operation spends, and the counts."""

    def __init__(self, settings: Settings, contract: Contract) -> None:
        policies = {
            "sensitive": Policy("sensitive", parse(settings.rate_limit_sensitive), per_caller=False),
            "anonymous": Policy("anonymous", parse(settings.rate_limit_anonymous), per_caller=False),
            "authenticated": Policy("authenticated", parse(settings.rate_limit_authenticated), per_caller=True),
        }
        self.by_operation = {operation: policies[name] for operation, name in contract.rate_policies.items()}
        url = settings.rate_limit_storage_url
        self.windows: _Windows = _MemoryWindows() if url.startswith("memory://") else _RedisWindows(url)
        self._unavailable_until = 0.0

    async def spend(self, operation: str, scope: Scope) -> tuple[bool, int, dict[str, str]] | None:
        """(allowed, seconds until the window resets, the RateLimit headers) for one request of `operation`; None
        when the operation spends no budget or the storage is unavailable."""
        policy = self.by_operation.get(operation)
        if policy is None or time.monotonic() < self._unavailable_until:
            return None
        try:
            count, left = await self.windows.hit(f"{policy.name}/{_client(policy, scope)}", policy.rate.get_expiry())
        except (RedisError, TimeoutError, OSError) as error:
            self._unavailable_until = time.monotonic() + RETRY_SECONDS
            log.warning("rate limits not enforced for %s s: storage failed (%s)", RETRY_SECONDS, type(error).__name__)
            return None
        reset = max(0, math.ceil(left))
        remaining = max(0, policy.rate.amount - count)
        headers = {"RateLimit-Policy": policy.header, "RateLimit": f'"{policy.name}";r={remaining};t={reset}'}
        allowed = count <= policy.rate.amount
        if not allowed:
            metrics.RATE_LIMITED.labels(policy.name).inc()
        return allowed, reset, headers


def _client(policy: Policy, scope: Scope) -> str:
    if not policy.per_caller:
        return f"address:{client_ip_var.get()}"
    info: dict[str, Any] = scope.get("extensions", {}).get("connexion_context", {}).get("token_info") or {}
    return str(info.get("caller") or f"user:{info.get('sub')}")


class _MemoryWindows:
    """This process's windows in a dict: an expired one is replaced when its key comes back, and all expired ones
    are dropped at most once a minute (so a hit costs the same however many clients there are)."""

    SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        self.windows: dict[str, list[float]] = {}  # key -> [count, monotonic end]
        self.next_sweep = time.monotonic() + self.SWEEP_SECONDS

    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.windows = {key: window for key, window in self.windows.items() if window[1] > now}
            self.next_sweep = now + self.SWEEP_SECONDS
        window = self.windows.get(key)
        if window is None or window[1] <= now:
            window = self.windows[key] = [0, now + seconds]
        window[0] += 1
        return int(window[0]), window[1] - now


# KEYS[1]: the window's key; ARGV[1]: its length in seconds. Returns {requests in the window, milliseconds left}.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""


class _RedisWindows:
    """Windows in Redis, shared by every worker and replica: one script call per hit."""

    def __init__(self, url: str) -> None:
        client = redis.asyncio.Redis.from_url(
            url, socket_timeout=STORAGE_TIMEOUT_SECONDS, socket_connect_timeout=STORAGE_TIMEOUT_SECONDS
        )
        self.script = client.register_script(_HIT)

    async def hit(self, key: str, seconds: int) -> tuple[int, float]:
        async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
            count, left_ms = await self.script(keys=[f"switchboard:rate:{key}"], args=[seconds])
        return int(count), max(0, int(left_ms)) / 1000
