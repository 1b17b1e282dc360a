"""Businesses (the tenants), their members and roles, and the receptionist settings they keep."""

from __future__ import annotations

import enum
import functools
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, DateTime, Enum, ForeignKey, Integer, String, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, joinedload, mapped_column, relationship

from core.errors import ApiError, BusinessRuleBroken, Conflict, Forbidden, NotFound, PreconditionFailed
from core.pagination import Page, paginate
from core.phones import to_e164
from models.base import Base, assign
from models.closure import Closure
from models.phone_number import NumberStatus, PhoneNumber
from models.schedule import WEEKDAYS, Schedule, Span, normalise_week

if TYPE_CHECKING:
    from models.calendar_connection import CalendarConnection
    from models.user import User


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Notification(enum.StrEnum):
    """What a member can be emailed about (Membership.wants)."""

    VOICEMAIL = "voicemail"  # each message a caller leaves, with its transcript and a link that plays it
    MISSED_CALL = "missed_call"  # each call that ended with nobody reached and no message
    DAILY_DIGEST = "daily_digest"  # one email a local day: the day's calls by outcome


# Who gets what until they choose: those who run the business hear about every caller; nobody gets digests.
NOTIFICATION_DEFAULTS: dict[Role, frozenset[Notification]] = {
    Role.OWNER: frozenset({Notification.VOICEMAIL, Notification.MISSED_CALL}),
    Role.ADMIN: frozenset({Notification.VOICEMAIL, Notification.MISSED_CALL}),
    Role.MEMBER: frozenset(),
}


# The one table of who may do what. Operations declare these scopes in the spec; API keys carry a subset.
# Owners and admins differ only in the owner rules (Membership.change_role/remove, Invitation.issue).
_READ = ("business:read", "numbers:read", "calls:read")
_MANAGE = (*_READ, "business:write", "numbers:write", "keys:manage", "members:manage", "audit:read", "webhooks:manage")
ROLE_SCOPES: dict[Role, tuple[str, ...]] = {Role.OWNER: _MANAGE, Role.ADMIN: _MANAGE, Role.MEMBER: _READ}
# What an API key may be granted: acting on the business, never managing people or other keys.
ROLE_GRANTED_SCOPES = frozenset(scope for scopes in ROLE_SCOPES.values() for scope in scopes)
API_KEY_SCOPES = ("business:read", "business:write", "numbers:read", "numbers:write", "audit:read", "calls:read")

DEFAULT_HOURS: dict[str, dict[str, Any]] = {
    day: {"closed": False, "intervals": [{"open": "09:00", "close": "17:00"}]}
    if day not in ("saturday", "sunday")
    else {"closed": True, "intervals": []}
    for day in WEEKDAYS
}
DEFAULT_SCHEDULE_RANGE, MAX_SCHEDULE_RANGE = timedelta(days=7), timedelta(days=31)
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def check_instant(at: datetime, field: str) -> None:
    """Schedules are worked out for instants of this century only (422 `invalid_range` naming the field)."""
    if not EARLIEST <= at < LATEST:
        raise BusinessRuleBroken("invalid_range", "Times run from 2000 to 2099.", field=field)


class BusinessExists(ApiError):
    status, code, title, type = 409, "business_exists", "Business exists", "/problems/business-exists"

    def __init__(self) -> None:
        super().__init__("You already belong to a business.")


class Business(Base):
    __tablename__ = "businesses"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    greeting: Mapped[str] = mapped_column(String(500), default="")
    phone_number: Mapped[str | None] = mapped_column(String(16))  # E.164
    forwarding_number: Mapped[str | None] = mapped_column(String(16))  # E.164
    receptionist_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    business_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=lambda: dict(DEFAULT_HOURS))
    ring_seconds: Mapped[int] = mapped_column(Integer, default=20)
    screen_calls: Mapped[bool] = mapped_column(Boolean, default=True)
    anonymous_callers: Mapped[str] = mapped_column(String(16), default="answer")  # answer, voicemail, reject
    # A text to the caller of a call nobody took (services/text_back.py); off unless the business turns it on.
    missed_call_text_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    missed_call_text: Mapped[str | None] = mapped_column(String(320))
    call_retention_days: Mapped[int | None] = mapped_column(Integer)  # None: calls are kept
    version: Mapped[int] = mapped_column(Integer, default=1)  # the ETag; see changed()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    calendar: Mapped[CalendarConnection | None] = relationship(lazy="select", viewonly=True)  # when shown

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, *, for_update: bool = False) -> Business:
        business = session.get(cls, business_id, with_for_update=for_update)
        if business is None:
            raise NotFound("Business not found")
        return business

    @classmethod
    def create(cls, session: Session, owner_id: uuid.UUID, settings: dict[str, Any]) -> Business:
        """A new business with its creator as owner. A person belongs to one business (memberships.user_id
        is unique), so a second one is 409 however the requests race."""
        business = cls(id=uuid.uuid4())
        business.apply(session, {**DEFAULT_SETTINGS, **settings})
        session.add(business)
        session.add(Membership(business=business, user_id=owner_id, role=Role.OWNER))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise BusinessExists() from None
        return business

    @classmethod
    def answering_on(cls, session: Session, number: str) -> Business | None:
        """The business whose receptionist answers on this number: its receptionist's number, and one it
        still holds (a released or suspended number answers for nobody)."""
        held = (PhoneNumber.business_id == cls.id) & (PhoneNumber.e164 == number)
        statement = (
            select(cls)
            .join(PhoneNumber, held)
            .where(cls.phone_number == number, PhoneNumber.status == NumberStatus.ACTIVE)
        )
        return session.scalar(statement)

    def schedule(self, session: Session, since: datetime) -> Schedule:
        """Its weekly hours with the closures that still matter from `since` on."""
        first_day = since.astimezone(zoneinfo.ZoneInfo(self.timezone)).date() - timedelta(days=1)
        return Schedule(self.timezone, self.business_hours, Closure.from_date(session, self.id, first_day))

    def open_intervals(self, session: Session, start: datetime, end: datetime | None) -> tuple[datetime, list[Span]]:
        """When it is open between `start` and `end` (by default DEFAULT_SCHEDULE_RANGE later, at most
        MAX_SCHEDULE_RANGE); returns the end and the open spans."""
        end = end or start + DEFAULT_SCHEDULE_RANGE
        check_instant(start, "since")
        check_instant(end, "until")
        if end <= start:
            raise BusinessRuleBroken("invalid_range", "`until` must be after `since`.", field="until")
        if end - start > MAX_SCHEDULE_RANGE:
            raise BusinessRuleBroken(
                "invalid_range", f"A range spans at most {MAX_SCHEDULE_RANGE.days} days.", field="until"
            )
        return end, self.schedule(session, start).spans(start, end)

    @classmethod
    def with_number(
        cls, session: Session, business_id: uuid.UUID, number_id: uuid.UUID
    ) -> tuple[Business, PhoneNumber]:
        """The business and one of its numbers, both locked (business first): its settings cannot change
        meanwhile, so the rules about the receptionist's number hold."""
        business = cls.get(session, business_id, for_update=True)
        return business, PhoneNumber.get(session, business_id, number_id, for_update=True)

    def require_etag(self, if_match: str | None) -> None:
        """Optimistic concurrency: a writer that read an older version is refused, never silently applied.
        Callers hold the row lock (get(for_update=True)), so two writers with the same ETag cannot both pass."""
        if if_match is None:
            return
        candidates = {tag.strip() for tag in if_match.split(",")}
        if "*" not in candidates and self.etag not in candidates:  # strong comparison (RFC 9110 13.1.1)
            raise PreconditionFailed()

    def apply(self, session: Session, settings: dict[str, Any]) -> dict[str, Any]:
        """Sets the given settings (by attribute, of SETTINGS) and checks the rules on the result; returns the
        diff {attribute: [old, new]}. 422 naming the API field that breaks a rule."""
        if unknown := set(settings) - set(SETTINGS):
            raise ValueError(f"not a setting: {sorted(unknown)}")
        diff = assign(self, {name: (name, value) for name, value in _normalised(settings).items()})
        if self.receptionist_enabled and not self.phone_number:
            raise BusinessRuleBroken(
                "receptionist_requires_phone",
                "The receptionist can be enabled only while the business has a phone number.",
                field="phoneNumber",
            )
        if (
            "phone_number" in diff
            and self.phone_number is not None
            and not PhoneNumber.is_held(session, self.id, self.phone_number)
        ):
            raise BusinessRuleBroken(
                "phone_number_not_held",
                "The receptionist answers on one of your business's active phone numbers: add it first.",
                field="phoneNumber",
            )
        if diff:
            self.changed()
        return diff

    def changed(self) -> None:
        """Its representation (settings or calendar) changed: a new ETag. A new business starts at 1."""
        if self.version is not None:
            self.version += 1


def _normalised(settings: dict[str, Any]) -> dict[str, Any]:
    """Trimmed names, E.164 numbers, a known time zone and sane hours; 422 naming the field otherwise."""
    out = dict(settings)
    if "name" in out:
        out["name"] = out["name"].strip()
    for name, field in (("phone_number", "phoneNumber"), ("forwarding_number", "forwardingNumber")):
        if out.get(name) is not None:
            out[name] = to_e164(out[name], field)
    if "timezone" in out and out["timezone"] not in _timezones():
        raise BusinessRuleBroken("invalid_timezone", "This is not an IANA time zone name.", field="timezone")
    if "business_hours" in out:
        out["business_hours"] = normalise_week(out["business_hours"], "businessHours")
    return out


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# The writable settings (schemas/business.py names them by their API fields), and the defaults of a new business.
SETTINGS = (
    "name",
    "timezone",
    "greeting",
    "phone_number",
    "forwarding_number",
    "receptionist_enabled",
    "business_hours",
    "ring_seconds",
    "screen_calls",
    "anonymous_callers",
    "missed_call_text_enabled",
    "missed_call_text",
    "call_retention_days",
)
DEFAULT_SETTINGS: dict[str, Any] = {
    "timezone": "UTC",
    "greeting": "",
    "phone_number": None,
    "forwarding_number": None,
    "receptionist_enabled": False,
    "business_hours": DEFAULT_HOURS,
    "ring_seconds": 20,
    "screen_calls": True,
    "anonymous_callers": "answer",
    "missed_call_text_enabled": False,
    "missed_call_text": None,
    "call_retention_days": None,
}


class OwnerRequired(Forbidden):
    code = "owner_required"

    def __init__(self) -> None:
        super().__init__("Only an owner can make, unmake or remove owners.")


class Membership(Base):
    """A person's place in a business. A person belongs to one business at most."""

    __tablename__ = "memberships"

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, unique=True
    )
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # What this member is emailed about; None is their role's default (NOTIFICATION_DEFAULTS).
    notify_voicemail: Mapped[bool | None] = mapped_column(Boolean)
    notify_missed_call: Mapped[bool | None] = mapped_column(Boolean)
    notify_daily_digest: Mapped[bool | None] = mapped_column(Boolean)

    business: Mapped[Business] = relationship(lazy="raise")
    user: Mapped[User] = relationship(lazy="raise", viewonly=True)

    @property
    def scopes(self) -> tuple[str, ...]:
        return ROLE_SCOPES[self.role]

    def wants(self, notification: Notification) -> bool:
        """Whether this member is emailed about `notification`: their own choice, else their role's default."""
        chosen = getattr(self, f"notify_{notification.value}")
        return chosen if chosen is not None else notification in NOTIFICATION_DEFAULTS[self.role]

    def notifications(self) -> dict[Notification, bool]:
        """What this member is emailed about, each as they chose or as their role's default."""
        return {notification: self.wants(notification) for notification in Notification}

    def set_notifications(self, choices: dict[Notification, bool]) -> dict[Notification, bool]:
        """This member's own choices (any subset; the rest stay as they were); returns them all."""
        for notification, wanted in choices.items():
            setattr(self, f"notify_{notification.value}", bool(wanted))
        return self.notifications()

    @classmethod
    def notified(cls, session: Session, business_id: uuid.UUID, notification: Notification) -> list[Membership]:
        """The business's members who want `notification`, with their user loaded (their email)."""
        members = session.scalars(select(cls).where(cls.business_id == business_id).options(joinedload(cls.user))).all()
        return [member for member in members if member.wants(notification)]

    @classmethod
    def of_user(cls, session: Session, user_id: uuid.UUID) -> Membership | None:
        return session.scalar(select(cls).where(cls.user_id == user_id))

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
        """A member of this business (locked for the change to come); another business's is 404 too."""
        membership = session.scalar(
            select(cls)
            .where(cls.business_id == business_id, cls.user_id == user_id)
            .options(joinedload(cls.user))
            .with_for_update(of=cls)
        )
        if membership is None:
            raise NotFound("No member with this id in your business")
        return membership

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.user_id]

    @classmethod
    def page(cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[Membership]:
        statement = select(cls).where(cls.business_id == business_id).options(joinedload(cls.user))
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)

    @classmethod
    def for_change(
        cls, session: Session, business_id: uuid.UUID, actor_id: uuid.UUID, member_id: uuid.UUID
    ) -> tuple[Membership, Membership]:
        """The acting and the target memberships, locked. Member changes of one business take turns (the
        business row is locked first), so two owners changing each other cannot deadlock."""
        Business.get(session, business_id, for_update=True)
        return cls.get(session, business_id, actor_id), cls.get(session, business_id, member_id)

    def change_role(self, session: Session, role: Role, *, by: Role) -> dict[str, Any]:
        """Returns the diff {"role": [old, new]} (empty when the role stays)."""
        if Role.OWNER in (self.role, role) and by is not Role.OWNER:
            raise OwnerRequired()
        if self.role is Role.OWNER and role is not Role.OWNER:
            self._require_another_owner(session)
        return assign(self, {"role": ("role", role)})

    def remove(self, session: Session, *, by: Role) -> None:
        if self.role is Role.OWNER:
            if by is not Role.OWNER:
                raise OwnerRequired()
            self._require_another_owner(session)
        session.delete(self)

    def _require_another_owner(self, session: Session) -> None:
        # The owners' rows are locked, so two owners stepping down at once cannot leave none.
        owners = session.scalars(
            select(Membership.user_id)
            .where(Membership.business_id == self.business_id, Membership.role == Role.OWNER)
            .with_for_update()
        ).all()
        if not set(owners) - {self.user_id}:
            raise Conflict("last_owner", "A business always keeps an owner: make someone else owner first.")
