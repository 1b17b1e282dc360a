"""Closures: dates a business is closed, or keeps special hours (holidays, an inventory day, a late opening)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import BusinessRuleBroken, Conflict, NotFound
from core.pagination import Page, paginate
from models.base import Base
from models.schedule import normalise_intervals

MAX_CLOSURES = 200
MAX_CLOSURE_DAYS = 366
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)


class Closure(Base):
    __tablename__ = "closures"
    __table_args__ = (Index("ix_closures_business_id_start_date_id", "business_id", "start_date", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)  # inclusive
    intervals: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # None: closed all day
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @classmethod
    def create(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        name: str,
        start: date,
        end: date | None,
        intervals: list[dict[str, Any]] | None,
    ) -> Closure:
        """A closure of the business. The caller holds the business's row lock, so the overlap and count
        checks cannot race with another closure being added."""
        end = end or start
        for field, day in (("startDate", start), ("endDate", end)):
            if not FIRST_DATE <= day <= LAST_DATE:
                raise BusinessRuleBroken("invalid_closure", f"Dates run from {FIRST_DATE} to {LAST_DATE}.", field=field)
        if end < start:
            raise BusinessRuleBroken("invalid_closure", "`endDate` is before `startDate`.", field="endDate")
        if end - start >= timedelta(days=MAX_CLOSURE_DAYS):
            raise BusinessRuleBroken(
                "invalid_closure", f"A closure spans at most {MAX_CLOSURE_DAYS} days.", field="endDate"
            )
        hours = normalise_intervals(intervals, "intervals") if intervals is not None else None
        mine = select(func.count()).select_from(cls).where(cls.business_id == business_id)
        if (session.scalar(mine) or 0) >= MAX_CLOSURES:
            raise BusinessRuleBroken(
                "too_many_closures", f"A business keeps at most {MAX_CLOSURES} closures: delete old ones first."
            )
        overlapping = select(cls.name).where(
            cls.business_id == business_id, cls.start_date <= end, cls.end_date >= start
        )
        other = session.scalar(overlapping.limit(1))
        if other is not None:
            raise Conflict("closure_overlaps", f"These dates overlap the closure {other!r}.")
        closure = cls(
            id=uuid.uuid4(), business_id=business_id, name=name.strip(), start_date=start, end_date=end, intervals=hours
        )
        session.add(closure)
        session.flush()
        return closure

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, closure_id: uuid.UUID) -> Closure:
        closure = session.scalar(select(cls).where(cls.id == closure_id, cls.business_id == business_id))
        if closure is None:
            raise NotFound("No closure with this id in your business")
        return closure

    @classmethod
    def from_date(cls, session: Session, business_id: uuid.UUID, since: date) -> list[Closure]:
        """The closures that end on or after `since`, in order (at most MAX_CLOSURES)."""
        statement = select(cls).where(cls.business_id == business_id, cls.end_date >= since)
        return list(session.scalars(statement.order_by(cls.start_date)))

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.start_date, cls.id]

    @classmethod
    def page(cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[Closure]:
        statement = select(cls).where(cls.business_id == business_id)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)
