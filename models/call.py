"""Calls that reached a business's number, as the telephony provider (Twilio) reported them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import NotFound
from core.pagination import Page, paginate, within
from models.base import Base, utcnow


class Route(enum.StrEnum):
    """What the receptionist decided when the call arrived (models/routing.py)."""

    FORWARD = "forward"
    VOICEMAIL = "voicemail"
    REJECT = "reject"
    BLOCKED = "blocked"


class Outcome(enum.StrEnum):
    FORWARDED = "forwarded"  # put through, and answered (accepted, when screened)
    VOICEMAIL = "voicemail"  # the caller left a message (or is being asked for one)
    MISSED = "missed"  # the caller hung up before anyone answered or before leaving a message
    REJECTED = "rejected"  # the receptionist is off, or rejects withheld numbers
    BLOCKED = "blocked"  # a number on the business's block list


# Twilio's CallStatus values in the order a call goes through them; the last five end it.
STATUS_ORDER = ("queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled")
FINAL_STATUSES = frozenset(STATUS_ORDER[4:])
ANSWERED, NOT_ACCEPTED = "answered", "not-accepted"
MAX_VOICEMAIL_SECONDS = 120  # <Record maxLength>
MAX_TRANSCRIPT_CHARS = 10_000  # Call.voicemail.transcript in the spec; 120 s of speech is about 2,500
TRANSCRIBED, TRANSCRIPTION_FAILED = "completed", "failed"  # Call.transcript_status
# A simulated voicemail's recording URL: `.invalid` never resolves (RFC 2606), so it is never mistaken for one.
SIMULATED_RECORDINGS = "https://recordings.switchboard.invalid/simulated"


class Call(Base):
    """A call and the facts Twilio reported about it. Each fact is written once (the first report wins), and
    the outcome is worked out from the facts, so callbacks that arrive twice, late or out of order all end
    in the same outcome. Callbacks take the row lock (`of_provider`), so two at once take turns."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_business_id_started_at_id", "business_id", "started_at", "id"),
        # A status filter reads only its own rows, however rare the status (docs/benchmarks.md, scale).
        Index("ix_calls_business_id_status_started_at_id", "business_id", "status", "started_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)  # Twilio's CallSid
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    route: Mapped[Route] = mapped_column(String(16))
    screened: Mapped[bool] = mapped_column(Boolean, default=False)  # the forward asks for a key press
    screen_accepted: Mapped[bool | None] = mapped_column(Boolean)
    forward_status: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[Outcome] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    voicemail_url: Mapped[str | None] = mapped_column(String(500))
    voicemail_seconds: Mapped[int | None] = mapped_column(Integer)
    # Played by the call simulator, not by a phone line. With a server default: the release before 0014
    # inserts calls without it during a deploy.
    simulated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    transcript: Mapped[str | None] = mapped_column(Text)  # the voicemail's, as Twilio transcribed it
    transcript_status: Mapped[str | None] = mapped_column(String(16))  # completed | failed, once it is known

    @classmethod
    def answered(
        cls,
        session: Session,
        business_id: uuid.UUID,
        sid: str,
        caller: str,
        to: str,
        route: Route,
        *,
        screened: bool = False,
    ) -> None:
        """Records a call the receptionist answered; a provider's retry of the same call changes nothing."""
        values = {
            "id": uuid.uuid4(),
            "business_id": business_id,
            "provider_sid": sid,
            "direction": "inbound",
            "from_number": caller,
            "to_number": to,
            "status": "in-progress",
            "route": route,
            "screened": screened and route is Route.FORWARD,
            "outcome": _INITIAL_OUTCOME[route],
            "started_at": utcnow(),
        }
        session.execute(insert(cls).values(values).on_conflict_do_nothing(index_elements=["provider_sid"]))

    @classmethod
    def simulate(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        caller: str,
        to: str,
        route: Route,
        screened: bool,
        at: datetime,
        answered: bool,
        leaves_voicemail: bool,
        duration_seconds: int,
    ) -> Call:
        """A call played without a phone line (the call simulator), ended: the facts Twilio would report
        for it, settled as its callbacks settle them. `answered`: whether the forwarded person takes it
        (and accepts, when screened); `leaves_voicemail`: whether a caller who reaches the voicemail
        leaves a message."""
        call = cls(
            id=uuid.uuid4(),
            business_id=business_id,
            provider_sid=f"SIM{uuid.uuid4().hex}",
            direction="inbound",
            from_number=caller,
            to_number=to,
            route=route,
            screened=screened and route is Route.FORWARD,
            started_at=at,
            simulated=True,
        )
        if route is Route.FORWARD:
            call.screen_accepted = answered if call.screened else None
            call.forward_status = ANSWERED if answered else "no-answer"
        reaches_voicemail = route is Route.VOICEMAIL or (route is Route.FORWARD and not answered)
        if reaches_voicemail and leaves_voicemail:
            call.voicemail_url = f"{SIMULATED_RECORDINGS}/{call.id}"
            call.voicemail_seconds = min(duration_seconds, MAX_VOICEMAIL_SECONDS)
        rejected = route in (Route.REJECT, Route.BLOCKED)
        call.status = "busy" if rejected else "completed"  # what Twilio reports for a <Reject>
        call.duration_seconds = 0 if rejected else duration_seconds
        call.ended_at = at + timedelta(seconds=call.duration_seconds)
        call._settle()
        session.add(call)
        return call

    @classmethod
    def of_provider(cls, session: Session, sid: str) -> Call | None:
        return session.scalar(select(cls).where(cls.provider_sid == sid).with_for_update())

    def progressed(self, status: str, duration_seconds: int | None) -> bool:
        """The provider's status callback. A status never goes back (a late `ringing` after `completed`
        changes nothing); True when this report ended the call, so its end is announced once."""
        if self.ended_at is not None or _rank(status) < _rank(self.status):
            return False
        self.status = status
        if duration_seconds is not None:
            self.duration_seconds = duration_seconds
        if status in FINAL_STATUSES:
            self.ended_at = utcnow()
            self._settle()
            return True
        return False

    def screening_answered(self, accepted: bool) -> None:
        if self.screen_accepted is None:
            self.screen_accepted = accepted

    def forward_ended(self, dial_status: str) -> bool:
        """How the forwarded leg ended (the `<Dial>` action); True when someone took the call. A leg that
        was answered but not accepted under screening (a personal voicemail, say) did not take it."""
        if self.forward_status is None:
            if dial_status not in ("completed", "answered"):
                self.forward_status = dial_status
            elif self.screened and not self.screen_accepted:
                self.forward_status = NOT_ACCEPTED
            else:
                self.forward_status = ANSWERED
            self._settle()
        return self.forward_status == ANSWERED

    def recorded(self, url: str, seconds: int | None) -> bool:
        """The voicemail; True the first time (a repeat changes nothing)."""
        if self.voicemail_url is not None:
            return False
        self.voicemail_url, self.voicemail_seconds = url, seconds
        self._settle()
        return True

    def transcribed(self, text: str | None, status: str) -> bool:
        """Twilio's transcription of the voicemail (`completed`, with its text, or `failed`); True the first
        time (a repeat changes nothing). It may arrive before the recording callback: it is kept all the same.
        The text is bounded (MAX_TRANSCRIPT_CHARS)."""
        if self.transcript_status is not None:
            return False
        self.transcript_status = TRANSCRIBED if status == TRANSCRIBED else TRANSCRIPTION_FAILED
        words = (text or "").strip()
        self.transcript = words[:MAX_TRANSCRIPT_CHARS] if self.transcript_status == TRANSCRIBED and words else None
        return True

    def _settle(self) -> None:
        if self.route in (Route.REJECT, Route.BLOCKED):
            self.outcome = _INITIAL_OUTCOME[self.route]
        elif self.voicemail_url is not None:
            self.outcome = Outcome.VOICEMAIL
        elif self.forward_status == ANSWERED:
            self.outcome = Outcome.FORWARDED
        elif self.ended_at is not None:
            self.outcome = Outcome.MISSED
        elif self.route is Route.FORWARD and self.forward_status is None:
            self.outcome = Outcome.FORWARDED  # still ringing
        else:
            self.outcome = Outcome.VOICEMAIL  # being asked for a message

    @property
    def recording_url(self) -> str | None:
        """Where Twilio keeps the voicemail's audio (its RecordingUrl); None without a voicemail, and for a
        simulated one (its URL is under SIMULATED_RECORDINGS, which never resolves)."""
        if self.simulated or self.voicemail_url is None or self.voicemail_url.startswith(SIMULATED_RECORDINGS):
            return None
        return self.voicemail_url

    @classmethod
    def purge_expired(cls, session: Session, *, now: datetime, limit: int) -> int:
        """Deletes at most `limit` calls older (by `started_at`) than their business's `call_retention_days`
        (none of a business that keeps them, null); returns how many. Rows another purge holds are skipped."""
        businesses = Base.metadata.tables["businesses"]
        expired = (
            select(cls.id)
            .join(businesses, businesses.c.id == cls.business_id)
            .where(
                businesses.c.call_retention_days.is_not(None),
                cls.started_at
                < literal(now, DateTime(timezone=True)) - businesses.c.call_retention_days * timedelta(days=1),
            )
            .limit(limit)
            .with_for_update(of=cls, skip_locked=True)
        )
        return len(session.scalars(delete(cls).where(cls.id.in_(expired.scalar_subquery())).returning(cls.id)).all())

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
        simulated: bool | None = None,
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
        if simulated is not None:
            statement = statement.where(cls.simulated.is_(simulated))
        statement = within(statement, cls.started_at, since, until)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor, newest_first=True)

    @classmethod
    def outcomes_between(
        cls, session: Session, business_id: uuid.UUID, start: datetime, end: datetime
    ) -> dict[Outcome, int]:
        """How many of the business's calls that started in [start, end) (a local day, say) ended in each
        outcome, every outcome named (0 if none); calls the simulator played are not the business's calls."""
        rows = session.execute(
            select(cls.outcome, func.count())
            .where(cls.business_id == business_id, cls.started_at >= start, cls.started_at < end)
            .where(cls.simulated.is_(False))
            .group_by(cls.outcome)
        ).all()
        counts = dict.fromkeys(Outcome, 0)
        counts.update({Outcome(outcome): count for outcome, count in rows})
        return counts

    @classmethod
    def voicemails_between(
        cls, session: Session, business_id: uuid.UUID, start: datetime, end: datetime, *, limit: int
    ) -> list[Call]:
        """The first `limit` voicemails (calls, not simulated) that started in [start, end), oldest first."""
        statement = within(select(cls), cls.started_at, start, end).where(
            cls.business_id == business_id, cls.simulated.is_(False), cls.outcome == Outcome.VOICEMAIL
        )
        return list(session.scalars(statement.order_by(cls.started_at, cls.id).limit(limit)))


_INITIAL_OUTCOME = {
    Route.FORWARD: Outcome.FORWARDED,
    Route.VOICEMAIL: Outcome.VOICEMAIL,
    Route.REJECT: Outcome.REJECTED,
    Route.BLOCKED: Outcome.BLOCKED,
}


def _rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else -1
