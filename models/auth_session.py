"""Sign-in sessions and their rotating refresh tokens.

A session is what an access token's `sid` names; revoking it refuses its access tokens on the very
next request. Each refresh hands out a new refresh token and spends the old one; presenting a spent
one means it was copied, so the whole session is revoked (theft detection).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, joinedload, mapped_column, relationship

from core.db import outliving
from core.errors import ApiError, NotFound
from core.pagination import Page, paginate
from core.tokens import digest, new_token
from models.base import Base, utcnow
from models.user import User


class InvalidRefreshToken(ApiError):
    status, code, title, type = 401, "invalid_refresh_token", "Invalid refresh token", "/problems/invalid-refresh-token"

    def __init__(self) -> None:
        super().__init__("The refresh token is unknown, expired, spent or revoked: sign in again.")


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="raise")

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()

    @classmethod
    def start(
        cls, session: Session, user: User, *, lifetime: timedelta, user_agent: str | None, ip_address: str | None
    ) -> tuple[AuthSession, str]:
        """A new session for `user` and its first refresh token (returned once, stored only as a digest)."""
        auth_session = cls(
            user_id=user.id,
            user_agent=(user_agent or None) and user_agent[:300],
            ip_address=ip_address,
            expires_at=utcnow() + lifetime,
        )
        session.add(auth_session)
        session.flush()
        return auth_session, RefreshToken.issue(session, auth_session)

    @classmethod
    def refresh(cls, session: Session, presented: str) -> tuple[AuthSession, str]:
        """Spends `presented` and returns its session with the next refresh token.

        Spending is one atomic UPDATE ... WHERE spent_at IS NULL, so of two concurrent uses of one token
        exactly one wins; the other is treated as the replay it is.
        """
        now = utcnow()
        session_id = session.scalar(
            update(RefreshToken)
            .where(RefreshToken.digest == digest(presented), RefreshToken.spent_at.is_(None))
            .values(spent_at=now)
            .returning(RefreshToken.session_id)
        )
        if session_id is None:
            spent = session.scalar(select(RefreshToken.session_id).where(RefreshToken.digest == digest(presented)))
            if spent is not None:
                cls.revoke_now(session, spent)  # a copy is in someone else's hands
            raise InvalidRefreshToken()
        auth_session = session.get_one(cls, session_id)
        if not auth_session.active:
            raise InvalidRefreshToken()
        auth_session.last_used_at = now
        return auth_session, RefreshToken.issue(session, auth_session)

    @classmethod
    def revoke_now(cls, session: Session, session_id: uuid.UUID) -> None:
        """Revokes in a transaction of its own: it must hold even though the request answers with an error."""
        with outliving(session) as own:
            own.execute(update(cls).where(cls.id == session_id, cls.revoked_at.is_(None)).values(revoked_at=utcnow()))

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = utcnow()

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page_of_active(
        cls, session: Session, user_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> Page[AuthSession]:
        statement = select(cls).where(cls.user_id == user_id, cls.revoked_at.is_(None), cls.expires_at > utcnow())
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)

    @classmethod
    def get_own(cls, session: Session, session_id: uuid.UUID, user_id: uuid.UUID) -> AuthSession:
        """The user's own active session; another user's answers exactly like a missing one."""
        auth_session = session.get(cls, session_id)
        if auth_session is None or auth_session.user_id != user_id or not auth_session.active:
            raise NotFound("Session not found")
        return auth_session

    @classmethod
    def revoke_all_of(cls, session: Session, user_id: uuid.UUID, *, except_id: uuid.UUID | None = None) -> None:
        statement = update(cls).where(cls.user_id == user_id, cls.revoked_at.is_(None))
        if except_id is not None:
            statement = statement.where(cls.id != except_id)
        session.execute(statement.values(revoked_at=utcnow()))

    @classmethod
    def active_for_token(cls, session: Session, session_id: uuid.UUID, user_id: uuid.UUID) -> AuthSession | None:
        """The session an access token names, with its user, if it still stands (checked on every request)."""
        auth_session = session.get(  # one round trip
            cls, session_id, options=[joinedload(cls.user).joinedload(User.membership)]
        )
        if auth_session is None or auth_session.user_id != user_id or not auth_session.active:
            return None
        return auth_session


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    spent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @classmethod
    def issue(cls, session: Session, auth_session: AuthSession) -> str:
        token = new_token()
        session.add(cls(session_id=auth_session.id, digest=digest(token)))
        return token
