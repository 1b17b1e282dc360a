"""Invitations to join a business, sent by email; the token is stored only as a digest."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.opaque_tokens import digest, new_token
from models.base import Base, UtcDateTime, utcnow
from models.business import BusinessExists, Membership, Role
from models.user import User, normalise_email
from models.user_token import InvalidToken

INVITATION_LIFETIME = timedelta(days=7)


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))  # normalised
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @classmethod
    def issue(
        cls, session: Session, business_id: uuid.UUID, *, email: str, role: Role, invited_by: uuid.UUID | None
    ) -> tuple[Invitation, str]:
        token = new_token()
        invitation = cls(
            business_id=business_id,
            email=normalise_email(email),
            role=role,
            digest=digest(token),
            invited_by=invited_by,
            expires_at=utcnow() + INVITATION_LIFETIME,
        )
        session.add(invitation)
        session.flush()
        return invitation, token

    @classmethod
    def accept(cls, session: Session, token: str, user: User) -> Membership:
        """The signed-in person joins the business they were invited to. The invitation is for one email
        address: a forwarded link does not let someone else in."""
        found = session.scalar(select(cls).where(cls.digest == digest(token)).with_for_update())
        if found is None or found.accepted_at is not None or found.expires_at <= utcnow() or found.email != user.email:
            raise InvalidToken()
        if Membership.of_user(session, user.id) is not None:
            raise BusinessExists()
        found.accepted_at = utcnow()
        membership = Membership(business_id=found.business_id, user_id=user.id, role=found.role)
        session.add(membership)
        session.flush()
        return membership

    def describe(self) -> dict[str, Any]:
        return {"email": self.email, "role": self.role.value}
