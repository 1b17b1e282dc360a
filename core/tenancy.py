"""Who is calling, for which business: read from what web/security.py put in `token_info`.

People authenticate with a bearer token (web.security.token_info), machines with an API key
(web.security.api_key_info). Both yield the same shape, so handlers and models never care which:
`business` (the tenant every query is scoped to), `scope`, and `sub` (a person) or `apiKey` (a key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from core.errors import NoBusiness


@dataclass(frozen=True)
class Caller:
    business_id: uuid.UUID | None
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    @classmethod
    def of(cls, token_info: dict[str, Any]) -> Caller:
        def as_uuid(key: str) -> uuid.UUID | None:
            value = token_info.get(key)
            return uuid.UUID(value) if value else None

        return cls(business_id=as_uuid("business"), user_id=as_uuid("sub"), api_key_id=as_uuid("apiKey"))

    @property
    def business(self) -> uuid.UUID:
        """The caller's business; 403 no_business for a person who belongs to none yet."""
        if self.business_id is None:
            raise NoBusiness()
        return self.business_id

    @property
    def person(self) -> uuid.UUID:
        """The calling person. Only operations that declare no API-key security ask for it."""
        if self.user_id is None:
            raise TypeError("an operation open to API keys asked for a person")
        return self.user_id

    @property
    def actor(self) -> tuple[str, str | None]:
        """How the audit log names the caller."""
        if self.api_key_id is not None:
            return "api_key", str(self.api_key_id)
        return "user", str(self.user_id) if self.user_id else None

    @property
    def idempotency_scope(self) -> str:
        """Keys are per caller and per business: a person who moved to another business never gets a
        replay of the first one's response. (A key belongs to one business already.)"""
        kind, identity = self.actor
        return f"{kind}:{identity}" if self.api_key_id else f"{kind}:{identity}:{self.business_id or '-'}"

    @property
    def person_idempotency_scope(self) -> str:
        """For an operation that gives the person their business (createBusiness): its retry comes from a
        person who has one by then, so the business cannot be part of the key's scope."""
        return f"user:{self.person}"
