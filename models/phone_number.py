"""Phone numbers a business holds, each bought on a plan that offers the number's country."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import NotFound
from core.pagination import Page, paginate
from models.base import Base, UtcDateTime


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())
