"""Factories: make_<thing>(session, **overrides) with unique values; tests say only what matters to them."""

from __future__ import annotations

import itertools
import random
import string
import uuid
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from models import Country, ExternalPlan, ExternalPlanCountry, User

_country_codes = itertools.cycle(a + b for a in string.ascii_uppercase for b in string.ascii_uppercase)


def make_country(session: Session, **overrides: Any) -> Country:
    code = overrides.pop("code", None) or next(_country_codes)
    fields = {"name": f"Country {code}", "calling_code": f"+{random.randint(1, 999)}"} | overrides  # noqa: S311
    country = Country(code=code, **fields)
    session.add(country)
    session.flush()
    return country


def make_plan(session: Session, countries: list[Country] | None = None, **overrides: Any) -> ExternalPlan:
    countries = countries if countries is not None else [make_country(session)]
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": f"Plan {uuid.uuid4().hex[:10]}",
        "provider": "Telnyx",
        "monthly_price_minor": random.randint(50, 5000),  # noqa: S311
        "currency": "USD",
        "voice": True,
        "sms": True,
        "active": True,
    } | overrides
    plan = ExternalPlan(**fields)
    plan.country_links = [ExternalPlanCountry(external_plan_id=plan.id, country_code=c.code) for c in countries]
    session.add(plan)
    session.flush()
    return plan


PASSWORD = "a-long-and-unlikely-passphrase"


def make_user(session: Session, **overrides: Any) -> User:
    """A user whose password is PASSWORD (hashed with cheap argon2 parameters to keep tests fast)."""
    fields: dict[str, Any] = {
        "email": f"user-{uuid.uuid4().hex[:10]}@example.com",
        "name": "Test User",
        "password_hash": _FAST_HASHER.hash(overrides.pop("password", PASSWORD)),
    } | overrides
    user = User(**fields)
    session.add(user)
    session.flush()
    return user


_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
