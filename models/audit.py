"""The audit log: who did what to which business, from where, and what changed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.pagination import Page, paginate, within
from models.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_business_id_created_at_id", "business_id", "created_at", "id"),
        # The action and actor filters read only their own rows, however rare (docs/benchmarks.md, scale).
        Index("ix_audit_events_business_id_action_created_at_id", "business_id", "action", "created_at", "id"),
        Index("ix_audit_events_business_id_actor_id_created_at_id", "business_id", "actor_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # None for events of people who belong to no business yet (a sign-in before creating one).
    business_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(16))  # user | api_key | anonymous
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[AuditEvent]:
        """The business's events, newest first."""
        statement = select(cls).where(cls.business_id == business_id)
        if action is not None:
            statement = statement.where(cls.action == action)
        if actor_id is not None:
            statement = statement.where(cls.actor_id == actor_id)
        statement = within(statement, cls.created_at, since, until)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor, newest_first=True)
