"""Opaque one-time tokens (refresh, email verification, password reset): shown once, stored as a digest."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits, URL-safe


def digest(token: str) -> str:
    """With 256 random bits a fast hash suffices: nobody can guess a preimage, so no salt or slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()
