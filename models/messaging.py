"""Texts to callers: the missed-call text-back (one per caller, business and local day) and the callers who
opted out of texts from a business (STOP / START, Twilio's inbound-SMS webhook)."""

from __future__ import annotations

import enum
import uuid
import zoneinfo
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow
from models.blocked_number import BlockedNumber
from models.business import Business
from models.call import Call, Outcome
from models.routing import is_withheld

# Twilio's own keywords (case-insensitive, the whole message): it honours them for the sending number, and so
# do we for the business that received them.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
# The outcomes of a call in which the caller reached nobody: a forward nobody took ends in one of them too.
UNANSWERED = frozenset({Outcome.MISSED, Outcome.VOICEMAIL})
MAX_ERROR_CHARS = 500


class TextStatus(enum.StrEnum):
    QUEUED = "queued"  # its send_sms job will send it
    SENT = "sent"  # Twilio accepted it
    REFUSED = "refused"  # Twilio refused it for good (see `error`): not retried
    CANCELED = "canceled"  # not sent after all: the caller opted out or was blocked, or texts were turned off


class SmsOptOut(Base):
    __tablename__ = "sms_opt_outs"

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @staticmethod
    def choice(body: str, opt_out_type: str | None = None) -> bool | None:
        """What a text a caller sent says about texts to them: True opts out (STOP and Twilio's other opt-out
        keywords), False opts back in (START, YES, UNSTOP), None is anything else. Twilio's `OptOutType`
        (sent when the number's Advanced Opt-Out knows more keywords) counts too."""
        word = body.strip().upper()
        kind = (opt_out_type or "").strip().upper()
        if word in OPT_OUT_KEYWORDS or kind == "STOP":
            return True
        if word in OPT_IN_KEYWORDS or kind == "START":
            return False
        return None

    @classmethod
    def record(cls, session: Session, business_id: uuid.UUID, number: str, *, opted_out: bool) -> None:
        """The caller's latest word on texts from this business; a repeat changes nothing (an upsert, so two
        at once cannot conflict)."""
        values = {"business_id": business_id, "number": number, "opted_out": opted_out, "updated_at": utcnow()}
        statement = insert(cls).values(values)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["business_id", "number"],
                set_={"opted_out": statement.excluded.opted_out, "updated_at": statement.excluded.updated_at},
            )
        )

    @classmethod
    def has_opted_out(cls, session: Session, business_id: uuid.UUID, number: str) -> bool:
        statement = select(cls.opted_out).where(cls.business_id == business_id, cls.number == number)
        return session.scalar(statement) is True


class TextBack(Base):
    __tablename__ = "text_backs"
    __table_args__ = (
        UniqueConstraint("business_id", "caller", "local_date"),
        Index("ix_text_backs_call_id", "call_id"),  # a purged call sets its texts' call_id to null
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    caller: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[date] = mapped_column(Date)  # the call's day in the business's time zone
    status: Mapped[TextStatus] = mapped_column(String(16), default=TextStatus.QUEUED)
    provider_sid: Mapped[str | None] = mapped_column(String(64))  # Twilio's MessageSid
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @staticmethod
    def message(business: Business) -> str:
        """The words of the business's text."""
        return business.missed_call_text or (
            f"Sorry we missed your call to {business.name}. We will call you back soon."
        )

    @classmethod
    def owed(cls, session: Session, business: Business, call: Call) -> bool:
        """Whether the caller of this ended call is texted back: the business turned it on, the caller reached
        nobody (missed, or voicemail), on a real line (not the simulator), from a number that is neither
        withheld nor blocked nor opted out of the business's texts."""
        return (
            business.missed_call_text_enabled
            and call.ended_at is not None
            and call.outcome in UNANSWERED
            and not call.simulated
            and not is_withheld(call.from_number)
            and not BlockedNumber.is_blocked(session, business.id, call.from_number)
            and not SmsOptOut.has_opted_out(session, business.id, call.from_number)
        )

    @classmethod
    def queue(cls, session: Session, business: Business, call: Call) -> uuid.UUID | None:
        """A text for the caller of `call`, if they have none yet on the call's day in the business's time
        zone: its id, or None (the unique key decides, however two calls race)."""
        local_date = call.started_at.astimezone(zoneinfo.ZoneInfo(business.timezone)).date()
        values = {
            "id": uuid.uuid4(),
            "business_id": business.id,
            "call_id": call.id,
            "caller": call.from_number,
            "local_date": local_date,
            "status": TextStatus.QUEUED,
            "created_at": utcnow(),
        }
        statement = (
            insert(cls).values(values).on_conflict_do_nothing(index_elements=["business_id", "caller", "local_date"])
        )
        return session.scalar(statement.returning(cls.id))

    @classmethod
    def for_sending(cls, session: Session, text_id: uuid.UUID) -> TextBack | None:
        """The text, locked until the sender's transaction ends (a second run of its job waits, then finds it
        sent); None when it is gone (its business was deleted)."""
        return session.scalar(select(cls).where(cls.id == text_id).with_for_update())

    def withheld_now(self, session: Session, business: Business | None) -> str | None:
        """Why the text must not go out after all (the caller texted STOP or was blocked since it was queued,
        or the business turned texts off), or None."""
        if business is None or not business.missed_call_text_enabled:
            return "the business turned missed-call texts off"
        if SmsOptOut.has_opted_out(session, self.business_id, self.caller):
            return "the caller opted out"
        if BlockedNumber.is_blocked(session, self.business_id, self.caller):
            return "the caller is blocked"
        return None

    def cancel(self, reason: str) -> None:
        self.status, self.error = TextStatus.CANCELED, reason[:MAX_ERROR_CHARS]

    def refused(self, code: int | None, message: str) -> None:
        self.status = TextStatus.REFUSED
        self.error = f"Twilio error {code}: {message}"[:MAX_ERROR_CHARS]

    def sent(self, provider_sid: str) -> None:
        self.status, self.provider_sid, self.sent_at, self.error = TextStatus.SENT, provider_sid, utcnow(), None
