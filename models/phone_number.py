"""Phone numbers a business holds, each bought on a plan that offers the number's country."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Enum, ForeignKey, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column, selectinload

from core.errors import BusinessRuleBroken, Conflict, NotFound
from core.pagination import Page, paginate
from core.phones import country_of, to_e164
from models.base import Base, assign
from models.catalog import ExternalPlan

if TYPE_CHECKING:
    from models.business import Business


class NumberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(16), unique=True)  # one holder at a time, across all businesses
    country_code: Mapped[str] = mapped_column(String(2), ForeignKey("countries.code"))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("external_plans.id"))
    label: Mapped[str] = mapped_column(String(100))
    forward_to: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[NumberStatus] = mapped_column(
        Enum(NumberStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=NumberStatus.ACTIVE,
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @classmethod
    def add(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        e164: str,
        plan_id: uuid.UUID,
        label: str,
        forward_to: str | None,
    ) -> PhoneNumber:
        """A number for the business, on a plan that sells its country; 409 if anyone holds it already."""
        number = to_e164(e164, "e164")
        plan = session.get(ExternalPlan, plan_id, options=[selectinload(ExternalPlan.country_links)])
        if plan is None:
            raise BusinessRuleBroken("plan_not_found", "There is no plan with this id.", field="planId")
        if not plan.active:
            raise BusinessRuleBroken("plan_inactive", "This plan is no longer sold.", field="planId")
        country = country_of(number)
        if country not in plan.country_codes:
            raise BusinessRuleBroken(
                "plan_not_available_in_country",
                f"This plan does not offer numbers in {country or 'this number’s region'}.",
                field="e164",
            )
        phone_number = cls(
            business_id=business_id,
            e164=number,
            country_code=country,
            plan_id=plan.id,
            label=label.strip(),
            forward_to=to_e164(forward_to, "forwardTo") if forward_to else None,
            status=NumberStatus.ACTIVE,
        )
        session.add(phone_number)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise Conflict("number_taken", "This number is already taken.") from None
        return phone_number

    @classmethod
    def get(
        cls, session: Session, business_id: uuid.UUID, number_id: uuid.UUID, *, for_update: bool = False
    ) -> PhoneNumber:
        statement = select(cls).where(cls.id == number_id, cls.business_id == business_id)
        number = session.scalar(statement.with_for_update() if for_update else statement)
        if number is None:
            raise NotFound("No phone number with this id in your business")
        return number

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page(
        cls,
        session: Session,
        business_id: uuid.UUID,
        *,
        status: str | None,
        country: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PhoneNumber]:
        statement = select(cls).where(cls.business_id == business_id)
        if status is not None:
            statement = statement.where(cls.status == NumberStatus(status))
        if country is not None:
            statement = statement.where(cls.country_code == country)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)

    def update(self, changes: dict[str, Any], business: Business) -> dict[str, Any]:
        """Label, forward_to and status (attributes); returns the diff {attribute: [old, new]}. The number the enabled
        receptionist answers on stays active (callers lock the business first)."""
        if changes.get("status") == NumberStatus.SUSPENDED and self._answers_for(business):
            raise self._in_use()
        wanted: dict[str, tuple[str, Any]] = {}
        if "label" in changes:
            wanted["label"] = ("label", changes["label"].strip())
        if "forward_to" in changes:
            forward_to = changes["forward_to"]
            wanted["forward_to"] = ("forward_to", to_e164(forward_to, "forwardTo") if forward_to else None)
        if "status" in changes:
            wanted["status"] = ("status", NumberStatus(changes["status"]))
        return assign(self, wanted)

    @classmethod
    def is_held(cls, session: Session, business_id: uuid.UUID, e164: str) -> bool:
        """Whether the business holds this number, active."""
        held = select(cls.id).where(cls.business_id == business_id, cls.e164 == e164, cls.status == NumberStatus.ACTIVE)
        return session.scalar(held) is not None

    @classmethod
    def holder(cls, session: Session, e164: str) -> uuid.UUID | None:
        """The business holding this number, active (a number has one holder at a time), or None."""
        held = select(cls.business_id).where(cls.e164 == e164, cls.status == NumberStatus.ACTIVE)
        return session.scalar(held)

    def release(self, session: Session, business: Business) -> None:
        """The number goes back to the pool, unless the enabled receptionist answers on it. A disabled
        receptionist's number is cleared from the settings with it (callers lock the business first)."""
        if self._answers_for(business):
            raise self._in_use()
        if business.phone_number == self.e164:
            business.apply(session, {"phone_number": None})
        session.delete(self)

    def _answers_for(self, business: Business) -> bool:
        return business.receptionist_enabled and business.phone_number == self.e164

    @staticmethod
    def _in_use() -> Conflict:
        return Conflict(
            "number_in_use", "The receptionist answers on this number: disable it or change its number first."
        )
