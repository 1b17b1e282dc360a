"""API keys: how a business's own systems call us. Shown once, stored as a digest, scoped, rotatable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
import zlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, or_, select
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import BusinessRuleBroken, Conflict, InsufficientScope, NotFound
from core.pagination import Page, paginate
from models.base import Base, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # The current secret: looked up by its visible prefix, compared by digest.
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    # The secret it was rotated from, accepted until previous_expires_at (the grace period).
    previous_prefix: Mapped[str | None] = mapped_column(String(24), unique=True)
    previous_digest: Mapped[str | None] = mapped_column(String(64))
    previous_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @classmethod
    def create(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        name: str,
        scopes: list[str],
        expires_at: datetime | None,
        created_by: uuid.UUID | None,
        granter_scopes: list[str],
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (returned once). It gets no scope its granter lacks."""
        if not set(scopes) <= set(granter_scopes):
            raise InsufficientScope("A key can be given only scopes your role holds.")
        if expires_at is not None and expires_at <= utcnow():
            raise BusinessRuleBroken("invalid_expiry", "`expiresAt` must be in the future.", field="expiresAt")
        secret = new_secret()
        key = cls(
            business_id=business_id,
            name=name.strip(),
            scopes=sorted(set(scopes)),
            prefix=prefix_of(secret),
            digest=_digest(secret),
            expires_at=expires_at,
            created_by=created_by,
        )
        session.add(key)
        session.flush()
        return key, secret

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, key_id: uuid.UUID, *, for_update: bool = False) -> ApiKey:
        """A standing key of this business; revoked keys and other businesses' answer 404."""
        statement = select(cls).where(cls.id == key_id, cls.business_id == business_id, cls.revoked_at.is_(None))
        key = session.scalar(statement.with_for_update() if for_update else statement)
        if key is None:
            raise NotFound("No API key with this id in your business")
        return key

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page(cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[ApiKey]:
        statement = select(cls).where(cls.business_id == business_id, cls.revoked_at.is_(None))
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)

    @classmethod
    def authenticate(cls, session: Session, secret: str) -> ApiKey | None:
        """The standing key this secret belongs to, else None. Malformed secrets (a bad checksum) cost no
        query; the digest comparison is constant-time; `last_used_at` is written at most once a minute."""
        if not is_well_formed(secret):
            return None
        prefix = prefix_of(secret)
        key = session.scalar(select(cls).where(or_(cls.prefix == prefix, cls.previous_prefix == prefix)))
        if key is None or not key._accepts(secret, prefix):
            return None
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
            key.last_used_at = now
        return key

    def _accepts(self, secret: str, prefix: str) -> bool:
        now = utcnow()
        if self.revoked_at is not None or (self.expires_at is not None and self.expires_at <= now):
            return False
        if prefix == self.prefix:
            return hmac.compare_digest(self.digest, _digest(secret))
        in_grace = self.previous_expires_at is not None and self.previous_expires_at > now
        return in_grace and hmac.compare_digest(self.previous_digest or "", _digest(secret))

    def rotate(self, grace: timedelta) -> str:
        """A new secret; the current one keeps working for `grace` (an older one stops now)."""
        secret, now = new_secret(), utcnow()
        if self.expires_at is not None and self.expires_at <= now:
            raise Conflict("api_key_expired", "This key has expired; create a new one.")
        if grace > timedelta(0):
            self.previous_prefix, self.previous_digest = self.prefix, self.digest
            self.previous_expires_at = now + grace
        else:
            self.previous_prefix = self.previous_digest = self.previous_expires_at = None
        self.prefix, self.digest, self.rotated_at = prefix_of(secret), _digest(secret), now
        return secret

    def revoke(self) -> None:
        self.revoked_at = utcnow()

    @property
    def grace_ends_at(self) -> datetime | None:
        """When the rotated-out secret stops working (None when none works)."""
        if self.previous_expires_at is None or self.previous_expires_at <= utcnow():
            return None
        return self.previous_expires_at


# Secrets: "sb_live_" + 43 base62 characters (256 random bits) + a 6-character base62 CRC32 checksum, so
# typos and scanners' finds are told apart from real keys without a lookup. The first 8 random characters
# after the marker form the visible, unique lookup prefix.
SECRET_MARKER = "sb_live_"  # noqa: S105 - the public marker of every key, not a secret
_BODY_CHARS, _CHECK_CHARS, _PREFIX_CHARS = 43, 6, 8
_BASE62 = string.digits + string.ascii_letters
LAST_USED_GRANULARITY = timedelta(minutes=1)
ROTATION_GRACE = timedelta(hours=24)  # the spec's default gracePeriodSeconds


def _base62(number: int, width: int) -> str:
    chars = []
    while number:
        number, remainder = divmod(number, 62)
        chars.append(_BASE62[remainder])
    return "".join(reversed(chars)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_CHARS)


def new_secret() -> str:
    body = _base62(int.from_bytes(secrets.token_bytes(32)), _BODY_CHARS)
    return SECRET_MARKER + body + _checksum(body)


def is_well_formed(secret: str) -> bool:
    if not secret.startswith(SECRET_MARKER) or len(secret) != len(SECRET_MARKER) + _BODY_CHARS + _CHECK_CHARS:
        return False
    body, check = secret[len(SECRET_MARKER) : -_CHECK_CHARS], secret[-_CHECK_CHARS:]
    return all(char in _BASE62 for char in body) and hmac.compare_digest(check, _checksum(body))


def prefix_of(secret: str) -> str:
    return secret[: len(SECRET_MARKER) + _PREFIX_CHARS]


def _digest(secret: str) -> str:
    # 256 random bits need no slow hash: SHA-256 cannot be brute-forced back to them.
    return hashlib.sha256(secret.encode()).hexdigest()
