"""Businesses (the tenants), their members and roles, and the receptionist settings they keep."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column, relationship

from core.errors import ApiError, NotFound
from core.pagination import Page, paginate
from models.base import Base, UtcDateTime, utcnow


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


# The one table of who may do what. Operations declare these scopes in the spec; API keys carry a subset.
_READ = ("business:read", "numbers:read")
ROLE_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.OWNER: (*_READ, "business:write", "numbers:write", "keys:manage", "members:manage", "audit:read"),
    Role.ADMIN: (*_READ, "business:write", "numbers:write", "keys:manage", "members:manage", "audit:read"),
    Role.MEMBER: _READ,
}
# What an API key may be granted: acting on the business, never managing people or other keys.
API_KEY_SCOPES = ("business:read", "business:write", "numbers:read", "numbers:write", "audit:read")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_HOURS: dict[str, dict[str, Any]] = {
    day: (
        {"closed": False, "open": "09:00", "close": "17:00"} if day not in ("saturday", "sunday") else {"closed": True}
    )
    for day in WEEKDAYS
}


class BusinessExists(ApiError):
    status, code, title, type = 409, "business_exists", "Business exists", "/problems/business-exists"

    def __init__(self) -> None:
        super().__init__("You already belong to a business.")


class BusinessRuleBroken(ApiError):
    """A well-formed request that breaks a rule of the domain; `code` names the rule."""

    status, title, type = 422, "Business rule broken", "/problems/business-rule"

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail, errors=[{"field": field, "message": detail}] if field else ())
        self.code = code


class Conflict(ApiError):
    """The request conflicts with the current state; `code` names how."""

    status, title, type = 409, "Conflict", "/problems/conflict"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class PreconditionFailed(ApiError):
    status, code, title, type = 412, "precondition_failed", "Precondition failed", "/problems/precondition-failed"

    def __init__(self) -> None:
        super().__init__("The resource changed since you read it (If-Match does not match its ETag); read it again.")


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
    version: Mapped[int] = mapped_column(Integer, default=1)  # the ETag; bumped by every settings change
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())

    calendar: Mapped[CalendarConnection | None] = relationship(lazy="selectin", viewonly=True)

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
        """A new business, its creator its owner. One business per person (the membership is unique)."""
        business = cls(name=settings["name"])
        business.apply(settings, DEFAULT_SETTINGS)
        session.add(business)
        session.add(Membership(business=business, user_id=owner_id, role=Role.OWNER))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise BusinessExists() from None
        return business

    def require_etag(self, if_match: str | None) -> None:
        """Optimistic concurrency: a writer that read an older version is refused, not silently applied."""
        if if_match is None:
            return
        candidates = {tag.strip() for tag in if_match.split(",")}
        if "*" not in candidates and self.etag not in candidates and f"W/{self.etag}" not in candidates:
            raise PreconditionFailed()

    def apply(self, changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sets the given settings (over `base` for a full replace); returns the diff {field: [old, new]}."""
        wanted = {**(base or {}), **changes}
        diff: dict[str, Any] = {}
        for field, column in SETTINGS_COLUMNS.items():
            if field in wanted and getattr(self, column) != wanted[field]:
                diff[field] = [getattr(self, column), wanted[field]]
                setattr(self, column, wanted[field])
        if self.receptionist_enabled and not self.phone_number:
            raise BusinessRuleBroken(
                "receptionist_requires_phone",
                "The receptionist can be enabled only once the business has a phone number.",
                field="phoneNumber",
            )
        if diff and self.id is not None:
            self.version += 1
        return diff


# API field -> column of the writable settings, and what a full replace (PUT) resets omitted ones to.
SETTINGS_COLUMNS = {
    "name": "name",
    "timezone": "timezone",
    "greeting": "greeting",
    "phoneNumber": "phone_number",
    "forwardingNumber": "forwarding_number",
    "receptionistEnabled": "receptionist_enabled",
    "businessHours": "business_hours",
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "timezone": "UTC",
    "greeting": "",
    "phoneNumber": None,
    "forwardingNumber": None,
    "receptionistEnabled": False,
    "businessHours": DEFAULT_HOURS,
}


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    business: Mapped[Business] = relationship(lazy="raise")

    @property
    def scopes(self) -> tuple[str, ...]:
        return ROLE_SCOPES[self.role]

    @classmethod
    def of_user(cls, session: Session, user_id: uuid.UUID) -> Membership | None:
        return session.scalar(select(cls).where(cls.user_id == user_id))

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.user_id]

    @classmethod
    def page(cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[Membership]:
        statement = select(cls).where(cls.business_id == business_id)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)


class CalendarConnection(Base):
    """A business's Google Calendar link. Tokens are stored encrypted (core.crypto), never in clear."""

    __tablename__ = "calendar_connections"

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), default="google")
    account_email: Mapped[str | None] = mapped_column(String(254))
    access_token_encrypted: Mapped[str] = mapped_column(String(4000))
    refresh_token_encrypted: Mapped[str | None] = mapped_column(String(4000))
    token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scope: Mapped[str | None] = mapped_column(String(1000))
    connected_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    connected_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
