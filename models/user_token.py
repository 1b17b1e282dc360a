"""One-time tokens sent by email: verify an address (24 h), reset a password (1 h)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Enum, ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.errors import ApiError
from core.tokens import digest, new_token
from models.base import Base, utcnow
from models.user import User


class InvalidToken(ApiError):
    status, code, title, type = 422, "invalid_token", "Invalid or expired token", "/problems/invalid-token"

    def __init__(self) -> None:
        super().__init__("This link is unknown, already used or expired; ask for a new one.")


class TokenPurpose(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password


LIFETIMES = {TokenPurpose.VERIFY_EMAIL: timedelta(hours=24), TokenPurpose.RESET_PASSWORD: timedelta(hours=1)}


class UserToken(Base):
    __tablename__ = "user_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(
        Enum(TokenPurpose, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @classmethod
    def issue(cls, session: Session, user: User, purpose: TokenPurpose) -> str:
        """A new token for `user`; earlier unused ones of the same purpose stop working."""
        now = utcnow()
        session.execute(
            update(cls)
            .where(cls.user_id == user.id, cls.purpose == purpose, cls.used_at.is_(None))
            .values(expires_at=now)
        )
        token = new_token()
        session.add(cls(user_id=user.id, purpose=purpose, digest=digest(token), expires_at=now + LIFETIMES[purpose]))
        return token

    @classmethod
    def redeem(cls, session: Session, token: str, purpose: TokenPurpose) -> User:
        """Spends the token and returns its user; 422 `invalid_token` if unknown, spent or expired."""
        found = session.scalar(select(cls).where(cls.digest == digest(token), cls.purpose == purpose).with_for_update())
        if found is None or found.used_at is not None or found.expires_at <= utcnow():
            raise InvalidToken()
        found.used_at = utcnow()
        return session.get_one(User, found.user_id)
