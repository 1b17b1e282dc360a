"""Calls that reached a business's number, as the telephony provider (Twilio) reported them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import NotFound
from core.pagination import Page, paginate
from models.base import Base, utcnow


class Outcome(enum.StrEnum):
    FORWARDED = "forwarded"  # the receptionist put the caller through to the forwarding number
    VOICEMAIL = "voicemail"  # the caller was asked to leave a message
    REJECTED = "rejected"  # the receptionist is off
    MISSED = "missed"  # put through, but nobody answered


# Twilio's CallStatus values that end a call.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_business_id_started_at_id", "business_id", "started_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)  # Twilio's CallSid
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[Outcome] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    voicemail_url: Mapped[str | None] = mapped_column(String(500))
    voicemail_seconds: Mapped[int | None] = mapped_column(Integer)

    @classmethod
    def answered(
        cls, session: Session, business_id: uuid.UUID, sid: str, caller: str, to: str, outcome: Outcome
    ) -> None:
        """Records a call the receptionist answered; a provider's retry of the same call changes nothing."""
        values = {
            "id": uuid.uuid4(),
            "business_id": business_id,
            "provider_sid": sid,
            "from_number": caller,
            "to_number": to,
            "status": "in-progress",
            "outcome": outcome,
            "started_at": utcnow(),
        }
        session.execute(insert(cls).values(values).on_conflict_do_nothing(index_elements=["provider_sid"]))

    @classmethod
    def of_provider(cls, session: Session, sid: str) -> Call | None:
        return session.scalar(select(cls).where(cls.provider_sid == sid).with_for_update())

    def progressed(self, status: str, duration_seconds: int | None) -> None:
        """The provider's status callback: a final status ends the call (a repeat of it changes nothing)."""
        self.status = status
        if status in FINAL_STATUSES and self.ended_at is None:
            self.ended_at = utcnow()
        if duration_seconds is not None:
            self.duration_seconds = duration_seconds

    def put_through(self, answered: bool) -> None:
        """How the forwarded leg ended: nobody answering makes the call missed."""
        if self.outcome in (Outcome.FORWARDED, Outcome.MISSED):
            self.outcome = Outcome.FORWARDED if answered else Outcome.MISSED

    def recorded(self, url: str, seconds: int | None) -> None:
        self.outcome = Outcome.VOICEMAIL
        self.voicemail_url = url
        self.voicemail_seconds = seconds

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, call_id: uuid.UUID) -> Call:
        call = session.scalar(select(cls).where(cls.id == call_id, cls.business_id == business_id))
        if call is None:
            raise NotFound("No call with this id in your business")
        return call

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.started_at, cls.id]

    @classmethod
    def page(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        status: str | None = None,
        direction: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[Call]:
        """The business's calls, newest first."""
        statement = select(cls).where(cls.business_id == business_id)
        if status is not None:
            statement = statement.where(cls.status == status)
        if direction is not None:
            statement = statement.where(cls.direction == direction)
        if since is not None:
            statement = statement.where(cls.started_at >= since)
        if until is not None:
            statement = statement.where(cls.started_at < until)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor, newest_first=True)
