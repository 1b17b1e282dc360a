"""Invitations to join a business, sent by email; the token is stored only as a digest."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Enum, ForeignKey, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import Conflict, NotFound
from core.pagination import Page, paginate
from core.tokens import digest, new_token
from models.base import Base, utcnow
from models.business import BusinessExists, Membership, OwnerRequired, Role
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @classmethod
    def issue(cls, session: Session, inviter: Membership, *, email: str, role: Role) -> tuple[Invitation, str]:
        """A new invitation to the inviter's business, and its token (to email; stored only as a digest)."""
        if role is Role.OWNER and inviter.role is not Role.OWNER:
            raise OwnerRequired()
        email = normalise_email(email)
        already = session.scalar(
            select(Membership.user_id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.business_id == inviter.business_id, User.email == email)
        )
        if already is not None:
            raise Conflict("already_member", "This person is already a member of your business.")
        # One open invitation per address: a new one replaces (ends) the earlier ones.
        session.execute(
            update(cls)
            .where(cls._pending(), cls.business_id == inviter.business_id, cls.email == email)
            .values(expires_at=utcnow())
        )
        token = new_token()
        invitation = cls(
            business_id=inviter.business_id,
            email=email,
            role=role,
            digest=digest(token),
            invited_by=inviter.user_id,
            expires_at=utcnow() + INVITATION_LIFETIME,
        )
        session.add(invitation)
        session.flush()
        return invitation, token

    @classmethod
    def accept(cls, session: Session, token: str, user: User) -> Membership:
        """The signed-in person joins the business they were invited to. The invitation is for one email
        address: a forwarded link does not let someone else in."""
        found = session.scalar(select(cls).where(cls.digest == digest(token), cls._pending()).with_for_update())
        if found is None or found.email != user.email or not found._still_vouched_for(session):
            raise InvalidToken()
        if Membership.of_user(session, user.id) is not None:
            raise BusinessExists()
        found.accepted_at = utcnow()
        membership = Membership(business_id=found.business_id, user_id=user.id, role=found.role)
        session.add(membership)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:  # joined another business concurrently
            raise BusinessExists() from None
        session.refresh(membership, ["user"])
        return membership

    @classmethod
    def _pending(cls) -> Any:
        return cls.accepted_at.is_(None) & (cls.expires_at > utcnow())

    def _still_vouched_for(self, session: Session) -> bool:
        """An invitation is only as good as its inviter's standing now: someone removed or demoted since
        (or, for an owner invitation, no longer an owner) no longer brings anyone in."""
        role = session.scalar(
            select(Membership.role).where(
                Membership.user_id == self.invited_by, Membership.business_id == self.business_id
            )
        )
        return role is Role.OWNER or (role is Role.ADMIN and self.role is not Role.OWNER)

    @classmethod
    def revoke(cls, session: Session, business_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation:
        """Ends an open invitation of this business; 404 for any other."""
        found = session.scalar(
            select(cls).where(cls.id == invitation_id, cls.business_id == business_id, cls._pending()).with_for_update()
        )
        if found is None:
            raise NotFound("No open invitation with this id in your business")
        found.expires_at = utcnow()
        return found

    def describe(self) -> dict[str, Any]:
        return {"email": [None, self.email], "role": [None, self.role]}

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page_of_pending(
        cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> Page[Invitation]:
        statement = select(cls).where(cls.business_id == business_id, cls._pending())
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)
