"""Factories: make_<thing>(session, **overrides) with unique values; tests say only what matters to them."""

from __future__ import annotations

import itertools
import random
import string
import uuid
from typing import Any

from sqlalchemy.orm import Session

from core import phones
from core.passwords import hasher
from models import (
    Business,
    Country,
    ExternalPlan,
    ExternalPlanCountry,
    Membership,
    PhoneNumber,
    Role,
    User,
    WebhookEndpoint,
)
from models.base import utcnow

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
    """A user whose password is PASSWORD, hashed at PASSWORD_HASH_COST=low, the tests' (no rehash at sign-in)."""
    fields: dict[str, Any] = {
        "email": f"user-{uuid.uuid4().hex[:10]}@example.com",
        "name": "Test User",
        "password_hash": hasher("low").hash(overrides.pop("password", PASSWORD)),
    } | overrides
    user = User(**fields)
    session.add(user)
    session.flush()
    return user


def make_business(session: Session, owner: User | None = None, **overrides: Any) -> Business:
    """A business; `owner` (made if not given) is its owner. More members: make_member."""
    business = Business(**({"name": f"Business {uuid.uuid4().hex[:8]}"} | overrides))
    session.add(business)
    session.flush()
    make_member(session, business, owner or make_user(session), Role.OWNER)
    return business


def make_member(session: Session, business: Business, user: User | None = None, role: Role = Role.MEMBER) -> User:
    user = user or make_user(session)
    session.add(Membership(business_id=business.id, user_id=user.id, role=role))
    session.flush()
    return user


def make_phone_number(session: Session, business: Business, e164: str = "+14155552671") -> PhoneNumber:
    """A number the business holds, on a plan selling its country (US by default)."""
    country_code = phones.country_of(e164) or "US"
    country = session.get(Country, country_code) or make_country(session, code=country_code)
    number = PhoneNumber(
        business_id=business.id,
        e164=e164,
        country_code=country.code,
        plan_id=make_plan(session, [country]).id,
        label="Main",
    )
    session.add(number)
    session.flush()
    return number


def make_webhook_endpoint(session: Session, business: Business, events: list[str]) -> WebhookEndpoint:
    """An endpoint the events are written for (deliveries and their jobs); nothing sends them in-process."""
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        business_id=business.id,
        url=f"https://hooks.example.com/{uuid.uuid4().hex[:8]}",
        events=events,
        secret_ciphertext="-",  # never decrypted: no worker runs
        created_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint
