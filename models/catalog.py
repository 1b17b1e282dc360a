"""The plan catalog: countries, and the providers' plans that phone numbers are bought from."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, Uuid, func, select
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, joinedload, mapped_column, relationship, selectinload

from core.errors import NotFound
from core.pagination import Page, paginate
from models.base import Base


class Country(Base):
    __tablename__ = "countries"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)  # ISO 3166-1 alpha-2
    name: Mapped[str] = mapped_column(String(100))
    calling_code: Mapped[str] = mapped_column(String(5))

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.code]

    @classmethod
    def page(cls, session: Session, *, limit: int, cursor: str | None) -> Page[Country]:
        return paginate(session, select(cls), order_by=cls.page_order(), limit=limit, cursor=cursor)


class ExternalPlan(Base):
    __tablename__ = "external_plans"
    __table_args__ = (
        CheckConstraint("monthly_price_minor >= 0", name="price_not_negative"),
        CheckConstraint("voice OR sms", name="has_a_capability"),
        Index("ix_external_plans_active_name_id", "active", "name", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(80))
    provider: Mapped[str] = mapped_column(String(60))
    monthly_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217
    voice: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    country_links: Mapped[list[ExternalPlanCountry]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", lazy="raise"
    )

    @property
    def country_codes(self) -> list[str]:
        return sorted(link.country_code for link in self.country_links)

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.name, cls.id]

    @classmethod
    def get(cls, session: Session, plan_id: uuid.UUID) -> ExternalPlan:
        plan = session.get(cls, plan_id, options=[joinedload(cls.country_links)])  # one round trip
        if plan is None:
            raise NotFound("Plan not found")
        return plan

    @classmethod
    def page_of_active(
        cls, session: Session, *, country: str | None, limit: int, cursor: str | None
    ) -> Page[ExternalPlan]:
        statement = select(cls).where(cls.active.is_(True)).options(selectinload(cls.country_links))
        if country is not None:
            statement = statement.where(
                cls.id.in_(
                    select(ExternalPlanCountry.external_plan_id).where(ExternalPlanCountry.country_code == country)
                )
            )
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)


class ExternalPlanCountry(Base):
    """Which countries a plan offers numbers in. The plan column keeps its legacy name."""

    __tablename__ = "external_plan_countries"

    external_plan_id: Mapped[uuid.UUID] = mapped_column(
        "external_plan_uuid", ForeignKey("external_plans.id", ondelete="CASCADE"), primary_key=True
    )
    country_code: Mapped[str] = mapped_column(String(2), ForeignKey("countries.code"), primary_key=True, index=True)

    plan: Mapped[ExternalPlan] = relationship(back_populates="country_links", lazy="raise")
