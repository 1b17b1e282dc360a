"""A business's Google Calendar connection: who connected which account, and the tokens, encrypted."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.crypto import CannotDecrypt, Cipher
from core.tokens import GrantedTokens
from models.base import Base, utcnow
from models.business import Business

PROVIDER = "google"


class CalendarConnection(Base):
    """A business's Google Calendar link. Tokens are stored encrypted (core.crypto), never in clear."""

    __tablename__ = "calendar_connections"

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), default=PROVIDER)
    account_email: Mapped[str | None] = mapped_column(String(254))
    access_token_encrypted: Mapped[str] = mapped_column(String(4000))
    refresh_token_encrypted: Mapped[str | None] = mapped_column(String(4000))
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scope: Mapped[str | None] = mapped_column(String(1000))
    connected_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    connected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @classmethod
    def of(cls, session: Session, business_id: uuid.UUID, *, for_update: bool = False) -> CalendarConnection | None:
        return session.get(cls, business_id, with_for_update=for_update, populate_existing=for_update)

    @classmethod
    def connect(
        cls, session: Session, cipher: Cipher, business_id: uuid.UUID, user_id: uuid.UUID, tokens: GrantedTokens
    ) -> tuple[CalendarConnection, str | None]:
        """Creates or replaces the business's connection (one per business). Returns it, and the token of
        a replaced grant of another account, to revoke at the provider once this commits."""
        business = Business.get(session, business_id, for_update=True)  # connections of one business take turns
        business.changed()  # the calendar is part of the business's representation, so of its ETag
        connection = cls.of(session, business_id, for_update=True)
        replaced_token = None
        if connection is None:
            connection = cls(business_id=business_id)
            session.add(connection)
            kept_refresh_token = None
        else:
            # Google sends a refresh token on first consent only: keep the one we have for the same account.
            same_account = connection.account_email == tokens.account_email
            kept_refresh_token = connection.refresh_token_encrypted if same_account else None
            if not same_account:
                with contextlib.suppress(CannotDecrypt):  # a key long rotated away: nothing we can revoke
                    replaced_token = connection.revocable_token(cipher)
        connection.provider = PROVIDER
        connection.account_email = tokens.account_email
        connection.access_token_encrypted = cipher.encrypt(tokens.access_token)
        connection.refresh_token_encrypted = (
            cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else kept_refresh_token
        )
        connection.token_expires_at = tokens.expires_at
        connection.scope = tokens.scope
        connection.connected_by = user_id
        connection.connected_at = utcnow()
        session.flush()
        return connection, replaced_token

    @classmethod
    def disconnect(cls, session: Session, business_id: uuid.UUID) -> CalendarConnection | None:
        """Forgets the business's connection; returns what it was (to revoke its token), or None."""
        business = Business.get(session, business_id, for_update=True)
        connection = cls.of(session, business_id, for_update=True)
        if connection is not None:
            business.changed()  # see connect
            session.delete(connection)
            session.flush()
        return connection

    def revocable_token(self, cipher: Cipher) -> str:
        """The token to revoke at the provider: the refresh token (revoking it ends the whole grant)."""
        return cipher.decrypt(self.refresh_token_encrypted or self.access_token_encrypted)

    @staticmethod
    def status(connection: CalendarConnection | None) -> CalendarStatus:
        """What `connection` (None: the business has none) tells about the business's calendar."""
        if connection is None:
            return CalendarStatus(PROVIDER, connected=False, account_email=None, connected_at=None)
        return CalendarStatus(
            PROVIDER, connected=True, account_email=connection.account_email, connected_at=connection.connected_at
        )


@dataclass(frozen=True)
class CalendarStatus:
    """A business's calendar connection, as the API shows it (schemas/business.py, CalendarStatus)."""

    provider: str
    connected: bool
    account_email: str | None
    connected_at: datetime | None
