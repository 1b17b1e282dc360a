"""The events of a business: each change its systems may hear about, kept EVENT_RETENTION for the events API
and delivered to every endpoint that subscribed to its type (models/webhook.py). Its body is exactly what
an endpoint receives (schemas/events.py builds every one)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, delete, select
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import NotFound
from core.pagination import Page, paginate, within
from models.base import Base, utcnow

TYPES = ("call.completed", "voicemail.received", "voicemail.transcribed", "business.updated")
RETENTION = timedelta(days=30)


def new_event_id() -> str:
    """The `webhook-id` of every delivery of the event (the Standard Webhooks message id)."""
    return f"msg_{uuid.uuid4().hex}"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_business_id_created_at_id", "business_id", "created_at", "id"),
        Index("ix_events_business_id_type_created_at_id", "business_id", "type", "created_at", "id"),
        Index("ix_events_created_at", "created_at"),  # the retention's purge
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_event_id)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @classmethod
    def record(cls, session: Session, business_id: uuid.UUID, event_id: str, body: dict[str, Any]) -> Event:
        event = cls(id=event_id, business_id=business_id, type=body["type"], body=body, created_at=utcnow())
        session.add(event)
        return event

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, event_id: str) -> Event:
        event = session.scalar(select(cls).where(cls.id == event_id, cls.business_id == business_id))
        if event is None:
            raise NotFound("No event with this id in your business (events are kept for 30 days)")
        return event

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[Event]:
        """The business's events, newest first (the worker deletes those older than RETENTION)."""
        statement = select(cls).where(cls.business_id == business_id)
        if type is not None:
            statement = statement.where(cls.type == type)
        statement = within(statement, cls.created_at, since, until)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor, newest_first=True)

    @classmethod
    def clean_up(cls, session: Session, *, older_than: timedelta = RETENTION) -> int:
        """Deletes the events older than `older_than`; returns how many."""
        deleted = session.execute(delete(cls).where(cls.created_at < utcnow() - older_than))
        return int(deleted.rowcount)  # type: ignore[attr-defined]
