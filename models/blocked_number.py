"""Callers a business does not want: their calls are rejected."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import BusinessRuleBroken, Conflict, NotFound
from core.pagination import Page, paginate
from core.phones import to_e164
from models.base import Base

MAX_BLOCKED_NUMBERS = 1000


class BlockedNumber(Base):
    __tablename__ = "blocked_numbers"
    __table_args__ = (
        UniqueConstraint("business_id", "number"),  # also the index of the receptionist's lookup
        Index("ix_blocked_numbers_business_id_created_at_id", "business_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(16))  # E.164
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @classmethod
    def add(cls, session: Session, business_id: uuid.UUID, *, number: str, note: str | None) -> BlockedNumber:
        """Blocks `number`; 409 if it is blocked already (however two requests race). The caller holds the
        business's row lock, so the count check cannot race with another number being blocked."""
        e164 = to_e164(number, "number")
        mine = select(func.count()).select_from(cls).where(cls.business_id == business_id)
        if (session.scalar(mine) or 0) >= MAX_BLOCKED_NUMBERS:
            raise BusinessRuleBroken(
                "too_many_blocked_numbers", f"A business blocks at most {MAX_BLOCKED_NUMBERS} numbers."
            )
        blocked = cls(id=uuid.uuid4(), business_id=business_id, number=e164, note=(note or "").strip() or None)
        session.add(blocked)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise Conflict("blocked_number_exists", "This number is on your block list already.") from None
        return blocked

    @classmethod
    def is_blocked(cls, session: Session, business_id: uuid.UUID, number: str) -> bool:
        statement = select(cls.id).where(cls.business_id == business_id, cls.number == number)
        return session.scalar(statement) is not None

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, blocked_id: uuid.UUID) -> BlockedNumber:
        blocked = session.scalar(select(cls).where(cls.id == blocked_id, cls.business_id == business_id))
        if blocked is None:
            raise NotFound("No blocked number with this id in your business")
        return blocked

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page(cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[BlockedNumber]:
        statement = select(cls).where(cls.business_id == business_id)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)
